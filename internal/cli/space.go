package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// SpaceOptions are the arguments of the space commands.
type SpaceOptions struct {
	f    *Factory
	Name string
}

// NewCmdSpace is `paved space create|list|delete`.
func NewCmdSpace(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "space", Short: "Manage spaces"}
	run := func(fn func(context.Context, *SpaceOptions) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			opts := &SpaceOptions{f: f}
			if len(args) > 0 {
				opts.Name = args[0]
			}
			return fn(cmd.Context(), opts)
		}
	}
	cmd.AddCommand(
		&cobra.Command{Use: "create NAME", Short: "Create a space", Args: cobra.ExactArgs(1), RunE: run(runSpaceCreate)},
		&cobra.Command{Use: "list", Short: "List spaces", Args: cobra.NoArgs, RunE: run(runSpaceList)},
		&cobra.Command{Use: "delete NAME", Short: "Delete an empty space", Args: cobra.ExactArgs(1), RunE: run(runSpaceDelete)},
	)
	return cmd
}

func runSpaceCreate(ctx context.Context, opts *SpaceOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	sp, err := c.Spaces.Create(ctx, paved.SpaceSpec{Name: opts.Name})
	if err != nil {
		return err
	}
	if opts.f.JSON() {
		return opts.f.PrintJSON(sp)
	}
	fmt.Fprintf(opts.f.Out, "space %s created\n", sp.Name)
	return nil
}

func runSpaceList(ctx context.Context, opts *SpaceOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	spaces, err := c.Spaces.List(ctx)
	if err != nil {
		return err
	}
	if opts.f.JSON() {
		return opts.f.PrintJSON(spaces)
	}
	tw := tabwriter.NewWriter(opts.f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SPACE\tCREATED")
	for _, s := range spaces {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.CreatedAt.Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}

func runSpaceDelete(ctx context.Context, opts *SpaceOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	if err := c.Spaces.Delete(ctx, opts.Name); err != nil {
		return err
	}
	fmt.Fprintf(opts.f.Out, "space %s deleted\n", opts.Name)
	return nil
}
