package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// RolloutStatusOptions are the flags of `paved rollout status`.
type RolloutStatusOptions struct {
	f     *Factory
	Space string
	Name  string
	ID    int64
	Watch bool
}

// NewCmdRollout is `paved rollout …`.
func NewCmdRollout(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "rollout", Short: "Follow an app's deployments"}
	cmd.AddCommand(NewCmdRolloutStatus(f, nil))
	return cmd
}

// NewCmdRolloutStatus is `paved rollout status APP --space S [--watch]`.
func NewCmdRolloutStatus(f *Factory, runF func(*RolloutStatusOptions) error) *cobra.Command {
	opts := &RolloutStatusOptions{f: f}
	cmd := &cobra.Command{
		Use:   "status APP",
		Short: "Show the app's latest deployment: phase, step, instances, events",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runRolloutStatus(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Space, "space", "s", "", "space of the app (required)")
	cmd.Flags().Int64Var(&opts.ID, "deployment", 0, "a deployment id (default: the latest)")
	cmd.Flags().BoolVarP(&opts.Watch, "watch", "w", false, "follow live until the deployment ends")
	cmd.MarkFlagRequired("space")
	return cmd
}

func runRolloutStatus(ctx context.Context, opts *RolloutStatusOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	id := opts.ID
	if id == 0 {
		deps, err := c.Deployments.List(ctx, opts.Space, opts.Name)
		if err != nil {
			return err
		}
		if len(deps) == 0 {
			return fmt.Errorf("app %s/%s has no deployments yet", opts.Space, opts.Name)
		}
		id = deps[0].ID
	}
	seen := 0
	for {
		d, err := c.Deployments.Get(ctx, id)
		if err != nil {
			return err
		}
		if opts.f.JSON() && !opts.Watch {
			return opts.f.PrintJSON(d)
		}
		if !opts.Watch {
			printDeployment(opts.f, d)
			return nil
		}
		for _, e := range d.Events[min(seen, len(d.Events)):] {
			fmt.Fprintf(opts.f.Out, "%s  %-22s %s\n", e.Time.Local().Format("15:04:05.000"), e.Action, e.Detail)
		}
		seen = len(d.Events)
		if d.Done() {
			printDeployment(opts.f, d)
			if d.Status != paved.DeploymentSucceeded {
				return fmt.Errorf("deployment %d %s: %s", d.ID, d.Status, d.Reason)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func printDeployment(f *Factory, d *paved.Deployment) {
	strategy := d.Strategy.Strategy
	if strategy == "" {
		strategy = paved.StrategyRolling
	}
	fmt.Fprintf(f.Out, "deployment %d of %s/%s: release %d replacing %d (%s)\n", d.ID, d.Space, d.App, d.Release, d.From, strategy)
	fmt.Fprintf(f.Out, "status:     %s, phase %s, step %d\n", d.Status, d.Phase, d.Step+1)
	if d.Reason != "" {
		fmt.Fprintf(f.Out, "reason:     %s\n", d.Reason)
	}
	if len(d.InstanceSet) > 0 {
		tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "INSTANCE\tRELEASE\tSTATE\tROLE\tCRASHES")
		for _, in := range d.InstanceSet {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\n", in.ID, in.Release, in.State, in.Role, in.Crashes)
		}
		tw.Flush()
	}
	if len(d.Events) > 0 && !strings.EqualFold(f.Output, "json") {
		fmt.Fprintln(f.Out, "events:")
		for _, e := range d.Events {
			fmt.Fprintf(f.Out, "  %s  %-22s %s\n", e.Time.Local().Format("15:04:05.000"), e.Action, e.Detail)
		}
	}
}

// RollbackOptions are the flags of `paved rollback`.
type RollbackOptions struct {
	f       *Factory
	Space   string
	Name    string
	To      int
	Timeout time.Duration
}

// NewCmdRollback is `paved rollback APP --space S [--to N]`.
func NewCmdRollback(f *Factory, runF func(*RollbackOptions) error) *cobra.Command {
	opts := &RollbackOptions{f: f}
	cmd := &cobra.Command{
		Use:   "rollback APP",
		Short: "Redeploy an earlier release (default: the last good one before the current) with the app's strategy",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runRollback(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Space, "space", "s", "", "space of the app (required)")
	cmd.Flags().IntVar(&opts.To, "to", 0, "release number to go back to")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "how long to wait for the rollout")
	cmd.MarkFlagRequired("space")
	return cmd
}

func runRollback(ctx context.Context, opts *RollbackOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	app, err := c.Apps.Rollback(ctx, opts.Space, opts.Name, opts.To)
	if err != nil {
		return err
	}
	return waitForApp(ctx, opts.f, c, app, opts.Timeout)
}
