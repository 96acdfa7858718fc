package kubenode

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// configError is an error of a container's configuration that may heal
// (a Secret created later): the container waits with
// CreateContainerConfigError and is retried.
type configError struct{ error }

// envList is an ordered environment in which a later value of a name
// replaces the earlier one in place.
type envList struct {
	names []string
	vals  map[string]string
}

func (e *envList) set(k, v string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[k]; !ok {
		e.names = append(e.names, k)
	}
	e.vals[k] = v
}

func (e *envList) environ() []string {
	out := make([]string, 0, len(e.names))
	for _, k := range e.names {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

// containerEnv resolves a container's environment as a kubelet does (see
// the package documentation for what is supported).
func (p *provider) containerEnv(ctx context.Context, pd *pod, c *corev1.Container) (*envList, error) {
	env := &envList{}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env.set("PATH", path)
	env.set("HOSTNAME", pd.spec.Name)
	ns := pd.spec.Namespace
	secrets := map[string]*corev1.Secret{}
	configMaps := map[string]*corev1.ConfigMap{}
	getSecret := func(name string) (*corev1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		s, err := p.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		secrets[name] = s
		return s, nil
	}
	getConfigMap := func(name string) (*corev1.ConfigMap, error) {
		if m, ok := configMaps[name]; ok {
			return m, nil
		}
		m, err := p.cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		configMaps[name] = m
		return m, nil
	}
	optional := func(b *bool) bool { return b != nil && *b }

	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			m, err := getConfigMap(from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, configError{fmt.Errorf("configmap %q: %w", from.ConfigMapRef.Name, err)}
			}
			for _, k := range sortedKeys(m.Data) {
				env.set(from.Prefix+k, m.Data[k])
			}
		case from.SecretRef != nil:
			s, err := getSecret(from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(from.SecretRef.Optional) {
					continue
				}
				return nil, configError{fmt.Errorf("secret %q: %w", from.SecretRef.Name, err)}
			}
			keys := make([]string, 0, len(s.Data))
			for k := range s.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				env.set(from.Prefix+k, string(s.Data[k]))
			}
		}
	}

	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env.set(e.Name, expand(e.Value, env.vals))
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.FieldRef != nil:
			v, err := p.fieldRef(pd, vf.FieldRef.FieldPath)
			if err != nil {
				return nil, configError{fmt.Errorf("env %s: %w", e.Name, err)}
			}
			env.set(e.Name, v)
		case vf.ResourceFieldRef != nil:
			v, err := p.resourceFieldRef(pd, c, vf.ResourceFieldRef)
			if err != nil {
				return nil, configError{fmt.Errorf("env %s: %w", e.Name, err)}
			}
			env.set(e.Name, v)
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			s, err := getSecret(ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(ref.Optional) {
					continue
				}
				return nil, configError{fmt.Errorf("env %s: secret %q: %w", e.Name, ref.Name, err)}
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if optional(ref.Optional) {
					continue
				}
				return nil, configError{fmt.Errorf("env %s: secret %q has no key %q", e.Name, ref.Name, ref.Key)}
			}
			env.set(e.Name, string(v))
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			m, err := getConfigMap(ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(ref.Optional) {
					continue
				}
				return nil, configError{fmt.Errorf("env %s: configmap %q: %w", e.Name, ref.Name, err)}
			}
			v, ok := m.Data[ref.Key]
			if !ok {
				if optional(ref.Optional) {
					continue
				}
				return nil, configError{fmt.Errorf("env %s: configmap %q has no key %q", e.Name, ref.Name, ref.Key)}
			}
			env.set(e.Name, v)
		default:
			return nil, configError{fmt.Errorf("env %s: unsupported valueFrom", e.Name)}
		}
	}
	// Volume mount paths become the volumes' host directories (see the
	// package documentation).
	for _, k := range env.names {
		env.vals[k] = pd.rewritePaths(c.Name, env.vals[k])
	}
	return env, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (p *provider) fieldRef(pd *pod, path string) (string, error) {
	meta := pd.spec.ObjectMeta
	if k, ok := subscript(path, "metadata.labels"); ok {
		return meta.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return meta.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return meta.Name, nil
	case "metadata.namespace":
		return meta.Namespace, nil
	case "metadata.uid":
		return string(meta.UID), nil
	case "metadata.labels":
		return formatMap(meta.Labels), nil
	case "metadata.annotations":
		return formatMap(meta.Annotations), nil
	case "spec.nodeName":
		return p.node, nil
	case "spec.serviceAccountName":
		return pd.spec.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return pd.ip, nil
	case "status.hostIP", "status.hostIPs":
		return p.nodeIP, nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

// subscript parses prefix['key'].
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

func formatMap(m map[string]string) string {
	var b strings.Builder
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

func (p *provider) resourceFieldRef(pd *pod, c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	target := c
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		target = nil
		for i := range pd.spec.Spec.Containers {
			if pd.spec.Spec.Containers[i].Name == ref.ContainerName {
				target = &pd.spec.Spec.Containers[i]
			}
		}
		for i := range pd.spec.Spec.InitContainers {
			if pd.spec.Spec.InitContainers[i].Name == ref.ContainerName {
				target = &pd.spec.Spec.InitContainers[i]
			}
		}
		if target == nil {
			return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported resourceFieldRef %q", ref.Resource)
	}
	rn := corev1.ResourceName(name)
	var q resource.Quantity
	var have bool
	if kind == "limits" {
		q, have = target.Resources.Limits[rn]
		if !have {
			q, have = p.allocatable[rn]
		}
	} else {
		q, have = target.Resources.Requests[rn]
	}
	if !have {
		return "0", nil
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	if rn == corev1.ResourceCPU {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(div.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(div.Value())))), nil
}

// expand replaces $(NAME) by NAME's value in vals and $$ by $, leaving
// references to undefined names as they are, as Kubernetes does for env
// values, command and args.
func expand(s string, vals map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vals[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// resolveCommand makes a container's argv: command then args, expanded,
// with volume mount paths rewritten; it returns the executable's path.
func (pd *pod) resolveCommand(c *corev1.Container, env *envList, dir string) (string, []string, error) {
	var argv []string
	for _, a := range append(append([]string{}, c.Command...), c.Args...) {
		argv = append(argv, pd.rewritePaths(c.Name, expand(a, env.vals)))
	}
	if len(argv) == 0 {
		return "", nil, fmt.Errorf("container %q has neither command nor args: this agent ignores images, so there is no entrypoint", c.Name)
	}
	name := argv[0]
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return name, argv, nil
	}
	for _, d := range filepath.SplitList(env.vals["PATH"]) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		cand := filepath.Join(d, name)
		if fi, err := os.Stat(cand); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return cand, argv, nil
		}
	}
	return "", nil, fmt.Errorf("executable %q not found in PATH", name)
}
