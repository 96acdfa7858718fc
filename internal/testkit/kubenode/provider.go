package kubenode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
)

type providerConfig struct {
	node, nodeIP        string
	dir                 string // pods' directories
	cs                  kubernetes.Interface
	pool                *ipPool
	network             *Network
	backoff, maxBackoff time.Duration
	allocatable         corev1.ResourceList
	log                 *slog.Logger
}

// provider is the virtual-kubelet provider: it runs pods as local
// processes and writes their statuses.
type provider struct {
	providerConfig
	ctx    context.Context // ends with the agent: stops status writes
	lister corev1listers.PodLister

	mu     sync.Mutex
	pods   map[string]*pod // by namespace/name
	dirty  map[string]bool // pods whose status is to be written
	kick   chan struct{}
	closed bool

	writeMu sync.Mutex // one status write at a time, so patches apply in order
}

// pod is a pod this node runs, from CreatePod until its teardown.
type pod struct {
	key     string
	spec    *corev1.Pod      // metadata and spec as last given; GetPod adds the status
	base    corev1.PodStatus // the status the API had at creation: the first patch is against it
	written *corev1.PodStatus
	ip      string
	ownIP   bool     // ip came from the pool
	sb      *sandbox // the pod's network namespace, once made (not for hostNetwork)
	netUp   bool     // the pod's network is ready: ip is reported
	dir     string
	workDir string
	mounts  map[string][]mount // by container name, longest path first
	started metav1.Time
	inits   []*container
	ctrs    []*container
	conds   map[corev1.PodConditionType]corev1.PodCondition

	initDone, initFailed bool
	deleting             bool
	final                bool // torn down: report the terminal status
	grace                time.Duration
	hurry                chan struct{} // closed to make a termination SIGKILL at once
	cancel               context.CancelFunc
	stopped              chan struct{} // closed when no process of the pod is left
}

type mount struct{ path, host string }

// container is one container of a pod across its restarts.
type container struct {
	spec      corev1.Container
	init      bool
	restarts  int32
	state     corev1.ContainerState
	last      corev1.ContainerState
	ready     bool
	started   bool
	id        string
	proc      *process
	env       *envList // of the running instance, for exec probes
	dir       string
	killMsg   string // why the agent killed the running instance
	instances []instance
}

type instance struct {
	log  string
	proc *process
}

func newProvider(ctx context.Context, cfg providerConfig) *provider {
	p := &provider{providerConfig: cfg, ctx: ctx, pods: map[string]*pod{}, dirty: map[string]bool{}, kick: make(chan struct{}, 1)}
	go p.statusWriter()
	return p
}

// Ping is the node's heartbeat check: the agent is alive while it runs.
func (p *provider) Ping(ctx context.Context) error { return ctx.Err() }

// NotifyNodeStatus: the node's status never changes on its own.
func (p *provider) NotifyNodeStatus(context.Context, func(*corev1.Node)) {}

// NotifyPods makes the pod controller treat the provider as asynchronous
// (no polling); the provider writes pod statuses itself, as strategic merge
// patches of what it owns, which never clobber metadata that others change.
func (p *provider) NotifyPods(context.Context, func(*corev1.Pod)) {}

func podKey(namespace, name string) string { return namespace + "/" + name }

func (p *provider) CreatePod(ctx context.Context, kp *corev1.Pod) error {
	key := podKey(kp.Namespace, kp.Name)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("kubenode: the agent is stopping")
	}
	if old := p.pods[key]; old != nil {
		if old.spec.UID == kp.UID {
			return nil
		}
		// A pod of the same name is still being torn down; its teardown
		// starts this one.
		return fmt.Errorf("kubenode: pod %s: a previous pod of this name is still terminating", key)
	}
	pd, err := p.newPod(kp)
	if err != nil {
		return err
	}
	p.pods[key] = pd
	var runCtx context.Context
	// Not derived from p.ctx: a pod ends by deletion or killAll, each with
	// its own grace period, not because the agent's context ended.
	runCtx, pd.cancel = context.WithCancel(context.Background())
	go p.runPod(runCtx, pd)
	p.markDirty(pd)
	p.log.Info("pod created", "pod", key, "ip", pd.ip)
	return nil
}

func (p *provider) newPod(kp *corev1.Pod) (*pod, error) {
	pd := &pod{
		key:     podKey(kp.Namespace, kp.Name),
		spec:    kp.DeepCopy(),
		base:    *kp.Status.DeepCopy(),
		started: metav1.Now(),
		conds:   map[corev1.PodConditionType]corev1.PodCondition{},
		mounts:  map[string][]mount{},
		hurry:   make(chan struct{}),
		stopped: make(chan struct{}),
	}
	pd.spec.Status = corev1.PodStatus{}
	if kp.Spec.HostNetwork {
		pd.ip = p.nodeIP
	} else {
		ip, err := p.pool.get()
		if err != nil {
			return nil, err
		}
		pd.ip, pd.ownIP = ip, true
	}
	pd.dir = filepath.Join(p.dir, kp.Namespace+"_"+kp.Name+"_"+string(kp.UID))
	pd.workDir = filepath.Join(pd.dir, "work")
	fail := func(err error) (*pod, error) {
		if pd.ownIP {
			p.pool.put(pd.ip)
		}
		os.RemoveAll(pd.dir)
		return nil, err
	}
	if err := os.MkdirAll(pd.workDir, 0o755); err != nil {
		return fail(err)
	}
	volumes := map[string]string{}
	for _, v := range kp.Spec.Volumes {
		switch {
		case v.EmptyDir != nil:
			d := filepath.Join(pd.dir, "volumes", v.Name)
			if err := os.MkdirAll(d, 0o777); err != nil {
				return fail(err)
			}
			volumes[v.Name] = d
		case v.HostPath != nil:
			volumes[v.Name] = v.HostPath.Path
		}
	}
	add := func(c *corev1.Container, init bool) *container {
		var ms []mount
		for _, m := range c.VolumeMounts {
			host, ok := volumes[m.Name]
			if !ok || m.MountPath == "" || m.MountPath == "/" {
				continue
			}
			if m.SubPath != "" {
				host = filepath.Join(host, m.SubPath)
				if err := os.MkdirAll(host, 0o777); err != nil {
					p.log.Warn("volume subPath", "path", host, "err", err)
				}
			}
			ms = append(ms, mount{path: filepath.Clean(m.MountPath), host: host})
		}
		sort.Slice(ms, func(i, j int) bool { return len(ms[i].path) > len(ms[j].path) })
		pd.mounts[c.Name] = ms
		reason := "ContainerCreating"
		if len(kp.Spec.InitContainers) > 0 {
			reason = "PodInitializing"
		}
		return &container{spec: *c.DeepCopy(), init: init, state: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	for i := range kp.Spec.InitContainers {
		pd.inits = append(pd.inits, add(&kp.Spec.InitContainers[i], true))
	}
	for i := range kp.Spec.Containers {
		pd.ctrs = append(pd.ctrs, add(&kp.Spec.Containers[i], false))
	}
	pd.initDone = len(pd.inits) == 0
	return pd, nil
}

// UpdatePod records what may change on a running pod (labels, annotations,
// images, tolerations, activeDeadlineSeconds); nothing is restarted.
func (p *provider) UpdatePod(ctx context.Context, kp *corev1.Pod) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pd := p.pods[podKey(kp.Namespace, kp.Name)]
	if pd == nil || pd.spec.UID != kp.UID {
		return nil // a later pod of the same name: the teardown of the earlier starts it
	}
	spec := kp.DeepCopy()
	spec.Status = corev1.PodStatus{}
	pd.spec = spec
	for _, c := range append(append([]*container{}, pd.inits...), pd.ctrs...) {
		for _, s := range append(append([]corev1.Container{}, spec.Spec.InitContainers...), spec.Spec.Containers...) {
			if s.Name == c.spec.Name {
				c.spec.Image = s.Image
			}
		}
	}
	p.markDirty(pd)
	return nil
}

// DeletePod starts terminating a pod (SIGTERM, the grace period, SIGKILL);
// once its processes are gone the pod's terminal status is written and the
// pod deleted from the API. It returns at once and may be called again.
func (p *provider) DeletePod(ctx context.Context, kp *corev1.Pod) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	pd := p.pods[podKey(kp.Namespace, kp.Name)]
	if pd == nil || (kp.UID != "" && pd.spec.UID != kp.UID) {
		return errdefs.NotFoundf("pod %s/%s is not on this node", kp.Namespace, kp.Name)
	}
	if pd.deleting {
		return nil
	}
	pd.deleting = true
	pd.grace = 30 * time.Second
	if s := pd.spec.Spec.TerminationGracePeriodSeconds; s != nil {
		pd.grace = time.Duration(*s) * time.Second
	}
	if s := kp.DeletionGracePeriodSeconds; s != nil {
		pd.grace = time.Duration(*s) * time.Second
	}
	pd.cancel()
	p.log.Info("pod deleting", "pod", pd.key, "grace", pd.grace)
	go p.teardown(pd)
	return nil
}

func (p *provider) teardown(pd *pod) {
	<-pd.stopped
	p.mu.Lock()
	pd.final = true
	p.markDirty(pd)
	p.mu.Unlock()
	p.writeStatus(pd.key)
	p.mu.Lock()
	if p.pods[pd.key] == pd {
		delete(p.pods, pd.key)
	}
	delete(p.dirty, pd.key)
	p.mu.Unlock()
	if pd.ownIP {
		p.pool.put(pd.ip)
	}
	os.RemoveAll(pd.dir)
	if p.ctx.Err() != nil {
		return
	}
	zero := int64(0)
	uid := pd.spec.UID
	err := p.cs.CoreV1().Pods(pd.spec.Namespace).Delete(p.ctx, pd.spec.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		p.log.Warn("deleting pod", "pod", pd.key, "err", err)
	}
	p.log.Info("pod gone", "pod", pd.key)
	// A pod of the same name that arrived meanwhile (a StatefulSet's) was
	// refused by CreatePod; start it now.
	if p.lister != nil {
		if np, err := p.lister.Pods(pd.spec.Namespace).Get(pd.spec.Name); err == nil && np.UID != uid &&
			np.DeletionTimestamp == nil && np.Status.Phase != corev1.PodSucceeded && np.Status.Phase != corev1.PodFailed {
			if err := p.CreatePod(p.ctx, np.DeepCopy()); err != nil {
				p.log.Warn("start pod", "pod", np.Namespace+"/"+np.Name, "err", err)
			}
		}
	}
}

// killAll kills every process at once (Stop, Kill) and waits for them.
func (p *provider) killAll() {
	p.mu.Lock()
	p.closed = true
	var all []*pod
	for _, pd := range p.pods {
		all = append(all, pd)
		pd.deleting = true
		pd.grace = 0
		select {
		case <-pd.hurry:
		default:
			close(pd.hurry)
		}
		pd.cancel()
	}
	p.mu.Unlock()
	for _, pd := range all {
		select {
		case <-pd.stopped:
		case <-time.After(10 * time.Second):
			p.log.Error("pod processes did not end", "pod", pd.key)
		}
	}
}

func (p *provider) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pd := p.pods[podKey(namespace, name)]
	if pd == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	out := pd.spec.DeepCopy()
	out.Status = p.statusOf(pd)
	return out, nil
}

func (p *provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

func (p *provider) GetPods(ctx context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(p.pods))
	for _, pd := range p.pods {
		o := pd.spec.DeepCopy()
		o.Status = p.statusOf(pd)
		out = append(out, o)
	}
	return out, nil
}

// runPod makes the pod's network namespace, runs the init containers in
// order, then the containers, until they are done by the restart policy or
// ctx ends (deletion), and removes the namespace once no process of the pod
// is left.
func (p *provider) runPod(ctx context.Context, pd *pod) {
	defer close(pd.stopped)
	if pd.spec.Spec.HostNetwork {
		p.mu.Lock()
		pd.netUp = true
		p.mu.Unlock()
	} else {
		sb := p.makeSandbox(ctx, pd)
		if sb == nil {
			return
		}
		defer func() {
			if err := sb.remove(); err != nil {
				p.log.Warn("removing the pod's network namespace", "pod", pd.key, "netns", sb.netns, "err", err)
			}
		}()
	}
	policy := pd.spec.Spec.RestartPolicy
	initPolicy := corev1.RestartPolicyOnFailure
	if policy == corev1.RestartPolicyNever {
		initPolicy = corev1.RestartPolicyNever
	}
	for _, c := range pd.inits {
		code, canceled := p.supervise(ctx, pd, c, initPolicy)
		if canceled {
			return
		}
		if code != 0 {
			p.mu.Lock()
			pd.initFailed = true
			p.markDirty(pd)
			p.mu.Unlock()
			return
		}
	}
	p.mu.Lock()
	pd.initDone = true
	for _, c := range pd.ctrs {
		if c.state.Waiting != nil {
			c.state.Waiting.Reason = "ContainerCreating"
		}
	}
	p.markDirty(pd)
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range pd.ctrs {
		wg.Go(func() { p.supervise(ctx, pd, c, policy) })
	}
	wg.Wait()
}

// makeSandbox makes the pod's network namespace, retrying with backoff
// while that fails (the containers wait, as a kubelet's do when it cannot
// create a pod sandbox), until it is made or ctx ends (nil).
func (p *provider) makeSandbox(ctx context.Context, pd *pod) *sandbox {
	backoff := p.backoff
	for {
		sb, err := p.network.newSandbox(pd.ip)
		if err == nil {
			p.mu.Lock()
			pd.sb, pd.netUp = sb, true
			for _, c := range append(append([]*container{}, pd.inits...), pd.ctrs...) {
				if w := c.state.Waiting; w != nil {
					w.Message = ""
				}
			}
			p.markDirty(pd)
			p.mu.Unlock()
			p.log.Info("pod network ready", "pod", pd.key, "ip", pd.ip, "netns", sb.netns, "veth", sb.veth)
			if ctx.Err() != nil {
				_ = sb.remove()
				return nil
			}
			return sb
		}
		p.log.Warn("creating the pod's network", "pod", pd.key, "err", err, "backoff", backoff)
		p.mu.Lock()
		for _, c := range append(append([]*container{}, pd.inits...), pd.ctrs...) {
			if w := c.state.Waiting; w != nil {
				w.Message = "creating the pod's network: " + err.Error()
			}
		}
		p.markDirty(pd)
		p.mu.Unlock()
		if !sleepCtx(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, p.maxBackoff)
	}
}

// thread is the thread the pod's processes are forked from: nil (any) for
// a hostNetwork pod.
func (pd *pod) thread() *nsThread {
	if pd.sb == nil {
		return nil
	}
	return pd.sb.thread
}

// supervise runs c, restarting it as policy says with backoff, until it is
// done (its last exit code) or ctx ends (canceled).
func (p *provider) supervise(ctx context.Context, pd *pod, c *container, policy corev1.RestartPolicy) (code int32, canceled bool) {
	backoff := p.backoff
	for {
		began := time.Now()
		code, err := p.runOnce(ctx, pd, c)
		if ctx.Err() != nil {
			return code, true
		}
		if err != nil { // a configuration error: wait and retry, not a restart
			if !sleepCtx(ctx, backoff) {
				return 0, true
			}
			backoff = min(2*backoff, p.maxBackoff)
			continue
		}
		if policy != corev1.RestartPolicyAlways && (policy != corev1.RestartPolicyOnFailure || code == 0) {
			return code, false
		}
		if time.Since(began) >= 2*p.maxBackoff {
			backoff = p.backoff
		}
		p.mu.Lock()
		c.restarts++
		c.last = c.state
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", backoff, c.spec.Name, pd.spec.Name),
		}}
		p.markDirty(pd)
		p.mu.Unlock()
		p.log.Info("container exited, restarting", "pod", pd.key, "container", c.spec.Name, "exitCode", code, "backoff", backoff)
		if !sleepCtx(ctx, backoff) {
			return code, true
		}
		backoff = min(2*backoff, p.maxBackoff)
	}
}

// runOnce runs one instance of c to its end. A configuration error (env,
// command) is returned before anything runs; a process that cannot start
// counts as an instance that exited with 128 (StartError).
func (p *provider) runOnce(ctx context.Context, pd *pod, c *container) (int32, error) {
	env, err := p.containerEnv(ctx, pd, &c.spec)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		p.mu.Lock()
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}}
		p.markDirty(pd)
		p.mu.Unlock()
		return 0, err
	}
	dir := pd.workDir
	if c.spec.WorkingDir != "" {
		dir = pd.rewritePaths(c.spec.Name, filepath.Clean(c.spec.WorkingDir))
	}
	path, argv, err := pd.resolveCommand(&c.spec, env, dir)
	if err == nil {
		if fi, statErr := os.Stat(dir); statErr != nil || !fi.IsDir() {
			err = fmt.Errorf("working directory %q is not a directory on this host", dir)
		}
	}
	var proc *process
	logPath := ""
	if err == nil {
		logDir := filepath.Join(pd.dir, "logs", c.spec.Name)
		if err = os.MkdirAll(logDir, 0o755); err == nil {
			p.mu.Lock()
			logPath = filepath.Join(logDir, fmt.Sprintf("%d.log", len(c.instances)))
			ns := pd.thread()
			p.mu.Unlock()
			proc, err = startProcess(ns, path, argv, env.environ(), dir, logPath)
		}
	}
	if err != nil {
		now := metav1.Now()
		p.mu.Lock()
		c.ready = false
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: now, FinishedAt: now}}
		p.markDirty(pd)
		p.mu.Unlock()
		p.log.Warn("container did not start", "pod", pd.key, "container", c.spec.Name, "err", err)
		return 128, nil
	}

	p.mu.Lock()
	c.proc, c.env, c.dir, c.killMsg = proc, env, dir, ""
	c.started = true
	c.id = fmt.Sprintf("kubenode://%s-%s-%d", shortUID(pd.spec.UID), c.spec.Name, proc.pid)
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(proc.started)}}
	c.ready = !c.init && c.spec.ReadinessProbe == nil
	c.instances = append(c.instances, instance{log: logPath, proc: proc})
	p.markDirty(pd)
	p.mu.Unlock()
	p.log.Info("container started", "pod", pd.key, "container", c.spec.Name, "pid", proc.pid, "argv", argv)

	probeCtx, cancelProbes := context.WithCancel(ctx)
	if !c.init {
		if pr := c.spec.ReadinessProbe; pr != nil {
			go p.probeLoop(probeCtx, pd, c, proc, pr, false)
		}
		if pr := c.spec.LivenessProbe; pr != nil {
			go p.probeLoop(probeCtx, pd, c, proc, pr, true)
		}
	}
	select {
	case <-proc.done:
	case <-ctx.Done():
		p.mu.Lock()
		grace := pd.grace
		p.mu.Unlock()
		proc.terminate(grace, pd.hurry)
	}
	cancelProbes()

	p.mu.Lock()
	reason := "Completed"
	if proc.exitCode != 0 {
		reason = "Error"
	}
	c.proc, c.ready = nil, false
	c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: proc.exitCode, Signal: int32(proc.signal), Reason: reason, Message: c.killMsg,
		StartedAt: metav1.NewTime(proc.started), FinishedAt: metav1.NewTime(proc.finished), ContainerID: c.id,
	}}
	p.markDirty(pd)
	p.mu.Unlock()
	p.log.Info("container exited", "pod", pd.key, "container", c.spec.Name, "pid", proc.pid, "exitCode", proc.exitCode)
	return proc.exitCode, nil
}

func shortUID(uid types.UID) string {
	s := string(uid)
	if len(s) > 8 {
		s = s[:8]
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// rewritePaths replaces the container's mount paths, where they appear as
// paths in s, by the volumes' host directories.
func (pd *pod) rewritePaths(container, s string) string {
	for _, m := range pd.mounts[container] {
		s = replacePath(s, m.path, m.host)
	}
	return s
}

func replacePath(s, path, host string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, path)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(path)
		before := i == 0 || !isPathByte(s[i-1])
		after := end == len(s) || s[end] == '/' || !isPathByte(s[end])
		b.WriteString(s[:i])
		if before && after {
			b.WriteString(host)
		} else {
			b.WriteString(path)
		}
		s = s[end:]
	}
}

func isPathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-/~+@", c) >= 0
}

// markDirty queues pd's status to be written; p.mu must be held.
func (p *provider) markDirty(pd *pod) {
	p.dirty[pd.key] = true
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *provider) statusWriter() {
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.kick:
		}
		p.mu.Lock()
		keys := make([]string, 0, len(p.dirty))
		for k := range p.dirty {
			keys = append(keys, k)
		}
		clear(p.dirty)
		p.mu.Unlock()
		for _, k := range keys {
			p.writeStatus(k)
		}
	}
}

// writeStatus writes a pod's status as a strategic merge patch from the
// last status written (at first the API's own) to the current one, with the
// pod's UID so that it cannot land on a later pod of the same name.
func (p *provider) writeStatus(key string) {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if p.ctx.Err() != nil {
		return
	}
	p.mu.Lock()
	pd := p.pods[key]
	if pd == nil {
		p.mu.Unlock()
		return
	}
	delete(p.dirty, key)
	st := p.statusOf(pd)
	old := pd.written
	if old == nil {
		old = &pd.base
	}
	uid, ns, name := pd.spec.UID, pd.spec.Namespace, pd.spec.Name
	p.mu.Unlock()
	if apiequality.Semantic.DeepEqual(&st, old) {
		return
	}
	oldJSON, err := json.Marshal(corev1.Pod{Status: *old})
	if err != nil {
		p.log.Error("status patch", "pod", key, "err", err)
		return
	}
	newJSON, err := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}, Status: st})
	if err != nil {
		p.log.Error("status patch", "pod", key, "err", err)
		return
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, corev1.Pod{})
	if err != nil {
		p.log.Error("status patch", "pod", key, "err", err)
		return
	}
	_, err = p.cs.CoreV1().Pods(ns).Patch(p.ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	switch {
	case err == nil:
		p.mu.Lock()
		if p.pods[key] == pd {
			pd.written = &st
		}
		p.mu.Unlock()
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// The pod is gone, or a later pod has its name.
	case p.ctx.Err() != nil:
	default:
		p.log.Warn("writing pod status", "pod", key, "err", err, "patch", string(patch))
		time.AfterFunc(500*time.Millisecond, func() {
			p.mu.Lock()
			if p.pods[key] == pd {
				p.markDirty(pd)
			}
			p.mu.Unlock()
		})
	}
}

// statusOf is pd's status now; p.mu must be held. It starts from the
// status the API had (fields the agent does not own stay as they were).
func (p *provider) statusOf(pd *pod) corev1.PodStatus {
	st := *pd.base.DeepCopy()
	st.HostIP, st.HostIPs = p.nodeIP, []corev1.HostIP{{IP: p.nodeIP}}
	if pd.netUp {
		st.PodIP, st.PodIPs = pd.ip, []corev1.PodIP{{IP: pd.ip}}
	}
	st.StartTime = &pd.started
	st.InitContainerStatuses, st.ContainerStatuses = nil, nil
	for _, c := range pd.inits {
		st.InitContainerStatuses = append(st.InitContainerStatuses, c.status())
	}
	allReady := true
	var unready []string
	for _, c := range pd.ctrs {
		st.ContainerStatuses = append(st.ContainerStatuses, c.status())
		if !c.ready {
			allReady = false
			unready = append(unready, c.spec.Name)
		}
	}
	st.Phase = pd.phase()
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	st.Reason, st.Message = "", "" // e.g. the pod controller's ProviderFailed of a refused create

	var conds []corev1.PodCondition
	for _, c := range pd.base.Conditions {
		switch c.Type {
		case corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady:
		default:
			conds = append(conds, c)
		}
	}
	conds = append(conds, pd.cond(corev1.PodReadyToStartContainers, !pd.final, "", ""))
	if pd.initDone {
		conds = append(conds, pd.cond(corev1.PodInitialized, true, "", ""))
	} else {
		var pending []string
		for _, c := range pd.inits {
			if c.state.Terminated == nil || c.state.Terminated.ExitCode != 0 {
				pending = append(pending, c.spec.Name)
			}
		}
		conds = append(conds, pd.cond(corev1.PodInitialized, false, "ContainersNotInitialized",
			fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(pending, " "))))
	}
	switch {
	case terminal:
		conds = append(conds, pd.cond(corev1.ContainersReady, false, "PodCompleted", ""), pd.cond(corev1.PodReady, false, "PodCompleted", ""))
	case pd.initDone && allReady:
		conds = append(conds, pd.cond(corev1.ContainersReady, true, "", ""), pd.cond(corev1.PodReady, true, "", ""))
	default:
		msg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
		conds = append(conds, pd.cond(corev1.ContainersReady, false, "ContainersNotReady", msg), pd.cond(corev1.PodReady, false, "ContainersNotReady", msg))
	}
	st.Conditions = conds
	return st
}

// cond is a condition the agent owns, keeping its transition time while its
// status stays the same.
func (pd *pod) cond(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
	s := corev1.ConditionFalse
	if ok {
		s = corev1.ConditionTrue
	}
	c, had := pd.conds[t]
	if !had {
		for _, bc := range pd.base.Conditions {
			if bc.Type == t {
				c, had = bc, true
			}
		}
	}
	if !had || c.Status != s {
		c = corev1.PodCondition{Type: t, Status: s, LastTransitionTime: metav1.Now()}
	}
	c.Reason, c.Message = reason, msg
	c.LastProbeTime = metav1.Time{}
	pd.conds[t] = c
	return c
}

// phase follows the kubelet's rules.
func (pd *pod) phase() corev1.PodPhase {
	policy := pd.spec.Spec.RestartPolicy
	if pd.final {
		for _, c := range pd.ctrs {
			if c.state.Terminated == nil || c.state.Terminated.ExitCode != 0 {
				return corev1.PodFailed
			}
		}
		if pd.initFailed || !pd.initDone {
			return corev1.PodFailed
		}
		return corev1.PodSucceeded
	}
	if pd.initFailed {
		return corev1.PodFailed
	}
	if !pd.initDone {
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, c := range pd.ctrs {
		switch {
		case c.state.Running != nil:
			running++
		case c.state.Terminated != nil:
			stopped++
			if c.state.Terminated.ExitCode == 0 {
				succeeded++
			}
		case c.state.Waiting != nil && c.last.Terminated != nil:
			stopped++ // restarting
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case policy == corev1.RestartPolicyAlways:
		return corev1.PodRunning
	case stopped == succeeded:
		return corev1.PodSucceeded
	case policy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	}
	return corev1.PodRunning
}

func (c *container) status() corev1.ContainerStatus {
	started := c.state.Running != nil
	return corev1.ContainerStatus{
		Name:                 c.spec.Name,
		State:                *c.state.DeepCopy(),
		LastTerminationState: *c.last.DeepCopy(),
		Ready:                c.ready,
		RestartCount:         c.restarts,
		Image:                c.spec.Image,
		ImageID:              "kubenode://" + c.spec.Image,
		ContainerID:          c.idIfStarted(),
		Started:              &started,
	}
}

func (c *container) idIfStarted() string {
	if c.started {
		return c.id
	}
	return ""
}
