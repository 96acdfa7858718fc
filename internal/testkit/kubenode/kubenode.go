// Package kubenode is the project's test node agent: it registers a Node
// with a real Kubernetes control plane (see internal/testkit/kubecluster)
// and runs the pods the scheduler binds to it as local processes, each pod
// in its own network namespace with its own address on a bridge the agent
// makes. It is built on the virtual-kubelet library's
// node controller (registration, status, a v1 Lease as heartbeat) and pod
// controller (watching the node's pods, create/delete dispatch); this
// package is the provider behind them, and it writes pod statuses itself,
// as a kubelet does, with strategic merge patches that touch only what it
// owns.
//
// # Not an isolation boundary
//
// This agent runs containers' commands on the host, as the user running the
// test, with the host's file system; only the network is a pod's own. It is
// a test agent for exercising a Kubernetes runtime driver against real API
// semantics; it isolates nothing else. A container's image is ignored
// except as a label: it is reported in the container status (image and
// imageID) and nothing is pulled.
//
// It needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN, for network namespaces)
// and iproute2's ip, which it runs to make them. It changes no sysctl,
// enables no forwarding and adds no firewall or NAT rule.
//
// # The network
//
// A Network (see NewNetwork) is a Linux bridge with the gateway address,
// the first of its range, by default a /20 inside 198.18.0.0/15 (reserved
// for benchmarking, never a real network) that no address or route of the
// host overlaps. Nodes that name no network share one per process, made by
// the first and removed with the last. All of a network's pods are on that
// one L2 segment, each node handing out IPs from its own range of it
// (Options.PodCIDR), so pods reach each other across nodes, and the host
// (a test, a cell's router) reaches every pod IP through the bridge's
// route. From a pod, the host is the gateway: a host service listening on
// all addresses is reached there, one listening only on loopback (a cell's
// API on 127.0.0.1) through Network.Forward, which relays a port of the
// gateway to it. Nothing beyond the host is reachable.
//
// Everything the agent makes is named pvd<pid><kind><n>: the bridge
// pvd<pid>b<n>, a pod's namespace pvd<pid>-<n> (in /run/netns, as ip netns
// makes them) and its veth's host end pvd<pid>h<n>. A pod's namespace and
// veth pair go when its processes are gone, Stop and Kill remove those of
// the node's pods, the bridge goes with its network; and whenever a network
// is made, those named after a process that no longer runs (a test that
// crashed) are removed.
//
// # What a pod gets
//
//   - Its own network namespace, with lo up and eth0 (one end of a veth
//     pair whose other end is on the network's bridge) holding its IP, from
//     the node's Options.PodCIDR, with the network's prefix, and a default
//     route via the gateway. Its containers bind :$PORT (all addresses) as
//     in a cluster: two pods with the same port do not meet. The IP is
//     reported as status.podIP/podIPs once the namespace is ready (until
//     then the containers wait; a failure to make it is retried with
//     backoff). hostNetwork pods run in the host's namespace and get the
//     node's IP.
//   - Its processes enter its namespace by being forked from an OS thread
//     of the agent that has joined it (setns) and does nothing else: it is
//     locked to a goroutine that never unlocks it, so it ends only when the
//     pod's processes are gone (and with the agent's process). Init
//     containers, containers and exec probes all run there; httpGet and
//     tcpSocket probes are made by the agent, from the host, to the pod IP
//     (or the probe's host) through the bridge.
//   - Commands: argv is command followed by args, with $(VAR) expanded from
//     the container's environment, exactly as a kubelet does; it is
//     executed directly, never through a shell. A lone shell string such as
//     ["python -m http.server"] fails here as it would on a cluster (there
//     is no file of that name); write ["/bin/sh", "-c", "..."] to use a
//     shell. A relative argv[0] with a slash is taken relative to the
//     working directory, one without is looked up in the container's PATH.
//     A container with neither command nor args cannot start (there is no
//     image entrypoint) and reports StartError.
//   - Environment: PATH (the host's), HOSTNAME (the pod name), then envFrom
//     (configMapRef, secretRef, with prefix and optional) and env in order:
//     value with $(VAR) expansion, fieldRef (metadata.name, namespace, uid,
//     labels, annotations and labels['k'], annotations['k'], spec.nodeName,
//     spec.serviceAccountName, status.podIP(s), status.hostIP(s)),
//     resourceFieldRef (cpu, memory, ephemeral-storage limits and requests;
//     an unset limit is the node's allocatable), secretKeyRef and
//     configMapKeyRef (read from the API when the container starts). A
//     missing required Secret or ConfigMap leaves the container Waiting
//     with CreateContainerConfigError and is retried with backoff, as a
//     kubelet does. Service link variables are not set.
//   - Working directory: container.workingDir, else a directory of the pod's
//     own (shared by its containers). It must exist; the agent creates no
//     directory outside its own.
//   - Volumes: an emptyDir volume is a directory of the pod's own; a
//     hostPath volume is its path. Mounts cannot be made without privileges,
//     so a container's mount path is replaced by the volume's host directory
//     (plus subPath) wherever it appears as a path in workingDir, command,
//     args and env values: an init container that writes /workspace/app and
//     an app container with workingDir /workspace/app share a directory.
//     Other volume types (secret, configMap, projected service-account
//     tokens) are ignored.
//   - Processes: each container runs in its own process group with
//     Pdeathsig SIGKILL on the group leader (tied to the forking thread, the
//     pod's, which outlives the pod's processes; removing the sandbox kills
//     what is left in its namespace); when the leader exits the
//     rest of its group is killed (a container's processes end with it),
//     and Stop kills every group. Stdout and stderr go to one log per container
//     instance, served by ContainerLogs and, through the API server's pod
//     log endpoint, by the agent's kubelet endpoint (HTTPS on NodeIP with a
//     self-signed certificate and no authentication; the API server does not
//     verify kubelets unless told to).
//   - Init containers run in order before the containers, each to exit 0; a
//     failing one is restarted with backoff (restartCount counts up, the pod
//     stays Pending) unless restartPolicy is Never, which fails the pod.
//     Sidecar init containers (restartPolicy Always on an init container)
//     are run like the others.
//   - Probes: readiness and liveness, httpGet (podIP or probe host, numeric
//     or named port, HTTP or HTTPS without verification), tcpSocket and exec
//     (run like the container, without a shell), with initialDelaySeconds,
//     periodSeconds, timeoutSeconds, successThreshold and failureThreshold.
//     A container without a readiness probe is ready once running. A
//     liveness failure kills the container (SIGTERM, the grace period, then
//     SIGKILL) and restartPolicy decides. gRPC probes always fail (not
//     supported); startup probes and readiness gates are ignored.
//   - Restarts: restartPolicy Always restarts an exited container, OnFailure
//     one that exited non-zero, with backoff from Options.RestartBackoff
//     doubling to MaxRestartBackoff (reset after a container ran for twice
//     that); restartCount counts restarts, lastState is the last exit. Phase
//     goes Pending, Running, and for Never/OnFailure Succeeded or Failed
//     once every container is done.
//   - Deletion: SIGTERM to every container's group, the deletion grace
//     period (else terminationGracePeriodSeconds, default 30 s), then
//     SIGKILL; once every process is gone the agent writes the terminal
//     status, deletes the pod from the API (grace 0) and frees its IP and
//     directory. Its network namespace and veth pair are removed as soon as
//     its processes are gone (also when a pod ends by its restart policy). preStop hooks are not run. An image change in an update is
//     recorded but restarts nothing.
package kubenode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	vklog "github.com/virtual-kubelet/virtual-kubelet/log"
	vkslog "github.com/virtual-kubelet/virtual-kubelet/log/slog"
	vknode "github.com/virtual-kubelet/virtual-kubelet/node"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
)

// Options configure a node agent. Only Name is required.
type Options struct {
	Name string // the Node's name, a DNS subdomain

	// Network is the cluster network the node's pods are attached to.
	// Default: the network shared by the nodes of this process that name
	// none, made by the first and removed when the last stops.
	Network *Network
	// PodCIDR is the range pods' IPs come from, inside the network's CIDR
	// (e.g. 198.18.34.0/24 in 198.18.32.0/20); its network and broadcast
	// addresses, the gateway and NodeIP are never handed out. Nodes of one
	// network must have disjoint ranges. Default: the network's first /24
	// that no other node of this process has.
	PodCIDR string
	// NodeIP is the node's address (status.hostIP, the kubelet endpoint the
	// API server reads logs from). Default 127.0.0.1.
	NodeIP string

	// Capacity is the node's capacity and allocatable; missing cpu, memory
	// and pods default to 4, 8Gi and 110.
	Capacity corev1.ResourceList
	Labels   map[string]string // added to kubernetes.io/hostname, os and arch
	Taints   []corev1.Taint

	// LeaseDuration is the node lease's duration (default 40 s) and
	// LeaseRenewInterval how often it is renewed (default 5 s: the node
	// lifecycle controller of kubecluster declares a node lost after 20 s).
	LeaseDuration      time.Duration
	LeaseRenewInterval time.Duration
	// StatusInterval is how often the Node's status is rewritten besides the
	// lease (default 30 s).
	StatusInterval time.Duration

	// RestartBackoff is the first wait before a container is restarted
	// (default 1 s); it doubles up to MaxRestartBackoff (default 30 s).
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration

	// Dir is where the node's directory (pods' directories and logs, the
	// agent's log) is made; default os.TempDir(). Stop removes it.
	Dir string
}

// Node is a running node agent.
type Node struct {
	Name    string
	IP      string // the node's address
	PodCIDR string // the range of the node's pods' IPs, inside Network().CIDR()
	Dir     string // pods' directories and agent.log, removed by Stop
	// KubeletPort is the port of the node's kubelet endpoint on IP (pod
	// logs for the API server).
	KubeletPort int

	cs          kubernetes.Interface
	network     *Network
	prov        *provider
	cancel      context.CancelFunc
	nodeCtrl    *vknode.NodeController
	podCtrl     *vknode.PodController
	broadcaster record.EventBroadcaster
	srv         *http.Server
	logFile     *os.File
	running     []<-chan struct{} // Done of each controller started
	stopOnce    sync.Once
}

// Start registers a Node named opts.Name with the API server of cfg and runs
// its node and pod controllers until Stop. ctx bounds the start only; Start
// returns once the Node is Ready and schedulable (the node lifecycle
// controller has lifted its not-ready taint).
func Start(ctx context.Context, cfg *rest.Config, opts Options) (n *Node, err error) {
	if opts.Name == "" {
		return nil, errors.New("kubenode: Options.Name is required")
	}
	opts = withDefaults(opts)
	network, err := acquireNetwork(opts.Network)
	if err != nil {
		return nil, err
	}
	if opts.PodCIDR, err = claimRange(opts.Name, opts.PodCIDR, network); err != nil {
		network.release()
		return nil, err
	}
	fail := func(err error) (*Node, error) {
		releaseRange(opts.Name)
		network.release()
		return nil, err
	}
	pool, err := newIPPool(opts.PodCIDR, network.Gateway(), opts.NodeIP)
	if err != nil {
		return fail(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fail(err)
	}
	kubeletVersion := "v0.0.0-kubenode"
	if v, err := cs.Discovery().ServerVersion(); err == nil {
		kubeletVersion = v.GitVersion
	}
	dir, err := os.MkdirTemp(opts.Dir, "kubenode-"+opts.Name+"-")
	if err != nil {
		return fail(err)
	}
	n = &Node{Name: opts.Name, IP: opts.NodeIP, PodCIDR: opts.PodCIDR, Dir: dir, cs: cs, network: network}
	defer func() {
		if err != nil {
			err = fmt.Errorf("kubenode %s: %w%s", opts.Name, err, n.LogTail(20))
			n.Stop()
			n = nil
		}
	}()
	n.logFile, err = os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return n, err
	}
	logger := slog.New(slog.NewTextHandler(n.logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	runCtx, cancel := context.WithCancel(vklog.WithLogger(context.Background(), vkslog.FromSlog(logger)))
	n.cancel = cancel

	allocatable := opts.Capacity.DeepCopy()
	n.prov = newProvider(runCtx, providerConfig{
		node: opts.Name, nodeIP: opts.NodeIP, dir: filepath.Join(dir, "pods"), cs: cs, pool: pool, network: network,
		backoff: opts.RestartBackoff, maxBackoff: opts.MaxRestartBackoff, allocatable: allocatable, log: logger,
	})

	// The kubelet endpoint: the API server reads pod logs from it.
	l, err := net.Listen("tcp", net.JoinHostPort(opts.NodeIP, "0"))
	if err != nil {
		return n, err
	}
	cert, err := selfSignedCert(opts.NodeIP)
	if err != nil {
		l.Close()
		return n, err
	}
	n.KubeletPort = l.Addr().(*net.TCPAddr).Port
	n.srv = &http.Server{Handler: n.kubeletHandler(), ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := n.srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("kubelet endpoint stopped", "err", err)
		}
	}()

	nodeObj := n.nodeObject(opts, allocatable, kubeletVersion, network)
	nodes := cs.CoreV1().Nodes()
	n.nodeCtrl, err = vknode.NewNodeController(n.prov, nodeObj, nodes,
		vknode.WithNodeEnableLeaseV1WithRenewInterval(cs.CoordinationV1().Leases(corev1.NamespaceNodeLease), int32(opts.LeaseDuration/time.Second), opts.LeaseRenewInterval),
		vknode.WithNodeStatusUpdateInterval(opts.StatusInterval),
		vknode.WithNodePingInterval(opts.LeaseRenewInterval))
	if err != nil {
		return n, err
	}

	// Only this node's pods; the other informers are required by the pod
	// controller for its downward-API resolution, which this agent does
	// itself (it needs the pod's IP), so they are never started.
	podFactory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", opts.Name).String()
	}))
	unused := informers.NewSharedInformerFactory(cs, 0)
	n.broadcaster = record.NewBroadcaster(record.WithContext(runCtx))
	n.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cs.CoreV1().Events("")})
	recorder := n.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubenode", Host: opts.Name})
	podInformer := podFactory.Core().V1().Pods()
	n.prov.lister = podInformer.Lister()
	n.podCtrl, err = vknode.NewPodController(vknode.PodControllerConfig{
		PodClient:                 cs.CoreV1(),
		PodInformer:               podInformer,
		EventRecorder:             recorder,
		Provider:                  n.prov,
		ConfigMapInformer:         unused.Core().V1().ConfigMaps(),
		SecretInformer:            unused.Core().V1().Secrets(),
		ServiceInformer:           unused.Core().V1().Services(),
		SkipDownwardAPIResolution: true,
	})
	if err != nil {
		return n, err
	}
	podFactory.Start(runCtx.Done())

	go func() { _ = n.nodeCtrl.Run(runCtx) }() // its error is n.nodeCtrl.Err(), read below
	n.running = append(n.running, n.nodeCtrl.Done())
	select {
	case <-n.nodeCtrl.Ready():
	case <-n.nodeCtrl.Done():
		return n, fmt.Errorf("node controller: %w", n.nodeCtrl.Err())
	case <-ctx.Done():
		return n, fmt.Errorf("registering the node: %w", ctx.Err())
	}
	go func() { _ = n.podCtrl.Run(runCtx, 4) }() // its error is n.podCtrl.Err(), read below
	n.running = append(n.running, n.podCtrl.Done())
	select {
	case <-n.podCtrl.Ready():
	case <-n.podCtrl.Done():
		return n, fmt.Errorf("pod controller: %w", n.podCtrl.Err())
	case <-ctx.Done():
		return n, fmt.Errorf("starting the pod controller: %w", ctx.Err())
	}
	if err := n.waitSchedulable(ctx); err != nil {
		return n, err
	}
	logger.Info("node ready", "name", opts.Name, "podCIDR", opts.PodCIDR, "network", network.CIDR(), "bridge", network.Bridge(), "kubeletPort", n.KubeletPort)
	return n, nil
}

func withDefaults(o Options) Options {
	if o.NodeIP == "" {
		o.NodeIP = "127.0.0.1"
	}
	c := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("4"),
		corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	for k, v := range o.Capacity {
		c[k] = v
	}
	o.Capacity = c
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = 40 * time.Second
	}
	if o.LeaseRenewInterval <= 0 {
		o.LeaseRenewInterval = 5 * time.Second
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = 30 * time.Second
	}
	if o.RestartBackoff <= 0 {
		o.RestartBackoff = time.Second
	}
	if o.MaxRestartBackoff < o.RestartBackoff {
		o.MaxRestartBackoff = max(30*time.Second, o.RestartBackoff)
	}
	return o
}

func (n *Node) nodeObject(opts Options, allocatable corev1.ResourceList, kubeletVersion string, network *Network) *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:   opts.Name,
		corev1.LabelOSStable:   "linux",
		corev1.LabelArchStable: runtime.GOARCH,
		"type":                 "virtual-kubelet",
		"paved.dev/test-node":  "kubenode",
	}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: opts.Name, Labels: labels},
		Spec:       corev1.NodeSpec{PodCIDR: opts.PodCIDR, PodCIDRs: []string{opts.PodCIDR}, Taints: opts.Taints},
		Status: corev1.NodeStatus{
			Capacity:    opts.Capacity.DeepCopy(),
			Allocatable: allocatable.DeepCopy(),
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubenode test agent is running pods as local processes"),
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", ""),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", ""),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", ""),
				cond(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "RouteCreated",
					fmt.Sprintf("pods are on bridge %s (%s, gateway %s)", network.Bridge(), network.CIDR(), network.Gateway())),
			},
			// Only an InternalIP: the API server prefers a Hostname address,
			// which would not resolve.
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: opts.NodeIP}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(n.KubeletPort)}},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          kubeletVersion,
				OperatingSystem:         "linux",
				Architecture:            runtime.GOARCH,
				ContainerRuntimeVersion: "kubenode://local-processes",
				OSImage:                 "host processes (kubenode test agent)",
			},
		},
	}
}

// waitSchedulable waits until the Node is Ready without the not-ready taint
// that the API server puts on a new node and the node lifecycle controller
// lifts.
func (n *Node) waitSchedulable(ctx context.Context) error {
	var last string
	for {
		node, err := n.cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err == nil {
			last = schedulable(node)
			if last == "" {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node not schedulable (%s): %w", last, ctx.Err())
		case <-n.nodeCtrl.Done():
			return fmt.Errorf("node controller: %w", n.nodeCtrl.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func schedulable(node *corev1.Node) string {
	ready := false
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		return "not Ready"
	}
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return "tainted " + t.Key
		}
	}
	return ""
}

// Stop ends the agent: its controllers stop, every container's process
// group is killed, the pods' network namespaces and veth pairs are removed
// (and the network, if this was its last node), the Node (and its Lease)
// is deleted and the node's directory removed. Pods bound to it stay in the
// API until the pod garbage collector removes them. Safe to call more than
// once.
func (n *Node) Stop() { n.stop(true) }

// Kill ends the agent as a kill -9 would: heartbeats stop and every process
// dies, but the Node stays registered, so the node lifecycle controller
// marks it NotReady once its lease expires and taints it unreachable (for
// tests of losing a node). Its pods' namespaces go as with Stop (a lost
// machine takes its pods' addresses with it). Stop after Kill does nothing
// more.
func (n *Node) Kill() { n.stop(false) }

// Network is the cluster network the node's pods are attached to.
func (n *Node) Network() *Network { return n.network }

func (n *Node) stop(deregister bool) {
	n.stopOnce.Do(func() {
		if n.cancel != nil {
			n.cancel()
		}
		for _, done := range n.running {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
		}
		if n.prov != nil {
			n.prov.killAll()
		}
		if deregister && n.cs != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := n.cs.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				n.logf("deregistering the node: %v", err)
			}
			if err := n.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				n.logf("deleting the node lease: %v", err)
			}
			cancel()
		}
		if n.broadcaster != nil {
			n.broadcaster.Shutdown()
		}
		if n.srv != nil {
			n.srv.Close()
		}
		if n.logFile != nil {
			n.logFile.Close()
		}
		if n.Dir != "" {
			os.RemoveAll(n.Dir)
		}
		releaseRange(n.Name)
		if n.network != nil {
			n.network.release()
		}
	})
}

func (n *Node) logf(format string, args ...any) {
	if n.logFile != nil {
		fmt.Fprintf(n.logFile, "kubenode: "+format+"\n", args...)
	}
}

// LogTail is the last lines of the agent's own log, for a failed test.
func (n *Node) LogTail(lines int) string {
	if n == nil || n.Dir == "" {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(n.Dir, "agent.log"))
	if err != nil || len(data) == 0 {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return fmt.Sprintf("\n--- kubenode %s agent.log (last lines):\n%s", n.Name, strings.Join(ls, "\n"))
}

// ContainerLogs reads a container's log as the API's pod log endpoint does:
// the current instance, or with opts.Previous the one before; opts.Follow
// streams until the instance exits or ctx ends. TailLines, LimitBytes,
// Timestamps, SinceSeconds and SinceTime are honoured.
func (n *Node) ContainerLogs(ctx context.Context, namespace, pod, container string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return n.prov.containerLogs(ctx, namespace, pod, container, opts)
}

func selfSignedCert(ip string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "kubenode"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
