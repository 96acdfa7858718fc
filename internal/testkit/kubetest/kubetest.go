// Package kubetest brings up what a test of the Kubernetes runtime needs:
// a real control plane (kubecluster), a cluster network and test nodes
// (kubenode), and the flags that put a paved cell on them.
package kubetest

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	deploykube "github.com/pavedroad/terraform-provider-paved/deploy/kubernetes"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/kubecluster"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/kubenode"
)

// Env is a running cluster with its nodes.
type Env struct {
	Cluster    *kubecluster.Cluster
	Network    *kubenode.Network
	Nodes      []*kubenode.Node
	Clientset  kubernetes.Interface
	Config     *rest.Config
	Kubeconfig string // the cluster's admin
	// CellKubeconfig is for paved server --kubeconfig: it acts as the
	// paved-cell service account of deploy/kubernetes/rbac.yaml, so every
	// test of the runtime checks that the shipped role is enough.
	CellKubeconfig string
}

// Start starts a control plane and nodes test nodes (node-1, node-2, …)
// on one cluster network. Stop undoes everything, also after a failed
// Start.
func Start(ctx context.Context, nodes int) (env *Env, err error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	e := &Env{}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	if e.Cluster, err = kubecluster.Start(ctx); err != nil {
		return nil, err
	}
	if e.Config, err = e.Cluster.RESTConfig(); err != nil {
		return nil, err
	}
	if e.Clientset, err = kubernetes.NewForConfig(e.Config); err != nil {
		return nil, err
	}
	if err := deploykube.ApplyRBAC(ctx, e.Clientset); err != nil {
		return nil, err
	}
	if err := deploykube.DryRun(ctx, e.Clientset, "cell.yaml"); err != nil {
		return nil, err
	}
	if e.CellKubeconfig, err = impersonating(e.Cluster.Kubeconfig, deploykube.ServiceAccountUser); err != nil {
		return nil, err
	}
	if e.Network, err = kubenode.NewNetwork(kubenode.NetworkOptions{}); err != nil {
		return nil, err
	}
	for i := range nodes {
		if _, err := e.AddNode(ctx, fmt.Sprintf("node-%d", i+1)); err != nil {
			return nil, err
		}
	}
	e.Kubeconfig = e.Cluster.Kubeconfig
	return e, nil
}

// AddNode starts one more node on the cluster network.
func (e *Env) AddNode(ctx context.Context, name string) (*kubenode.Node, error) {
	n, err := kubenode.Start(ctx, e.Config, kubenode.Options{Name: name, Network: e.Network})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", name, err)
	}
	e.Nodes = append(e.Nodes, n)
	return n, nil
}

// Stop stops the nodes, the network and the control plane.
func (e *Env) Stop() {
	for _, n := range e.Nodes {
		n.Stop()
	}
	if e.Network != nil {
		e.Network.Close()
	}
	if e.Cluster != nil {
		e.Cluster.Stop()
	}
}

// CellArgs are the `paved server` flags that run a cell's instances on
// this cluster. Pods reach the cell's API (apiAddr, on loopback) through a
// forward on the cluster network's gateway, and fetch droplets with
// pavedBin (the test agent ignores images and runs commands on the host).
// Each cell sharing the cluster needs its own namespacePrefix. stop ends
// the forward.
func (e *Env) CellArgs(apiAddr, pavedBin, namespacePrefix string) (args []string, stop func(), err error) {
	addr, stop, err := e.Network.Forward(apiAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("forward the cell's API to the pods: %w", err)
	}
	return []string{"--runtime", "kubernetes", "--kubeconfig", e.CellKubeconfig,
		"--kube-stack-image", "paved-stack:test", "--kube-cell-url", "http://" + addr,
		"--kube-namespace-prefix", namespacePrefix,
		"--kube-eviction-after", "5s",
		"--kube-fetch-command", pavedBin + ",droplet,fetch"}, stop, nil
}

// impersonating writes a copy of the kubeconfig at path whose user acts as
// user (the admin may impersonate anyone), next to it.
func impersonating(path, user string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return "", err
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
	}
	out := filepath.Join(filepath.Dir(path), "cell.kubeconfig")
	return out, clientcmd.WriteToFile(*cfg, out)
}
