package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
	goyaml "sigs.k8s.io/yaml/goyaml.v2"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// NewCmdPipeline is `paved pipeline set|list|show|delete|check|timings`.
func NewCmdPipeline(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "pipeline", Short: "Manage delivery pipelines"}
	cmd.AddCommand(NewCmdPipelineSet(f, nil), newCmdPipelineList(f), newCmdPipelineTimings(f), newCmdPipelineCheck(f), newCmdPipelineDelete(f))
	return cmd
}

// PipelineSetOptions are the flags of `paved pipeline set`.
type PipelineSetOptions struct {
	f      *Factory
	Space  string
	Config string
	// WebhookSecretFiles are SOURCE=PATH: the webhook secret of a source,
	// read from a file (never from argv, which other users can see).
	WebhookSecretFiles []string
}

// NewCmdPipelineSet is `paved pipeline set -c pipeline.yml --space S`.
func NewCmdPipelineSet(f *Factory, runF func(*PipelineSetOptions) error) *cobra.Command {
	opts := &PipelineSetOptions{f: f}
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Create or replace a pipeline from a YAML (or JSON) file",
		Long: `set reads the pipeline model (the same as the API and the paved_pipeline
resource) from a YAML or JSON file, checks all of it, and sends it to the cell.
Unknown keys and bad references are refused with the path to the bad part.

Each source has a webhook: POST its path with header X-Paved-Webhook-Token
set to the source's secret checks it at once. Choose a secret with
--webhook-secret-file SOURCE=PATH (at least 32 printable characters; the
cell keeps only its hash). A new source without one gets a generated
secret, printed once by this command and never shown again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return runPipelineSet(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Space, "space", "s", "", "space of the pipeline (required)")
	cmd.Flags().StringVarP(&opts.Config, "config", "c", "", "pipeline file (required)")
	cmd.Flags().StringArrayVar(&opts.WebhookSecretFiles, "webhook-secret-file", nil,
		"SOURCE=PATH: set the source's webhook secret to the content of the file (repeatable)")
	cmd.MarkFlagRequired("space")
	cmd.MarkFlagRequired("config")
	return cmd
}

// webhookSecrets reads the --webhook-secret-file flags (one trailing
// newline of a file is not part of the secret).
func (opts *PipelineSetOptions) webhookSecrets() (map[string]string, error) {
	if len(opts.WebhookSecretFiles) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, f := range opts.WebhookSecretFiles {
		src, file, ok := strings.Cut(f, "=")
		if !ok || src == "" || file == "" {
			return nil, fmt.Errorf("--webhook-secret-file %q: use SOURCE=PATH", f)
		}
		if _, dup := out[src]; dup {
			return nil, fmt.Errorf("--webhook-secret-file: source %s is given twice", src)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--webhook-secret-file %s: %w", src, err)
		}
		out[src] = strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	}
	return out, nil
}

// ParsePipeline reads a pipeline from YAML or JSON strictly: unknown keys,
// duplicate keys and anything after the first document are errors.
func ParsePipeline(data []byte) (paved.PipelineSpec, error) {
	var spec paved.PipelineSpec
	if err := oneYAMLDocument(data); err != nil {
		return spec, err
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return spec, fmt.Errorf("not valid YAML: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return spec, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if spec.WebhookSecrets != nil {
		return spec, fmt.Errorf("webhook_secrets: secrets do not belong in a pipeline file; use --webhook-secret-file SOURCE=PATH")
	}
	return spec, nil
}

// oneYAMLDocument refuses a file of several YAML documents (after "---" or
// "..."), which YAMLToJSON would silently cut to the first, and, like
// YAMLToJSONStrict, duplicate keys, of which it would keep the last: a
// pipeline whose second "jobs:" drops the first one's jobs.
func oneYAMLDocument(data []byte) error {
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	dec.SetStrict(true)
	var doc any
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	switch err := dec.Decode(&doc); {
	case err == nil:
		return fmt.Errorf("the file holds more than one YAML document; a pipeline file is one pipeline")
	case !errors.Is(err, io.EOF):
		return fmt.Errorf("not valid YAML after the first document: %w", err)
	}
	return nil
}

func runPipelineSet(ctx context.Context, opts *PipelineSetOptions) error {
	data, err := os.ReadFile(opts.Config)
	if err != nil {
		return err
	}
	spec, err := ParsePipeline(data)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Config, err)
	}
	if spec.WebhookSecrets, err = opts.webhookSecrets(); err != nil {
		return err
	}
	// Check locally first, with every problem listed; the cell checks again
	// with what only it knows (which apps exist).
	if errs := spec.Validate(nil); len(errs) > 0 {
		var b strings.Builder
		for i, e := range errs {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(e.Error())
		}
		return fmt.Errorf("%s: %s", opts.Config, b.String())
	}
	c, err := opts.f.Client()
	if err != nil {
		return err
	}
	p, err := c.Pipelines.Set(ctx, opts.Space, spec)
	if err != nil {
		return err
	}
	if opts.f.JSON() {
		return opts.f.PrintJSON(p)
	}
	fmt.Fprintf(opts.f.Out, "pipeline %s/%s set (version %d): %d sources, %d jobs\n", p.Space, p.Name, p.Version, len(p.Sources), len(p.Jobs))
	shown := false
	for _, src := range slices.Sorted(maps.Keys(p.Webhooks)) {
		hook := p.Webhooks[src]
		secret := "the secret you set"
		if hook.Token != "" {
			secret, shown = hook.Token, true
		}
		fmt.Fprintf(opts.f.Out, "  webhook for %s: POST %s%s with %s: %s\n", src, c.Endpoint(), hook.Path, paved.WebhookHeader, secret)
	}
	if shown {
		fmt.Fprintln(opts.f.Err, "Save the generated webhook secrets now: the cell keeps only their hashes and will not show them again.")
	}
	return nil
}

func newCmdPipelineList(f *Factory) *cobra.Command {
	var space string
	cmd := &cobra.Command{
		Use: "list", Short: "List the pipelines of a space", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			ps, err := c.Pipelines.List(cmd.Context(), space)
			if err != nil {
				return err
			}
			if f.JSON() {
				return f.PrintJSON(ps)
			}
			tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PIPELINE\tSOURCES\tJOBS\tPAUSED")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%t\n", p.Name, len(p.Sources), len(p.Jobs), p.Paused)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&space, "space", "s", "", "space (required)")
	cmd.MarkFlagRequired("space")
	return cmd
}

func newCmdPipelineDelete(f *Factory) *cobra.Command {
	var space string
	cmd := &cobra.Command{
		Use: "delete NAME", Short: "Delete a pipeline with its builds", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			if err := c.Pipelines.Delete(cmd.Context(), space, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(f.Out, "pipeline %s deleted\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVarP(&space, "space", "s", "", "space (required)")
	cmd.MarkFlagRequired("space")
	return cmd
}

func newCmdPipelineCheck(f *Factory) *cobra.Command {
	var space string
	cmd := &cobra.Command{
		Use: "check PIPELINE SOURCE", Short: "Check a source for new versions now", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			return c.Pipelines.Check(cmd.Context(), space, args[0], args[1])
		},
	}
	cmd.Flags().StringVarP(&space, "space", "s", "", "space (required)")
	cmd.MarkFlagRequired("space")
	return cmd
}

func newCmdPipelineTimings(f *Factory) *cobra.Command {
	var space string
	var last int
	cmd := &cobra.Command{
		Use: "timings NAME", Short: "Step durations over recent builds: where the pipeline slows down", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			ts, err := c.Pipelines.Timings(cmd.Context(), space, args[0], last)
			if err != nil {
				return err
			}
			if f.JSON() {
				return f.PrintJSON(ts)
			}
			tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tSTEP\tBUILDS\tP50\tP95\tMAX")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", t.Job, t.Step, t.Builds, secs(t.P50), secs(t.P95), secs(t.Max))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&space, "space", "s", "", "space (required)")
	cmd.Flags().IntVar(&last, "last", 20, "builds per job to look at")
	cmd.MarkFlagRequired("space")
	return cmd
}

func secs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

// NewCmdBuilds is `paved builds PIPELINE[/JOB]` and `paved builds watch PIPELINE/JOB`.
func NewCmdBuilds(f *Factory) *cobra.Command {
	var space string
	cmd := &cobra.Command{
		Use: "builds PIPELINE[/JOB]", Short: "List pipeline builds", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			pipeline, job, _ := strings.Cut(args[0], "/")
			bs, err := c.Pipelines.Builds(cmd.Context(), space, pipeline, job)
			if err != nil {
				return err
			}
			if f.JSON() {
				return f.PrintJSON(bs)
			}
			tw := tabwriter.NewWriter(f.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tJOB\t#\tSTATUS\tINPUTS\tDURATION")
			for _, b := range bs {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", b.ID, b.Job, b.Number, b.Status, inputsText(b.Inputs), buildDuration(b))
			}
			return tw.Flush()
		},
	}
	cmd.PersistentFlags().StringVarP(&space, "space", "s", "", "space (required)")
	cmd.MarkPersistentFlagRequired("space")
	watch := &cobra.Command{
		Use: "watch PIPELINE/JOB", Short: "Follow the newest build of a job live, with step progress", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return watchBuild(cmd.Context(), f, space, args[0])
		},
	}
	cmd.AddCommand(watch)
	return cmd
}

func inputsText(in map[string]string) string {
	var parts []string
	for k, v := range in {
		if len(v) > 12 {
			v = v[:12]
		}
		parts = append(parts, k+"@"+v)
	}
	return strings.Join(parts, ",")
}

func buildDuration(b paved.JobBuild) string {
	if b.StartedAt == nil {
		return ""
	}
	end := time.Now()
	if b.FinishedAt != nil {
		end = *b.FinishedAt
	}
	return end.Sub(*b.StartedAt).Round(time.Millisecond).String()
}

// watchBuild follows the newest build of a job: its log as it grows and
// each step as it ends, until the build finishes.
func watchBuild(ctx context.Context, f *Factory, space, ref string) error {
	pipeline, job, ok := strings.Cut(ref, "/")
	if !ok {
		return fmt.Errorf("watch takes PIPELINE/JOB, not %q", ref)
	}
	c, err := f.Client()
	if err != nil {
		return err
	}
	var id int64
	for id == 0 {
		bs, err := c.Pipelines.Builds(ctx, space, pipeline, job)
		if err != nil {
			return err
		}
		if len(bs) > 0 {
			id = bs[0].ID
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	var offset int64
	for {
		b, err := c.Pipelines.Build(ctx, id)
		if err != nil {
			return err
		}
		text, next, err := c.Pipelines.BuildLogFrom(ctx, id, offset)
		if err != nil {
			return err
		}
		fmt.Fprint(f.Out, text)
		offset = next
		if b.FinishedAt != nil {
			fmt.Fprintf(f.Out, "build %s #%d %s\n", b.Job, b.Number, b.Status)
			for _, st := range b.Steps {
				fmt.Fprintf(f.Out, "  %-28s %-9s %s\n", st.Name, st.Status, secs(st.Seconds))
			}
			if b.Status != paved.BuildSucceeded {
				return fmt.Errorf("build %s #%d %s: %s", b.Job, b.Number, b.Status, b.Reason)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
