package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// StatusOptions are the flags of `paved status`.
type StatusOptions struct {
	f *Factory
}

// NewCmdStatus is `paved status`: cell health and an apps table.
func NewCmdStatus(f *Factory, runF func(*StatusOptions) error) *cobra.Command {
	opts := &StatusOptions{f: f}
	return &cobra.Command{
		Use:   "status",
		Short: "Show the cell's health and its apps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runStatus(cmd.Context(), opts)
		},
	}
}

func runStatus(ctx context.Context, opts *StatusOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	h, err := c.Health(ctx)
	if err != nil {
		return err
	}
	apps, err := c.Apps.List(ctx, paved.ListAppsOptions{})
	if err != nil {
		return err
	}
	if opts.f.JSON() {
		views := make([]AppView, 0, len(apps))
		for i := range apps {
			views = append(views, NewAppView(&apps[i]))
		}
		return opts.f.PrintJSON(map[string]any{"cell": h, "apps": views})
	}
	mem := "enforced"
	if !h.MemoryLimitsEnforced {
		mem = "not enforced (" + h.MemoryLimitsReason + ")"
	}
	fmt.Fprintf(opts.f.Out, "cell:      %s (%s) at %s, version %s, up %s\n", h.Region, h.Cloud, c.Endpoint(), h.Version,
		(time.Duration(h.UptimeSeconds) * time.Second).String())
	fmt.Fprintf(opts.f.Out, "router:    %s\n", h.RouterURL())
	fmt.Fprintf(opts.f.Out, "runtime:   %s\n", runtimeLine(h.Runtime))
	fmt.Fprintf(opts.f.Out, "memory:    %s\n", mem)
	fmt.Fprintf(opts.f.Out, "isolation: %s\n", isolationLine(h.Isolation))
	fmt.Fprintf(opts.f.Out, "counts:    %d spaces, %d apps, %d/%d instances healthy\n\n",
		h.Counts.Spaces, h.Counts.Apps, h.Counts.HealthyInstances, h.Counts.Instances)
	if len(apps) == 0 {
		fmt.Fprintln(opts.f.Out, "no apps yet: paved push DIR --space S --app NAME")
		return nil
	}
	printAppsTable(opts.f, apps)
	return nil
}

// runtimeLine says where the cell runs instances.
func runtimeLine(r paved.RuntimeInfo) string {
	switch {
	case r.Driver == "":
		return "process (an older cell that does not say)"
	case r.Error != "":
		return r.Driver + ": " + r.Error
	case r.Driver == "kubernetes":
		return fmt.Sprintf("kubernetes %s, %d/%d nodes ready", r.ClusterVersion, r.ReadyNodes, r.Nodes)
	}
	return r.Driver + " (instances are processes on the cell's machine)"
}

// isolationLine says in a few words what keeps apps apart on the cell.
func isolationLine(iso paved.Isolation) string {
	if !iso.Enabled {
		return "off (" + iso.Reason + ")"
	}
	parts := []string{"a uid per space", "own PID and mount namespaces"}
	if iso.Memory != "" {
		parts = append(parts, "memory limits ("+iso.Memory+")")
	}
	if iso.PidsLimit {
		parts = append(parts, "pids limit")
	}
	line := "on: " + strings.Join(parts, ", ")
	if iso.Reason != "" {
		line += " (" + iso.Reason + ")"
	}
	return line
}
