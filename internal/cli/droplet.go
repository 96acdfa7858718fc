package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/internal/dropletfetch"
)

// DropletFetchOptions are the flags of `paved droplet fetch`.
type DropletFetchOptions struct {
	f     *Factory
	Fetch dropletfetch.FetchOptions
}

// NewCmdDroplet is `paved droplet`, what a pod's init container runs.
func NewCmdDroplet(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "droplet",
		Short:  "Droplets on machines the cell does not run (a Kubernetes pod's init container)",
		Hidden: true, // for the runtime's pods, not for people
	}
	cmd.AddCommand(NewCmdDropletFetch(f, nil))
	return cmd
}

// NewCmdDropletFetch is `paved droplet fetch`: download a droplet's
// archive from the cell, check its sha256 and unpack it.
func NewCmdDropletFetch(f *Factory, runF func(*DropletFetchOptions) error) *cobra.Command {
	opts := &DropletFetchOptions{f: f}
	cmd := &cobra.Command{
		Use:   "fetch --url URL --sha256 HEX --dest DIR",
		Short: "Download a droplet, check its digest and unpack it (the token is read from $PAVED_DROPLET_TOKEN)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Fetch.Token = os.Getenv("PAVED_DROPLET_TOKEN")
			if runF != nil {
				return runF(opts)
			}
			if err := dropletfetch.Fetch(cmd.Context(), opts.Fetch); err != nil {
				return err
			}
			fmt.Fprintf(opts.f.Out, "droplet %s unpacked into %s\n", opts.Fetch.SHA256, opts.Fetch.Dest)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Fetch.URL, "url", "", "the archive's URL on the cell")
	fl.StringVar(&opts.Fetch.SHA256, "sha256", "", "the archive's sha256; nothing is unpacked unless it matches")
	fl.StringVar(&opts.Fetch.Dest, "dest", "", "the directory to unpack into")
	for _, name := range []string{"url", "sha256", "dest"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}
