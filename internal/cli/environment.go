package cli

import (
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// NewCmdEnv is `paved env create|list|delete`: preview environments.
func NewCmdEnv(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "env", Short: "Manage preview environments (spaces cloned from another, with a TTL)"}
	var spec paved.EnvironmentSpec
	var ttl time.Duration
	create := &cobra.Command{
		Use: "create NAME --from SPACE --ttl DURATION", Short: "Clone a space's apps at their last good releases", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			spec.Name, spec.TTL = args[0], paved.Duration(ttl)
			env, err := c.Environments.Create(cmd.Context(), spec)
			if err != nil {
				return err
			}
			if f.JSON() {
				return f.PrintJSON(env)
			}
			fmt.Fprintf(f.Out, "environment %s from %s, expires %s\n", env.Name, env.FromSpace, env.ExpiresAt.Local().Format(time.DateTime))
			printURLs(f, env.URLs)
			return nil
		},
	}
	create.Flags().StringVar(&spec.FromSpace, "from", "", "space to clone (required)")
	create.Flags().DurationVar(&ttl, "ttl", time.Hour, "time to live")
	create.Flags().BoolVar(&spec.DestroyOnSuccess, "destroy-on-success", false, "a pipeline destroys it after a successful run")
	create.MarkFlagRequired("from")
	list := &cobra.Command{
		Use: "list", Short: "List environments", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			envs, err := c.Environments.List(cmd.Context())
			if err != nil {
				return err
			}
			if f.JSON() {
				return f.PrintJSON(envs)
			}
			tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ENVIRONMENT\tFROM\tEXPIRES\tAPPS")
			for _, e := range envs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", e.Name, e.FromSpace, e.ExpiresAt.Local().Format(time.DateTime), len(e.URLs))
			}
			return tw.Flush()
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Destroy an environment and everything in it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			if err := c.Environments.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(f.Out, "environment %s destroyed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

func printURLs(f *Factory, urls map[string]string) {
	apps := make([]string, 0, len(urls))
	for a := range urls {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	for _, a := range apps {
		fmt.Fprintf(f.Out, "  %s: %s\n", a, urls[a])
	}
}

// NewCmdRestore is `paved restore SPACE [--snapshot N]`.
func NewCmdRestore(f *Factory) *cobra.Command {
	var number int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use: "restore SPACE", Short: "Roll every app of a space back to a snapshot (default: the previous one)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			snap, err := c.Snapshots.Restore(cmd.Context(), args[0], number)
			if err != nil {
				return err
			}
			fmt.Fprintf(f.Err, "restoring %s to snapshot %d\n", args[0], snap.Number)
			for _, app := range sortedApps(snap.Releases) {
				a, err := c.Apps.Get(cmd.Context(), args[0], app)
				if err != nil {
					continue
				}
				if err := waitForApp(cmd.Context(), f, c, a, timeout); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&number, "snapshot", 0, "snapshot number (default: the one before the newest)")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for each app")
	return cmd
}

// NewCmdSnapshots is `paved snapshots SPACE`.
func NewCmdSnapshots(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use: "snapshots SPACE", Short: "List a space's snapshots of last good releases", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			snaps, err := c.Snapshots.List(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.JSON() {
				return f.PrintJSON(snaps)
			}
			tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SNAPSHOT\tTIME\tRELEASES\tREASON")
			for _, s := range snaps {
				rels := ""
				for _, app := range sortedApps(s.Releases) {
					rels += fmt.Sprintf("%s@%d ", app, s.Releases[app])
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Number, s.CreatedAt.Local().Format(time.DateTime), rels, s.Reason)
			}
			return tw.Flush()
		},
	}
}

func sortedApps(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
