package kubecluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestControlPlane starts the control plane and checks each component at
// its job: the API server stores a Deployment, the controller manager makes
// its ReplicaSet and Pods, the scheduler binds them to a ready node.
func TestControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kubernetes control plane (make kube-test runs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	defer func() {
		if t.Failed() {
			t.Log(c.Logs())
		}
	}()
	t.Logf("Kubernetes %s at %s", c.Version, c.Server)
	if c.Version == "" || c.Version == "v0.0.0-master" {
		t.Errorf("server version %q: the build lacks its version", c.Version)
	}
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}

	// A node that says it is ready (no agent behind it: nothing runs).
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}
	if node, err = cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node.Status = corev1.NodeStatus{
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
		Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "paved-test"}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	two := int32(2)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "paved/stack", Command: []string{"./web"}}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("paved-test").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "the controller manager makes a ReplicaSet and two Pods, the scheduler binds them to node-1", func() error {
		return boundPods(ctx, cs, "paved-test", 2, "node-1")
	})
}

func boundPods(ctx context.Context, cs kubernetes.Interface, ns string, want int, node string) error {
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(rss.Items) != 1 {
		return fmt.Errorf("%d ReplicaSets", len(rss.Items))
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(pods.Items) != want {
		return fmt.Errorf("%d pods, want %d", len(pods.Items), want)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != node {
			return fmt.Errorf("pod %s is on node %q (phase %s), want %s", p.Name, p.Spec.NodeName, p.Status.Phase, node)
		}
	}
	return nil
}

func eventually(t *testing.T, ctx context.Context, what string, f func() error) {
	t.Helper()
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
