package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// RegionsOptions are the flags of `paved regions`.
type RegionsOptions struct {
	f       *Factory
	Regions string        // NAME=ENDPOINT,… (default $PAVED_REGIONS)
	Watch   time.Duration // redraw every Watch; 0 = once
}

// NewCmdRegions is `paved regions`: every region's cell at a glance.
func NewCmdRegions(f *Factory, runF func(*RegionsOptions) error) *cobra.Command {
	opts := &RegionsOptions{f: f}
	cmd := &cobra.Command{
		Use:   "regions",
		Short: "Show the health, apps and instances of every region's cell",
		Long: "Show every region's cell: reachable or not, cloud, apps, healthy instances, router and version.\n" +
			"Regions come from --regions or $" + paved.RegionsEnv + " (NAME=ENDPOINT,…); tokens from --token or $PAVED_TOKEN.",
		Example: "  PAVED_REGIONS=eu=http://127.0.0.1:7401,us=http://127.0.0.1:7402 paved regions --watch 1s",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Regions == "" {
				opts.Regions = os.Getenv(paved.RegionsEnv)
			}
			if opts.Regions == "" {
				return errors.New("no regions: pass --regions NAME=ENDPOINT,… or set " + paved.RegionsEnv)
			}
			if runF != nil {
				return runF(opts)
			}
			return runRegions(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Regions, "regions", "", "regions as NAME=ENDPOINT,… (default $"+paved.RegionsEnv+")")
	cmd.Flags().DurationVar(&opts.Watch, "watch", 0, "redraw every interval until interrupted (e.g. 1s)")
	return cmd
}

// regionRow is one region's line.
type regionRow struct {
	Region    string `json:"region"`
	Endpoint  string `json:"endpoint"`
	Healthy   bool   `json:"healthy"`
	Error     string `json:"error,omitempty"`
	Cloud     string `json:"cloud,omitempty"`
	Version   string `json:"version,omitempty"`
	Router    string `json:"router,omitempty"`
	RouterTLS bool   `json:"router_tls,omitempty"`
	Apps      int    `json:"apps"`
	Instances int    `json:"instances"`
	Running   int    `json:"healthy_instances"`
}

func runRegions(ctx context.Context, opts *RegionsOptions) error {
	cfgs, err := paved.ParseRegions(opts.Regions)
	if err != nil {
		return err
	}
	for name, cfg := range cfgs {
		if cfgs[name], err = opts.f.config(cfg.Endpoint); err != nil {
			return err
		}
	}
	regions, err := paved.NewRegions(cfgs)
	if err != nil {
		return err
	}
	for {
		rows := regionRows(ctx, regions)
		if opts.f.JSON() {
			if err := opts.f.PrintJSON(rows); err != nil {
				return err
			}
		} else {
			if opts.Watch > 0 {
				fmt.Fprint(opts.f.Out, "\033[H\033[2J") // clear the terminal for the redraw
			}
			printRegions(opts.f, rows)
		}
		if opts.Watch <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(opts.Watch):
		}
	}
}

// regionRows asks every region for its health and counts, in parallel.
func regionRows(ctx context.Context, regions *paved.Regions) []regionRow {
	health := regions.Health(ctx)
	rows := make([]regionRow, len(health))
	var wg sync.WaitGroup
	for i, h := range health {
		rows[i] = regionRow{Region: h.Region, Endpoint: h.Endpoint, Healthy: h.Healthy, Cloud: h.Cloud, Version: h.Version, Router: h.RouterAddr, RouterTLS: h.RouterTLS}
		if h.Err != nil {
			rows[i].Error = h.Err.Error()
		}
		if !h.Healthy {
			continue
		}
		c, _ := regions.Client(h.Region)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, paved.RegionTimeout)
			defer cancel()
			if ch, err := c.Health(ctx); err == nil {
				rows[i].Apps, rows[i].Instances, rows[i].Running = ch.Counts.Apps, ch.Counts.Instances, ch.Counts.HealthyInstances
			}
		}()
	}
	wg.Wait()
	sort.Slice(rows, func(i, j int) bool { return rows[i].Region < rows[j].Region })
	return rows
}

func printRegions(f *Factory, rows []regionRow) {
	tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tCLOUD\tSTATE\tAPPS\tINSTANCES\tROUTER\tVERSION")
	for _, r := range rows {
		if !r.Healthy {
			fmt.Fprintf(tw, "%s\t-\tdown: %s\t-\t-\t-\t-\n", r.Region, r.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\tup\t%d\t%d/%d healthy\t%s\t%s\n", r.Region, r.Cloud, r.Apps, r.Running, r.Instances,
			paved.RouterURL(r.Router, r.RouterTLS), r.Version)
	}
	tw.Flush()
}
