// Package cli is the paved command line. Each command is an options struct,
// a constructor that binds its flags, and a run function that does the
// work, so commands are easy to read and to test.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Factory holds what every command shares: the output streams, the global
// flags and a lazily built API client.
type Factory struct {
	Out, Err io.Writer
	Version  string

	Endpoint string
	Token    string
	CACert   string // path of a PEM bundle to trust
	Insecure bool
	Output   string // table or json

	client *paved.Client
}

// Client builds the API client from --endpoint/--token or PAVED_ENDPOINT/PAVED_TOKEN.
func (f *Factory) Client() (*paved.Client, error) {
	if f.client != nil {
		return f.client, nil
	}
	cfg, err := f.config(f.Endpoint)
	if err != nil {
		return nil, err
	}
	c, err := paved.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	f.client = c
	return c, nil
}

// config is the client config for one cell from the global flags.
func (f *Factory) config(endpoint string) (paved.Config, error) {
	cfg := paved.Config{Endpoint: endpoint, Token: f.Token, UserAgent: "paved-cli/" + f.Version, Insecure: f.Insecure}
	if f.CACert != "" {
		pem, err := os.ReadFile(f.CACert)
		if err != nil {
			return cfg, fmt.Errorf("--ca-cert: %w", err)
		}
		cfg.CACert = pem
	}
	return cfg, nil
}

// JSON reports whether --output json was asked for.
func (f *Factory) JSON() bool { return f.Output == "json" }

// PrintJSON writes v as indented JSON.
func (f *Factory) PrintJSON(v any) error {
	enc := json.NewEncoder(f.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// NewRootCmd assembles the paved command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "paved",
		Short:         "paved runs and ships apps on paved cells",
		Long:          "paved runs a cell (paved server) and drives cells: push apps, watch them, read their logs.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       f.Version,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if f.Output != "table" && f.Output != "json" {
				return fmt.Errorf("--output must be table or json, not %q", f.Output)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&f.Endpoint, "endpoint", "", "cell API URL (default $PAVED_ENDPOINT or "+paved.DefaultEndpoint+")")
	pf.StringVar(&f.Token, "token", "", "API token (default $PAVED_TOKEN)")
	pf.StringVar(&f.CACert, "ca-cert", "", "PEM file of a CA to trust for an https cell (default $PAVED_CA_CERT)")
	pf.BoolVar(&f.Insecure, "insecure", false, "skip verifying the cell's TLS certificate (default $PAVED_INSECURE)")
	pf.StringVarP(&f.Output, "output", "o", "table", "output format of read commands: table or json")

	root.AddCommand(
		NewCmdServer(f, nil),
		NewCmdStatus(f, nil),
		NewCmdRegions(f, nil),
		NewCmdApps(f, nil),
		NewCmdApp(f),
		NewCmdSpace(f),
		NewCmdPush(f, nil),
		NewCmdLogs(f, nil),
		NewCmdDelete(f, nil),
		NewCmdEvents(f, nil),
		NewCmdRollout(f),
		NewCmdRollback(f, nil),
		NewCmdPipeline(f),
		NewCmdBuilds(f),
		NewCmdEnv(f),
		NewCmdRestore(f),
		NewCmdSnapshots(f),
		NewCmdToken(f),
		NewCmdDroplet(f),
		NewCmdBroker(f),
		NewCmdMarketplace(f, nil),
		NewCmdService(f, nil),
	)
	return root
}

// Main runs the CLI and returns the process exit code. Errors are one
// clear line on stderr.
func Main(version string, args []string) int {
	f := &Factory{Out: os.Stdout, Err: os.Stderr, Version: version}
	root := NewRootCmd(f)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(f.Err, "paved: "+oneLine(err))
		return 1
	}
	return 0
}

func oneLine(err error) string {
	msg := err.Error()
	var apiErr *paved.APIError
	// The API error's own text starts with its field; a wrapper's prefix
	// ("upload source …: ") must not make the field appear twice.
	if errors.As(err, &apiErr) && apiErr.Field != "" && !strings.Contains(msg, apiErr.Error()) {
		msg = apiErr.Field + ": " + msg
	}
	return strings.ReplaceAll(strings.TrimSpace(msg), "\n", " ")
}
