package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// AppsOptions are the flags of `paved apps`.
type AppsOptions struct {
	f     *Factory
	Space string
}

// NewCmdApps is `paved apps`: a table of apps.
func NewCmdApps(f *Factory, runF func(*AppsOptions) error) *cobra.Command {
	opts := &AppsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "apps",
		Short: "List apps (all spaces, or one with --space)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runApps(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Space, "space", "s", "", "only this space")
	return cmd
}

func runApps(ctx context.Context, opts *AppsOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	apps, err := c.Apps.List(ctx, paved.ListAppsOptions{Space: opts.Space})
	if err != nil {
		return err
	}
	if opts.f.JSON() {
		out := make([]AppView, 0, len(apps))
		for i := range apps {
			out = append(out, NewAppView(&apps[i]))
		}
		return opts.f.PrintJSON(out)
	}
	printAppsTable(opts.f, apps)
	return nil
}

func printAppsTable(f *Factory, apps []paved.App) {
	tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SPACE\tAPP\tSTATUS\tRELEASE\tINSTANCES\tROUTES")
	for _, a := range apps {
		routes := make([]string, 0, len(a.Routes))
		for _, r := range a.Routes {
			routes = append(routes, r.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d/%d\t%s\n", a.Space, a.Name, a.Status, a.Release, a.RunningCount, a.Instances, strings.Join(routes, ","))
	}
	tw.Flush()
}

// AppView is the JSON shape `paved app show` prints: routes as strings and
// instances as objects, which scripts rely on.
type AppView struct {
	Name            string                 `json:"name"`
	Space           string                 `json:"space"`
	Status          string                 `json:"status"`
	Message         string                 `json:"message,omitempty"`
	Release         int                    `json:"release"`
	LastGoodRelease int                    `json:"last_good_release"`
	Desired         int                    `json:"desired_instances"`
	Running         int                    `json:"running_instances"`
	Routes          []string               `json:"routes"`
	Instances       []paved.InstanceStatus `json:"instances"`
	Source          string                 `json:"source,omitempty"`
	Command         string                 `json:"command"`
	Build           string                 `json:"build,omitempty"`
	Env             map[string]string      `json:"env,omitempty"`
	MemoryMB        int                    `json:"memory_mb,omitempty"`
	HealthCheck     *paved.HealthCheck     `json:"health_check,omitempty"`
	Version         int64                  `json:"version"`
}

// NewAppView converts an API app to the CLI's JSON shape.
func NewAppView(a *paved.App) AppView {
	v := AppView{
		Name: a.Name, Space: a.Space, Status: a.Status, Message: a.Message, Release: a.Release,
		LastGoodRelease: a.LastGoodRelease, Desired: a.Instances, Running: a.RunningCount,
		Routes: []string{}, Instances: a.InstanceStates, Source: a.Source, Command: a.Command,
		Build: a.Build, Env: a.Env, MemoryMB: a.MemoryMB, HealthCheck: a.HealthCheck, Version: a.Version,
	}
	if v.Instances == nil {
		v.Instances = []paved.InstanceStatus{}
	}
	for _, r := range a.Routes {
		v.Routes = append(v.Routes, r.String())
	}
	return v
}

// AppShowOptions are the flags of `paved app show`.
type AppShowOptions struct {
	f     *Factory
	Space string
	Name  string
}

// NewCmdApp is `paved app …`.
func NewCmdApp(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Inspect one app"}
	cmd.AddCommand(NewCmdAppShow(f, nil))
	return cmd
}

// NewCmdAppShow is `paved app show NAME --space S`.
func NewCmdAppShow(f *Factory, runF func(*AppShowOptions) error) *cobra.Command {
	opts := &AppShowOptions{f: f}
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show an app with its instances",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runAppShow(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Space, "space", "s", "", "space of the app (required)")
	cmd.MarkFlagRequired("space")
	return cmd
}

func runAppShow(ctx context.Context, opts *AppShowOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	a, err := c.Apps.Get(ctx, opts.Space, opts.Name)
	if err != nil {
		return err
	}
	if opts.f.JSON() {
		return opts.f.PrintJSON(NewAppView(a))
	}
	printApp(opts.f, a)
	return nil
}

func printApp(f *Factory, a *paved.App) {
	v := NewAppView(a)
	fmt.Fprintf(f.Out, "app:       %s/%s\n", a.Space, a.Name)
	fmt.Fprintf(f.Out, "status:    %s\n", a.Status)
	if a.Message != "" {
		fmt.Fprintf(f.Out, "message:   %s\n", a.Message)
	}
	fmt.Fprintf(f.Out, "release:   %d (last good %d)\n", a.Release, a.LastGoodRelease)
	fmt.Fprintf(f.Out, "instances: %d/%d healthy\n", a.RunningCount, a.Instances)
	fmt.Fprintf(f.Out, "routes:    %s\n", strings.Join(v.Routes, ", "))
	fmt.Fprintf(f.Out, "command:   %s\n", a.Command)
	if len(a.InstanceStates) == 0 {
		return
	}
	fmt.Fprintln(f.Out)
	tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tSTATE\tRELEASE\tCRASHES\tPID\tPORT\tLAST EXIT")
	for _, in := range a.InstanceStates {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", in.ID, in.State, in.Release, in.Crashes, in.PID, in.Port, in.LastExit)
	}
	tw.Flush()
}
