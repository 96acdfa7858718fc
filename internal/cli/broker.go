package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/internal/broker/postgres"
	"github.com/pavedroad/terraform-provider-paved/internal/osb"
)

// NewCmdBroker is `paved broker`: the service brokers paved ships.
func NewCmdBroker(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a service broker (Open Service Broker API v2.17) that cells provision backing services from",
	}
	cmd.AddCommand(NewCmdBrokerPostgres(f, nil))
	return cmd
}

// BrokerPostgresOptions are the flags of `paved broker postgres`.
type BrokerPostgresOptions struct {
	f             *Factory
	Listen        string
	AdminDSN      string
	AdminDSNFile  string
	Username      string
	PasswordFile  string
	PublicAddress string // host:port credentials name
	RetryAfter    int
}

// NewCmdBrokerPostgres is `paved broker postgres`.
func NewCmdBrokerPostgres(f *Factory, runF func(*BrokerPostgresOptions) error) *cobra.Command {
	opts := &BrokerPostgresOptions{f: f}
	cmd := &cobra.Command{
		Use:   "postgres --admin-dsn-file FILE --password-file FILE",
		Short: "A PostgreSQL broker: a database and owner role per instance, a login role per binding",
		Long: `A PostgreSQL broker: a database and owner role per instance, a login role per binding.

It administers one PostgreSQL server with a superuser's DSN and keeps its own
records in the server's paved_broker database, so it can be restarted at any
time; an operation cut short is resumed. Platforms authenticate with HTTP basic
auth (--username, and the password in --password-file).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runBrokerPostgres(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:7600", "address of the broker's API")
	fl.StringVar(&opts.AdminDSN, "admin-dsn", "", "PostgreSQL DSN of a superuser (prefer --admin-dsn-file: a flag shows in ps)")
	fl.StringVar(&opts.AdminDSNFile, "admin-dsn-file", "", "file holding the superuser's DSN")
	fl.StringVar(&opts.Username, "username", "paved", "user name platforms authenticate with")
	fl.StringVar(&opts.PasswordFile, "password-file", "", "file holding the password platforms authenticate with (required)")
	fl.StringVar(&opts.PublicAddress, "public-address", "", "host:port of the server as apps reach it, for credentials (default: the DSN's)")
	fl.IntVar(&opts.RetryAfter, "retry-after", 1, "seconds platforms are asked to wait between polls of an operation")
	_ = cmd.MarkFlagRequired("password-file")
	cmd.MarkFlagsMutuallyExclusive("admin-dsn", "admin-dsn-file")
	cmd.MarkFlagsOneRequired("admin-dsn", "admin-dsn-file")
	return cmd
}

func readSecretFile(flag, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--%s: %s is empty", flag, path)
	}
	return s, nil
}

func runBrokerPostgres(ctx context.Context, opts *BrokerPostgresOptions) error {
	dsn := opts.AdminDSN
	var err error
	if opts.AdminDSNFile != "" {
		if dsn, err = readSecretFile("admin-dsn-file", opts.AdminDSNFile); err != nil {
			return err
		}
	}
	password, err := readSecretFile("password-file", opts.PasswordFile)
	if err != nil {
		return err
	}
	bo := postgres.Options{AdminDSN: dsn, Logger: slog.New(slog.NewTextHandler(opts.f.Err, nil))}
	if opts.PublicAddress != "" {
		host, port, err := net.SplitHostPort(opts.PublicAddress)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			return fmt.Errorf("--public-address %q: want host:port", opts.PublicAddress)
		}
		bo.PublicHost, bo.PublicPort = host, p
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	b, err := postgres.New(startCtx, bo)
	cancel()
	if err != nil {
		return err
	}
	defer b.Close()
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", opts.Listen, err)
	}
	srv := &http.Server{Handler: osb.Handler(b, osb.HandlerOptions{Username: opts.Username, Password: password, RetryAfter: opts.RetryAfter}),
		ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(opts.f.Err, "paved broker postgres: serving the Open Service Broker API on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
