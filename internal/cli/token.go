package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TokenOptions are the arguments and flags of the token commands.
type TokenOptions struct {
	f     *Factory
	Arg   string // the name (create) or the id (revoke)
	Role  string
	Space string
	TTL   time.Duration // create: the token's lifetime (0 = none); renew: the new one (0 = its own)
}

// NewCmdToken is `paved token create|list|renew|revoke`: the cell's API tokens
// and their roles (admin tokens only).
func NewCmdToken(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens and their roles",
		Long: "Tokens carry a role: admin (everything), space_developer (everything inside one space), " +
			"space_auditor (read one space) or pipeline_operator (read one space, set its pipelines). " +
			"The cell keeps only a hash of each secret: it is shown once, when the token is created.",
	}
	run := func(opts *TokenOptions, fn func(context.Context, *TokenOptions) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.Arg = args[0]
			}
			return fn(cmd.Context(), opts)
		}
	}
	createOpts := &TokenOptions{f: f}
	create := &cobra.Command{
		Use:   "create NAME --role ROLE [--space SPACE]",
		Short: "Create a token and print its secret (shown only this once)",
		Args:  cobra.ExactArgs(1),
		RunE:  run(createOpts, runTokenCreate),
	}
	create.Flags().StringVar(&createOpts.Role, "role", "", "admin, space_developer, space_auditor or pipeline_operator (required)")
	create.Flags().StringVar(&createOpts.Space, "space", "", "the space a space role is scoped to")
	create.Flags().DurationVar(&createOpts.TTL, "ttl", 0, "lifetime of the token (1m to 720h; 0 = it never expires); renew it with paved token renew")
	create.MarkFlagRequired("role")
	renewOpts := &TokenOptions{f: f}
	renew := &cobra.Command{
		Use:   "renew ID [--ttl D]",
		Short: "Extend a token with a lifetime: it expires --ttl (default: its own ttl) from now",
		Args:  cobra.ExactArgs(1),
		RunE:  run(renewOpts, runTokenRenew),
	}
	renew.Flags().DurationVar(&renewOpts.TTL, "ttl", 0, "the new lifetime from now (default: the token's own ttl)")
	cmd.AddCommand(
		create,
		&cobra.Command{Use: "list", Short: "List tokens (never their secrets)", Args: cobra.NoArgs, RunE: run(&TokenOptions{f: f}, runTokenList)},
		renew,
		&cobra.Command{Use: "revoke ID", Short: "Revoke a token at once", Args: cobra.ExactArgs(1), RunE: run(&TokenOptions{f: f}, runTokenRevoke)},
	)
	return cmd
}

func runTokenCreate(ctx context.Context, opts *TokenOptions) error {
	spec := paved.TokenSpec{Name: opts.Arg, Role: paved.Role(opts.Role), Space: opts.Space, TTL: paved.Duration(opts.TTL)}
	if field, err := spec.Validate(); err != nil {
		flag := map[string]string{"name": "NAME", "role": "--role", "space": "--space", "ttl": "--ttl"}[field]
		return fmt.Errorf("%s: %w", flag, err)
	}
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	t, err := c.Tokens.Create(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.f.Err, "Save the secret now: the cell keeps only its hash and will not show it again.")
	if opts.f.JSON() {
		return opts.f.PrintJSON(t)
	}
	fmt.Fprintf(opts.f.Out, "token %s (%s) created: %s\n", t.ID, t.Name, describeRole(*t))
	fmt.Fprintf(opts.f.Out, "secret: %s\n", t.Secret)
	if t.ExpiresAt != nil {
		fmt.Fprintf(opts.f.Out, "expires: %s\n", t.ExpiresAt.Local().Format(time.DateTime))
	}
	return nil
}

func runTokenRenew(ctx context.Context, opts *TokenOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	t, err := c.Tokens.Renew(ctx, opts.Arg, opts.TTL)
	if err != nil {
		return err
	}
	if opts.f.JSON() {
		return opts.f.PrintJSON(t)
	}
	fmt.Fprintf(opts.f.Out, "token %s renewed: expires %s\n", t.ID, t.ExpiresAt.Local().Format(time.DateTime))
	return nil
}

func describeRole(t paved.Token) string {
	if t.Space != "" {
		return fmt.Sprintf("%s of space %s", t.Role, t.Space)
	}
	return string(t.Role)
}

func runTokenList(ctx context.Context, opts *TokenOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	ts, err := c.Tokens.List(ctx)
	if err != nil {
		return err
	}
	if opts.f.JSON() {
		return opts.f.PrintJSON(ts)
	}
	tw := tabwriter.NewWriter(opts.f.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tSPACE\tCREATED\tBY\tSTATUS")
	for _, t := range ts {
		status := "active"
		switch {
		case t.RevokedAt != nil:
			status = "revoked " + t.RevokedAt.Local().Format(time.DateTime)
		case t.Expired(time.Now()):
			status = "expired " + t.ExpiresAt.Local().Format(time.DateTime)
		case t.ExpiresAt != nil:
			status = "expires " + t.ExpiresAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, dash(t.Space),
			t.CreatedAt.Local().Format("2006-01-02 15:04:05"), t.CreatedBy, status)
	}
	return tw.Flush()
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func runTokenRevoke(ctx context.Context, opts *TokenOptions) error {
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	if err := c.Tokens.Revoke(ctx, opts.Arg); err != nil {
		return err
	}
	fmt.Fprintf(opts.f.Out, "token %s revoked\n", opts.Arg)
	return nil
}
