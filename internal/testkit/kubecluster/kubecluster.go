// Package kubecluster runs a real Kubernetes control plane on loopback for
// tests: etcd, kube-apiserver, kube-controller-manager and kube-scheduler,
// the binaries of scripts/install-kube.sh (built once from the Go module
// proxy and cached), each in a temporary directory that Stop removes.
//
// It is the control plane of the kubernetes runtime's tests; pods run where
// a node agent runs them (none is started here).
package kubecluster

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is a running control plane.
type Cluster struct {
	Dir        string // holds the kubeconfig, keys, data and each component's log
	Server     string // https://127.0.0.1:PORT of the API server
	Token      string // a bearer token of system:masters
	Kubeconfig string // a kubeconfig file for Server with Token
	Version    string // the API server's version, e.g. "v1.36.3"

	procs []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// Binaries finds the control plane's binaries: $PAVED_KUBE_DIR, else what
// scripts/install-kube.sh prints (it builds them the first time).
func Binaries() (dir, etcd string, err error) {
	dir = os.Getenv("PAVED_KUBE_DIR")
	if dir == "" {
		script := filepath.Join(repoRoot(), "scripts", "install-kube.sh")
		out, err := exec.Command(script).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return "", "", fmt.Errorf("%s: %w: %s", script, err, ee.Stderr)
			}
			return "", "", fmt.Errorf("%s: %w", script, err)
		}
		dir = strings.TrimSpace(string(out))
	}
	b, err := os.ReadFile(filepath.Join(dir, "etcd"))
	if err != nil {
		return "", "", fmt.Errorf("no etcd named in %s: %w", dir, err)
	}
	return dir, strings.TrimSpace(string(b)), nil
}

// Start runs a control plane; ctx bounds the start only. The caller must
// Stop it, also after an error of a later step.
func Start(ctx context.Context) (c *Cluster, err error) {
	bins, etcd, err := Binaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "paved-kube")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Dir: dir}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w%s", err, c.logs())
			c.Stop()
			c = nil
		}
	}()
	ports, err := freePorts(6)
	if err != nil {
		return c, err
	}
	etcdClient, etcdPeer, etcdMetrics, apiPort, cmPort, schedPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	if err := c.writeSecrets(); err != nil {
		return c, err
	}

	if err := c.run(etcd, "etcd",
		"--name", "paved-test", "--data-dir", c.path("etcd-data"),
		"--listen-client-urls", loopURL("http", etcdClient), "--advertise-client-urls", loopURL("http", etcdClient),
		"--listen-peer-urls", loopURL("http", etcdPeer), "--initial-advertise-peer-urls", loopURL("http", etcdPeer),
		"--initial-cluster", "paved-test="+loopURL("http", etcdPeer), "--listen-metrics-urls", loopURL("http", etcdMetrics),
		// Without progress notifications, watches on etcd 3.4 break with
		// "too large resource version" (kube-recipe.md).
		"--experimental-watch-progress-notify-interval=5s"); err != nil {
		return c, err
	}
	c.Server = loopURL("https", apiPort)
	if err := c.run(filepath.Join(bins, "kube-apiserver"), "kube-apiserver",
		"--etcd-servers", loopURL("http", etcdClient), "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--advertise-address=127.0.0.1", "--cert-dir", c.path("apiserver-certs"), "--token-auth-file", c.path("tokens.csv"),
		"--authorization-mode=Node,RBAC", "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", c.path("sa.pub"), "--service-account-signing-key-file", c.path("sa.key"),
		// A range that is never routed to: nothing listens there.
		"--service-cluster-ip-range=10.0.0.0/24"); err != nil {
		return c, err
	}
	if err := c.waitReady(ctx, c.Server+"/readyz"); err != nil {
		return c, fmt.Errorf("kube-apiserver: %w", err)
	}
	if err := c.writeKubeconfig(); err != nil {
		return c, err
	}
	if err := c.run(filepath.Join(bins, "kube-controller-manager"), "kube-controller-manager",
		"--kubeconfig", c.Kubeconfig, "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", cmPort),
		"--cert-dir", c.path("cm-certs"), "--leader-elect=false", "--service-account-private-key-file", c.path("sa.key"),
		"--root-ca-file", c.path("apiserver-certs", "apiserver.crt"), "--controllers=*",
		"--use-service-account-credentials=false", "--node-monitor-grace-period=20s"); err != nil {
		return c, err
	}
	if err := c.run(filepath.Join(bins, "kube-scheduler"), "kube-scheduler",
		"--kubeconfig", c.Kubeconfig, "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", schedPort),
		"--cert-dir", c.path("sched-certs"), "--leader-elect=false"); err != nil {
		return c, err
	}
	cs, err := c.Clientset()
	if err != nil {
		return c, err
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return c, fmt.Errorf("server version: %w", err)
	}
	c.Version = v.GitVersion
	return c, nil
}

// RESTConfig is a client config for the cluster as its admin.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	return clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
}

// Clientset is a typed client for the cluster as its admin.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Stop ends every component (the API server first, etcd last) and removes
// the cluster's directory. It is safe to call more than once.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM) // fails only when it has exited
		select {
		case <-p.done:
		case <-time.After(20 * time.Second): // the API server takes a few seconds
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	c.procs = nil
	if c.Dir != "" {
		os.RemoveAll(c.Dir)
		c.Dir = ""
	}
}

// Logs is the tail of each component's log, for a failed test.
func (c *Cluster) Logs() string { return c.logs() }

func (c *Cluster) logs() string {
	var b strings.Builder
	for _, p := range c.procs {
		data, _ := os.ReadFile(c.path(p.name + ".log"))
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "\n--- %s (last lines):\n%s", p.name, strings.Join(lines, "\n"))
	}
	return b.String()
}

func (c *Cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.Dir}, parts...)...)
}

// run starts one component with its output in DIR/NAME.log; it is killed
// with the test process (Pdeathsig), so a crashed test leaves none behind.
func (c *Cluster) run(bin, name string, args ...string) error {
	logf, err := os.Create(c.path(name + ".log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }() // how it ended is in its log
	c.procs = append(c.procs, p)
	return nil
}

// waitReady polls url (with the admin token) until it answers 200, a
// component exits, or ctx ends.
func (c *Cluster) waitReady(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the API server's own self-signed certificate, on loopback
	}}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited before %s answered", p.name, url)
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer: %w", url, ctx.Err())
		case <-t.C:
		}
	}
}

// writeSecrets writes the service-account key pair and the token file.
func (c *Cluster) writeSecrets() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	c.Token = hex.EncodeToString(tok)
	for name, body := range map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(c.Token + ",admin,admin,system:masters\n"),
	} {
		if err := os.WriteFile(c.path(name), body, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeKubeconfig writes a kubeconfig for the admin token, trusting the
// API server's self-signed certificate.
func (c *Cluster) writeKubeconfig() error {
	c.Kubeconfig = c.path("kubeconfig")
	body := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: paved-test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: paved-test
  context: {cluster: paved-test, user: admin}
current-context: paved-test
`, c.Server, c.path("apiserver-certs", "apiserver.crt"), c.Token)
	return os.WriteFile(c.Kubeconfig, []byte(body), 0o600)
}

func loopURL(scheme string, port int) string { return fmt.Sprintf("%s://127.0.0.1:%d", scheme, port) }

// freePorts picks n loopback ports nobody listens on (a race with other
// processes remains; the caller starts at once).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}
