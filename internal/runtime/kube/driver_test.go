package kube

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"

	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
)

// The harness: the fake clientset stands in for the API server and a tiny
// ReplicaSet controller (rsController) for kube-controller-manager and the
// kubelets — it keeps each ReplicaSet's serving pods at its replicas and
// makes them ready with an address at once. The real control plane runs
// in make kube-e2e; this one lets the driver's bookkeeping be tested in
// milliseconds, interleavings included.

type fakeDroplets struct{}

func (fakeDroplets) Archive(string) (string, error)         { return "sum", nil }
func (fakeDroplets) Token(d string, _ time.Duration) string { return "token-for-" + d }

type rsController struct {
	cs   *fake.Clientset
	stop chan struct{}
	done chan struct{}
	ips  atomic.Int32
}

func startController(cs *fake.Clientset) *rsController {
	c := &rsController{cs: cs, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			c.sync()
		}
	}()
	return c
}

func (c *rsController) Stop() { close(c.stop); <-c.done }

func (c *rsController) sync() {
	ctx := context.Background()
	rss, err := c.cs.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, rs := range rss.Items {
		sel := labels.SelectorFromSet(rs.Spec.Selector.MatchLabels)
		pods, err := c.cs.CoreV1().Pods(rs.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			continue
		}
		want := int(*rs.Spec.Replicas)
		for i := len(pods.Items); i < want; i++ {
			n := c.ips.Add(1)
			po := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", rs.Name, n), Namespace: rs.Namespace,
					Labels:          rs.Spec.Template.Labels,
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID}}},
				Spec: rs.Spec.Template.Spec,
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.0.0.%d", n),
					Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: ContainerApp, Ready: true,
						State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}},
			}
			if _, err := c.cs.CoreV1().Pods(rs.Namespace).Create(ctx, po, metav1.CreateOptions{}); err != nil {
				return
			}
		}
		// Like the real controller, a scale-down removes the newest pods
		// first (they are the least likely to be serving).
		sort.Slice(pods.Items, func(i, j int) bool { return podSeq(pods.Items[i].Name) > podSeq(pods.Items[j].Name) })
		for i := 0; i < len(pods.Items)-want; i++ {
			_ = c.cs.CoreV1().Pods(rs.Namespace).Delete(ctx, pods.Items[i].Name, metav1.DeleteOptions{})
		}
	}
	// Owner references: pods of a deleted ReplicaSet go (the garbage
	// collector); a pod taken out of its ReplicaSet keeps its reference.
	pods, err := c.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, po := range pods.Items {
		if len(po.OwnerReferences) == 0 {
			continue
		}
		if _, err := c.cs.AppsV1().ReplicaSets(po.Namespace).Get(ctx, po.OwnerReferences[0].Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			_ = c.cs.CoreV1().Pods(po.Namespace).Delete(ctx, po.Name, metav1.DeleteOptions{})
		}
	}
}

// podSeq is the creation number the fake controller put in a pod's name.
func podSeq(name string) int {
	n, _ := strconv.Atoi(name[strings.LastIndex(name, "-")+1:])
	return n
}

type harness struct {
	t      *testing.T
	cs     *fake.Clientset
	ctrl   *rsController
	d      *Driver
	wrap   func(kubernetes.Interface) kubernetes.Interface
	mu     sync.Mutex
	states []runtime.InstanceStatus
}

func newHarness(t *testing.T, objs ...kruntime.Object) *harness {
	t.Helper()
	return newHarnessWith(t, nil, objs...)
}

// newHarnessWith gives the driver the clientset as wrap returns it.
func newHarnessWith(t *testing.T, wrap func(kubernetes.Interface) kubernetes.Interface, objs ...kruntime.Object) *harness {
	t.Helper()
	h := &harness{t: t, cs: fake.NewClientset(objs...), wrap: wrap}
	h.ctrl = startController(h.cs)
	t.Cleanup(h.ctrl.Stop)
	h.d = h.newDriver()
	return h
}

func (h *harness) newDriver() *Driver {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cs kubernetes.Interface = h.cs
	if h.wrap != nil {
		cs = h.wrap(cs)
	}
	d, err := New(ctx, Options{Client: cs, CellID: "c0ffee", NamespacePrefix: "paved-", StackImage: "stack:1",
		CellURL: "http://cell:7400", Droplets: fakeDroplets{}, StopGrace: time.Second, StartTimeout: 3 * time.Second, SpareTTL: 500 * time.Millisecond,
		OnState: func(s runtime.InstanceStatus) {
			h.mu.Lock()
			h.states = append(h.states, s)
			h.mu.Unlock()
		}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = d.StopAll(context.Background(), 0) })
	return d
}

func spec(release int) runtime.InstanceSpec {
	return runtime.InstanceSpec{App: "shop/web", Release: release, Droplet: strings.Repeat("d", 64), Command: "./web",
		Env: map[string]string{"API_KEY": "s3cret"}, SecretKeys: []string{"API_KEY"}}
}

func (h *harness) start(release int) runtime.InstanceStatus {
	h.t.Helper()
	s, err := h.d.Start(spec(release))
	if err != nil {
		h.t.Fatalf("start an instance of release %d: %v", release, err)
	}
	return s
}

// replicas is the ReplicaSet's replicas, -1 if it does not exist.
func (h *harness) replicas(name string) int {
	rs, err := h.cs.AppsV1().ReplicaSets("paved-shop").Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return -1
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return int(*rs.Spec.Replicas)
}

func (h *harness) secretExists(name string) bool {
	_, err := h.cs.CoreV1().Secrets("paved-shop").Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

func TestStartAndStopScaleOneReplicaSetPerRelease(t *testing.T) {
	h := newHarness(t)
	a, b := h.start(1), h.start(1)
	if a.ID == b.ID || a.Host == "" || b.Host == "" || a.Port != Port {
		t.Fatalf("two starts gave %+v and %+v: want two pods with addresses", a, b)
	}
	if got := h.replicas("web-r1"); got != 2 {
		t.Errorf("replicas %d after two starts, want 2", got)
	}
	if !h.secretExists("web-r1-env") {
		t.Error("no Secret for the release's secret env")
	}
	if ids := h.d.List(); len(ids) != 2 {
		t.Errorf("List %+v, want the two instances", ids)
	}
	if err := h.d.Stop(context.Background(), a.ID, 0); err != nil {
		t.Fatal(err)
	}
	if got := h.replicas("web-r1"); got != 1 {
		t.Errorf("replicas %d after a stop, want 1", got)
	}
	if _, ok := h.d.Status(a.ID); ok {
		t.Errorf("the stopped pod %s is still an instance", a.ID)
	}
	if err := h.d.Stop(context.Background(), b.ID, 0); err != nil {
		t.Fatal(err)
	}
	// The ReplicaSet may have made a replacement for the pod taken out of
	// it in the moment before it was scaled down; it goes once that does.
	h.eventually("the release's ReplicaSet and Secret are deleted", func() bool {
		return h.replicas("web-r1") == -1 && !h.secretExists("web-r1-env")
	})
	if err := h.d.Stop(context.Background(), b.ID, 0); err == nil {
		t.Error("stopping a stopped instance: no error")
	}
}

// A start of a release whose last instance is just stopping must not find
// the ReplicaSet and Secret that the stop is about to delete: it waits for
// the deletion and makes them anew.
func TestStartDuringTheDropOfItsReleaseMakesItAnew(t *testing.T) {
	deleting, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	h := newHarnessWith(t, func(cs kubernetes.Interface) kubernetes.Interface {
		return slowDeletes{cs, func() { once.Do(func() { close(deleting); <-release }) }}
	})
	a := h.start(1)
	stopped := make(chan error, 1)
	go func() { stopped <- h.d.Stop(context.Background(), a.ID, 0) }()
	<-deleting
	started := make(chan error, 1)
	go func() { _, err := h.d.Start(spec(1)); started <- err }()
	select {
	case err := <-started:
		t.Fatalf("a start finished while its release was being deleted (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatalf("the start after the drop: %v", err)
	}
	if got := h.replicas("web-r1"); got != 1 || !h.secretExists("web-r1-env") {
		t.Errorf("after the new start: replicas %d, Secret there %v; want 1 and true", got, h.secretExists("web-r1-env"))
	}
}

// A cell that restarts finds its ReplicaSets and pods: they are the
// instances it reports, and a further start adds one to them rather than
// replacing them.
func TestANewDriverAdoptsWhatTheLastOneLeft(t *testing.T) {
	h := newHarness(t)
	a, b := h.start(2), h.start(2)
	_ = h.d.StopAll(context.Background(), 0)
	h.d = h.newDriver()
	got := h.d.List()
	if len(got) != 2 || got[0].ID != min(a.ID, b.ID) || got[1].ID != max(a.ID, b.ID) {
		t.Fatalf("the new driver lists %+v, want %s and %s", got, a.ID, b.ID)
	}
	c := h.start(2)
	if c.ID == a.ID || c.ID == b.ID {
		t.Fatalf("the start after adoption returned an adopted pod %s", c.ID)
	}
	if n := h.replicas("web-r2"); n != 3 {
		t.Errorf("replicas %d, want 3 (two adopted and one started)", n)
	}
}

// Another cell's ReplicaSet of the same name is refused, not scaled.
func TestStartRefusesAnotherCellsReplicaSet(t *testing.T) {
	zero := int32(0)
	other := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-r1", Namespace: "paved-shop",
		Labels: map[string]string{LabelCell: "other"}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelCell: "other"}}}}
	h := newHarness(t, other)
	_, err := h.d.Start(spec(1))
	if err == nil || !strings.Contains(err.Error(), `belongs to cell "other"`) {
		t.Fatalf("start over another cell's ReplicaSet: %v", err)
	}
	if n := h.replicas("web-r1"); n != 0 {
		t.Errorf("the other cell's ReplicaSet was scaled to %d", n)
	}
}

func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			h.d.mu.Lock()
			var dump []string
			for k, g := range h.d.groups {
				dump = append(dump, fmt.Sprintf("group %s want %d waiters %d dropping %v stops %d", k, g.want, len(g.waiters), g.dropping != nil, g.stops))
			}
			for n, p := range h.d.pods {
				dump = append(dump, fmt.Sprintf("pod %s spare %v stopping %v deleting %v", n, p.spare, p.stopping, p.obj.DeletionTimestamp != nil))
			}
			h.d.mu.Unlock()
			pods, _ := h.cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
			for _, p := range pods.Items {
				dump = append(dump, fmt.Sprintf("cluster pod %s labels %v", p.Name, p.Labels[LabelPool]))
			}
			h.t.Fatalf("not so after 5s: %s\n%s", what, strings.Join(dump, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// slowDeletes calls hook before each ReplicaSet deletion, outside the fake
// clientset's lock, so a test can hold a deletion in flight.
type slowDeletes struct {
	kubernetes.Interface
	hook func()
}

// IsWatchListSemanticsUnSupported passes on the fake clientset's word that
// informers must list and watch (it cannot stream a list).
func (s slowDeletes) IsWatchListSemanticsUnSupported() bool { return true }

func (s slowDeletes) AppsV1() appsv1client.AppsV1Interface {
	return slowApps{s.Interface.AppsV1(), s.hook}
}

type slowApps struct {
	appsv1client.AppsV1Interface
	hook func()
}

func (a slowApps) ReplicaSets(ns string) appsv1client.ReplicaSetInterface {
	return slowReplicaSets{a.AppsV1Interface.ReplicaSets(ns), a.hook}
}

type slowReplicaSets struct {
	appsv1client.ReplicaSetInterface
	hook func()
}

func (r slowReplicaSets) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	r.hook()
	return r.ReplicaSetInterface.Delete(ctx, name, opts)
}

func (h *harness) stopped(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.states {
		if s.ID == id && s.State == runtime.StateStopped {
			return true
		}
	}
	return false
}

// A pod the cluster deletes is reported gone; the ReplicaSet's replacement
// is no instance of its own (the cell would count it twice) but the one
// the next Start claims, without scaling.
func TestTheReplacementOfALostPodIsClaimedByTheNextStart(t *testing.T) {
	h := newHarness(t)
	a, _ := h.start(1), h.start(1)
	if err := h.cs.CoreV1().Pods("paved-shop").Delete(context.Background(), a.ID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the lost pod is reported stopped", func() bool { return h.stopped(a.ID) })
	// The controller makes the replacement; it is not listed as an instance.
	h.eventually("the driver sees the replacement as a spare", func() bool {
		h.d.mu.Lock()
		defer h.d.mu.Unlock()
		for _, p := range h.d.pods {
			if p.spare {
				return true
			}
		}
		return false
	})
	if got := len(h.d.List()); got != 1 {
		t.Fatalf("List has %d instances after the loss, want 1 (the replacement is no instance yet)", got)
	}
	c := h.start(1)
	if got := h.replicas("web-r1"); got != 2 {
		t.Errorf("replicas %d after the replacement start, want 2 (the spare was claimed)", got)
	}
	if got := len(h.d.List()); got != 2 || c.Host == "" {
		t.Errorf("List has %d instances, want 2; the claimed one %+v", got, c)
	}
}

// A spare no Start claims is stopped after SpareTTL, and the ReplicaSet
// goes back to what the cell wants.
func TestAnUnclaimedSpareIsStopped(t *testing.T) {
	h := newHarness(t)
	a := h.start(1)
	if err := h.cs.CoreV1().Pods("paved-shop").Delete(context.Background(), a.ID, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("the unclaimed replacement is stopped and the release dropped", func() bool {
		return h.replicas("web-r1") == -1
	})
}
