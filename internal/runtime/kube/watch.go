package kube

import (
	"bufio"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
)

// onPod follows a pod of this cell: a new pod of a release goes to a
// Start waiting for one, or else is adopted (one the cell had before it
// restarted, or a replacement the ReplicaSet made for a lost pod); every
// change of what the cell sees of it is reported.
func (d *Driver) onPod(obj any, added bool) {
	po, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	// Named from the labels, not the owner: a pod that Stop took out of
	// its ReplicaSet has no owner any more.
	key := po.Namespace + "/" + po.Labels[LabelApp] + "-r" + po.Labels[LabelRelease]
	adopt := false
	d.mu.Lock()
	p := d.pods[po.Name]
	if p == nil {
		if po.DeletionTimestamp != nil || po.Labels[LabelPool] == PoolStopping {
			d.mu.Unlock()
			// A stopping pod that no one knows: a cell killed in the middle
			// of Stop left it. Finish the job.
			if added && po.DeletionTimestamp == nil {
				d.deleteOrphan(po)
			}
			return
		}
		p = &pod{obj: po, key: key, gone: make(chan struct{})}
		d.pods[po.Name] = p
		g := d.groups[key]
		switch {
		case g != nil && len(g.waiters) > 0:
			w := g.waiters[0]
			g.waiters = g.waiters[1:]
			w <- po.Name
		case g != nil && d.synced:
			// The ReplicaSet made it by itself: a replacement for a pod the
			// cluster deleted, or the one a Stop's relabel makes it add
			// before the scale-down. It waits for a Start to claim it.
			p.spare, p.spareSince = true, time.Now()
			p.logsSince = time.Now()
		default:
			// There before this cell started (or of a release it does not
			// know yet): adopted.
			adopt = true
			p.logsSince = time.Now()
		}
	}
	p.obj = po
	if p.spare {
		d.mu.Unlock()
		return // not an instance (yet): nothing to report
	}
	s := podStatus(po)
	changed := adopt || s.State != p.last.State || s.Crashes != p.last.Crashes || s.Host != p.last.Host
	p.last = s
	follow := !p.following && s.State == runtime.StateRunning
	if follow {
		p.following = true
	}
	// A pod someone else deletes (an eviction, kubectl) is gone for the
	// cell at once: the ReplicaSet makes its replacement, which is adopted.
	external := po.DeletionTimestamp != nil && !p.stopping
	d.mu.Unlock()
	if external {
		s.State, s.LastExit = runtime.StateStopped, "pod deleted by the cluster ("+deletionReason(po)+")"
	}
	if changed || external {
		s.Adopt = adopt && !external
		d.emit(s)
	}
	if adopt && !external && po.Annotations[AnnotationDeletionCost] != servingCost {
		go d.markServing(d.ctx, po.Namespace, po.Name)
	}
	if follow {
		go d.followLogs(po.Namespace, po.Name)
	}
}

func (d *Driver) onPodDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	po, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	d.mu.Lock()
	p := d.pods[po.Name]
	var g *group
	if p != nil {
		delete(d.pods, po.Name)
		close(p.gone)
		g = d.groups[p.key]
	}
	d.mu.Unlock()
	if p == nil {
		return
	}
	if !p.spare { // a spare is no instance: nothing to report
		s := podStatus(po)
		s.State = runtime.StateStopped
		if !p.stopping && s.LastExit == "" {
			s.LastExit = "pod deleted"
		}
		d.emit(s)
	}
	// A pod the cell did not stop (lost, or a spare) may have been the last
	// of a release it is scaling to zero (a Stop drops it itself).
	if g != nil && (p.spare || !p.stopping) {
		go d.dropIfUnused(d.ctx, g)
	}
}

func deletionReason(po *corev1.Pod) string {
	for _, c := range po.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return c.Reason
		}
	}
	return "deleted"
}

func (d *Driver) deleteOrphan(po *corev1.Pod) {
	zero := int64(0)
	if err := d.cs.CoreV1().Pods(po.Namespace).Delete(d.ctx, po.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		d.log.Warn("delete a pod a stopped cell left stopping", "pod", po.Namespace+"/"+po.Name, "err", err)
	}
}

func dropletOf(rs *appsv1.ReplicaSet) string { return rs.Annotations[AnnotationDroplet] }

// emit queues a state report; deliver hands them to OnState in order, on
// a goroutine that holds no lock of the driver.
func (d *Driver) emit(s runtime.InstanceStatus) {
	if d.opts.OnState == nil || d.ctx.Err() != nil {
		return
	}
	select {
	case d.events <- s:
	case <-d.ctx.Done():
	}
}

func (d *Driver) deliver() {
	for s := range d.events {
		if d.opts.OnState != nil {
			d.opts.OnState(s)
		}
	}
}

// followLogs streams the app container's log to OnLog for as long as the
// pod exists, again after each restart of the container. Lines carry the
// API server's timestamps, which also skip lines already seen when the
// stream is opened again.
func (d *Driver) followLogs(ns, name string) {
	if d.opts.OnLog == nil {
		return
	}
	var last time.Time
	d.mu.Lock()
	if p := d.pods[name]; p != nil {
		last = p.logsSince
	}
	d.mu.Unlock()
	for d.ctx.Err() == nil {
		d.mu.Lock()
		p := d.pods[name]
		var app, redactKey string
		if p != nil {
			app, redactKey = p.last.App, p.key
		}
		g := d.groups[redactKey]
		d.mu.Unlock()
		if p == nil {
			return
		}
		opts := &corev1.PodLogOptions{Container: ContainerApp, Follow: true, Timestamps: true}
		if !last.IsZero() {
			t := metav1.NewTime(last.Truncate(time.Second))
			opts.SinceTime = &t
		}
		rc, err := d.cs.CoreV1().Pods(ns).GetLogs(name, opts).Stream(d.ctx)
		if err == nil {
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				ts, text, _ := strings.Cut(sc.Text(), " ")
				t, perr := time.Parse(time.RFC3339Nano, ts)
				if perr != nil {
					t, text = time.Now(), sc.Text()
				} else if !t.After(last) {
					continue
				}
				last = t
				if g != nil && g.redact != nil {
					text = g.redact.String(text)
				}
				d.opts.OnLog(runtime.LogLine{Time: t.UTC(), Instance: name, App: app, Stream: "stdout", Text: text})
			}
			rc.Close()
		}
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// renewTokens rewrites the droplet token of every release's Secret at a
// third of the token's lifetime, so that a pod created later (a
// replacement) can still fetch its droplet.
func (d *Driver) renewTokens() {
	t := time.NewTicker(d.opts.TokenTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		groups := make([]*group, 0, len(d.groups))
		for _, g := range d.groups {
			groups = append(groups, g)
		}
		d.mu.Unlock()
		for _, g := range groups {
			d.renewToken(g)
		}
	}
}

func (d *Driver) renewToken(g *group) {
	o := g.objs
	rs, err := d.cs.AppsV1().ReplicaSets(o.Namespace).Get(d.ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		return
	}
	digest := dropletOf(rs)
	if digest == "" {
		return
	}
	sec, err := d.cs.CoreV1().Secrets(o.Namespace).Get(d.ctx, o.secretName(), metav1.GetOptions{})
	if err != nil {
		return
	}
	sec.Data[TokenKey] = []byte(d.opts.Droplets.Token(digest, d.opts.TokenTTL))
	if _, err := d.cs.CoreV1().Secrets(o.Namespace).Update(d.ctx, sec, metav1.UpdateOptions{}); err != nil {
		d.log.Warn("renew a droplet token", "secret", o.Namespace+"/"+o.secretName(), "err", err)
	}
}
