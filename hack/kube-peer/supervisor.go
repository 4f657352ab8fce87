package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// supervisor owns the child processes of `up`.
type supervisor struct {
	dir      string
	children []*child
	exited   chan exit // one value per child that exited before stop
}

type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

type exit struct {
	name string
	err  error
}

func newSupervisor(dir string) *supervisor {
	return &supervisor{dir: dir, exited: make(chan exit, 16)}
}

func (s *supervisor) logPath(name string) string {
	return filepath.Join(s.dir, name+".log")
}

// start runs bin with args, its output appended to DIR/NAME.log. It must be called from
// the goroutine runUp locked to its thread (see there).
func (s *supervisor) start(name, bin string, args, env []string) error {
	log, err := os.OpenFile(s.logPath(name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = nil
	cmd.Stdout = log
	cmd.Stderr = log
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), log: log}
	s.children = append(s.children, c)
	go func() {
		err := cmd.Wait()
		if err == nil {
			err = fmt.Errorf("exit status 0")
		}
		close(c.done)
		select {
		case s.exited <- exit{name, err}:
		default:
		}
	}()
	return nil
}

// stop ends every child in three rounds, each child given a few seconds after SIGTERM
// before SIGKILL: the apiserver's clients, then the apiserver, then etcd.
func (s *supervisor) stop() {
	rounds := map[string]int{"apiserver": 1, "etcd": 2}
	for round := range 3 {
		var cs []*child
		for _, c := range s.children {
			if rounds[c.name] == round {
				cs = append(cs, c)
			}
		}
		terminate(cs, 5*time.Second)
	}
	for _, c := range s.children {
		c.log.Close()
	}
}

func terminate(cs []*child, grace time.Duration) {
	start := time.Now()
	for _, c := range cs {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
	}
	expired := make(chan struct{})
	timer := time.AfterFunc(grace, func() { close(expired) })
	defer timer.Stop()
	for _, c := range cs {
		select {
		case <-c.done:
		case <-expired:
			logf("%s did not stop within %s of SIGTERM: killing it", c.name, grace)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	if len(cs) > 0 {
		logf("stopped %s in %s", names(cs), time.Since(start).Round(time.Millisecond))
	}
}

func names(cs []*child) string {
	var b bytes.Buffer
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name)
	}
	return b.String()
}

// dumpLogs writes the last lines of every component's log to w.
func (s *supervisor) dumpLogs(w io.Writer) {
	for _, c := range s.children {
		fmt.Fprintf(w, "----- %s (last lines of %s) -----\n", c.name, s.logPath(c.name))
		w.Write(tail(s.logPath(c.name), 30))
	}
}

func tail(path string, lines int) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return []byte(err.Error() + "\n")
	}
	data = bytes.TrimRight(data, "\n")
	i := len(data)
	for n := 0; n < lines && i > 0; n++ {
		i = bytes.LastIndexByte(data[:i], '\n')
		if i < 0 {
			i = 0
		}
	}
	return append(bytes.TrimLeft(data[i:], "\n"), '\n')
}
