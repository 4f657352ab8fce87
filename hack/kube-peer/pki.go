package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The cluster's certificates live in DIR/pki. A DIR that already has them keeps them, so
// `up` on the same DIR again restarts the same cluster (same etcd data, same CA).
//
//	ca.crt, ca.key          the one CA: client CA of the apiserver, CSR signer of the
//	                        controller-manager, root CA published into every namespace
//	apiserver.crt/.key      serving certificate (127.0.0.1, ::1, localhost, the
//	                        kubernetes service's IP and names)
//	<client>.crt/.key       client certificates, see clients below
//	sa.key, sa.pub          service-account token signing key pair
type pkiFiles struct {
	dir    string
	caCert *x509.Certificate
	caKey  crypto.Signer
}

// client is one client certificate identity.
type client struct {
	file string   // file name stem in DIR/pki
	cn   string   // user name
	orgs []string // groups
}

var clients = []client{
	{"admin", "kube-peer-admin", []string{"system:masters"}},
	// The users kube's default RBAC policy binds for these two components.
	{"controller-manager", "system:kube-controller-manager", nil},
	{"scheduler", "system:kube-scheduler", nil},
	// kwok writes the status of every node and pod, node leases and events.
	{"kwok", "kube-peer-kwok", []string{"system:masters"}},
}

// serviceIP is the first address of serviceCIDR: the kubernetes service's cluster IP.
const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1"
)

func (p *pkiFiles) path(name string) string { return filepath.Join(p.dir, name) }

// loadOrCreatePKI returns the PKI in dir, creating all of it when any file is missing.
func loadOrCreatePKI(dir string) (*pkiFiles, error) {
	p := &pkiFiles{dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	want := []string{"ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "sa.key", "sa.pub"}
	for _, c := range clients {
		want = append(want, c.file+".crt", c.file+".key")
	}
	complete := true
	for _, f := range want {
		if _, err := os.Stat(p.path(f)); err != nil {
			complete = false
			break
		}
	}
	if complete {
		cert, err := readCert(p.path("ca.crt"))
		if err != nil {
			return nil, err
		}
		key, err := readKey(p.path("ca.key"))
		if err != nil {
			return nil, err
		}
		p.caCert, p.caKey = cert, key
		return p, nil
	}
	return p, p.create()
}

func (p *pkiFiles) create() error {
	now := time.Now()
	caKey, err := newKey()
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "kube-peer-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return err
	}
	p.caCert, err = x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	p.caKey = caKey

	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback, net.ParseIP(serviceIP)},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
	}
	if err := p.issue("apiserver", serving); err != nil {
		return err
	}
	for _, c := range clients {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: c.cn, Organization: c.orgs},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if err := p.issue(c.file, tmpl); err != nil {
			return err
		}
	}

	saKey, err := newKey()
	if err != nil {
		return err
	}
	if err := writeKey(p.path("sa.key"), saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return err
	}
	if err := writeFile(p.path("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return err
	}
	// The CA last: its presence is what marks the set complete for the next start.
	if err := writeKey(p.path("ca.key"), caKey); err != nil {
		return err
	}
	return writeFile(p.path("ca.crt"), certPEM(caDER), 0o644)
}

// issue signs tmpl (subject, usages, names) with the CA into NAME.crt and NAME.key.
func (p *pkiFiles) issue(name string, tmpl *x509.Certificate) error {
	key, err := newKey()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.AddDate(1, 0, 0)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return err
	}
	if err := writeKey(p.path(name+".key"), key); err != nil {
		return err
	}
	return writeFile(p.path(name+".crt"), certPEM(der), 0o644)
}

// kubeconfig writes a kubeconfig for the client certificate NAME to path.
func (p *pkiFiles) kubeconfig(path, name, server string) error {
	ca, err := os.ReadFile(p.path("ca.crt"))
	if err != nil {
		return err
	}
	cert, err := os.ReadFile(p.path(name + ".crt"))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(p.path(name + ".key"))
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kube-peer"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cert, ClientKeyData: key}
	cfg.Contexts["kube-peer"] = &clientcmdapi.Context{Cluster: "kube-peer", AuthInfo: name}
	cfg.CurrentContext = "kube-peer"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return writeFile(path, data, 0o600)
}

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM key", path)
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New(path + ": not a signing key")
	}
	return s, nil
}

// writeFile replaces path atomically (temporary file, then rename).
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
