package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// make kube-up, as the README tells a user to run it, brings up a cluster
// with three ready nodes and prints how to reach it; make kube-down stops
// it and leaves no process, network namespace, link or file behind.
func TestMakeKubeUpAndDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane: not a unit test")
	}
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "kube-up")
	mk := func(target string) string {
		cmd := exec.Command("make", "-s", "-C", root, target, "KUBE_UP_STATE="+state)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(state, "pid")); err == nil {
			mk("kube-down")
		}
	})
	out := mk("kube-up")
	for _, want := range []string{filepath.Join(state, "kubeconfig"), "bin/paved server --data", "--runtime kubernetes", "make kube-down"} {
		if !strings.Contains(out, want) {
			t.Errorf("make kube-up printed no %q:\n%s", want, out)
		}
	}
	pidb, err := os.ReadFile(filepath.Join(state, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(pidb))
	// What the node agents make is named pvd<pid of kubeup>…; other
	// tests may make (and remove) their own meanwhile.
	mine := func(names []string) []string {
		re := regexp.MustCompile(`^pvd` + pid + `[bh-]`)
		return slices.DeleteFunc(names, func(n string) bool { return !re.MatchString(n) })
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(state, "cell.kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes as the paved-cell service account: %v", err)
	}
	ready := 0
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	if ready != 3 {
		t.Errorf("%d of %d nodes ready, want 3", ready, len(nodes.Items))
	}
	if len(mine(linkNames(t))) == 0 {
		t.Errorf("kube-up made no bridge for the pods")
	}

	mk("kube-down")
	if err := exec.Command("kill", "-0", pid).Run(); err == nil {
		t.Errorf("kubeup (pid %s) still runs after make kube-down", pid)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("make kube-down left %s", state)
	}
	if got := mine(netnsNames(t)); len(got) > 0 {
		t.Errorf("network namespaces of kube-up left after kube-down: %q", got)
	}
	if got := mine(linkNames(t)); len(got) > 0 {
		t.Errorf("links of kube-up left after kube-down: %q", got)
	}
}

func netnsNames(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var names []string
	for l := range strings.Lines(string(out)) {
		if f := strings.Fields(l); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	slices.Sort(names)
	return names
}

func linkNames(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip link show: %v", err)
	}
	var names []string
	for l := range strings.Lines(string(out)) {
		if f := strings.Fields(l); len(f) > 1 {
			names = append(names, strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"))
		}
	}
	slices.Sort(names)
	return names
}
