package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// EventsOptions are the flags of `paved events`.
type EventsOptions struct {
	f     *Factory
	After int64
	Limit int
}

// NewCmdEvents is `paved events`: the audit trail.
func NewCmdEvents(f *Factory, runF func(*EventsOptions) error) *cobra.Command {
	opts := &EventsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the cell's audit trail (who did what, when)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runEvents(cmd.Context(), opts)
		},
	}
	cmd.Flags().Int64Var(&opts.After, "after", 0, "only events after this id")
	cmd.Flags().IntVar(&opts.Limit, "limit", 100, "at most this many events")
	return cmd
}

func runEvents(ctx context.Context, opts *EventsOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	evs, err := c.Events.List(ctx, paved.ListEventsOptions{After: opts.After, Limit: opts.Limit})
	if err != nil {
		return err
	}
	if opts.f.JSON() {
		return opts.f.PrintJSON(evs)
	}
	tw := tabwriter.NewWriter(opts.f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tACTOR\tACTION\tOBJECT\tDETAIL")
	for _, e := range evs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.Local().Format("2006-01-02 15:04:05"), e.Actor, e.Action, e.Object, e.Detail)
	}
	return tw.Flush()
}
