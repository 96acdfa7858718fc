package kubernetes

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// The manifests decode to the objects the README describes, and the
// cell's role grants no wildcard: everything it may do is listed.
func TestManifestsDecode(t *testing.T) {
	rbac, err := Objects("rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.ClusterRole
	var binding *rbacv1.ClusterRoleBinding
	for _, o := range rbac {
		switch o := o.(type) {
		case *rbacv1.ClusterRole:
			role = o
		case *rbacv1.ClusterRoleBinding:
			binding = o
		}
	}
	if role == nil || binding == nil || len(rbac) != 4 {
		t.Fatalf("rbac.yaml: %d objects, role %v, binding %v; want a Namespace, a ServiceAccount, a ClusterRole and its binding", len(rbac), role != nil, binding != nil)
	}
	for _, r := range role.Rules {
		if slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") {
			t.Errorf("rule %+v has a wildcard", r)
		}
	}
	if s := binding.Subjects; len(s) != 1 || s[0].Name != ServiceAccount || s[0].Namespace != Namespace || binding.RoleRef.Name != role.Name {
		t.Errorf("binding %+v does not bind %s to %s", binding, ServiceAccountUser, role.Name)
	}

	cell, err := Objects("cell.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var sts *appsv1.StatefulSet
	for _, o := range cell {
		if o, ok := o.(*appsv1.StatefulSet); ok {
			sts = o
		}
	}
	if sts == nil {
		t.Fatal("cell.yaml has no StatefulSet")
	}
	if sa := sts.Spec.Template.Spec.ServiceAccountName; sa != ServiceAccount {
		t.Errorf("the cell runs as %q, want %q", sa, ServiceAccount)
	}
	args := sts.Spec.Template.Spec.Containers[0].Args
	for _, want := range []string{"--runtime=kubernetes", "--kube-cell-url=http://paved-cell.paved-system.svc:7400"} {
		if !slices.Contains(args, want) {
			t.Errorf("the cell's args %q lack %s", args, want)
		}
	}
}
