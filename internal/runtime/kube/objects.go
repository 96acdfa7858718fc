package kube

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Labels on everything the driver makes. The selector of a release's
// ReplicaSet includes LabelPool=serving: Stop relabels a pod "stopping",
// which takes it out of its ReplicaSet before the ReplicaSet is scaled
// down, so that the pod the cell chose is the one that goes.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "paved"
	LabelCell      = "paved.dev/cell"
	LabelSpace     = "paved.dev/space"
	LabelApp       = "paved.dev/app"
	LabelRelease   = "paved.dev/release"
	LabelPool      = "paved.dev/pool"
	PoolServing    = "serving"
	PoolStopping   = "stopping"

	// AnnotationDropletSHA256 records the droplet archive's digest on the
	// ReplicaSet (the init container checks it; this is for people).
	AnnotationDropletSHA256 = "paved.dev/droplet-sha256"
	// AnnotationDroplet is the droplet's key, for renewing its token.
	AnnotationDroplet = "paved.dev/droplet"
	// AnnotationDeletionCost is Kubernetes' pod-deletion-cost: a
	// ReplicaSet scaling down removes its cheapest ready pods first.
	AnnotationDeletionCost = "controller.kubernetes.io/pod-deletion-cost"

	// ContainerApp and ContainerDroplet name the pod's two containers.
	ContainerApp     = "app"
	ContainerDroplet = "droplet"

	// TokenKey is the key of the droplet token in a release's Secret.
	TokenKey = "PAVED_DROPLET_TOKEN"

	// Port is where every instance listens: each pod has an address of
	// its own, so they can all use the same port.
	Port = 8080

	workspace = "/workspace"
	appDir    = workspace + "/app"
)

// releaseObjects is what one release of an app needs in its namespace.
type releaseObjects struct {
	Namespace string
	Name      string // of the ReplicaSet; the Secret is Name-env
	Labels    map[string]string
}

func (r releaseObjects) secretName() string { return r.Name + "-env" }

func (r releaseObjects) key() string { return r.Namespace + "/" + r.Name }

// objectsFor names a release's objects.
func (d *Driver) objectsFor(app string, release int) (releaseObjects, error) {
	space, name, ok := strings.Cut(app, "/")
	if !ok || space == "" || name == "" {
		return releaseObjects{}, fmt.Errorf("%w: app %q is not space/name", runtime.ErrInvalidSpec, app)
	}
	ns := d.opts.NamespacePrefix + space
	if len(ns) > 63 {
		return releaseObjects{}, fmt.Errorf("%w: namespace %q is longer than 63 characters (shorten the space name or --kube-namespace-prefix)", runtime.ErrInvalidSpec, ns)
	}
	return releaseObjects{
		Namespace: ns,
		Name:      fmt.Sprintf("%s-r%d", name, release),
		Labels: map[string]string{
			LabelManagedBy: ManagedBy, LabelCell: d.opts.CellID,
			LabelSpace: space, LabelApp: name, LabelRelease: strconv.Itoa(release),
		},
	}, nil
}

func withPool(l map[string]string, pool string) map[string]string {
	out := maps.Clone(l)
	out[LabelPool] = pool
	return out
}

// namespace is a space's namespace.
func namespace(name, space, cell string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{LabelManagedBy: ManagedBy, LabelSpace: space, LabelCell: cell}}}
}

// replicaSet is a release's ReplicaSet: its pod template never changes
// once made (a new release is a new ReplicaSet), and it starts at zero
// replicas so that its Secret exists before its first pod.
func (d *Driver) replicaSet(o releaseObjects, spec runtime.InstanceSpec, archiveSHA string) *appsv1.ReplicaSet {
	zero := int32(0)
	serving := withPool(o.Labels, PoolServing)
	selector := map[string]string{LabelCell: d.opts.CellID, LabelSpace: o.Labels[LabelSpace],
		LabelApp: o.Labels[LabelApp], LabelRelease: o.Labels[LabelRelease], LabelPool: PoolServing}
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, Labels: o.Labels,
			Annotations: map[string]string{AnnotationDroplet: spec.Droplet, AnnotationDropletSHA256: archiveSHA}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: serving},
				Spec:       d.podSpec(o, spec, archiveSHA),
			},
		},
	}
}

func (d *Driver) podSpec(o releaseObjects, spec runtime.InstanceSpec, archiveSHA string) corev1.PodSpec {
	no := false
	grace := int64(d.opts.StopGrace.Seconds())
	evict := int64(d.opts.EvictionAfter.Seconds())
	mount := []corev1.VolumeMount{{Name: "workspace", MountPath: workspace}}
	fetch := append(slices.Clone(d.opts.FetchCommand),
		"--url", d.opts.CellURL+"/v1/droplets/"+spec.Droplet+"/archive", "--sha256", archiveSHA, "--dest", appDir)
	app := corev1.Container{
		Name: ContainerApp, Image: d.opts.StackImage,
		Command:        []string{"/bin/sh", "-c", spec.Command},
		WorkingDir:     appDir,
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: Port, Protocol: corev1.ProtocolTCP}},
		Env:            d.env(o, spec),
		ReadinessProbe: readinessProbe(spec.Health),
		VolumeMounts:   mount,
	}
	if spec.MemoryMB > 0 {
		q := resource.MustParse(strconv.Itoa(spec.MemoryMB) + "Mi")
		app.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: q},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: q},
		}
	}
	return corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: &grace,
		EnableServiceLinks:            &no,
		AutomountServiceAccountToken:  &no,
		InitContainers: []corev1.Container{{
			Name: ContainerDroplet, Image: d.opts.StackImage, Command: fetch,
			Env: []corev1.EnvVar{{Name: TokenKey, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: o.secretName()}, Key: TokenKey}}}},
			VolumeMounts: mount,
		}},
		Containers: []corev1.Container{app},
		Volumes:    []corev1.Volume{{Name: "workspace", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		// A lost node's pods come back elsewhere after EvictionAfter instead
		// of Kubernetes' default five minutes; the router has stopped
		// sending them traffic long before, when their checks failed.
		Tolerations: []corev1.Toleration{
			{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &evict},
			{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &evict},
		},
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
				LabelCell: d.opts.CellID, LabelSpace: o.Labels[LabelSpace], LabelApp: o.Labels[LabelApp]}},
		}},
	}
}

// env is the app container's environment: the app's plain env by value,
// its secret_env by reference to the release's Secret (so no secret value
// is in the ReplicaSet), and the variables every instance gets.
func (d *Driver) env(o releaseObjects, spec runtime.InstanceSpec) []corev1.EnvVar {
	secret := map[string]bool{}
	for _, k := range spec.SecretKeys {
		secret[k] = true
	}
	var out []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		switch {
		case cellOwned[k]:
		case secret[k]:
			out = append(out, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: o.secretName()}, Key: k}}})
		default:
			out = append(out, corev1.EnvVar{Name: k, Value: spec.Env[k]})
		}
	}
	return append(out,
		corev1.EnvVar{Name: "PORT", Value: strconv.Itoa(Port)},
		corev1.EnvVar{Name: runtime.EnvHost, Value: "0.0.0.0"},
		corev1.EnvVar{Name: "PAVED_INSTANCE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		corev1.EnvVar{Name: "PAVED_APP", Value: spec.App},
		corev1.EnvVar{Name: "PAVED_RELEASE", Value: strconv.Itoa(spec.Release)},
		corev1.EnvVar{Name: "PAVED_CELL", Value: d.opts.CellID},
		corev1.EnvVar{Name: "HOME", Value: workspace},
	)
}

// cellOwned are variables the driver sets itself; PAVED_DATA_DIR names a
// directory on the cell's machine, which a pod does not have.
var cellOwned = map[string]bool{"PORT": true, runtime.EnvHost: true, "PAVED_INSTANCE": true, "PAVED_APP": true, "PAVED_RELEASE": true,
	"PAVED_CELL": true, "HOME": true, "PAVED_DATA_DIR": true}

// secret is a release's Secret: its secret_env values and the droplet
// token. It belongs to the ReplicaSet, so it goes when the ReplicaSet goes.
func secret(o releaseObjects, rs *appsv1.ReplicaSet, spec runtime.InstanceSpec, token string) *corev1.Secret {
	data := map[string][]byte{TokenKey: []byte(token)}
	for _, k := range spec.SecretKeys {
		data[k] = []byte(spec.Env[k])
	}
	yes := true
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: o.secretName(), Namespace: o.Namespace, Labels: o.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID,
				BlockOwnerDeletion: &yes}}},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
}

// readinessProbe turns the app's health check into the pod's readiness
// probe; a "process" check has none (a running container is ready).
func readinessProbe(h paved.HealthCheck) *corev1.Probe {
	period := max(int32(h.Interval.D().Seconds()), 1)
	timeout := max(int32(h.Timeout.D().Seconds()), 1)
	p := &corev1.Probe{PeriodSeconds: period, TimeoutSeconds: timeout, SuccessThreshold: 1, FailureThreshold: 1}
	switch h.Type {
	case paved.HealthHTTP:
		p.HTTPGet = &corev1.HTTPGetAction{Path: h.Path, Port: intstr.FromString("http")}
	case paved.HealthTCP:
		p.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromString("http")}
	default:
		return nil
	}
	return p
}
