package cell

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pavedroad/terraform-provider-paved/internal/dropletfetch"
	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
	"github.com/pavedroad/terraform-provider-paved/internal/runtime/kube"
	"github.com/pavedroad/terraform-provider-paved/internal/stager"
)

// Runtime drivers (Config.Runtime, paved server --runtime).
const (
	RuntimeProcess    = "process"
	RuntimeKubernetes = "kubernetes"
)

// KubeConfig configures the Kubernetes runtime (the --kube-* flags).
type KubeConfig struct {
	// Kubeconfig is a kubeconfig file; "" means the in-cluster config
	// (the cell runs in a pod with a service account).
	Kubeconfig string
	Context    string // the kubeconfig's context; "" = its current one
	// NamespacePrefix goes before a space's name to make its namespace.
	NamespacePrefix string
	// StackImage is the image instances run in (it holds /bin/sh and paved).
	StackImage string
	// CellURL is this cell's API as pods reach it, for droplet downloads.
	CellURL string
	// EvictionAfter is how long pods stay on a lost node.
	EvictionAfter time.Duration
	// FetchCommand overrides the init container's command (tests run the
	// paved binary under test); default "paved droplet fetch".
	FetchCommand []string
}

// validateRuntime checks the runtime flags before anything starts.
func validateRuntime(cfg Config) error {
	switch cfg.Runtime {
	case "", RuntimeProcess:
		return nil
	case RuntimeKubernetes:
	default:
		return fmt.Errorf("--runtime %q: use process or kubernetes", cfg.Runtime)
	}
	switch {
	case cfg.Kube.StackImage == "":
		return errors.New("--runtime kubernetes needs --kube-stack-image: the image instances run in (it must hold /bin/sh and the paved binary)")
	case cfg.Kube.CellURL == "":
		return errors.New("--runtime kubernetes needs --kube-cell-url: this cell's API URL as pods reach it (they download droplets from it)")
	}
	return nil
}

// dropletArchives serves droplets to machines that fetch them (pods).
func (c *Cell) dropletArchives(st *stager.Stager) (*dropletfetch.Archives, error) {
	key, err := dropletfetch.LoadOrCreateKey(filepath.Join(c.cfg.DataDir, "droplet-token.key"))
	if err != nil {
		return nil, err
	}
	signer, err := dropletfetch.NewSigner(key)
	if err != nil {
		return nil, err
	}
	return &dropletfetch.Archives{DropletDir: st.DropletDir, Dir: filepath.Join(c.cfg.DataDir, "droplet-archives"), Signer: signer}, nil
}

// droplets adapts Archives to what the driver needs.
type droplets struct{ *dropletfetch.Archives }

func (d droplets) Token(digest string, ttl time.Duration) string { return d.Signer.Token(digest, ttl) }

func (c *Cell) kubeRuntime(archives *dropletfetch.Archives, onLog func(runtime.LogLine), onState func(runtime.InstanceStatus)) (runtime.Runtime, error) {
	k := c.cfg.Kube
	var rc *rest.Config
	var err error
	if k.Kubeconfig == "" {
		rc, err = rest.InClusterConfig()
	} else {
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: k.Kubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: k.Context}).ClientConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes runtime: the cluster's config: %w", err)
	}
	rc.QPS, rc.Burst = 50, 100 // a rollout scales and relabels in bursts
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes runtime: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("kubernetes runtime: cannot reach the cluster at %s: %w", rc.Host, err)
	}
	grace := c.cfg.StopGrace
	if grace == 0 {
		grace = 10 * time.Second
	}
	return kube.New(ctx, kube.Options{
		Client: cs, CellID: c.store.CellID(), NamespacePrefix: k.NamespacePrefix,
		StackImage: k.StackImage, CellURL: k.CellURL, FetchCommand: k.FetchCommand,
		Droplets: droplets{archives}, EvictionAfter: k.EvictionAfter, StopGrace: grace,
		OnLog: onLog, OnState: onState, Logger: c.log,
	})
}

// stopRuntimes stops the instances' runtime and, if that is not the
// process driver, the process driver too (its cgroups).
func (c *Cell) stopRuntimes(ctx context.Context, grace time.Duration) error {
	err := c.instances.StopAll(ctx, grace)
	if c.instances != runtime.Runtime(c.runtime) {
		err = errors.Join(err, c.runtime.StopAll(ctx, grace))
	}
	return err
}
