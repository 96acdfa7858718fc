// Package tests runs paved's Pulumi plugin and SDK with the real Pulumi
// CLI against real cells: Automation API inline programs, a local file
// backend, no network. The CLI comes from $PULUMI_CLI, else PATH, else
// the cache of scripts/install-pulumi.sh; `make pulumi-test` sets it.
package tests

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

// moduleRoot is the pulumi module's directory.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// pulumiCLI finds the Pulumi CLI. Without one the tests skip, unless
// PAVED_PULUMI_REQUIRED is set (make pulumi-test sets it): then they fail.
func pulumiCLI(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PULUMI_CLI"); p != "" {
		return p
	}
	if p, err := exec.LookPath("pulumi"); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(home, ".cache")
	}
	p := filepath.Join(cache, "paved", "pulumi", "3.274.1", "pulumi")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("PAVED_PULUMI_REQUIRED") != "" {
		t.Fatal("no Pulumi CLI: set PULUMI_CLI or run scripts/install-pulumi.sh")
	}
	t.Skip("no Pulumi CLI (set PULUMI_CLI, or run scripts/install-pulumi.sh)")
	return ""
}

var (
	pluginOnce sync.Once
	pluginDir  string
	pluginErr  error
)

// pluginPath builds pulumi-resource-paved once per test binary (into the
// user's cache, testcell.Build), whose directory the tests put first on the
// engine's PATH.
func pluginPath(t testing.TB) string {
	t.Helper()
	pluginOnce.Do(func() {
		var bin string
		bin, pluginErr = testcell.Build(moduleRoot(), "./cmd/pulumi-resource-paved", "pulumi-resource-paved")
		pluginDir = filepath.Dir(bin)
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
	return filepath.Join(pluginDir, "pulumi-resource-paved")
}

// stack is an inline program's stack with the real CLI and a local backend.
type stack struct {
	auto.Stack
	t   testing.TB
	out *syncBuffer // the CLI's output, shown when the test fails
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newStack makes a stack for program in a fresh local backend and Pulumi
// home (so the only paved plugin the engine can find is ours, on PATH,
// and a missing one fails instead of being downloaded).
func newStack(t testing.TB, name string, endpoint, token string, program pulumi.RunFunc) *stack {
	t.Helper()
	cli, plugin := pulumiCLI(t), pluginPath(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "cli")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cli, filepath.Join(root, "bin", "pulumi")); err != nil {
		t.Fatal(err)
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: root, SkipVersionCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PULUMI_BACKEND_URL":                          "file://" + filepath.Join(dir, "state"),
		"PULUMI_HOME":                                 filepath.Join(dir, "home"),
		"PULUMI_CONFIG_PASSPHRASE":                    "test",
		"PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK":    "true",
		"PULUMI_SKIP_UPDATE_CHECK":                    "true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
		"PULUMI_IGNORE_AMBIENT_PLUGINS":               "false",
		"PATH":                                        filepath.Dir(plugin) + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	work := filepath.Join(dir, "work")
	for _, d := range []string{env["PULUMI_HOME"], strings.TrimPrefix(env["PULUMI_BACKEND_URL"], "file://"), work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	s, err := auto.UpsertStackInlineSource(ctx, name, "paved-acc", program, auto.Pulumi(cmd), auto.EnvVars(env),
		auto.WorkDir(work))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfig(ctx, "paved:endpoint", auto.ConfigValue{Value: endpoint}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConfig(ctx, "paved:token", auto.ConfigValue{Value: token, Secret: true}); err != nil {
		t.Fatal(err)
	}
	st := &stack{Stack: s, t: t, out: &syncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Pulumi CLI output of stack %s:\n%s", name, st.out.String())
		}
	})
	return st
}

// log is where the CLI's output goes (shown when the test fails).
func (s *stack) log() io.Writer { return s.out }

// steps collects the engine's resource steps of one operation by URN type.
type steps struct {
	ch   chan events.EngineEvent
	done chan struct{}
	mu   sync.Mutex
	list []apitype.StepEventMetadata
	// outputs are the steps' outcomes (a refresh knows its diffs only then).
	outputs []apitype.StepEventMetadata
}

func collectSteps() *steps {
	s := &steps{ch: make(chan events.EngineEvent), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for e := range s.ch {
			s.mu.Lock()
			if e.ResourcePreEvent != nil {
				s.list = append(s.list, e.ResourcePreEvent.Metadata)
			}
			if e.ResOutputsEvent != nil {
				s.outputs = append(s.outputs, e.ResOutputsEvent.Metadata)
			}
			s.mu.Unlock()
		}
	}()
	return s
}

// of returns the steps on resources of a type ("paved:index:App"); the
// event stream is complete once the operation returned.
func (s *steps) of(typ string) []apitype.StepEventMetadata { return s.filter(typ, false) }

// outcomes returns the outcomes of the steps on resources of a type.
func (s *steps) outcomes(typ string) []apitype.StepEventMetadata { return s.filter(typ, true) }

func (s *steps) filter(typ string, outcomes bool) []apitype.StepEventMetadata {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.list
	if outcomes {
		list = s.outputs
	}
	var out []apitype.StepEventMetadata
	for _, m := range list {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// get sends GET / for host to the cell's router and returns the body.
func get(routerAddr, host string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+routerAddr+"/", nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// loadWhile sends requests to host through the router until stop is
// called: a canary's error-rate gate needs traffic.
func loadWhile(routerAddr, host string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			get(routerAddr, host)
		}
	})
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// copyDir copies a source tree (the example app) so a test may edit it.
func copyDir(t testing.TB, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}
