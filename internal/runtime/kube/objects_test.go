package kube

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

func testDriver() *Driver {
	return &Driver{opts: Options{CellID: "c0ffee", NamespacePrefix: "paved-", StackImage: "stack:1",
		CellURL: "http://cell:7400", FetchCommand: []string{"paved", "droplet", "fetch"},
		EvictionAfter: 7 * time.Second, StopGrace: 3 * time.Second}}
}

func TestReplicaSetKeepsSecretsOutAndMapsTheSpec(t *testing.T) {
	d := testDriver()
	o, err := d.objectsFor("shop/web", 4)
	if err != nil {
		t.Fatal(err)
	}
	if o.Namespace != "paved-shop" || o.Name != "web-r4" || o.secretName() != "web-r4-env" {
		t.Fatalf("names %+v", o)
	}
	spec := runtime.InstanceSpec{App: "shop/web", Release: 4, Droplet: strings.Repeat("a", 64), Command: "./web --serve",
		Env:        map[string]string{"GREETING": "hi", "API_KEY": "s3cret", "PAVED_DATA_DIR": "/var/lib/paved/volumes/x", "PORT": "1"},
		SecretKeys: []string{"API_KEY"}, MemoryMB: 256,
		Health: paved.HealthCheck{Type: paved.HealthHTTP, Path: "/healthz", Interval: paved.Duration(2 * time.Second), Timeout: paved.Duration(time.Second)}}
	rs := d.replicaSet(o, spec, "sum")
	if *rs.Spec.Replicas != 0 {
		t.Fatalf("a new ReplicaSet starts at %d replicas, want 0 (its Secret comes first)", *rs.Spec.Replicas)
	}
	pod := rs.Spec.Template.Spec
	app := pod.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range app.Env {
		env[e.Name] = e
		if strings.Contains(e.Value, "s3cret") {
			t.Fatalf("secret value in the pod template: %+v", e)
		}
	}
	if ref := env["API_KEY"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "web-r4-env" || ref.SecretKeyRef.Key != "API_KEY" {
		t.Fatalf("API_KEY %+v, want a reference to the release's Secret", env["API_KEY"])
	}
	if env["PORT"].Value != "8080" || env["PAVED_HOST"].Value != "0.0.0.0" || env["GREETING"].Value != "hi" {
		t.Fatalf("env %+v", env)
	}
	if _, ok := env["PAVED_DATA_DIR"]; ok {
		t.Fatal("PAVED_DATA_DIR names a directory of the cell's machine; pods must not get it")
	}
	if f := env["PAVED_INSTANCE"].ValueFrom; f == nil || f.FieldRef.FieldPath != "metadata.name" {
		t.Fatalf("PAVED_INSTANCE %+v, want the pod's name", env["PAVED_INSTANCE"])
	}
	if p := app.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.PeriodSeconds != 2 {
		t.Fatalf("readiness probe %+v", app.ReadinessProbe)
	}
	if q := app.Resources.Limits.Memory().String(); q != "256Mi" || app.Resources.Requests.Memory().String() != "256Mi" {
		t.Fatalf("memory limit %s request %s, want 256Mi both", q, app.Resources.Requests.Memory())
	}
	fetch := strings.Join(pod.InitContainers[0].Command, " ")
	if !strings.Contains(fetch, "--sha256 sum") || !strings.Contains(fetch, "http://cell:7400/v1/droplets/"+spec.Droplet+"/archive") {
		t.Fatalf("fetch command %q", fetch)
	}
	if len(pod.Tolerations) != 2 || *pod.Tolerations[0].TolerationSeconds != 7 {
		t.Fatalf("tolerations %+v, want not-ready and unreachable for 7s", pod.Tolerations)
	}
	if rs.Spec.Selector.MatchLabels[LabelPool] != PoolServing || rs.Spec.Template.Labels[LabelPool] != PoolServing {
		t.Fatal("the selector must include the serving pool, or Stop cannot take a pod out")
	}
	sec := secret(o, rs, spec, "tok")
	if string(sec.Data["API_KEY"]) != "s3cret" || string(sec.Data[TokenKey]) != "tok" || len(sec.OwnerReferences) != 1 {
		t.Fatalf("secret %+v", sec)
	}
	if readinessProbe(paved.HealthCheck{Type: paved.HealthProcess}) != nil {
		t.Fatal("a process check has no readiness probe")
	}
	if _, err := d.objectsFor("noslash", 1); err == nil {
		t.Fatal("an app key without a space must be refused")
	}
}

func TestPodStatusMapsPhaseReadinessAndRestarts(t *testing.T) {
	base := func() *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-r4-abcde",
			Labels: map[string]string{LabelSpace: "shop", LabelApp: "web", LabelRelease: "4", LabelPool: PoolServing}},
			Status: corev1.PodStatus{PodIP: "198.18.0.5", Phase: corev1.PodRunning}}
	}
	p := base()
	s := podStatus(p)
	if s.ID != "web-r4-abcde" || s.App != "shop/web" || s.Release != 4 || s.Addr() != "198.18.0.5:8080" || s.State != runtime.StateStarting {
		t.Fatalf("running, not ready: %+v", s)
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if s := podStatus(p); s.State != runtime.StateRunning {
		t.Fatalf("ready: %s", s.State)
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerApp, RestartCount: 2,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}
	if s := podStatus(p); s.State != runtime.StateCrashed || s.Crashes != 2 || !strings.Contains(s.LastExit, "OOM") {
		t.Fatalf("crash loop: %+v", s)
	}
	p = base()
	p.Labels[LabelPool] = PoolStopping
	if s := podStatus(p); s.State != runtime.StateStopping {
		t.Fatalf("taken out by Stop: %s", s.State)
	}
	p = base()
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: ContainerDroplet, RestartCount: 1,
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}}}
	if s := podStatus(p); s.State != runtime.StateCrashed || !strings.Contains(s.LastExit, "fetching the droplet") {
		t.Fatalf("droplet fetch failing: %+v", s)
	}
}
