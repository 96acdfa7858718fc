// Command kubeup runs what `make kube-up` promises: a real Kubernetes
// control plane and three test nodes on loopback, for trying the
// Kubernetes runtime by hand. It runs until SIGTERM or SIGINT (make
// kube-down sends it), then removes everything it made.
//
// It writes into --state: pid, kubeconfig (the cluster's admin),
// cell.kubeconfig (the paved-cell service account of
// deploy/kubernetes/rbac.yaml), server-flags (the flags that put a cell
// whose API listens on --cell-api on this cluster) and ready, last.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/kubetest"
)

func main() {
	state := flag.String("state", filepath.Join(os.TempDir(), "paved-kube-up"), "directory for the pid, kubeconfigs and flags")
	nodes := flag.Int("nodes", 3, "test nodes to start")
	cellAPI := flag.String("cell-api", "127.0.0.1:7400", "the API address of the cell that will use the cluster (pods reach it through a forward)")
	paved := flag.String("paved", "bin/paved", "the paved binary the nodes run to fetch droplets")
	flag.Parse()
	if err := run(*state, *nodes, *cellAPI, *paved); err != nil {
		fmt.Fprintln(os.Stderr, "kube-up:", err)
		os.Exit(1)
	}
}

func run(state string, nodes int, cellAPI, paved string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the test nodes make network namespaces and a bridge: run as root")
	}
	pavedAbs, err := filepath.Abs(paved)
	if err != nil {
		return err
	}
	if _, err := os.Stat(pavedAbs); err != nil {
		return fmt.Errorf("the paved binary: %w (make build makes it)", err)
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	os.Remove(filepath.Join(state, "ready"))
	if err := os.WriteFile(filepath.Join(state, "pid"), []byte(fmt.Sprint(os.Getpid())), 0o600); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(state, "pid"))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	env, err := kubetest.Start(ctx, nodes)
	if err != nil {
		return err
	}
	defer env.Stop()
	args, unforward, err := env.CellArgs(cellAPI, pavedAbs, "paved-")
	if err != nil {
		return err
	}
	defer unforward()
	for name, from := range map[string]string{"kubeconfig": env.Kubeconfig, "cell.kubeconfig": env.CellKubeconfig} {
		b, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(state, name), b, 0o600); err != nil {
			return err
		}
	}
	// The flags name the kubeconfig in the state dir, which outlives the
	// cluster's temporary one only until kube-down.
	for i, a := range args {
		if a == env.CellKubeconfig {
			args[i] = filepath.Join(state, "cell.kubeconfig")
		}
	}
	if err := os.WriteFile(filepath.Join(state, "server-flags"), []byte(strings.Join(args, " ")+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(state, "ready"), []byte(env.Cluster.Version+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Printf("Kubernetes %s with %d nodes is up (API %s)\n", env.Cluster.Version, nodes, env.Cluster.Server)
	<-ctx.Done()
	fmt.Println("stopping the cluster")
	os.Remove(filepath.Join(state, "ready"))
	return nil
}
