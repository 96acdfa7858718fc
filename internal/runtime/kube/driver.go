package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
	"github.com/pavedroad/terraform-provider-paved/internal/secrets"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Droplets is what the driver needs of the cell to ship droplets: the
// archive's sha256 (packing it if needed) and a token opening it.
type Droplets interface {
	Archive(digest string) (sha256 string, err error)
	Token(digest string, ttl time.Duration) string
}

// Options configure a Driver.
type Options struct {
	Client kubernetes.Interface
	// CellID labels everything this cell makes; another cell sharing the
	// cluster never touches it. Required.
	CellID string
	// NamespacePrefix goes before a space's name to make its namespace.
	NamespacePrefix string
	// StackImage is the image instances and the droplet fetcher run in;
	// it must hold /bin/sh and the paved binary. Required.
	StackImage string
	// CellURL is the cell's API as pods reach it (droplets are fetched
	// from CellURL/v1/droplets/…). Required.
	CellURL string
	// FetchCommand starts the droplet fetcher in the init container;
	// default ["paved", "droplet", "fetch"].
	FetchCommand []string
	Droplets     Droplets
	// EvictionAfter is how long a pod stays on a node that is not ready
	// or unreachable before it is replaced elsewhere; default 30s.
	EvictionAfter time.Duration
	// StopGrace is the pods' termination grace period; default 10s.
	StopGrace time.Duration
	// StartTimeout bounds Start: the pod must be scheduled and have an
	// address by then; default 2m.
	StartTimeout time.Duration
	// TokenTTL is how long a droplet token is valid; the driver renews
	// the tokens of live releases at a third of it. Default 1h.
	TokenTTL time.Duration
	// SpareTTL is how long a pod the ReplicaSet made by itself waits to
	// be claimed by a Start before it is stopped; default 15s.
	SpareTTL time.Duration
	OnLog    func(runtime.LogLine)
	OnState  func(runtime.InstanceStatus)
	Logger   *slog.Logger
}

// Driver runs instances as pods. Create it with New; it is safe for
// concurrent use.
type Driver struct {
	opts     Options
	cs       kubernetes.Interface
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	events   chan runtime.InstanceStatus
	factory  informers.SharedInformerFactory
	nodes    cache.SharedIndexInformer
	done     sync.WaitGroup
	stopOnce sync.Once

	mu     sync.Mutex
	synced bool              // the watch has delivered the pods that existed at New
	pods   map[string]*pod   // instances, by pod name
	groups map[string]*group // releases, by namespace/ReplicaSet name
}

// pod is one instance.
type pod struct {
	obj       *corev1.Pod
	key       string // its group
	last      runtime.InstanceStatus
	stopping  bool          // Stop was called
	gone      chan struct{} // closed when the pod is deleted
	following bool          // a log follower runs
	logsSince time.Time     // adopted pods' logs start at adoption
	// spare: a pod the ReplicaSet made by itself after the watch synced
	// (a replacement for one the cluster deleted, or one a relabel made
	// it add) that no Start asked for. The cell does not know it as an
	// instance; the next Start of its release claims it, and one left
	// unclaimed for SpareTTL is stopped.
	spare      bool
	spareSince time.Time
}

// group is one release's ReplicaSet.
type group struct {
	objs    releaseObjects
	want    int               // replicas: instances handed out or being started
	waiters []chan string     // Starts waiting for a pod of this release
	stops   int               // Stops in flight (their ReplicaSet's stray replacements are not adopted)
	write   sync.Mutex        // serialises writes of replicas
	redact  *secrets.Redactor // for the release's log lines
	// dropping is closed once the group's ReplicaSet and Secret are
	// deleted; while it is open, a Start of the release waits for it, so
	// that it never finds the old objects just before they go.
	dropping chan struct{}
}

var (
	_ runtime.Runtime         = (*Driver)(nil)
	_ runtime.ReadinessProber = (*Driver)(nil)
)

// New checks the options, finds what this cell left in the cluster (its
// ReplicaSets and their pods, which become the instances List reports) and
// starts watching. It returns once the watch has synced.
func New(ctx context.Context, opts Options) (*Driver, error) {
	switch {
	case opts.Client == nil:
		return nil, errors.New("kube: Options.Client is required")
	case opts.CellID == "":
		return nil, errors.New("kube: Options.CellID is required")
	case opts.StackImage == "":
		return nil, errors.New("kube: a stack image is required (--kube-stack-image): the image instances run in")
	case opts.CellURL == "":
		return nil, errors.New("kube: the cell's URL as pods reach it is required (--kube-cell-url)")
	case opts.Droplets == nil:
		return nil, errors.New("kube: Options.Droplets is required")
	}
	if len(opts.FetchCommand) == 0 {
		opts.FetchCommand = []string{"paved", "droplet", "fetch"}
	}
	opts.CellURL = strings.TrimRight(opts.CellURL, "/")
	if opts.EvictionAfter <= 0 {
		opts.EvictionAfter = 30 * time.Second
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.SpareTTL <= 0 {
		opts.SpareTTL = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rctx, cancel := context.WithCancel(context.Background())
	d := &Driver{opts: opts, cs: opts.Client, log: opts.Logger.With("component", "runtime", "driver", "kubernetes"),
		ctx: rctx, cancel: cancel, events: make(chan runtime.InstanceStatus, 4096),
		pods: map[string]*pod{}, groups: map[string]*group{}}
	if err := d.loadGroups(ctx); err != nil {
		cancel()
		return nil, err
	}
	d.factory = informers.NewSharedInformerFactoryWithOptions(d.cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelCell + "=" + opts.CellID }))
	podInf := d.factory.Core().V1().Pods().Informer()
	reg, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { d.onPod(o, true) },
		UpdateFunc: func(_, o any) { d.onPod(o, false) },
		DeleteFunc: d.onPodDeleted,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	d.nodes = informers.NewSharedInformerFactory(d.cs, 0).Core().V1().Nodes().Informer()
	d.done.Add(1)
	go func() { defer d.done.Done(); d.deliver() }()
	d.factory.Start(rctx.Done())
	go d.nodes.Run(rctx.Done())
	// The handler has seen every pod that existed (they are the instances
	// List reports); a pod that appears from now on is a Start's or a spare.
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		cancel()
		return nil, fmt.Errorf("kube: the pod watch did not sync: %w", context.Cause(ctx))
	}
	d.mu.Lock()
	d.synced = true
	d.mu.Unlock()
	d.done.Add(2)
	go func() { defer d.done.Done(); d.renewTokens() }()
	go func() { defer d.done.Done(); d.reapSpares() }()
	return d, nil
}

// loadGroups reads this cell's ReplicaSets: their replicas are the
// instances it had when it stopped.
func (d *Driver) loadGroups(ctx context.Context) error {
	list, err := d.cs.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{LabelSelector: LabelCell + "=" + d.opts.CellID})
	if err != nil {
		return fmt.Errorf("kube: list this cell's ReplicaSets: %w", err)
	}
	for _, rs := range list.Items {
		o := releaseObjects{Namespace: rs.Namespace, Name: rs.Name, Labels: rs.Labels}
		g := &group{objs: o}
		if rs.Spec.Replicas != nil {
			g.want = int(*rs.Spec.Replicas)
		}
		if sec, err := d.cs.CoreV1().Secrets(rs.Namespace).Get(ctx, o.secretName(), metav1.GetOptions{}); err == nil {
			var vals []string
			for k, v := range sec.Data {
				if k != TokenKey {
					vals = append(vals, string(v))
				}
			}
			g.redact = secrets.NewRedactor(vals...)
		}
		d.groups[o.key()] = g
	}
	return nil
}

// ProbesReadiness implements runtime.ReadinessProber: a pod is running
// once Kubernetes says it is ready.
func (d *Driver) ProbesReadiness() bool { return true }

// MemoryLimits implements runtime.Runtime.
func (d *Driver) MemoryLimits() (bool, string) {
	return true, ""
}

// Isolation implements runtime.Runtime: what keeps pods apart is the
// cluster's, not the cell's, to say.
func (d *Driver) Isolation() paved.Isolation {
	return paved.Isolation{Reason: "instances run as pods: the cluster's container runtime isolates them, not the cell"}
}

// Info implements runtime.Runtime.
func (d *Driver) Info(ctx context.Context) paved.RuntimeInfo {
	info := paved.RuntimeInfo{Driver: "kubernetes"}
	v, err := d.cs.Discovery().ServerVersion()
	if err != nil {
		info.Error = "the cluster's version: " + err.Error()
		return info
	}
	info.ClusterVersion = v.GitVersion
	for _, o := range d.nodes.GetStore().List() {
		n := o.(*corev1.Node)
		info.Nodes++
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && !n.Spec.Unschedulable {
				info.ReadyNodes++
			}
		}
	}
	return info
}

// Start makes one more pod of the instance's release run and returns it
// once it is scheduled and has an address. The pod's name is the
// instance's ID (spec.ID is not used: the ReplicaSet names its pods).
func (d *Driver) Start(spec runtime.InstanceSpec) (runtime.InstanceStatus, error) {
	if spec.Droplet == "" || strings.TrimSpace(spec.Command) == "" {
		return runtime.InstanceStatus{}, fmt.Errorf("%w: droplet and command are required", runtime.ErrInvalidSpec)
	}
	o, err := d.objectsFor(spec.App, spec.Release)
	if err != nil {
		return runtime.InstanceStatus{}, err
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.opts.StartTimeout)
	defer cancel()
	if err := d.ensureNamespace(ctx, o); err != nil {
		return runtime.InstanceStatus{}, err
	}
	g, err := d.liveGroup(ctx, o)
	if err != nil {
		return runtime.InstanceStatus{}, err
	}
	if spec.Redact != nil {
		g.redact = spec.Redact
	}
	if name := d.claimSpareLocked(g); name != "" {
		d.mu.Unlock()
		d.markServing(ctx, o.Namespace, name)
		s, _ := d.Status(name)
		return s, nil
	}
	g.want++
	w := make(chan string, 1)
	g.waiters = append(g.waiters, w)
	d.mu.Unlock()
	name, err := d.startPod(ctx, g, spec, w)
	if err != nil {
		d.abandon(g, w, name)
		return runtime.InstanceStatus{}, fmt.Errorf("kube: start an instance of %s release %d: %w", spec.App, spec.Release, err)
	}
	d.markServing(ctx, o.Namespace, name)
	s, _ := d.Status(name)
	return s, nil
}

func (d *Driver) startPod(ctx context.Context, g *group, spec runtime.InstanceSpec, w chan string) (string, error) {
	if err := d.ensureRelease(ctx, g, spec); err != nil {
		return "", err
	}
	if err := d.syncReplicas(ctx, g); err != nil {
		return "", err
	}
	var name string
	select {
	case name = <-w:
	case <-ctx.Done():
		return "", errors.New("no pod appeared: is the ReplicaSet controller (kube-controller-manager) running?")
	}
	// The router and the health checks need the pod's address.
	for {
		d.mu.Lock()
		p := d.pods[name]
		var ip string
		var phase corev1.PodPhase
		if p != nil {
			ip, phase = p.obj.Status.PodIP, p.obj.Status.Phase
		}
		d.mu.Unlock()
		switch {
		case p == nil:
			return name, errors.New("its pod " + name + " was deleted while starting")
		case ip != "":
			return name, nil
		case phase == corev1.PodFailed:
			return name, errors.New("its pod " + name + " failed")
		}
		select {
		case <-ctx.Done():
			return name, fmt.Errorf("its pod %s got no node or no address in %s (%s)", name, d.opts.StartTimeout, d.pending(name))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pending says why a pod is not running yet, from its conditions.
func (d *Driver) pending(name string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p := d.pods[name]; p != nil {
		for _, c := range p.obj.Status.Conditions {
			if c.Status != corev1.ConditionTrue && c.Message != "" {
				return c.Message
			}
		}
		return "phase " + string(p.obj.Status.Phase)
	}
	return "gone"
}

// abandon undoes a Start that failed: its waiter is withdrawn and a pod
// it got is stopped.
func (d *Driver) abandon(g *group, w chan string, name string) {
	d.mu.Lock()
	if i := slices.Index(g.waiters, w); i >= 0 {
		g.waiters = slices.Delete(g.waiters, i, i+1)
	}
	select {
	case name = <-w:
	default:
	}
	d.mu.Unlock()
	if name != "" {
		if err := d.Stop(context.Background(), name, 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			d.log.Warn("stop the pod of a failed start", "pod", name, "err", err)
		}
		return
	}
	d.mu.Lock()
	g.want--
	d.mu.Unlock()
	if err := d.syncReplicas(context.Background(), g); err != nil {
		d.log.Warn("scale down after a failed start", "replicaset", g.objs.key(), "err", err)
	}
}

// liveGroup returns the release's group, locked (d.mu), once no drop of
// it is under way.
func (d *Driver) liveGroup(ctx context.Context, o releaseObjects) (*group, error) {
	for {
		d.mu.Lock()
		g := d.groups[o.key()]
		if g == nil {
			g = &group{objs: o}
			d.groups[o.key()] = g
		}
		if g.dropping == nil {
			return g, nil
		}
		wait := g.dropping
		d.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("kube: release %s is still being deleted: %w", o.key(), ctx.Err())
		}
	}
}

func (d *Driver) ensureNamespace(ctx context.Context, o releaseObjects) error {
	_, err := d.cs.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = d.cs.CoreV1().Namespaces().Create(ctx, namespace(o.Namespace, o.Labels[LabelSpace], d.opts.CellID), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("kube: namespace %s: %w", o.Namespace, err)
	}
	return nil
}

// ensureRelease makes the release's ReplicaSet (at zero replicas) and
// then its Secret, unless they exist: a restarted cell, or a second
// instance, finds them and makes no duplicate.
func (d *Driver) ensureRelease(ctx context.Context, g *group, spec runtime.InstanceSpec) error {
	g.write.Lock()
	defer g.write.Unlock()
	o := g.objs
	rs, err := d.cs.AppsV1().ReplicaSets(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		sum, aerr := d.opts.Droplets.Archive(spec.Droplet)
		if aerr != nil {
			return aerr
		}
		rs, err = d.cs.AppsV1().ReplicaSets(o.Namespace).Create(ctx, d.replicaSet(o, spec, sum), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			rs, err = d.cs.AppsV1().ReplicaSets(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("the ReplicaSet %s: %w", o.key(), err)
	}
	if owner := rs.Labels[LabelCell]; owner != d.opts.CellID {
		return fmt.Errorf("ReplicaSet %s belongs to cell %q, not this one: give each cell sharing a cluster its own --kube-namespace-prefix", o.key(), owner)
	}
	_, err = d.cs.CoreV1().Secrets(o.Namespace).Get(ctx, o.secretName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		sec := secret(o, rs, spec, d.opts.Droplets.Token(spec.Droplet, d.opts.TokenTTL))
		_, err = d.cs.CoreV1().Secrets(o.Namespace).Create(ctx, sec, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("the Secret %s/%s: %w", o.Namespace, o.secretName(), err)
	}
	return nil
}

// syncReplicas writes the group's wanted replicas to its ReplicaSet.
// Writes are serialised per group, and each writes the latest count, so a
// slow write never overwrites a newer one.
func (d *Driver) syncReplicas(ctx context.Context, g *group) error {
	g.write.Lock()
	defer g.write.Unlock()
	rsc := d.cs.AppsV1().ReplicaSets(g.objs.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rs, err := rsc.Get(ctx, g.objs.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		d.mu.Lock()
		want := int32(max(g.want, 0))
		d.mu.Unlock()
		if rs.Spec.Replicas != nil && *rs.Spec.Replicas == want {
			return nil
		}
		rs.Spec.Replicas = &want
		_, err = rsc.Update(ctx, rs, metav1.UpdateOptions{})
		return err
	})
}

// Stop takes the pod out of its ReplicaSet (relabelled "stopping"),
// scales the ReplicaSet down by one, and deletes the pod with grace.
// Relabelling first makes the chosen pod the one that goes: the
// ReplicaSet, scaled down first, would pick a victim of its own. A pod that
// does not go within grace and a margin (its node is lost) is deleted at
// once. When a release has no instance left, its ReplicaSet and Secret
// are deleted.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	d.mu.Lock()
	p := d.pods[id]
	if p == nil {
		d.mu.Unlock()
		return fmt.Errorf("%w: %s", runtime.ErrNotFound, id)
	}
	g := d.groups[p.key]
	first := !p.stopping
	if first {
		p.stopping = true
		if g != nil {
			g.want--
			g.stops++
		}
	}
	ns, gone := p.obj.Namespace, p.gone
	d.mu.Unlock()
	if first && g != nil {
		defer func() {
			d.mu.Lock()
			g.stops--
			d.mu.Unlock()
		}()
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, LabelPool, PoolStopping)
	if _, err := d.cs.CoreV1().Pods(ns).Patch(ctx, id, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kube: stop %s: %w", id, err)
	}
	if g != nil {
		if err := d.syncReplicas(ctx, g); err != nil {
			d.log.Warn("scale down", "replicaset", g.objs.key(), "err", err)
		}
	}
	secs := int64(grace.Seconds())
	if err := d.cs.CoreV1().Pods(ns).Delete(ctx, id, metav1.DeleteOptions{GracePeriodSeconds: &secs}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kube: stop %s: %w", id, err)
	}
	wait := time.NewTimer(grace + 10*time.Second)
	defer wait.Stop()
	select {
	case <-gone:
	case <-ctx.Done():
		return fmt.Errorf("kube: stop %s: %w", id, ctx.Err())
	case <-wait.C:
		zero := int64(0)
		d.log.Warn("pod did not stop in time; deleting it at once", "pod", id)
		if err := d.cs.CoreV1().Pods(ns).Delete(ctx, id, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("kube: stop %s: %w", id, err)
		}
		select {
		case <-gone:
		case <-ctx.Done():
			return fmt.Errorf("kube: stop %s: %w", id, ctx.Err())
		}
	}
	if g != nil {
		d.dropIfUnused(ctx, g)
	}
	return nil
}

// dropIfUnused deletes a release's ReplicaSet and Secret once nothing of
// it runs or is being started.
func (d *Driver) dropIfUnused(ctx context.Context, g *group) {
	g.write.Lock()
	defer g.write.Unlock()
	d.mu.Lock()
	used := g.want > 0 || len(g.waiters) > 0 || g.dropping != nil || d.groups[g.objs.key()] != g
	for _, p := range d.pods {
		used = used || p.key == g.objs.key()
	}
	if !used {
		g.dropping = make(chan struct{})
	}
	d.mu.Unlock()
	if used {
		return
	}
	defer func() {
		d.mu.Lock()
		delete(d.groups, g.objs.key())
		close(g.dropping)
		d.mu.Unlock()
	}()
	bg := metav1.DeletePropagationBackground
	o := g.objs
	if err := d.cs.AppsV1().ReplicaSets(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
		d.log.Warn("delete an unused ReplicaSet", "replicaset", o.key(), "err", err)
	}
	if err := d.cs.CoreV1().Secrets(o.Namespace).Delete(ctx, o.secretName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		d.log.Warn("delete an unused Secret", "secret", o.Namespace+"/"+o.secretName(), "err", err)
	}
}

// StopAll ends the driver's watches and log followers and leaves the pods
// running: the cell keeps no runtime state of its own, and the next cell
// on this data dir adopts them (Kubernetes restarts them meanwhile).
// A second call does nothing.
func (d *Driver) StopAll(context.Context, time.Duration) error {
	d.stopOnce.Do(func() {
		d.cancel()
		d.factory.Shutdown() // returns once the event handlers are done: nothing emits after it
		close(d.events)
		d.done.Wait()
	})
	return nil
}

// Status reports one instance.
func (d *Driver) Status(id string) (runtime.InstanceStatus, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.pods[id]
	if p == nil || p.spare {
		return runtime.InstanceStatus{}, false
	}
	return podStatus(p.obj), true
}

// List reports every instance, sorted by ID.
func (d *Driver) List() []runtime.InstanceStatus {
	d.mu.Lock()
	out := make([]runtime.InstanceStatus, 0, len(d.pods))
	for _, p := range d.pods {
		if !p.stopping && !p.spare {
			out = append(out, podStatus(p.obj))
		}
	}
	d.mu.Unlock()
	slices.SortFunc(out, func(a, b runtime.InstanceStatus) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// claimSpareLocked hands a spare pod of g with an address to a Start: the
// ReplicaSet already runs it, so no scaling is needed. "" when there is
// none.
func (d *Driver) claimSpareLocked(g *group) string {
	var best *pod
	for _, p := range d.pods {
		if p.spare && p.key == g.objs.key() && !p.stopping && p.obj.DeletionTimestamp == nil && p.obj.Status.PodIP != "" &&
			(best == nil || p.spareSince.Before(best.spareSince)) {
			best = p
		}
	}
	if best == nil {
		return ""
	}
	best.spare = false
	if !best.following && podStatus(best.obj).State == runtime.StateRunning {
		best.following = true
		go d.followLogs(best.obj.Namespace, best.obj.Name)
	}
	d.log.Info("a start claims a pod the ReplicaSet made", "pod", best.obj.Namespace+"/"+best.obj.Name)
	return best.obj.Name
}

// servingCost is the pod-deletion-cost of an instance: when a Stop's
// relabel makes the ReplicaSet add a pod and its scale-down then removes
// one, the ReplicaSet removes the cheapest of its ready pods — the spare
// it just made, never an instance (without the cost, young pods look
// alike to it and it may pick a serving one).
const servingCost = "1000"

// markServing gives an instance's pod the serving deletion cost.
func (d *Driver) markServing(ctx context.Context, ns, name string) {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, AnnotationDeletionCost, servingCost)
	if _, err := d.cs.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		d.log.Warn("mark a pod as an instance", "pod", ns+"/"+name, "err", err)
	}
}

// reapSpares deals with spare pods: one beyond the release's replicas (the
// ReplicaSet made it for a Stop's relabel and will remove it itself) is
// deleted if it lingers; one within them (a replacement of a lost pod) is
// kept for a Start to claim, and stopped if none does within SpareTTL.
func (d *Driver) reapSpares() {
	t := time.NewTicker(max(d.opts.SpareTTL/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		var unclaimed []string
		var surplus []*corev1.Pod
		d.mu.Lock()
		for name, p := range d.pods {
			if !p.spare || p.stopping || time.Since(p.spareSince) <= d.opts.SpareTTL {
				continue
			}
			g := d.groups[p.key]
			if g != nil && d.claimedLocked(p.key)+d.sparesLocked(p.key) <= g.want {
				p.spare = false // Stop treats it as any instance, and counts it off
				unclaimed = append(unclaimed, name)
			} else {
				surplus = append(surplus, p.obj)
			}
		}
		d.mu.Unlock()
		for _, name := range unclaimed {
			d.log.Info("stopping a pod the ReplicaSet made that no start claimed", "pod", name)
			if err := d.Stop(d.ctx, name, 0); err != nil && d.ctx.Err() == nil && !errors.Is(err, runtime.ErrNotFound) {
				d.log.Warn("stop an unclaimed pod", "pod", name, "err", err)
			}
		}
		for _, po := range surplus {
			d.deleteOrphan(po)
		}
	}
}

// claimedLocked counts the instances of a release (pods that are neither
// spares nor stopping).
func (d *Driver) claimedLocked(key string) int {
	n := 0
	for _, p := range d.pods {
		if !p.spare && !p.stopping && p.key == key && p.obj.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

// sparesLocked counts the spare pods of a release.
func (d *Driver) sparesLocked(key string) int {
	n := 0
	for _, p := range d.pods {
		if p.spare && p.key == key && !p.stopping {
			n++
		}
	}
	return n
}
