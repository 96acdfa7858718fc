package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
)

// RotateKeyOptions are the flags of `paved server rotate-key`.
type RotateKeyOptions struct {
	f              *Factory
	DataDir        string
	SecretsKeyFile string
}

// NewCmdRotateKey is `paved server rotate-key`: re-encrypt a stopped
// cell's secrets under a new key (store.RotateKey says how a crash in the
// middle is survived).
func NewCmdRotateKey(f *Factory, runF func(*RotateKeyOptions) error) *cobra.Command {
	opts := &RotateKeyOptions{f: f}
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Re-encrypt a stopped cell's secrets under a new key",
		Long: "rotate-key makes a new random secrets key, re-encrypts every secret value of the data dir with it in one transaction " +
			"and replaces the key file (the old key is kept as KEYFILE.old until the transaction committed). " +
			"The cell must be stopped: the data dir's lock (DATA/paved.lock) is taken first. " +
			"An interrupted rotation is finished by the next start or the next rotate-key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runRotateKey(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.DataDir, "data", "", "data directory of the cell; required")
	fl.StringVar(&opts.SecretsKeyFile, "secrets-key-file", "", "the cell's key file, replaced by the new key (default: DATA/secrets.key)")
	cmd.MarkFlagRequired("data")
	return cmd
}

func runRotateKey(ctx context.Context, opts *RotateKeyOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	r, err := store.RotateKey(ctx, opts.DataDir, store.Options{SecretsKeyFile: opts.SecretsKeyFile})
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.f.Out, "rotated the secrets key of %s: key %s → key %s, in %s\n", opts.DataDir, r.From, r.To, r.KeyFile)
	return nil
}
