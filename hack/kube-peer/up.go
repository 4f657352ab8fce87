package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// `kube-peer up`: a fresh (or, on a DIR used before, the same) cluster on loopback.
//
// Layout of DIR:
//
//	pki/                  certificates and keys (pki.go), component kubeconfigs
//	etcd/                 etcd's data
//	kwok.yaml             kwok's stages
//	<component>.log       stdout and stderr of etcd, apiserver, controller-manager,
//	                      scheduler, kwok
//	admin.kubeconfig      written just before the ready line
//
// Every component is a child of `up`, started with PR_SET_PDEATHSIG=SIGKILL so none
// outlives it even when it is SIGKILLed. SIGTERM, SIGINT or SIGHUP stop them cleanly
// (the apiserver's clients, then the apiserver, then etcd; see supervisor.stop) and `up`
// exits 0. A component that exits on its own ends `up` with status 1, as does a cluster
// not ready within --timeout (the tails of all logs then go to stderr). `up`'s own
// progress, with how long each step took, goes to stderr; stdout gets the ready line only.

type upConfig struct {
	dir       string
	nodes     int
	etcd      string
	port      int
	timeout   time.Duration
	removeDir bool
}

func parseUp(args []string) (*upConfig, error) {
	fs := flag.NewFlagSet("kube-peer up", flag.ContinueOnError)
	cfg := &upConfig{}
	fs.StringVar(&cfg.dir, "dir", "", "directory for certificates, etcd data, logs and admin.kubeconfig (required)")
	fs.IntVar(&cfg.nodes, "nodes", 2, "number of fake nodes kwok manages")
	fs.StringVar(&cfg.etcd, "etcd", "", "etcd binary (default $ETCD, else etcd on PATH)")
	fs.IntVar(&cfg.port, "port", 0, "apiserver port on 127.0.0.1 (default: a free one)")
	fs.DurationVar(&cfg.timeout, "timeout", 3*time.Minute, "give up when the cluster is not ready after this long")
	fs.BoolVar(&cfg.removeDir, "remove-dir", false, "delete DIR on exit, once every component has stopped")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.dir == "" {
		return nil, errors.New("--dir is required")
	}
	if cfg.nodes < 0 {
		return nil, errors.New("--nodes must not be negative")
	}
	return cfg, nil
}

func runUp(args []string) int {
	// PR_SET_PDEATHSIG fires when the *thread* that started a child exits. Every child is
	// started from this goroutine, locked to its thread for the life of the process.
	runtime.LockOSThread()
	cfg, err := parseUp(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kube-peer up:", err)
		return 2
	}
	code, err := up(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kube-peer up:", err)
	}
	return code
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kube-peer up: "+format+"\n", args...)
}

func up(cfg *upConfig) (int, error) {
	start := time.Now()
	dir, err := filepath.Abs(cfg.dir)
	if err != nil {
		return 2, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 2, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".kube-peer.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return 2, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return 2, fmt.Errorf("%s is in use by another kube-peer up", dir)
	}

	etcdBin, err := findEtcd(cfg.etcd)
	if err != nil {
		return 2, err
	}
	self, err := os.Executable()
	if err != nil {
		return 2, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return 2, err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	if cfg.port != 0 {
		apiPort = cfg.port
	}
	server := "https://127.0.0.1:" + strconv.Itoa(apiPort)

	pki, err := loadOrCreatePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return 2, fmt.Errorf("certificates: %w", err)
	}
	for _, c := range []string{"controller-manager", "scheduler", "kwok"} {
		if err := pki.kubeconfig(pki.path(c+".kubeconfig"), c, server); err != nil {
			return 2, err
		}
	}
	kwokConfig := filepath.Join(dir, "kwok.yaml")
	if err := writeKwokConfig(kwokConfig); err != nil {
		return 2, err
	}
	kwokHome := filepath.Join(dir, "kwok-home") // no ~/.kwok/kwok.yaml of the user's sneaks in
	if err := os.MkdirAll(kwokHome, 0o700); err != nil {
		return 2, err
	}

	if cfg.removeDir {
		defer os.RemoveAll(dir) // deferred before sup.stop, so it runs after it
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	sup := newSupervisor(dir)
	defer sup.stop()

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	p := pki.path
	components := []struct {
		name string
		bin  string
		args []string
		env  []string
	}{
		{"etcd", etcdBin, []string{
			"--name=kube-peer",
			"--data-dir=" + filepath.Join(dir, "etcd"),
			"--listen-client-urls=" + etcdURL,
			"--advertise-client-urls=" + etcdURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=kube-peer=" + peerURL,
			"--snapshot-count=10000",
			// The apiserver's watch caches only learn etcd's newest revision from events or
			// from progress notifications. etcd 3.4 cannot be asked for one, so without
			// frequent ones a cache of a kind nobody writes stays at an old revision and
			// reads that must be at least as new as etcd (its object-count and size
			// estimates every minute, consistent reads) wait 3 s and fail, which also holds
			// up the apiserver's exit.
			"--experimental-watch-progress-notify-interval=1s",
			"--logger=zap",
			"--log-outputs=stderr",
		}, nil},
		{"apiserver", self, []string{"apiserver",
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(apiPort),
			// The kubernetes service gets no endpoints: a loopback address is not a valid
			// endpoint, and nothing inside this cluster runs to call it.
			"--endpoint-reconciler-type=none",
			"--tls-cert-file=" + p("apiserver.crt"),
			"--tls-private-key-file=" + p("apiserver.key"),
			"--client-ca-file=" + p("ca.crt"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + p("sa.pub"),
			"--service-account-signing-key-file=" + p("sa.key"),
			"--service-cluster-ip-range=" + serviceCIDR,
			"--authorization-mode=Node,RBAC",
			// Bootstrap tokens (Secrets bootstrap-token-<id> in kube-system), as OCM agents join with.
			"--enable-bootstrap-token-auth=true",
			"--allow-privileged=true",
			"--profiling=false",
			// API priority and fairness gives a post-start hook with a fixed timeout, which
			// a loaded test machine can miss (the apiserver then exits); a test peer with
			// a handful of clients has nothing to queue.
			"--enable-priority-and-fairness=false",
			"--cert-dir=" + filepath.Join(dir, "pki", "apiserver-generated"),
		}, nil},
		{"controller-manager", self, []string{"controller-manager",
			"--kubeconfig=" + p("controller-manager.kubeconfig"),
			"--secure-port=0", // no serving at all
			"--bind-address=127.0.0.1",
			"--leader-elect=false",
			"--use-service-account-credentials=true",
			"--service-account-private-key-file=" + p("sa.key"),
			"--root-ca-file=" + p("ca.crt"),
			"--cluster-signing-cert-file=" + p("ca.crt"),
			"--cluster-signing-key-file=" + p("ca.key"),
			// The default controllers plus the bootstrap-token ones (kube-public/cluster-info
			// signatures, removal of expired tokens).
			"--controllers=*,bootstrapsigner,tokencleaner",
			"--cluster-name=kube-peer",
			// Starting with per-controller service accounts takes a few hundred requests;
			// at the default 20/s client-side limit that alone is seconds.
			"--kube-api-qps=200",
			"--kube-api-burst=400",
			"--service-cluster-ip-range=" + serviceCIDR,
			// kwok renews the fake nodes' leases; on a loaded test machine it can fall
			// behind by more than the default 50 s. The node lifecycle controller would
			// then mark every pod on the node NotReady, and kwok's pod stages never make a
			// pod with an IP Ready again: Deployments on the peer would stay unavailable
			// for good (a rollout waiting on them stalls). No test needs node failure.
			"--node-monitor-grace-period=10m",
			"--profiling=false",
		}, nil},
		{"scheduler", self, []string{"scheduler",
			"--kubeconfig=" + p("scheduler.kubeconfig"),
			"--secure-port=0",
			"--bind-address=127.0.0.1",
			"--leader-elect=false",
			"--profiling=false",
		}, nil},
		{"kwok", self, []string{"kwok",
			"--config=" + kwokConfig,
			"--kubeconfig=" + p("kwok.kubeconfig"),
			"--manage-nodes-with-annotation-selector=" + kwokNodeAnnotation + "=fake",
			"--cidr=10.244.0.0/16",
			"--node-ip=10.88.0.1",
			"--node-lease-duration-seconds=40",
		}, []string{"HOME=" + kwokHome}},
	}
	// etcd, the apiserver and the scheduler at once: each waits for the one it needs.
	// kwok and the controller-manager start once the apiserver is ready: kwok polls for it
	// with a backoff that grows to seconds, and the controller-manager gives up (exits)
	// when the apiserver's /healthz is not ok within its fixed wait, which happened on a
	// loaded machine while the apiserver still bootstrapped its RBAC roles.
	startsLate := func(name string) bool { return name == "kwok" || name == "controller-manager" }
	for _, c := range components {
		if startsLate(c.name) {
			continue
		}
		if err := sup.start(c.name, c.bin, c.args, c.env); err != nil {
			return 1, err
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	cs, err := adminClient(pki, server)
	if err != nil {
		return 1, err
	}
	// await runs check in the background and returns its result, or a failure when a
	// component exits or a signal comes first.
	await := func(check func() error) error {
		ready := make(chan error, 1)
		go func() { ready <- check() }()
		select {
		case err := <-ready:
			if err != nil {
				sup.dumpLogs(os.Stderr)
				return fmt.Errorf("not ready after %s: %w", time.Since(start).Round(time.Millisecond), err)
			}
			return nil
		case e := <-sup.exited:
			sup.dumpLogs(os.Stderr)
			return fmt.Errorf("%s exited before the cluster was ready: %v", e.name, e.err)
		case s := <-sigs:
			return fmt.Errorf("%s before ready: stopping", s)
		}
	}
	if err := await(func() error { return waitAPIServer(ctx, cs, start) }); err != nil {
		return 1, err
	}
	for _, c := range components {
		if !startsLate(c.name) {
			continue
		}
		if err := sup.start(c.name, c.bin, c.args, c.env); err != nil {
			return 1, err
		}
	}
	if err := await(func() error { return waitCluster(ctx, cs, start, cfg.nodes) }); err != nil {
		return 1, err
	}

	if err := pki.kubeconfig(filepath.Join(dir, "admin.kubeconfig"), "admin", server); err != nil {
		return 1, err
	}
	logf("ready in %s", time.Since(start).Round(time.Millisecond))
	fmt.Printf("kube-peer ready: %s kubeconfig=%s\n", server, filepath.Join(dir, "admin.kubeconfig"))

	select {
	case s := <-sigs:
		logf("%s: stopping", s)
		return 0, nil
	case e := <-sup.exited:
		logf("%s exited: %v; stopping the others (its log: %s)", e.name, e.err, sup.logPath(e.name))
		return 1, nil
	}
}

// kwokNodeAnnotation marks the nodes kwok manages.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

func findEtcd(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if env := os.Getenv("ETCD"); env != "" {
		return env, nil
	}
	path, err := exec.LookPath("etcd")
	if err != nil {
		return "", errors.New("no etcd: pass --etcd, set $ETCD or put etcd on PATH (Debian: apt-get install etcd-server)")
	}
	return path, nil
}

// freePorts returns n distinct loopback ports nobody listens on right now.
//
// They are drawn at random from below the kernel's ephemeral range: a port from that
// range (what listening on port 0 gives) can become the local end of any outgoing
// connection on the machine before etcd or the apiserver binds it, which made starts
// fail with "address already in use" while tests ran beside them.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	low := ephemeralLow()
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0"
		if low > 12000 && tries < 1000 {
			addr = "127.0.0.1:" + strconv.Itoa(10000+rand.IntN(low-10000))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue
			}
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 if unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 32768
	}
	return low
}
