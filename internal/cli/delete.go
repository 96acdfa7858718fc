package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// DeleteOptions are the flags of `paved delete`.
type DeleteOptions struct {
	f     *Factory
	Space string
	Name  string
}

// NewCmdDelete is `paved delete APP --space S`.
func NewCmdDelete(f *Factory, runF func(*DeleteOptions) error) *cobra.Command {
	opts := &DeleteOptions{f: f}
	cmd := &cobra.Command{
		Use:   "delete APP",
		Short: "Delete an app and stop its instances",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runDelete(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Space, "space", "s", "", "space of the app (required)")
	cmd.MarkFlagRequired("space")
	return cmd
}

func runDelete(ctx context.Context, opts *DeleteOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	if err := c.Apps.Delete(ctx, opts.Space, opts.Name); err != nil {
		return err
	}
	fmt.Fprintf(opts.f.Out, "app %s/%s deleted\n", opts.Space, opts.Name)
	return nil
}
