// Package kubernetes holds the manifests that run a paved cell in a
// Kubernetes cluster (rbac.yaml, cell.yaml) and decodes them, so that the
// tests apply exactly what is shipped: the Kubernetes runtime's tests run
// the cell as the paved-cell service account of rbac.yaml, which proves
// the ClusterRole grants everything the cell does.
package kubernetes

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

//go:embed rbac.yaml cell.yaml
var files embed.FS

// Namespace and ServiceAccount are where rbac.yaml puts the cell.
const (
	Namespace      = "paved-system"
	ServiceAccount = "paved-cell"
)

// ServiceAccountUser is the user name the API server gives the cell's
// service account (what RBAC matches, and what a test impersonates).
const ServiceAccountUser = "system:serviceaccount:" + Namespace + ":" + ServiceAccount

// Objects decodes one of the shipped manifests ("rbac.yaml", "cell.yaml")
// into typed objects, in file order.
func Objects(name string) ([]runtime.Object, error) {
	raw, err := files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, obj)
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(doc) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			b.Write(line)
		}
	}
	return b.Bytes()
}

// ApplyRBAC creates what rbac.yaml holds (objects that exist already are
// left as they are). It is what `kubectl apply -f rbac.yaml` does on a new
// cluster, for the tests.
func ApplyRBAC(ctx context.Context, cs kubernetes.Interface) error {
	objs, err := Objects("rbac.yaml")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := create(ctx, cs, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("rbac.yaml: %w", err)
		}
	}
	return nil
}

// DryRun sends every object of a shipped manifest to the API server as a
// dry-run create: the server validates and admits it (schema, defaults,
// references) and stores nothing. The namespace of namespaced objects must
// exist (ApplyRBAC makes it).
func DryRun(ctx context.Context, cs kubernetes.Interface, name string) error {
	objs, err := Objects(name)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := create(ctx, cs, o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			return fmt.Errorf("%s: %T: %w", name, o, err)
		}
	}
	return nil
}

// create creates one object of the kinds the manifests use.
func create(ctx context.Context, cs kubernetes.Interface, o runtime.Object, opts metav1.CreateOptions) error {
	var err error
	switch o := o.(type) {
	case *corev1.Namespace:
		_, err = cs.CoreV1().Namespaces().Create(ctx, o, opts)
	case *corev1.ServiceAccount:
		_, err = cs.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, opts)
	case *corev1.Service:
		_, err = cs.CoreV1().Services(o.Namespace).Create(ctx, o, opts)
	case *appsv1.StatefulSet:
		_, err = cs.AppsV1().StatefulSets(o.Namespace).Create(ctx, o, opts)
	case *rbacv1.ClusterRole:
		_, err = cs.RbacV1().ClusterRoles().Create(ctx, o, opts)
	case *rbacv1.ClusterRoleBinding:
		_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, o, opts)
	default:
		return fmt.Errorf("unsupported object %T", o)
	}
	return err
}
