package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// PushOptions are the flags of `paved push`.
type PushOptions struct {
	f          *Factory
	Dir        string
	Space      string
	App        string
	Instances  int
	Routes     []string
	Build      string
	Command    string
	HealthPath string
	HealthType string
	Env        []string
	MemoryMB   int
	Timeout    time.Duration
	NoWait     bool

	set func(name string) bool // whether a flag was given
}

// NewCmdPush is `paved push DIR --space S --app NAME`.
func NewCmdPush(f *Factory, runF func(*PushOptions) error) *cobra.Command {
	opts := &PushOptions{f: f}
	cmd := &cobra.Command{
		Use:   "push DIR|ARCHIVE",
		Short: "Upload a directory or an archive and create or update an app from it",
		Long: `push packs DIR reproducibly (or takes a .tar.gz, .tgz or .zip ARCHIVE as
it is, as the provider and the Pulumi plugin do), uploads it unless the cell
already has those bytes, creates or updates the app, and waits until its
instances are healthy or have failed. Flags that are not given keep the
app's current settings; a new app defaults to 1 instance and the web: line
of a Procfile (of a directory).`,
		Example: `  paved push ./examples/hello --space demo --app hello --instances 3 \
    --build 'go build -o hello .' --command ./hello --route hello.example.test --health-path /healthz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			opts.set = func(name string) bool { return cmd.Flags().Changed(name) }
			if runF != nil {
				return runF(opts)
			}
			return runPush(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Space, "space", "s", "", "space of the app (required)")
	fl.StringVarP(&opts.App, "app", "a", "", "app name (required)")
	fl.IntVarP(&opts.Instances, "instances", "i", 1, "number of instances (0 = staged but stopped)")
	fl.StringArrayVar(&opts.Routes, "route", nil, "route HOST[/PATH] (repeatable)")
	fl.StringVar(&opts.Build, "build", "", "build command run in the source dir")
	fl.StringVar(&opts.Command, "command", "", "start command of one instance (listens on $PORT)")
	fl.StringVar(&opts.HealthPath, "health-path", "", "HTTP health check path (implies --health-type http)")
	fl.StringVar(&opts.HealthType, "health-type", "", "health check type: http, tcp or process")
	fl.StringArrayVarP(&opts.Env, "env", "e", nil, "environment variable K=V (repeatable)")
	fl.IntVar(&opts.MemoryMB, "memory", 0, "memory limit in MiB (0 = none)")
	fl.DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "how long to wait for the app to settle")
	fl.BoolVar(&opts.NoWait, "no-wait", false, "return once the change is accepted")
	cmd.MarkFlagRequired("space")
	cmd.MarkFlagRequired("app")
	return cmd
}

// checkEnv refuses an --env that is not KEY=VALUE, before anything is
// uploaded.
func (opts *PushOptions) checkEnv() error {
	for _, kv := range opts.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("--env %q must look like KEY=VALUE", kv)
		}
	}
	return nil
}

func runPush(ctx context.Context, opts *PushOptions) error {
	if err := opts.checkEnv(); err != nil {
		return err
	}
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	data, digest, err := paved.ReadSource(opts.Dir)
	if err != nil {
		return err
	}
	if err := upload(ctx, opts.f, c, data, digest); err != nil {
		return err
	}

	cur, err := c.Apps.Get(ctx, opts.Space, opts.App)
	if err != nil && !paved.IsNotFound(err) {
		return err
	}
	var spec paved.AppSpec
	if cur != nil {
		spec = cur.AppSpec
	} else {
		spec = paved.AppSpec{Name: opts.App, Instances: 1, Command: procfileWeb(opts.Dir)}
	}
	spec.Source = digest
	if err := opts.apply(&spec); err != nil {
		return err
	}
	if spec.Command == "" {
		return errors.New("--command is required for a new app (or a Procfile in DIR with a web: line)")
	}
	var app *paved.App
	if cur != nil {
		app, err = c.Apps.Update(ctx, opts.Space, spec, paved.IfMatch(cur.Version))
	} else {
		app, err = c.Apps.Create(ctx, opts.Space, spec)
	}
	if err != nil {
		return err
	}
	if opts.NoWait {
		fmt.Fprintf(opts.f.Err, "app %s/%s accepted (generation %d)\n", app.Space, app.Name, app.Generation)
		return nil
	}
	return waitForApp(ctx, opts.f, c, app, opts.Timeout)
}

// apply overlays the flags that were given onto spec.
func (opts *PushOptions) apply(spec *paved.AppSpec) error {
	if opts.set("instances") {
		spec.Instances = opts.Instances
	}
	if opts.set("build") {
		spec.Build = opts.Build
	}
	if opts.set("command") {
		spec.Command = opts.Command
	}
	if opts.set("memory") {
		spec.MemoryMB = opts.MemoryMB
	}
	if opts.set("route") {
		spec.Routes = nil
		for _, r := range opts.Routes {
			spec.Routes = append(spec.Routes, paved.ParseRoute(r))
		}
	}
	if opts.HealthPath != "" || opts.HealthType != "" {
		// Only what the flags say changes: the interval, timeout and
		// grace of the app's check stay.
		var hc paved.HealthCheck
		if spec.HealthCheck != nil {
			hc = *spec.HealthCheck
		}
		if opts.HealthType != "" {
			hc.Type = opts.HealthType
			if hc.Type != paved.HealthHTTP {
				hc.Path = "" // only an http check has a path
			}
		}
		if opts.HealthPath != "" {
			hc.Path = opts.HealthPath
			if opts.HealthType == "" {
				hc.Type = paved.HealthHTTP
			}
		}
		spec.HealthCheck = &hc
	}
	if err := opts.checkEnv(); err != nil {
		return err
	}
	for _, kv := range opts.Env {
		k, v, _ := strings.Cut(kv, "=")
		if spec.Env == nil {
			spec.Env = map[string]string{}
		}
		spec.Env[k] = v
	}
	return nil
}

// upload sends the archive unless the cell already has it.
func upload(ctx context.Context, f *Factory, c *paved.Client, data []byte, digest string) error {
	_, sent, err := c.Sources.Ensure(ctx, data, byteBar(f.Err, int64(len(data)), "uploading "+digest[:12]))
	switch {
	case err != nil:
		return err
	case sent:
		fmt.Fprintf(f.Err, "uploaded %s (%d bytes)\n", digest[:12], len(data))
	default:
		fmt.Fprintf(f.Err, "source %s already on the cell, skipping upload\n", digest[:12])
	}
	return nil
}

// waitForApp shows the app's progress until it settles and fails with the
// cell's reason (and the build log, for a failed build) when it did not end
// up running.
func waitForApp(ctx context.Context, f *Factory, c *paved.Client, app *paved.App, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	status := newStatusLine(f.Err)
	ro, err := paved.WaitRollout(ctx, c, app.Space, app.Name, paved.RolloutOptions{Progress: func(a *paved.App) {
		status.Set(fmt.Sprintf("%s: %s, %d/%d instances healthy", a.Name, a.Status, a.RunningCount, a.Instances))
	}})
	status.Finish()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ro != nil {
			return fmt.Errorf("app %s/%s did not settle within %s (status %s)", app.Space, app.Name, timeout, ro.App.Status)
		}
		return err
	}
	final := ro.App
	if !ro.Succeeded() {
		printBuildLogOnFailure(ctx, f.Err, c, final)
		return ro.Err()
	}
	fmt.Fprintf(f.Out, "app %s/%s is %s: release %d, %d/%d instances healthy\n",
		final.Space, final.Name, final.Status, final.Release, final.RunningCount, final.Instances)
	for _, r := range final.Routes {
		fmt.Fprintf(f.Out, "  route %s\n", r)
	}
	return nil
}

func printBuildLogOnFailure(ctx context.Context, w io.Writer, c *paved.Client, a *paved.App) {
	builds, err := c.Builds.List(ctx, a.Space, a.Name)
	if err != nil || len(builds) == 0 || builds[0].Status != paved.BuildFailed {
		return
	}
	log, err := c.Builds.Log(ctx, a.Space, a.Name, builds[0].ID)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	fmt.Fprintf(w, "build %d log (last %d lines):\n", builds[0].ID, len(lines))
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
}

// procfileWeb returns the web: command of DIR/Procfile, if any.
func procfileWeb(dir string) string {
	f, err := os.Open(filepath.Join(dir, "Procfile"))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "web:"); ok {
			return strings.TrimSpace(cmd)
		}
	}
	return ""
}
