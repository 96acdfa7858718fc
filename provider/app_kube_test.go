package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/kubetest"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

// TestAccApp_kubernetes is paved_app's life cycle on a cell whose
// instances are pods of a real control plane (two test nodes): apply,
// update in place, an empty re-plan, and a destroy that leaves no pod,
// ReplicaSet or Secret in the cluster.
func TestAccApp_kubernetes(t *testing.T) {
	accPreCheck(t)
	env, err := kubetest.Start(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	bin, err := testcell.Binary()
	if err != nil {
		t.Fatal(err)
	}
	c := testcell.StartWith(t, testcell.Options{Args: func(api string) ([]string, error) {
		args, stop, err := env.CellArgs(api, bin, "acc-")
		if err == nil {
			t.Cleanup(stop)
		}
		return args, err
	}})
	src := helloSource(t)
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(cellIsEmpty(c), clusterIsEmpty(env, "acc-shop")),
		Steps: []resource.TestStep{
			{
				Config: appConfig(c, src, "hello v1", ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_app.web", "status", "running"),
					resource.TestCheckResourceAttr("paved_app.web", "running_instances", "2"),
					answers(t, c, "hello v1", 1),
					podsOfRelease(env, "acc-shop", 1, 2),
				),
			},
			{
				Config: appConfig(c, src, "hello v2", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_app.web", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_app.web", "release", "2"),
					answers(t, c, "hello v2", 2),
					podsOfRelease(env, "acc-shop", 2, 2),
				),
			},
			{
				Config:           appConfig(c, src, "hello v2", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
		},
	})
}

// podsOfRelease checks that the namespace runs exactly n pods, all of
// release rel.
func podsOfRelease(env *kubetest.Env, ns string, rel, n int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		pods, err := env.Clientset.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		live := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			if p.Labels["paved.dev/release"] != fmt.Sprint(rel) {
				return fmt.Errorf("pod %s is of release %s, want only release %d", p.Name, p.Labels["paved.dev/release"], rel)
			}
			live++
		}
		if live != n {
			return fmt.Errorf("%d pods of release %d, want %d", live, rel, n)
		}
		return nil
	}
}

// clusterIsEmpty checks that no pod, ReplicaSet or Secret is left in ns.
func clusterIsEmpty(env *kubetest.Env, ns string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		ctx := context.Background()
		pods, err := env.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		rs, err := env.Clientset.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		secs, err := env.Clientset.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(pods.Items)+len(rs.Items)+len(secs.Items) != 0 {
			return fmt.Errorf("left in %s: %d pods, %d ReplicaSets, %d Secrets", ns, len(pods.Items), len(rs.Items), len(secs.Items))
		}
		return nil
	}
}
