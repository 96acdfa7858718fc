package kubenode

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/kubecluster"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// The test binary doubles as the containers' program: with roleEnv set it
// is a server (or the server's child) rather than the tests.
const (
	roleEnv = "KUBENODE_TEST_ROLE"
	runEnv  = "KUBENODE_TEST_RUN" // marks every process of a workload, to find them in /proc
	// nsCheckArg as argv[1] makes the test binary an exec probe that passes
	// only outside the network namespace named by argv[2] (the host's).
	nsCheckArg = "kubenode-test-nscheck"
)

// hostNetNS is the network namespace of the test process, read before any
// pod's thread joins another: later, /proc/self (the main thread) may be a
// pod's thread.
var hostNetNS string

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == nsCheckArg {
		ns, err := os.Readlink("/proc/self/ns/net")
		if err != nil || ns == os.Args[2] {
			fmt.Printf("network namespace %s (%v): the host's\n", ns, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	switch os.Getenv(roleEnv) {
	case "server":
		testServer()
		return
	case "fetch":
		// An init container that downloads $FETCH_URL to $FETCH_OUT, as a
		// cell's init container downloads the app.
		body, err := fetch(os.Getenv("FETCH_URL"))
		if err == nil {
			err = os.WriteFile(os.Getenv("FETCH_OUT"), body, 0o644)
		}
		if err != nil {
			fmt.Println("fetch:", err)
			os.Exit(1)
		}
		fmt.Printf("fetched %d bytes\n", len(body))
		return
	case "sleeper":
		// The server's child, in its process group: the agent kills it with
		// its group. Should the test process crash (the agent's Pdeathsig
		// reaches group leaders only), it notices it was orphaned within a
		// minute and ends; the tests demand its end far sooner.
		parent := os.Getppid()
		for os.Getppid() == parent {
			time.Sleep(time.Minute)
		}
		os.Exit(0)
	}
	var err error
	if hostNetNS, err = os.Readlink("/proc/thread-self/ns/net"); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// serverInfo is what the test server says about itself at GET /.
type serverInfo struct {
	PID    int               `json:"pid"`
	Child  int               `json:"child"`
	Addr   string            `json:"addr"`
	Cwd    string            `json:"cwd"`
	Probes int64             `json:"probes"`
	Env    map[string]string `json:"env"`
}

// testServer listens on $POD_IP:$PORT, or with $BIND_ALL set on :$PORT
// (all addresses). Its readiness endpoint fails until POST /ready, so a test
// sees the agent's probes fail and then pass.
func testServer() {
	addr := net.JoinHostPort(os.Getenv("POD_IP"), os.Getenv("PORT"))
	if os.Getenv("BIND_ALL") != "" {
		addr = ":" + os.Getenv("PORT")
	}
	self, _ := os.Executable()
	child := exec.Command(self)
	child.Env = append(os.Environ(), roleEnv+"=sleeper")
	if err := child.Start(); err != nil {
		fmt.Println("child:", err)
		os.Exit(1)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	addr = l.Addr().String()
	fmt.Printf("kubenode-test-server pid %d listening on %s\n", os.Getpid(), addr)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		fmt.Println("kubenode-test-server: SIGTERM, exiting")
		os.Exit(0)
	}()
	var ready atomic.Bool
	var probes atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		if !ready.Load() {
			http.Error(w, "not ready yet", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("POST /ready", func(w http.ResponseWriter, r *http.Request) { ready.Store(true) })
	mux.HandleFunc("GET /file", func(w http.ResponseWriter, r *http.Request) {
		data, err := os.ReadFile(r.URL.Query().Get("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(data)
	})
	// What the pod reaches: GET url from inside the pod.
	mux.HandleFunc("GET /fetch", func(w http.ResponseWriter, r *http.Request) {
		body, err := fetch(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Write(body)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		cwd, _ := os.Getwd()
		env := map[string]string{}
		for _, k := range []string{"POD_NAME", "POD_IP", "NODE", "GREETING", "MSG", "HOSTNAME", "PATH", "KUBENODE_TEST_HOST_ONLY"} {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = v
			}
		}
		json.NewEncoder(w).Encode(serverInfo{PID: os.Getpid(), Child: child.Process.Pid, Addr: addr, Cwd: cwd, Probes: probes.Load(), Env: env})
	})
	http.Serve(l, mux)
}

var httpc = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func fetch(url string) ([]byte, error) {
	resp, err := httpc.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return body, err
}

// fetchFrom has the server at addr GET url: what a pod reaches.
func fetchFrom(addr, url string) (string, error) {
	body, err := fetch("http://" + addr + "/fetch?url=" + neturl.QueryEscape(url))
	return string(body), err
}

func getInfo(addr string) (serverInfo, error) {
	var info serverInfo
	resp, err := httpc.Get("http://" + addr + "/")
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("GET %s/: %s", addr, resp.Status)
	}
	return info, json.NewDecoder(resp.Body).Decode(&info)
}

func getFile(addr, name string) (string, error) {
	resp, err := httpc.Get("http://" + addr + "/file?name=" + name)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /file: %s: %s", resp.Status, b)
	}
	return string(b), err
}

func makeReady(addr string) error {
	resp, err := httpc.Post("http://"+addr+"/ready", "text/plain", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// TestNodeAgent runs two node agents on a real control plane and checks
// what a Kubernetes runtime driver relies on: a Deployment's pods run as
// real processes in their own network namespaces and serve HTTP on their
// IPs, readiness comes from the agent's probes, pods on one node and on two
// bind the same port on all addresses and each answers on its own IP, a
// pod reaches a host loopback server through Network.Forward, a killed
// container is restarted, logs are served through the API, scaling to zero
// leaves no process or namespace behind, init containers run in order and
// a failing one keeps the pod from running, restart policies end pods as
// Kubernetes does, heartbeats keep the nodes Ready, and Stop deregisters a
// node and kills everything, leaving no namespace, link or bridge.
func TestNodeAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes control plane and node agents (make kube-test runs it)")
	}
	began := time.Now()
	t.Setenv("KUBENODE_TEST_HOST_ONLY", "the agent's environment, not a container's")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cluster, err := kubecluster.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Stop()
	cfg, err := cluster.RESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	cs, err := cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane %s up in %s", cluster.Version, time.Since(began).Round(time.Millisecond))

	// Both nodes on one network made here (the lost node below gets the
	// process's shared one). node-b picks its own pod range (the default);
	// node-a's is given, and a third node may not overlap it nor lie outside
	// the network.
	network, err := NewNetwork(NetworkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer network.Close()
	_, netCIDR, _ := net.ParseCIDR(network.CIDR())
	third := u32ToNetIP(ipToU32(netCIDR.IP) + 2<<8).String() // the network's third /24
	nodes := map[string]*Node{}
	cidrs := map[string]string{}
	for _, o := range []Options{{Name: "node-a", PodCIDR: third + "/24", Network: network}, {Name: "node-b", Network: network}} {
		n, err := Start(ctx, cfg, o)
		if err != nil {
			t.Fatal(err)
		}
		defer n.Stop()
		nodes[o.Name], cidrs[o.Name] = n, n.PodCIDR
		if n.Network() != network {
			t.Fatalf("node %s is not on the network given", o.Name)
		}
	}
	if _, err := Start(ctx, cfg, Options{Name: "node-c", PodCIDR: strings.TrimSuffix(third, ".0") + ".128/25", Network: network}); err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("a node with an overlapping pod range: %v", err)
	}
	if _, err := Start(ctx, cfg, Options{Name: "node-c", PodCIDR: "127.0.10.0/24", Network: network}); err == nil || !strings.Contains(err.Error(), "not inside") {
		t.Fatalf("a node with a pod range outside the network: %v", err)
	}
	agentLogs := map[string]string{} // kept when Stop removes them
	defer func() {
		if t.Failed() {
			t.Log(cluster.Logs())
			for name, n := range nodes {
				if tail := n.LogTail(80); tail != "" {
					t.Log(tail)
				} else {
					t.Log(agentLogs[name])
				}
			}
		}
	}()
	t.Logf("nodes Ready and schedulable at %s (network %s, bridge %s, pod ranges %v)", time.Since(began).Round(time.Millisecond),
		network.CIDR(), network.Bridge(), cidrs)
	hostNS := hostNetNS

	const ns = "kubenode-test"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "web-secret"},
		StringData: map[string]string{"greeting": "s3cret-hello"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	run := randomHex(6)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	var webPods []corev1.Pod
	ok := t.Run("deployment serves HTTP on pod IPs", func(t *testing.T) {
		dep := webDeployment(self, run+"-web")
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Running, but not Ready while the server's readiness endpoint
		// fails, and the agent has been probing it.
		eventually(t, ctx, time.Minute, "two web pods Running, probed, not Ready", func() error {
			pods, err := webPodsNow(ctx, cs, ns, 2)
			if err != nil {
				return err
			}
			for _, p := range pods {
				if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil {
					return fmt.Errorf("pod %s: phase %s, containers %+v", p.Name, p.Status.Phase, p.Status.ContainerStatuses)
				}
				info, err := getInfo(podAddr(p))
				if err != nil {
					return err
				}
				if info.Probes < 2 {
					return fmt.Errorf("pod %s: %d probes so far", p.Name, info.Probes)
				}
				if podReady(p) || p.Status.ContainerStatuses[0].Ready {
					return fmt.Errorf("pod %s is Ready though its readiness probe fails", p.Name)
				}
			}
			return nil
		})
		pods, err := webPodsNow(ctx, cs, ns, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			if err := makeReady(podAddr(p)); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, ctx, time.Minute, "both pods Ready and the Deployment available", func() error {
			pods, err := webPodsNow(ctx, cs, ns, 2)
			if err != nil {
				return err
			}
			for _, p := range pods {
				if !podReady(p) || !p.Status.ContainerStatuses[0].Ready {
					return fmt.Errorf("pod %s not Ready: %+v", p.Name, p.Status.Conditions)
				}
			}
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if d.Status.AvailableReplicas != 2 {
				return fmt.Errorf("deployment: %d available", d.Status.AvailableReplicas)
			}
			webPods = pods
			return nil
		})
		ips := map[string]bool{}
		for _, p := range webPods {
			_, cidr, _ := net.ParseCIDR(cidrs[p.Spec.NodeName])
			ip := net.ParseIP(p.Status.PodIP)
			if cidr == nil || !cidr.Contains(ip) || ips[p.Status.PodIP] {
				t.Errorf("pod %s on %s has IP %s: want a distinct address in %v", p.Name, p.Spec.NodeName, p.Status.PodIP, cidr)
			}
			ips[p.Status.PodIP] = true
			if len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != p.Status.PodIP || p.Status.HostIP != "127.0.0.1" {
				t.Errorf("pod %s: podIPs %v, hostIP %q", p.Name, p.Status.PodIPs, p.Status.HostIP)
			}
			info, err := getInfo(podAddr(p))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"POD_NAME": p.Name, "POD_IP": p.Status.PodIP, "NODE": p.Spec.NodeName, "GREETING": "s3cret-hello",
				"MSG": "hello from " + p.Name, "HOSTNAME": p.Name,
			}
			for k, v := range want {
				if info.Env[k] != v {
					t.Errorf("pod %s: env %s = %q, want %q", p.Name, k, info.Env[k], v)
				}
			}
			if _, leaked := info.Env["KUBENODE_TEST_HOST_ONLY"]; leaked || info.Env["PATH"] == "" {
				t.Errorf("pod %s: env %v: want PATH and only the container's env", p.Name, info.Env)
			}
			if info.Addr != podAddr(p) {
				t.Errorf("pod %s: server bound %s, want %s", p.Name, info.Addr, podAddr(p))
			}
			if ns, err := netnsOf(info.PID); err != nil || !strings.HasPrefix(ns, fmt.Sprintf("pvd%d-", os.Getpid())) {
				t.Errorf("pod %s: server in namespace %q: %v", p.Name, ns, err)
			}
			// The init container wrote into the emptyDir the server runs in.
			if !strings.HasSuffix(info.Cwd, filepath.Join("volumes", "workspace")) {
				t.Errorf("pod %s: working dir %s, want the workspace volume", p.Name, info.Cwd)
			}
			if got, err := getFile(podAddr(p), "droplet"); err != nil || got != "droplet for "+p.Name+"\n" {
				t.Errorf("pod %s: droplet %q, %v", p.Name, got, err)
			}
			init := p.Status.InitContainerStatuses
			if len(init) != 1 || init[0].State.Terminated == nil || init[0].State.Terminated.ExitCode != 0 || init[0].State.Terminated.Reason != "Completed" {
				t.Errorf("pod %s: init container status %+v", p.Name, init)
			}
		}
		t.Logf("pods %s, %s serving on %s, %s (nodes %s, %s)", webPods[0].Name, webPods[1].Name,
			podAddr(webPods[0]), podAddr(webPods[1]), webPods[0].Spec.NodeName, webPods[1].Spec.NodeName)
	})
	if !ok {
		return
	}

	ok = t.Run("pods bind one port on all addresses", func(t *testing.T) {
		// Two pods on node-a and one on node-b, all binding :8080 (as the
		// web pods do on their IPs), each Ready by an exec probe that passes
		// only outside the host's network namespace.
		placement := map[string]string{"same-1": "node-a", "same-2": "node-a", "same-3": "node-b"}
		vethsBefore := countLinks(t, 'h')
		for name, node := range placement {
			createPod(t, ctx, cs, ns, bindAllPod(self, name, node, run+"-same", hostNS, nil))
		}
		pods := map[string]corev1.Pod{}
		eventually(t, ctx, time.Minute, "the three pods Ready", func() error {
			for name := range placement {
				cur, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if !podReady(*cur) {
					return fmt.Errorf("pod %s not Ready: %s %+v", name, cur.Status.Phase, cur.Status.ContainerStatuses)
				}
				pods[name] = *cur
			}
			return nil
		})
		netnss := map[string]string{}
		ips := map[string]bool{}
		for name, node := range placement {
			p := pods[name]
			_, cidr, _ := net.ParseCIDR(cidrs[node])
			if p.Spec.NodeName != node || !cidr.Contains(net.ParseIP(p.Status.PodIP)) || ips[p.Status.PodIP] {
				t.Errorf("pod %s on %s has IP %s: want a distinct address in %s", name, p.Spec.NodeName, p.Status.PodIP, cidr)
			}
			ips[p.Status.PodIP] = true
			info, err := getInfo(podAddr(p))
			if err != nil {
				t.Fatal(err)
			}
			if info.Env["POD_NAME"] != name {
				t.Errorf("%s answered as %q", podAddr(p), info.Env["POD_NAME"])
			}
			if h, port, _ := net.SplitHostPort(info.Addr); port != "8080" || net.ParseIP(h) == nil || !net.ParseIP(h).IsUnspecified() {
				t.Errorf("pod %s bound %s, want all addresses", name, info.Addr)
			}
			nsName, err := netnsOf(info.PID)
			if err != nil {
				t.Fatal(err)
			}
			for other, o := range netnss {
				if o == nsName {
					t.Errorf("pods %s and %s share namespace %s", name, other, nsName)
				}
			}
			netnss[name] = nsName
		}
		if got := countLinks(t, 'h'); got != vethsBefore+3 {
			t.Errorf("%d veth host ends, want %d", got, vethsBefore+3)
		}
		// Pods reach each other across nodes, on the one bridge.
		if got, err := fetchFrom(podAddr(pods["same-1"]), "http://"+podAddr(pods["same-3"])+"/"); err != nil || !strings.Contains(got, `"POD_NAME":"same-3"`) {
			t.Errorf("same-1 to same-3: %q, %v", got, err)
		}
		if got, err := fetchFrom(podAddr(pods["same-3"]), "http://"+podAddr(pods["same-2"])+"/"); err != nil || !strings.Contains(got, `"POD_NAME":"same-2"`) {
			t.Errorf("same-3 to same-2: %q, %v", got, err)
		}
		for name := range placement {
			deletePodAndWait(t, ctx, cs, ns, name)
		}
		eventually(t, ctx, 10*time.Second, "the pods' namespaces and veths gone", func() error {
			for name, nsName := range netnss {
				if _, err := os.Stat(filepath.Join(netnsDir, nsName)); !os.IsNotExist(err) {
					return fmt.Errorf("pod %s's namespace %s: %v", name, nsName, err)
				}
			}
			if got := countLinks(t, 'h'); got != vethsBefore {
				return fmt.Errorf("%d veth host ends, want %d", got, vethsBefore)
			}
			return nil
		})
	})
	if !ok {
		return
	}

	ok = t.Run("pods reach a host loopback server through a forward", func(t *testing.T) {
		// As a cell's API serves droplets on 127.0.0.1 to init containers.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/droplet" {
				http.NotFound(w, r)
				return
			}
			io.WriteString(w, "droplet from the cell\n")
		}))
		fwd, stop, err := network.Forward(l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		if h, _, _ := net.SplitHostPort(fwd); h != network.Gateway() {
			t.Errorf("forward on %s, want the gateway %s", fwd, network.Gateway())
		}
		init := &corev1.Container{Name: "fetch", Image: "paved/stack:test", Command: []string{self},
			Env: []corev1.EnvVar{{Name: roleEnv, Value: "fetch"}, {Name: runEnv, Value: run + "-fetch"},
				{Name: "FETCH_URL", Value: "http://" + fwd + "/droplet"}, {Name: "FETCH_OUT", Value: "/workspace/droplet"}},
			VolumeMounts: []corev1.VolumeMount{{Name: "workspace", MountPath: "/workspace"}}}
		createPod(t, ctx, cs, ns, bindAllPod(self, "fetcher", "node-b", run+"-fetch", hostNS, init))
		var p corev1.Pod
		eventually(t, ctx, time.Minute, "fetcher Ready", func() error {
			cur, err := cs.CoreV1().Pods(ns).Get(ctx, "fetcher", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !podReady(*cur) {
				return fmt.Errorf("phase %s, init %+v", cur.Status.Phase, cur.Status.InitContainerStatuses)
			}
			p = *cur
			return nil
		})
		if got, err := getFile(podAddr(p), "droplet"); err != nil || got != "droplet from the cell\n" {
			t.Errorf("droplet the init container fetched: %q, %v", got, err)
		}
		// The host's loopback is not the pod's: only the forward reaches it.
		if got, err := fetchFrom(podAddr(p), "http://"+l.Addr().String()+"/droplet"); err == nil {
			t.Errorf("the pod reached the host's loopback directly: %q", got)
		}
		if got, err := fetchFrom(podAddr(p), "http://"+fwd+"/droplet"); err != nil || got != "droplet from the cell\n" {
			t.Errorf("through the forward: %q, %v", got, err)
		}
		stop()
		if got, err := fetchFrom(podAddr(p), "http://"+fwd+"/droplet"); err == nil {
			t.Errorf("through a stopped forward: %q", got)
		}
		deletePodAndWait(t, ctx, cs, ns, "fetcher")
	})
	if !ok {
		return
	}

	ok = t.Run("logs through the API", func(t *testing.T) {
		for _, p := range webPods {
			eventually(t, ctx, 30*time.Second, "pod log through the API server", func() error {
				b, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: "web"}).DoRaw(ctx)
				if err != nil {
					return err
				}
				if !strings.Contains(string(b), "listening on "+podAddr(p)) {
					return fmt.Errorf("log of %s: %q", p.Name, b)
				}
				return nil
			})
		}
		// Timestamps and tailLines reach the agent.
		b, err := cs.CoreV1().Pods(ns).GetLogs(webPods[0].Name, &corev1.PodLogOptions{Container: "web", Timestamps: true, TailLines: ptr(int64(1))}).DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if ts, _, _ := strings.Cut(lines[0], " "); len(lines) != 1 || !validTime(ts) {
			t.Errorf("tailLines=1 with timestamps: %q", b)
		}
	})
	if !ok {
		return
	}

	ok = t.Run("killed container restarts", func(t *testing.T) {
		p := webPods[0]
		addr := podAddr(p)
		before, err := getInfo(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, ctx, 5*time.Second, "the old server and its child are gone", func() error {
			return processesGone(before.PID, before.Child)
		})
		var after serverInfo
		eventually(t, ctx, 30*time.Second, "a new server instance answers on the same address", func() error {
			var err error
			if after, err = getInfo(addr); err != nil {
				return err
			}
			if after.PID == before.PID {
				return errors.New("still the old process")
			}
			return nil
		})
		if err := makeReady(addr); err != nil {
			t.Fatal(err)
		}
		eventually(t, ctx, 30*time.Second, "restartCount 1, the kill in lastState, the pod Ready again", func() error {
			cur, err := cs.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			st := cur.Status.ContainerStatuses[0]
			if st.RestartCount != 1 {
				return fmt.Errorf("restartCount %d", st.RestartCount)
			}
			if lt := st.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 137 || lt.Signal != 9 {
				return fmt.Errorf("lastState %+v", st.LastTerminationState)
			}
			if !podReady(*cur) || !st.Ready || st.State.Running == nil {
				return fmt.Errorf("not Ready: %+v", st)
			}
			if cur.Status.PodIP != p.Status.PodIP {
				return fmt.Errorf("pod IP changed from %s to %s", p.Status.PodIP, cur.Status.PodIP)
			}
			return nil
		})
		b, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: "web", Previous: true}).DoRaw(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), fmt.Sprintf("pid %d listening", before.PID)) {
			t.Errorf("previous log: %q", b)
		}
		t.Logf("pid %d killed, pid %d serving", before.PID, after.PID)
	})
	if !ok {
		return
	}

	ok = t.Run("scale to zero removes pods and processes", func(t *testing.T) {
		var pids []int
		var netnss []string
		for _, p := range webPods {
			info, err := getInfo(podAddr(p))
			if err != nil {
				t.Fatal(err)
			}
			pids = append(pids, info.PID, info.Child)
			nsName, err := netnsOf(info.PID)
			if err != nil {
				t.Fatal(err)
			}
			netnss = append(netnss, nsName)
		}
		if procs := markedProcesses(run + "-web"); len(procs) < 4 {
			t.Fatalf("found %v running for the web pods, want their two servers and two children", procs)
		}
		scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: 0}}
		if _, err := cs.AppsV1().Deployments(ns).UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, ctx, time.Minute, "no web pod left in the API", func() error {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil {
				return err
			}
			if len(pods.Items) != 0 {
				return fmt.Errorf("%d pods left (%s)", len(pods.Items), pods.Items[0].Status.Phase)
			}
			return nil
		})
		eventually(t, ctx, 5*time.Second, "no web process left", func() error {
			if err := processesGone(pids...); err != nil {
				return err
			}
			if procs := markedProcesses(run + "-web"); len(procs) > 0 {
				return fmt.Errorf("processes %v still run", procs)
			}
			for _, nsName := range netnss {
				if _, err := os.Stat(filepath.Join(netnsDir, nsName)); !os.IsNotExist(err) {
					return fmt.Errorf("namespace %s left: %v", nsName, err)
				}
			}
			return nil
		})
		for _, p := range webPods {
			if _, err := net.DialTimeout("tcp", podAddr(p), time.Second); err == nil {
				t.Errorf("%s still accepts connections", podAddr(p))
			}
		}
	})
	if !ok {
		return
	}

	ok = t.Run("failing init container keeps the pod from running", func(t *testing.T) {
		for _, policy := range []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyNever} {
			name := "broken-" + strings.ToLower(string(policy))
			marker := run + "-" + name
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: corev1.PodSpec{
					RestartPolicy:                 policy,
					TerminationGracePeriodSeconds: ptr(int64(2)),
					InitContainers: []corev1.Container{
						{Name: "first", Image: "paved/stack:test", Command: []string{"/bin/sh", "-c", "echo first ran"}},
						{Name: "fetch", Image: "paved/stack:test", Command: []string{"/bin/sh", "-c", "echo fetch failed >&2; exit 3"}},
					},
					Containers: []corev1.Container{{Name: "web", Image: "paved/stack:test", Command: []string{self},
						Env: []corev1.EnvVar{{Name: roleEnv, Value: "server"}, {Name: runEnv, Value: marker}, {Name: "PORT", Value: "8080"}}}},
				},
			}
			createPod(t, ctx, cs, ns, pod)
			eventually(t, ctx, time.Minute, name+": the init container failed, the pod is held back", func() error {
				cur, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				st := cur.Status
				if len(st.InitContainerStatuses) != 2 || len(st.ContainerStatuses) != 1 {
					return fmt.Errorf("node %q, phase %s, conditions %+v, statuses %+v %+v", cur.Spec.NodeName, st.Phase, st.Conditions, st.InitContainerStatuses, st.ContainerStatuses)
				}
				first, fetch, web := st.InitContainerStatuses[0], st.InitContainerStatuses[1], st.ContainerStatuses[0]
				if first.State.Terminated == nil || first.State.Terminated.ExitCode != 0 {
					return fmt.Errorf("first init container: %+v", first.State)
				}
				if web.State.Waiting == nil || web.State.Waiting.Reason != "PodInitializing" || web.Started == nil || *web.Started {
					return fmt.Errorf("web container: %+v", web.State)
				}
				if podInitialized(*cur) {
					return errors.New("pod is Initialized")
				}
				if policy == corev1.RestartPolicyNever {
					if st.Phase != corev1.PodFailed || fetch.State.Terminated == nil || fetch.State.Terminated.ExitCode != 3 || fetch.RestartCount != 0 {
						return fmt.Errorf("phase %s, fetch %+v", st.Phase, fetch)
					}
					return nil
				}
				if st.Phase != corev1.PodPending {
					return fmt.Errorf("phase %s", st.Phase)
				}
				last := fetch.LastTerminationState.Terminated
				if fetch.RestartCount < 2 || last == nil || last.ExitCode != 3 {
					return fmt.Errorf("fetch restarted %d times, last %+v", fetch.RestartCount, fetch.LastTerminationState)
				}
				return nil
			})
			if procs := markedProcesses(marker); len(procs) > 0 {
				t.Errorf("%s: the app container ran: %v", name, procs)
			}
			eventually(t, ctx, 10*time.Second, name+": the init container's log through the API", func() error {
				b, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: "fetch"}).DoRaw(ctx)
				if err != nil {
					return err
				}
				if !strings.Contains(string(b), "fetch failed") {
					return fmt.Errorf("fetch log %q", b)
				}
				return nil
			})
			deletePodAndWait(t, ctx, cs, ns, name)
		}
	})
	if !ok {
		return
	}

	t.Run("restart policies end pods", func(t *testing.T) {
		cases := []struct {
			name   string
			policy corev1.RestartPolicy
			script string
			phase  corev1.PodPhase
			code   int32
			count  int32
		}{
			{"done-never", corev1.RestartPolicyNever, "echo done", corev1.PodSucceeded, 0, 0},
			{"fail-never", corev1.RestartPolicyNever, "exit 2", corev1.PodFailed, 2, 0},
			// Fails once, is restarted, then succeeds: the emptyDir outlives restarts.
			{"flaky-onfailure", corev1.RestartPolicyOnFailure, "test -f /scratch/once || { touch /scratch/once; exit 1; }", corev1.PodSucceeded, 0, 1},
		}
		for _, tc := range cases {
			createPod(t, ctx, cs, ns, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: tc.name},
				Spec: corev1.PodSpec{
					RestartPolicy: tc.policy,
					Volumes:       []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
					Containers: []corev1.Container{{Name: "job", Image: "paved/stack:test", Command: []string{"/bin/sh", "-c", tc.script},
						VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}}},
				},
			})
		}
		for _, tc := range cases {
			eventually(t, ctx, time.Minute, tc.name+" ends", func() error {
				cur, err := cs.CoreV1().Pods(ns).Get(ctx, tc.name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if cur.Status.Phase != tc.phase || len(cur.Status.ContainerStatuses) != 1 {
					return fmt.Errorf("phase %s", cur.Status.Phase)
				}
				st := cur.Status.ContainerStatuses[0]
				if st.State.Terminated == nil || st.State.Terminated.ExitCode != tc.code || st.RestartCount != tc.count {
					return fmt.Errorf("container %+v", st)
				}
				return nil
			})
		}
		for _, tc := range cases {
			deletePodAndWait(t, ctx, cs, ns, tc.name)
		}
	})

	t.Run("heartbeats keep nodes Ready, a killed agent's node is lost", func(t *testing.T) {
		// A third node with a pod, killed as by kill -9: its processes die
		// with it, its Node stays and, without heartbeats, is lost.
		lost, err := Start(ctx, cfg, Options{Name: "node-c"})
		if err != nil {
			t.Fatal(err)
		}
		defer lost.Stop()
		// Without Options.Network, the process's shared network, made now.
		shared := lost.Network()
		if shared == network || shared.CIDR() == network.CIDR() || !linkExists(shared.Bridge()) {
			t.Errorf("node-c's network %s (bridge %s): want a new shared one", shared.CIDR(), shared.Bridge())
		}
		createPod(t, ctx, cs, ns, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "on-lost-node"},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{corev1.LabelHostname: "node-c"},
				Containers: []corev1.Container{{Name: "web", Image: "paved/stack:test", Command: []string{self},
					Env: []corev1.EnvVar{{Name: roleEnv, Value: "server"}, {Name: runEnv, Value: run + "-lost"}, {Name: "PORT", Value: "8080"},
						{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}}},
			},
		})
		eventually(t, ctx, time.Minute, "on-lost-node serves", func() error {
			cur, err := cs.CoreV1().Pods(ns).Get(ctx, "on-lost-node", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !podReady(*cur) {
				return fmt.Errorf("phase %s", cur.Status.Phase)
			}
			_, err = getInfo(podAddr(*cur))
			return err
		})
		cur, err := cs.CoreV1().Pods(ns).Get(ctx, "on-lost-node", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		info, err := getInfo(podAddr(*cur))
		if err != nil {
			t.Fatal(err)
		}
		lostNS, err := netnsOf(info.PID)
		if err != nil {
			t.Fatal(err)
		}
		lost.Kill()
		killed := time.Now()
		if procs := markedProcesses(run + "-lost"); len(procs) > 0 {
			t.Errorf("processes outlived Kill: %v", procs)
		}
		// The lost machine's pods' namespaces go, and the shared network
		// with its only node.
		if _, err := os.Stat(filepath.Join(netnsDir, lostNS)); !os.IsNotExist(err) {
			t.Errorf("namespace %s of node-c's pod outlived Kill: %v", lostNS, err)
		}
		if linkExists(shared.Bridge()) {
			t.Errorf("the shared network's bridge %s outlived its only node", shared.Bridge())
		}
		if _, err := cs.CoreV1().Nodes().Get(ctx, "node-c", metav1.GetOptions{}); err != nil {
			t.Errorf("node-c after Kill: %v", err)
		}

		// kubecluster's node lifecycle controller gives up on a node after
		// 20 s without a heartbeat, and the agent rewrites the Node's status
		// only every 30 s: until each node is 35 s old, only its lease
		// renewals keep it Ready. Check the live ones stay Ready all along
		// while the killed one is lost.
		renewals := map[string]map[time.Time]bool{}
		eventually(t, ctx, 90*time.Second, "live nodes stay Ready for 35 s on lease renewals, node-c is lost", func() error {
			node, err := cs.CoreV1().Nodes().Get(ctx, "node-c", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if schedulable(node) == "" {
				return fmt.Errorf("node-c still Ready %s after Kill", time.Since(killed).Round(time.Second))
			}
			for name := range nodes {
				node, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if why := schedulable(node); why != "" {
					t.Fatalf("node %s at age %s: %s", name, time.Since(node.CreationTimestamp.Time).Round(time.Second), why)
				}
				lease, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if lease.Spec.RenewTime == nil || time.Since(lease.Spec.RenewTime.Time) > 15*time.Second {
					t.Fatalf("node %s: lease renewed at %v", name, lease.Spec.RenewTime)
				}
				if renewals[name] == nil {
					renewals[name] = map[time.Time]bool{}
				}
				renewals[name][lease.Spec.RenewTime.Time] = true
				if age := time.Since(node.CreationTimestamp.Time); age < 35*time.Second {
					return fmt.Errorf("node %s is %s old", name, age.Round(time.Second))
				}
				if len(renewals[name]) < 2 {
					return fmt.Errorf("node %s: lease renewed %d times", name, len(renewals[name]))
				}
			}
			return nil
		})
		t.Logf("node-c lost %s after Kill", time.Since(killed).Round(time.Second))
	})

	t.Run("stop deregisters and kills everything", func(t *testing.T) {
		// A pod still running on node-b when it stops.
		createPod(t, ctx, cs, ns, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "left-running"},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{corev1.LabelHostname: "node-b"},
				Containers: []corev1.Container{{Name: "web", Image: "paved/stack:test", Command: []string{self},
					Env: []corev1.EnvVar{{Name: roleEnv, Value: "server"}, {Name: runEnv, Value: run + "-left"}, {Name: "PORT", Value: "8080"},
						{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}}},
			},
		})
		eventually(t, ctx, time.Minute, "left-running serves", func() error {
			cur, err := cs.CoreV1().Pods(ns).Get(ctx, "left-running", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if !podReady(*cur) {
				return fmt.Errorf("phase %s", cur.Status.Phase)
			}
			_, err = getInfo(podAddr(*cur))
			return err
		})
		for _, name := range []string{"node-b", "node-a"} {
			// Every status the agent wrote was accepted by the API server.
			if log, err := os.ReadFile(filepath.Join(nodes[name].Dir, "agent.log")); err != nil {
				t.Error(err)
			} else {
				for _, l := range strings.Split(string(log), "\n") {
					if strings.Contains(l, "writing pod status") || strings.Contains(l, "level=ERROR") {
						t.Errorf("node %s: %s", name, l)
					}
				}
			}
			agentLogs[name] = nodes[name].LogTail(80)
			nodes[name].Stop()
			if _, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("node %s after Stop: %v", name, err)
			}
			if _, err := os.Stat(nodes[name].Dir); !os.IsNotExist(err) {
				t.Errorf("node %s: directory %s left: %v", name, nodes[name].Dir, err)
			}
		}
		if procs := markedProcesses(run); len(procs) > 0 {
			t.Errorf("processes outlived Stop: %v", procs)
		}
		// The network outlives its nodes until it is closed; then nothing
		// the agents made is left.
		if !linkExists(network.Bridge()) {
			t.Errorf("bridge %s gone before Close", network.Bridge())
		}
		if n := countLinks(t, 'h'); n != 0 {
			t.Errorf("%d veth host ends outlived Stop", n)
		}
		network.Close()
		if left := leftovers(t); len(left) > 0 {
			t.Errorf("left after Stop and Close: %v", left)
		}
	})
	t.Logf("done in %s", time.Since(began).Round(time.Millisecond))
}

func webDeployment(self, marker string) *appsv1.Deployment {
	labels := map[string]string{"app": "web"}
	podName := corev1.EnvVar{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}
	workspace := []corev1.VolumeMount{{Name: "workspace", MountPath: "/workspace"}}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(5)),
					Volumes:                       []corev1.Volume{{Name: "workspace", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
					InitContainers: []corev1.Container{{
						Name: "fetch", Image: "paved/stack:test",
						Command:      []string{"/bin/sh", "-c", "echo droplet for $(POD_NAME) > /workspace/droplet"},
						Env:          []corev1.EnvVar{podName, {Name: runEnv, Value: marker}},
						VolumeMounts: workspace,
					}},
					Containers: []corev1.Container{{
						Name: "web", Image: "paved/stack:test",
						Command:    []string{self},
						WorkingDir: "/workspace",
						Env: []corev1.EnvVar{
							{Name: roleEnv, Value: "server"},
							{Name: runEnv, Value: marker},
							{Name: "PORT", Value: "8080"},
							{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
							podName,
							{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
							{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
								LocalObjectReference: corev1.LocalObjectReference{Name: "web-secret"}, Key: "greeting"}}},
							{Name: "MSG", Value: "hello from $(POD_NAME)"},
						},
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
							PeriodSeconds: 1, FailureThreshold: 1,
						},
						VolumeMounts: workspace,
					}},
				},
			},
		},
	}
}

// bindAllPod is a pod on node whose server binds :8080 and is Ready once an
// exec probe passes outside the host's network namespace hostNS.
func bindAllPod(self, name, node, marker, hostNS string, init *corev1.Container) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{corev1.LabelHostname: node},
			TerminationGracePeriodSeconds: ptr(int64(5)),
			Volumes:                       []corev1.Volume{{Name: "workspace", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{{
				Name: "web", Image: "paved/stack:test", Command: []string{self}, WorkingDir: "/workspace",
				Env: []corev1.EnvVar{{Name: roleEnv, Value: "server"}, {Name: runEnv, Value: marker}, {Name: "PORT", Value: "8080"}, {Name: "BIND_ALL", Value: "1"},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{self, nsCheckArg, hostNS}}},
					PeriodSeconds: 1, FailureThreshold: 1,
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "workspace", MountPath: "/workspace"}},
			}},
		},
	}
	if init != nil {
		pod.Spec.InitContainers = []corev1.Container{*init}
	}
	return pod
}

// countLinks counts this process's links of a kind ('b' bridge, 'h' veth
// host end).
func countLinks(t *testing.T, kind byte) int {
	t.Helper()
	n := 0
	for _, l := range leftovers(t) {
		if name, ok := strings.CutPrefix(l, fmt.Sprintf("link pvd%d", os.Getpid())); ok && name[0] == kind {
			n++
		}
	}
	return n
}

func webPodsNow(ctx context.Context, cs kubernetes.Interface, ns string, want int) ([]corev1.Pod, error) {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		return nil, err
	}
	if len(pods.Items) != want {
		return nil, fmt.Errorf("%d web pods, want %d", len(pods.Items), want)
	}
	for _, p := range pods.Items {
		if p.Status.PodIP == "" {
			return nil, fmt.Errorf("pod %s (node %q, phase %s) has no IP yet", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}
	return pods.Items, nil
}

func podAddr(p corev1.Pod) string { return net.JoinHostPort(p.Status.PodIP, "8080") }

func podReady(p corev1.Pod) bool { return podCondition(p, corev1.PodReady) }

func podInitialized(p corev1.Pod) bool { return podCondition(p, corev1.PodInitialized) }

func podCondition(p corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// createPod creates a pod, retrying while the namespace's default service
// account does not exist yet (the controller manager makes it).
func createPod(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns string, pod *corev1.Pod) {
	t.Helper()
	eventually(t, ctx, 30*time.Second, "create pod "+pod.Name, func() error {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		return err
	})
}

func deletePodAndWait(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	if err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, time.Minute, "pod "+name+" gone", func() error {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil {
			return errors.New("still there")
		}
		return err
	})
}

// processesGone says whether none of pids is running: each is gone or a
// zombie (an orphan waits for whoever reaps orphans on this machine).
func processesGone(pids ...int) error {
	for _, pid := range pids {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			continue
		}
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// pid (comm) state ...: comm may hold spaces, so look after the last ')'.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && bytes.HasPrefix(stat[i+1:], []byte(" Z")) {
			continue
		}
		return fmt.Errorf("process %d still runs (%v)", pid, err)
	}
	return nil
}

// markedProcesses lists the processes whose environment carries
// runEnv=marker… (every process of a workload: the containers set it, their
// children inherit it).
func markedProcesses(marker string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	needle := []byte(runEnv + "=" + marker)
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if slices.ContainsFunc(bytes.Split(env, []byte{0}), func(kv []byte) bool { return bytes.HasPrefix(kv, needle) }) {
			out = append(out, pid)
		}
	}
	return out
}

func validTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }

func eventually(t *testing.T, ctx context.Context, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
