package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// LogsOptions are the flags of `paved logs`.
type LogsOptions struct {
	f      *Factory
	Space  string
	Name   string
	Tail   int
	Follow bool
}

// NewCmdLogs is `paved logs APP --space S [--follow]`.
func NewCmdLogs(f *Factory, runF func(*LogsOptions) error) *cobra.Command {
	opts := &LogsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "logs APP",
		Short: "Print an app's logs (all instances, and the cell's notes about it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runLogs(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Space, "space", "s", "", "space of the app (required)")
	cmd.Flags().IntVarP(&opts.Tail, "tail", "n", 100, "how many recent lines to print first")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new lines")
	cmd.MarkFlagRequired("space")
	return cmd
}

func runLogs(ctx context.Context, opts *LogsOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	err = c.Logs.Stream(ctx, opts.Space, opts.Name, paved.LogsOptions{Tail: opts.Tail, Follow: opts.Follow}, func(l paved.LogLine) error {
		if opts.f.JSON() {
			return opts.f.PrintJSON(l)
		}
		_, err := fmt.Fprintf(opts.f.Out, "%s [%s] %s\n", l.Time.Local().Format("15:04:05.000"), l.Instance, l.Text)
		return err
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
