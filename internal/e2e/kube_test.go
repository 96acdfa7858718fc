package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/kubenode"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// kubeNamespace is the namespace of a space of this cell (see kubeArgs).
func (c *cell) kubeNamespace(space string) string {
	return "t" + strings.ToLower(shortHash(c.token)) + "-" + space
}

// kubePods lists the pods of a space of this cell, without those being
// deleted.
func (c *cell) kubePods(space string) []corev1.Pod {
	c.t.Helper()
	list, err := kube.Clientset.CoreV1().Pods(c.kubeNamespace(space)).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// answeringInstances sends n requests through the router and counts who answered.
func answeringInstances(t *testing.T, c *cell, host string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	client := &http.Client{Timeout: 5 * time.Second}
	for range n {
		resp, body, err := c.get(client, host, "/")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET via the router: %v %v %q", resp, err, body)
		}
		_, inst, _ := strings.Cut(strings.TrimSpace(body), "(instance ")
		seen[strings.TrimSuffix(inst, ")")]++
	}
	return seen
}

func TestKubeInstancesArePodsSpreadOverNodes(t *testing.T) {
	k := requireKube(t)
	c := startCell(t)
	h, err := c.client.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.Runtime.Driver != "kubernetes" || h.Runtime.ClusterVersion == "" || h.Runtime.ReadyNodes < kubeNodes {
		t.Fatalf("health runtime %+v: want kubernetes with its version and %d ready nodes", h.Runtime, kubeNodes)
	}
	if out := c.mustPaved("status"); !strings.Contains(out, "runtime:   kubernetes") {
		t.Fatalf("paved status does not show the runtime:\n%s", out)
	}

	c.pushHello("demo", "web", "web.example.test", 6)
	pods := c.kubePods("demo")
	nodes := map[string]int{}
	for _, p := range pods {
		nodes[p.Spec.NodeName]++
		if p.Status.PodIP == "" || strings.HasPrefix(p.Status.PodIP, "127.") {
			t.Fatalf("pod %s has address %q, want one of the cluster network", p.Name, p.Status.PodIP)
		}
	}
	if len(pods) != 6 || len(nodes) < 2 {
		t.Fatalf("%d pods on nodes %v: want 6 pods over at least 2 nodes", len(pods), nodes)
	}
	seen := answeringInstances(t, c, "web.example.test", 120)
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	for inst := range seen {
		if !slices.Contains(names, inst) {
			t.Fatalf("instance %q answered, which is not one of the pods %v", inst, names)
		}
	}
	if len(seen) != 6 {
		t.Fatalf("the router served from %d distinct instances %v, want 6", len(seen), seen)
	}
	// No secret value in the ReplicaSet; the Secret holds it.
	updateApp(t, c, "demo", "web", func(s *paved.AppSpec) { s.SecretEnv = map[string]string{"API_KEY": "s3cret-value"} })
	rsList, err := k.Clientset.AppsV1().ReplicaSets(c.kubeNamespace("demo")).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range rsList.Items {
		if b := fmt.Sprint(rs.Spec.Template.Spec); strings.Contains(b, "s3cret-value") {
			t.Fatalf("ReplicaSet %s holds a secret value in its pod template", rs.Name)
		}
	}
	t.Logf("6 pods over nodes %v, answers %v", nodes, seen)

	// Deleting the app leaves no pod, ReplicaSet or Secret.
	c.mustPaved("delete", "web", "--space", "demo")
	eventually(t, time.Minute, "the app's pods, ReplicaSets and Secrets are gone", func() error {
		ns := c.kubeNamespace("demo")
		pods, err := k.Clientset.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		rs, err := k.Clientset.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		secs, err := k.Clientset.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		if n := len(pods.Items) + len(rs.Items) + len(secs.Items); n != 0 {
			return fmt.Errorf("%d pods, %d ReplicaSets, %d Secrets left", len(pods.Items), len(rs.Items), len(secs.Items))
		}
		return nil
	})
}

func TestKubeAutoRollbackOffStopsWhereItIs(t *testing.T) {
	requireKube(t)
	c := startCell(t)
	off := false
	setupApp(t, c, "web", "web.example.test", 3, paved.DeploymentSpec{Strategy: paved.StrategyCanary,
		Steps: []paved.CanaryStep{{Instances: 1, Watch: paved.Duration(time.Second)}}, ProgressDeadline: dur(3 * time.Second),
		AutoRollback: &off})
	before := c.appShow("demo", "web").Release
	updateApp(t, c, "demo", "web", withEnv("UNHEALTHY", "1"))
	deps, err := c.client.Deployments.List(context.Background(), "demo", "web")
	if err != nil {
		t.Fatal(err)
	}
	if deps[0].Status != paved.DeploymentFailed {
		t.Fatalf("deployment status %s, want failed (auto_rollback = false)", deps[0].Status)
	}
	// It stays where it is: the old release serves, the canary pod is left
	// for people to look at, nothing rolls back.
	byRelease := map[string]int{}
	for _, p := range c.kubePods("demo") {
		byRelease[p.Labels["paved.dev/release"]]++
	}
	if byRelease[fmt.Sprint(before)] != 3 || byRelease[fmt.Sprint(before+1)] != 1 {
		t.Fatalf("pods by release %v: want 3 of release %d and the 1 canary of %d", byRelease, before, before+1)
	}
}

func TestKubeNodeLostInstancesMoveAndServiceContinues(t *testing.T) {
	k := requireKube(t)
	c := startCell(t)
	c.pushHello("demo", "web", "web.example.test", 4)
	updateApp(t, c, "demo", "web", fastHealth)
	var victim *kubenode.Node
	for _, p := range c.kubePods("demo") {
		for _, n := range k.Nodes {
			if n.Name == p.Spec.NodeName && victim == nil {
				victim = n
			}
		}
	}
	if victim == nil {
		t.Fatal("no node runs the app")
	}
	lost := 0
	for _, p := range c.kubePods("demo") {
		if p.Spec.NodeName == victim.Name {
			lost++
		}
	}
	load := startRateLoad(c, "web.example.test", 4, 20*time.Millisecond)
	start := time.Now()
	victim.Kill()
	// A replacement node keeps the suite's cluster at full size.
	k.Nodes = slices.DeleteFunc(k.Nodes, func(n *kubenode.Node) bool { return n == victim })
	if _, err := k.AddNode(context.Background(), victim.Name+"-b"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "4 healthy instances, none on the lost node", func() error {
		healthy := 0
		for _, in := range c.appShow("demo", "web").Instances {
			if in.Healthy {
				healthy++
			}
		}
		onVictim := 0
		for _, p := range c.kubePods("demo") {
			if p.Spec.NodeName == victim.Name {
				onVictim++
			}
		}
		if healthy != 4 || onVictim != 0 {
			return fmt.Errorf("%d healthy instances, %d pods still on %s", healthy, onVictim, victim.Name)
		}
		return nil
	})
	moved := time.Since(start)
	load.finish()
	total := load.ok.Load() + load.failed.Load()
	t.Logf("node %s lost with %d of 4 instances: replaced elsewhere in %s; %d of %d requests failed meanwhile (first: %v)",
		victim.Name, lost, moved.Round(100*time.Millisecond), load.failed.Load(), total, load.firstErr.Load())
	if float64(load.failed.Load()) > 0.05*float64(total) {
		t.Fatalf("%d of %d requests failed while a node was lost: the router must stop sending to its pods at once", load.failed.Load(), total)
	}
}

func TestKubeCellKilledPodsKeepServingAndAreAdopted(t *testing.T) {
	k := requireKube(t)
	c := startCell(t)
	c.pushHello("demo", "web", "web.example.test", 3)
	before := podNames(c.kubePods("demo"))
	ips := map[string]string{}
	for _, p := range c.kubePods("demo") {
		ips[p.Name] = p.Status.PodIP
	}
	c.kill9()
	// The pods keep serving while the cell is down.
	client := &http.Client{Timeout: 2 * time.Second}
	for name, ip := range ips {
		resp, err := client.Get("http://" + ip + ":8080/")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("pod %s at %s while the cell is down: %v %v", name, ip, resp, err)
		}
		resp.Body.Close()
	}
	c.start()
	eventually(t, time.Minute, "the restarted cell serves from the same 3 pods", func() error {
		a := c.appShow("demo", "web")
		var ids []string
		for _, in := range a.Instances {
			if in.Healthy {
				ids = append(ids, in.ID)
			}
		}
		slices.Sort(ids)
		if !slices.Equal(ids, before) {
			return fmt.Errorf("healthy instances %v, want the pods %v", ids, before)
		}
		return nil
	})
	if after := podNames(c.kubePods("demo")); !slices.Equal(after, before) {
		t.Fatalf("pods after the restart %v, want the same %v (no duplicate, none replaced)", after, before)
	}
	rs, err := k.Clientset.AppsV1().ReplicaSets(c.kubeNamespace("demo")).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Items) != 1 {
		t.Fatalf("%d ReplicaSets, want 1", len(rs.Items))
	}
	if seen := answeringInstances(t, c, "web.example.test", 60); len(seen) != 3 {
		t.Fatalf("answers from %v, want the 3 adopted pods", seen)
	}
}

func podNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}
