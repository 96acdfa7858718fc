package e2e

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/kubetest"
)

// PAVED_E2E_RUNTIME=kubernetes (make kube-e2e) runs the suite's cells with
// --runtime kubernetes against a real control plane and three test nodes
// started here, in the test process: pods keep running when a test kills
// a cell, as they would in a cluster.
var kube *kubetest.Env

// kubeNodes is how many test nodes the suite's cluster has.
const kubeNodes = 3

func kubeMode() bool { return os.Getenv("PAVED_E2E_RUNTIME") == "kubernetes" }

func startKube() (*kubetest.Env, error) { return kubetest.Start(context.Background(), kubeNodes) }

// kubeArgs are the flags that put a cell on the cluster (kube mode only).
func (c *cell) kubeArgs() []string {
	if kube == nil {
		return nil
	}
	if c.kubeFlags == nil {
		args, stop, err := kube.CellArgs(c.api, pavedBin, "t"+strings.ToLower(shortHash(c.token))+"-")
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(stop)
		c.kubeFlags = args
	}
	return c.kubeFlags
}

// requireKube fails a test that needs the Kubernetes runtime when the
// suite runs without it: such tests run in make kube-e2e only, and the
// other legs leave them out by name (-skip TestKube).
func requireKube(t *testing.T) *kubetest.Env {
	t.Helper()
	if kube == nil {
		t.Fatal("this test needs the Kubernetes runtime: run it with PAVED_E2E_RUNTIME=kubernetes (make kube-e2e)")
	}
	return kube
}
