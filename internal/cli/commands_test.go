package cli

// Flag parsing through the runF seam: each command, built by its own
// constructor and put in place of its twin in the real command tree (so
// the global flags and the --output check apply), is run with arguments
// and a runF that keeps the options it is given. The table says which
// options those arguments make, or how they are refused.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pavedroad/terraform-provider-paved/internal/cell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// flagCase is one run of a command: its arguments (after the command's
// path), and either the options runF must get or a part of the error.
type flagCase[O any] struct {
	name string
	args []string
	want O
	err  string               // the run is refused with an error holding this; runF is not called
	env  map[string]string    // environment of the run
	also func(*testing.T, *O) // more checks on the options runF got
}

// testFlags runs each case through the real tree with the command at path
// replaced by build(f, capture). clear takes the Factory out of the
// options (it must be the tree's) so the rest compares with want.
func testFlags[O any](t *testing.T, path []string, build func(*Factory, func(*O) error) *cobra.Command,
	clear func(*O) *Factory, cases []flagCase[O]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			f := &Factory{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
			var got *O
			root := treeWith(t, f, path, build(f, func(o *O) error { got = o; return nil }))
			root.SetArgs(append(slices.Clone(path), tc.args...))
			var usage bytes.Buffer
			root.SetOut(&usage)
			root.SetErr(&usage)
			err := root.Execute()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("paved %s: error %v, want one with %q", strings.Join(tc.args, " "), err, tc.err)
				}
				if got != nil {
					t.Fatalf("runF ran on refused arguments with %+v", *got)
				}
				return
			}
			if err != nil {
				t.Fatalf("paved %s: %v", strings.Join(tc.args, " "), err)
			}
			if got == nil {
				t.Fatal("runF was not called")
			}
			if tc.also != nil {
				tc.also(t, got)
			}
			if gf := clear(got); gf != f {
				t.Fatalf("the options carry factory %p, not the tree's %p", gf, f)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("options\n got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

// treeWith is NewRootCmd(f) with the command at path replaced by cmd,
// which must be its twin: same name, same flags with the same defaults.
func treeWith(t *testing.T, f *Factory, path []string, cmd *cobra.Command) *cobra.Command {
	t.Helper()
	root := NewRootCmd(f)
	old, rest, err := root.Find(path)
	if err != nil || len(rest) > 0 || old == root || old.Name() != path[len(path)-1] {
		t.Fatalf("no command %q in the tree: %v %v", path, rest, err)
	}
	if a, b := flagSignature(old), flagSignature(cmd); a != b {
		t.Fatalf("the tree's %q is not built by this constructor:\n tree: %s\n ours: %s", path, a, b)
	}
	parent := old.Parent()
	parent.RemoveCommand(old)
	parent.AddCommand(cmd)
	return root
}

// flagSignature lists a command's own flags: name, shorthand, type,
// default and whether it is required.
func flagSignature(c *cobra.Command) string {
	var b strings.Builder
	fmtFlag := func(fl *pflag.Flag) {
		_, required := fl.Annotations[cobra.BashCompOneRequiredFlag]
		b.WriteString(fl.Name + "/" + fl.Shorthand + "/" + fl.Value.Type() + "=" + fl.DefValue)
		if required {
			b.WriteString("!")
		}
		b.WriteString(" ")
	}
	c.LocalFlags().VisitAll(fmtFlag)
	return c.Use + ": " + b.String()
}

func TestFlagsGlobal(t *testing.T) {
	type global struct {
		Endpoint, Token, CACert, Output string
		Insecure                        bool
	}
	var got *global
	run := func(args ...string) error {
		f := &Factory{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
		got = nil
		root := treeWith(t, f, []string{"status"}, NewCmdStatus(f, func(o *StatusOptions) error {
			got = &global{o.f.Endpoint, o.f.Token, o.f.CACert, o.f.Output, o.f.Insecure}
			return nil
		}))
		root.SetArgs(args)
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		return root.Execute()
	}
	for _, tc := range []struct {
		args []string
		want global
	}{
		{[]string{"status"}, global{Output: "table"}},
		{[]string{"--endpoint", "https://cell:7400", "--token", "tok", "--ca-cert", "/ca.pem", "--insecure", "--output", "json", "status"},
			global{"https://cell:7400", "tok", "/ca.pem", "json", true}},
		{[]string{"status", "-o", "json"}, global{Output: "json"}}, // global flags go anywhere
		{[]string{"status", "-o", "table"}, global{Output: "table"}},
	} {
		if err := run(tc.args...); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if got == nil || *got != tc.want {
			t.Fatalf("%q: factory %+v, want %+v", tc.args, got, tc.want)
		}
	}
	for _, bad := range []string{"yaml", "JSON", ""} {
		err := run("status", "--output", bad)
		if err == nil || err.Error() != `--output must be table or json, not "`+bad+`"` || got != nil {
			t.Fatalf("--output %q: %v (run: %v)", bad, err, got != nil)
		}
	}
	if err := run("status", "--bogus"); err == nil || !strings.Contains(err.Error(), "unknown flag: --bogus") || got != nil {
		t.Fatalf("an unknown flag: %v", err)
	}
	if err := run("stauts"); err == nil || !strings.Contains(err.Error(), `unknown command "stauts"`) {
		t.Fatalf("an unknown command: %v", err)
	}
}

// TestFactoryClient: the client is built from the global flags, else
// $PAVED_ENDPOINT and $PAVED_TOKEN, once; a missing --ca-cert file is
// named.
func TestFactoryClient(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"spaces":[]}`))
	}))
	defer srv.Close()
	t.Setenv("PAVED_ENDPOINT", srv.URL)
	t.Setenv("PAVED_TOKEN", "from-env")

	f := &Factory{Version: "9.9"}
	c, err := f.Client()
	if err != nil || c.Endpoint() != srv.URL {
		t.Fatalf("client from the environment: %v %v", c, err)
	}
	if again, _ := f.Client(); again != c {
		t.Fatal("the client is built again on the second call")
	}
	if _, err := c.Spaces.List(t.Context()); err != nil || auth[0] != "Bearer from-env" {
		t.Fatalf("list with the environment's token: %v %q", err, auth)
	}

	f = &Factory{Endpoint: srv.URL + "/", Token: "from-flag"}
	if c, err = f.Client(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Spaces.List(t.Context()); err != nil || auth[1] != "Bearer from-flag" {
		t.Fatalf("--token does not win over $PAVED_TOKEN: %v %q", err, auth)
	}

	f = &Factory{CACert: filepath.Join(t.TempDir(), "missing.pem")}
	if _, err := f.Client(); err == nil || !strings.HasPrefix(err.Error(), "--ca-cert: ") {
		t.Fatalf("a missing --ca-cert: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	f = &Factory{Endpoint: "https://127.0.0.1:1", CACert: bad}
	if _, err := f.Client(); err == nil {
		t.Fatal("a --ca-cert without a certificate was accepted")
	}
}

func TestFlagsStatus(t *testing.T) {
	testFlags(t, []string{"status"}, NewCmdStatus, func(o *StatusOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[StatusOptions]{
			{name: "no args", args: nil, want: StatusOptions{}},
			{name: "an argument", args: []string{"web"}, err: `unknown command "web" for "paved status"`},
		})
}

func TestFlagsApps(t *testing.T) {
	testFlags(t, []string{"apps"}, NewCmdApps, func(o *AppsOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[AppsOptions]{
			{name: "all spaces", want: AppsOptions{}},
			{name: "--space", args: []string{"--space", "prod"}, want: AppsOptions{Space: "prod"}},
			{name: "-s", args: []string{"-s", "prod"}, want: AppsOptions{Space: "prod"}},
			{name: "-s=", args: []string{"-s=prod"}, want: AppsOptions{Space: "prod"}},
			{name: "an argument", args: []string{"prod"}, err: `unknown command "prod" for "paved apps"`},
			{name: "--space without a value", args: []string{"--space"}, err: "flag needs an argument: --space"},
			{name: "an unknown flag", args: []string{"--app", "web"}, err: "unknown flag: --app"},
		})
}

func TestFlagsAppShow(t *testing.T) {
	testFlags(t, []string{"app", "show"}, NewCmdAppShow, func(o *AppShowOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[AppShowOptions]{
			{name: "name and space", args: []string{"web", "-s", "prod"}, want: AppShowOptions{Name: "web", Space: "prod"}},
			{name: "flags first", args: []string{"--space", "prod", "web"}, want: AppShowOptions{Name: "web", Space: "prod"}},
			{name: "no space", args: []string{"web"}, err: `required flag(s) "space" not set`},
			{name: "no name", args: []string{"-s", "prod"}, err: "accepts 1 arg(s), received 0"},
			{name: "two names", args: []string{"web", "api", "-s", "prod"}, err: "accepts 1 arg(s), received 2"},
		})
}

func TestFlagsPush(t *testing.T) {
	changed := func(want ...string) func(*testing.T, *PushOptions) {
		return func(t *testing.T, o *PushOptions) {
			t.Helper()
			for _, name := range []string{"space", "app", "instances", "route", "build", "command", "health-path", "health-type", "env", "memory", "timeout", "no-wait"} {
				if o.set(name) != slices.Contains(want, name) {
					t.Errorf("--%s given: %v, want %v", name, o.set(name), !o.set(name))
				}
			}
		}
	}
	defaults := PushOptions{Dir: "./src", Space: "prod", App: "web", Instances: 1, Timeout: 10 * time.Minute}
	with := func(fn func(*PushOptions)) PushOptions { o := defaults; fn(&o); return o }
	testFlags(t, []string{"push"}, NewCmdPush, func(o *PushOptions) *Factory { f := o.f; o.f, o.set = nil, nil; return f },
		[]flagCase[PushOptions]{
			{name: "defaults", args: []string{"./src", "--space", "prod", "--app", "web"}, want: defaults, also: changed("space", "app")},
			{name: "short flags", args: []string{"-s", "prod", "-a", "web", "./src", "-i", "3", "-e", "A=1"},
				want: with(func(o *PushOptions) { o.Instances, o.Env = 3, []string{"A=1"} }), also: changed("space", "app", "instances", "env")},
			{name: "every flag", args: []string{"./src", "-s", "prod", "-a", "web", "--instances", "0",
				"--route", "web.example.test", "--route", "example.test/api", "--build", "go build -o app .", "--command", "./app --port $PORT",
				"--health-path", "/healthz", "--health-type", "tcp", "--env", "A=1", "--env", "B=x=y", "--memory", "256",
				"--timeout", "90s", "--no-wait"},
				want: PushOptions{Dir: "./src", Space: "prod", App: "web", Instances: 0,
					Routes: []string{"web.example.test", "example.test/api"}, Build: "go build -o app .", Command: "./app --port $PORT",
					HealthPath: "/healthz", HealthType: "tcp", Env: []string{"A=1", "B=x=y"}, MemoryMB: 256, Timeout: 90 * time.Second, NoWait: true},
				also: changed("space", "app", "instances", "route", "build", "command", "health-path", "health-type", "env", "memory", "timeout", "no-wait")},
			// A value with a comma is one route and one env var: the
			// repeatable flags do not split on commas.
			{name: "commas are kept", args: []string{"./src", "-s", "prod", "-a", "web", "--route", "a.test,b.test", "-e", "LIST=a,b"},
				want: with(func(o *PushOptions) { o.Routes, o.Env = []string{"a.test,b.test"}, []string{"LIST=a,b"} }),
				also: changed("space", "app", "route", "env")},
			{name: "an empty build is given", args: []string{"./src", "-s", "prod", "-a", "web", "--build", ""},
				want: defaults, also: changed("space", "app", "build")},
			{name: "an archive", args: []string{"app.tar.gz", "-s", "prod", "-a", "web"}, want: with(func(o *PushOptions) { o.Dir = "app.tar.gz" })},
			{name: "no dir", args: []string{"-s", "prod", "-a", "web"}, err: "accepts 1 arg(s), received 0"},
			{name: "two dirs", args: []string{"a", "b", "-s", "prod", "-a", "web"}, err: "accepts 1 arg(s), received 2"},
			{name: "no app", args: []string{"./src", "-s", "prod"}, err: `required flag(s) "app" not set`},
			{name: "neither space nor app", args: []string{"./src"}, err: `required flag(s) "app", "space" not set`},
			{name: "instances not a number", args: []string{"./src", "-s", "prod", "-a", "web", "-i", "three"},
				err: `invalid argument "three" for "-i, --instances" flag`},
			{name: "a timeout without a unit", args: []string{"./src", "-s", "prod", "-a", "web", "--timeout", "30"},
				err: `invalid argument "30" for "--timeout" flag`},
			{name: "memory not a number", args: []string{"./src", "-s", "prod", "-a", "web", "--memory", "1G"},
				err: `invalid argument "1G" for "--memory" flag`},
		})
}

// TestPushApply: push overlays only the flags that were given onto the
// app's current spec; --env must be KEY=VALUE.
func TestPushApply(t *testing.T) {
	current := func() paved.AppSpec {
		return paved.AppSpec{Name: "web", Source: "abc", Build: "make", Command: "./old", Instances: 2, MemoryMB: 128,
			Env: map[string]string{"A": "1", "KEEP": "k"}, Routes: []paved.Route{{Host: "old.test"}},
			HealthCheck: &paved.HealthCheck{Type: paved.HealthHTTP, Path: "/healthz", Interval: paved.Duration(5 * time.Second), Grace: paved.Duration(time.Minute)}}
	}
	with := func(fn func(*paved.AppSpec)) paved.AppSpec { s := current(); fn(&s); return s }
	for _, tc := range []struct {
		name string
		args []string
		want paved.AppSpec
		err  string
	}{
		{name: "no flags keep everything", want: current()},
		{name: "--timeout and --no-wait change nothing", args: []string{"--timeout", "1s", "--no-wait"}, want: current()},
		{name: "scale to zero", args: []string{"-i", "0"}, want: with(func(s *paved.AppSpec) { s.Instances = 0 })},
		{name: "routes are replaced", args: []string{"--route", "new.test", "--route", "example.test/api/"},
			want: with(func(s *paved.AppSpec) {
				s.Routes = []paved.Route{{Host: "new.test"}, {Host: "example.test", Path: "/api/"}}
			})},
		{name: "env is merged", args: []string{"-e", "A=2", "-e", "B=x=y", "-e", "EMPTY="},
			want: with(func(s *paved.AppSpec) { s.Env = map[string]string{"A": "2", "B": "x=y", "EMPTY": "", "KEEP": "k"} })},
		{name: "build, command and memory cleared", args: []string{"--build", "", "--command", "./new", "--memory", "0"},
			want: with(func(s *paved.AppSpec) { s.Build, s.Command, s.MemoryMB = "", "./new", 0 })},
		{name: "a health path keeps the check's timing", args: []string{"--health-path", "/ready"},
			want: with(func(s *paved.AppSpec) { s.HealthCheck.Path = "/ready" })},
		{name: "a tcp check drops the path, keeps the timing", args: []string{"--health-type", "tcp"},
			want: with(func(s *paved.AppSpec) { s.HealthCheck.Type, s.HealthCheck.Path = paved.HealthTCP, "" })},
		{name: "a health path on an app without a check is an http check", args: []string{"--health-path", "/up"},
			want: with(func(s *paved.AppSpec) { s.HealthCheck = &paved.HealthCheck{Type: paved.HealthHTTP, Path: "/up"} })},
		{name: "env without =", args: []string{"-e", "A=1", "-e", "NOVALUE"}, err: `--env "NOVALUE" must look like KEY=VALUE`},
		{name: "env without a key", args: []string{"-e", "=v"}, err: `--env "=v" must look like KEY=VALUE`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts *PushOptions
			cmd := NewCmdPush(&Factory{}, func(o *PushOptions) error { opts = o; return nil })
			cmd.SetArgs(append([]string{"./src", "-s", "prod", "-a", "web"}, tc.args...))
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			spec := current()
			if strings.Contains(tc.name, "without a check") {
				spec.HealthCheck = nil
			}
			err := opts.apply(&spec)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("apply: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(spec, tc.want) {
				t.Fatalf("spec\n got %+v\nwant %+v", spec, tc.want)
			}
		})
	}
}

func TestProcfileWeb(t *testing.T) {
	dir := t.TempDir()
	if got := procfileWeb(dir); got != "" {
		t.Fatalf("no Procfile: %q", got)
	}
	os.WriteFile(filepath.Join(dir, "Procfile"), []byte("worker: ./w\n  web:   ./server --port $PORT  \nweb: ./second\n"), 0o644)
	if got := procfileWeb(dir); got != "./server --port $PORT" {
		t.Fatalf("web: line %q", got)
	}
	if got := procfileWeb(filepath.Join(dir, "Procfile")); got != "" {
		t.Fatalf("a file as the dir: %q", got)
	}
}

func TestFlagsLogs(t *testing.T) {
	testFlags(t, []string{"logs"}, NewCmdLogs, func(o *LogsOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[LogsOptions]{
			{name: "defaults", args: []string{"web", "-s", "prod"}, want: LogsOptions{Name: "web", Space: "prod", Tail: 100}},
			{name: "long flags", args: []string{"web", "--space", "prod", "--tail", "5", "--follow"},
				want: LogsOptions{Name: "web", Space: "prod", Tail: 5, Follow: true}},
			{name: "short flags", args: []string{"web", "-s", "prod", "-n", "0", "-f"},
				want: LogsOptions{Name: "web", Space: "prod", Tail: 0, Follow: true}},
			{name: "no space", args: []string{"web", "-f"}, err: `required flag(s) "space" not set`},
			{name: "no app", args: []string{"-s", "prod"}, err: "accepts 1 arg(s), received 0"},
			{name: "tail not a number", args: []string{"web", "-s", "prod", "-n", "all"}, err: `invalid argument "all" for "-n, --tail" flag`},
		})
}

func TestFlagsDelete(t *testing.T) {
	testFlags(t, []string{"delete"}, NewCmdDelete, func(o *DeleteOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[DeleteOptions]{
			{name: "app and space", args: []string{"web", "-s", "prod"}, want: DeleteOptions{Name: "web", Space: "prod"}},
			{name: "no space", args: []string{"web"}, err: `required flag(s) "space" not set`},
			{name: "no app", args: []string{"--space", "prod"}, err: "accepts 1 arg(s), received 0"},
			{name: "two apps", args: []string{"web", "api", "-s", "prod"}, err: "accepts 1 arg(s), received 2"},
		})
}

func TestFlagsEvents(t *testing.T) {
	testFlags(t, []string{"events"}, NewCmdEvents, func(o *EventsOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[EventsOptions]{
			{name: "defaults", want: EventsOptions{Limit: 100}},
			{name: "after and limit", args: []string{"--after", "9000000000", "--limit", "5"}, want: EventsOptions{After: 9000000000, Limit: 5}},
			{name: "an argument", args: []string{"42"}, err: `unknown command "42" for "paved events"`},
			{name: "after not a number", args: []string{"--after", "yesterday"}, err: `invalid argument "yesterday" for "--after" flag`},
		})
}

func TestFlagsRolloutStatus(t *testing.T) {
	testFlags(t, []string{"rollout", "status"}, NewCmdRolloutStatus, func(o *RolloutStatusOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[RolloutStatusOptions]{
			{name: "latest", args: []string{"web", "-s", "prod"}, want: RolloutStatusOptions{Name: "web", Space: "prod"}},
			{name: "one deployment, watched", args: []string{"web", "-s", "prod", "--deployment", "7", "-w"},
				want: RolloutStatusOptions{Name: "web", Space: "prod", ID: 7, Watch: true}},
			{name: "--watch", args: []string{"web", "-s", "prod", "--watch"}, want: RolloutStatusOptions{Name: "web", Space: "prod", Watch: true}},
			{name: "no space", args: []string{"web"}, err: `required flag(s) "space" not set`},
			{name: "no app", args: []string{"-s", "prod"}, err: "accepts 1 arg(s), received 0"},
			{name: "a bad deployment id", args: []string{"web", "-s", "prod", "--deployment", "latest"}, err: `invalid argument "latest" for "--deployment" flag`},
		})
}

func TestFlagsRollback(t *testing.T) {
	testFlags(t, []string{"rollback"}, NewCmdRollback, func(o *RollbackOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[RollbackOptions]{
			{name: "defaults", args: []string{"web", "-s", "prod"}, want: RollbackOptions{Name: "web", Space: "prod", Timeout: 10 * time.Minute}},
			{name: "--to and --timeout", args: []string{"web", "-s", "prod", "--to", "3", "--timeout", "2m30s"},
				want: RollbackOptions{Name: "web", Space: "prod", To: 3, Timeout: 150 * time.Second}},
			{name: "no space", args: []string{"web", "--to", "3"}, err: `required flag(s) "space" not set`},
			{name: "no app", args: []string{"-s", "prod"}, err: "accepts 1 arg(s), received 0"},
			{name: "to not a number", args: []string{"web", "-s", "prod", "--to", "v3"}, err: `invalid argument "v3" for "--to" flag`},
		})
}

func TestFlagsRegions(t *testing.T) {
	const flag = "eu=http://127.0.0.1:7401,us=http://127.0.0.1:7402"
	testFlags(t, []string{"regions"}, NewCmdRegions, func(o *RegionsOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[RegionsOptions]{
			{name: "--regions", args: []string{"--regions", flag}, env: map[string]string{paved.RegionsEnv: ""}, want: RegionsOptions{Regions: flag}},
			{name: "from the environment", env: map[string]string{paved.RegionsEnv: "local=http://127.0.0.1:7400"},
				want: RegionsOptions{Regions: "local=http://127.0.0.1:7400"}},
			{name: "--regions wins over the environment", args: []string{"--regions", flag, "--watch", "1s"},
				env: map[string]string{paved.RegionsEnv: "local=http://127.0.0.1:7400"}, want: RegionsOptions{Regions: flag, Watch: time.Second}},
			{name: "no regions", env: map[string]string{paved.RegionsEnv: ""}, err: "no regions: pass --regions NAME=ENDPOINT,… or set " + paved.RegionsEnv},
			{name: "a bad interval", args: []string{"--regions", flag, "--watch", "often"}, err: `invalid argument "often" for "--watch" flag`},
		})
}

func TestFlagsServer(t *testing.T) {
	defaults := cell.Config{Region: "local", Cloud: "local", DataDir: "/d", APIAddr: "127.0.0.1:7400", RouterAddr: "127.0.0.1:7480",
		RouterServer: "fast", MaxSourceBytes: 256 << 20, RateLimit: 200, BuildTimeout: 10 * time.Minute, StopGrace: 10 * time.Second,
		RouterResponseTimeout: time.Minute, Isolation: cell.IsolationAuto, UIDBase: cell.DefaultUIDBase, UIDCount: cell.DefaultUIDCount,
		Runtime: cell.RuntimeProcess, Kube: cell.KubeConfig{NamespacePrefix: "paved-", EvictionAfter: 30 * time.Second}}
	testFlags(t, []string{"server"}, NewCmdServer, func(o *ServerOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[ServerOptions]{
			{name: "defaults", args: []string{"--data", "/d"}, want: ServerOptions{Config: defaults, LogFmt: "text"}},
			{name: "every flag", args: []string{"--data", "/d", "--region", "eu", "--cloud", "aws", "--secrets-key-file", "/k",
				"--api", "0.0.0.0:1", "--router", "0.0.0.0:2", "--router-server", "std", "--router-event-loops", "-1",
				"--token", "t", "--token-file", "/t", "--max-source-bytes", "1024", "--rate-limit", "0.5", "--build-timeout", "1m",
				"--stop-grace", "2s", "--tls-cert", "/c", "--tls-key", "/kk", "--peer-ca-cert", "/ca", "--router-response-timeout", "0s",
				"--isolation", "none", "--isolation-uid-base", "100000", "--isolation-uid-count", "10", "--log-format", "json",
				"--runtime", "kubernetes", "--kubeconfig", "/kc", "--kube-context", "ctx", "--kube-namespace-prefix", "p-",
				"--kube-stack-image", "img:1", "--kube-cell-url", "http://cell:7400", "--kube-eviction-after", "5s",
				"--kube-fetch-command", "/paved,droplet,fetch"},
				want: ServerOptions{LogFmt: "json", Config: cell.Config{Region: "eu", Cloud: "aws", DataDir: "/d", SecretsKeyFile: "/k",
					APIAddr: "0.0.0.0:1", RouterAddr: "0.0.0.0:2", RouterServer: "std", RouterEventLoops: -1, Token: "t", TokenFile: "/t",
					MaxSourceBytes: 1024, RateLimit: 0.5, BuildTimeout: time.Minute, StopGrace: 2 * time.Second, TLSCert: "/c", TLSKey: "/kk",
					PeerCACert: "/ca", Isolation: "none", UIDBase: 100000, UIDCount: 10, Runtime: cell.RuntimeKubernetes,
					Kube: cell.KubeConfig{Kubeconfig: "/kc", Context: "ctx", NamespacePrefix: "p-", StackImage: "img:1",
						CellURL: "http://cell:7400", EvictionAfter: 5 * time.Second, FetchCommand: []string{"/paved", "droplet", "fetch"}}}}},
			{name: "no data dir", err: `required flag(s) "data" not set`},
			{name: "an argument", args: []string{"--data", "/d", "now"}, err: `unknown command "now" for "paved server"`},
		})
	testFlags(t, []string{"server", "rotate-key"}, NewCmdRotateKey, func(o *RotateKeyOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[RotateKeyOptions]{
			{name: "data dir", args: []string{"--data", "/d"}, want: RotateKeyOptions{DataDir: "/d"}},
			{name: "key file", args: []string{"--data", "/d", "--secrets-key-file", "/k"}, want: RotateKeyOptions{DataDir: "/d", SecretsKeyFile: "/k"}},
			{name: "no data dir", args: []string{"--secrets-key-file", "/k"}, err: `required flag(s) "data" not set`},
		})
}

func TestFlagsPipelineSet(t *testing.T) {
	testFlags(t, []string{"pipeline", "set"}, NewCmdPipelineSet, func(o *PipelineSetOptions) *Factory { f := o.f; o.f = nil; return f },
		[]flagCase[PipelineSetOptions]{
			{name: "space and file", args: []string{"-s", "prod", "-c", "p.yml"}, want: PipelineSetOptions{Space: "prod", Config: "p.yml"}},
			{name: "webhook secrets", args: []string{"--space", "prod", "--config", "p.yml", "--webhook-secret-file", "repo=/s1", "--webhook-secret-file", "docs=/s,2"},
				want: PipelineSetOptions{Space: "prod", Config: "p.yml", WebhookSecretFiles: []string{"repo=/s1", "docs=/s,2"}}},
			{name: "no file", args: []string{"-s", "prod"}, err: `required flag(s) "config" not set`},
			{name: "no space", args: []string{"-c", "p.yml"}, err: `required flag(s) "space" not set`},
			{name: "an argument", args: []string{"-s", "prod", "-c", "p.yml", "extra"}, err: `unknown command "extra" for "paved pipeline set"`},
		})
}

// TestWebhookSecrets: --webhook-secret-file SOURCE=PATH reads the secret
// from the file, without its one trailing newline; bad forms are refused.
func TestWebhookSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	lf, crlf, two := write("lf", "secret-one\n"), write("crlf", "secret-two\r\n"), write("two", "secret-three\n\n")
	opts := &PipelineSetOptions{WebhookSecretFiles: []string{"a=" + lf, "b=" + crlf, "c=" + two}}
	got, err := opts.webhookSecrets()
	want := map[string]string{"a": "secret-one", "b": "secret-two", "c": "secret-three\n"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("secrets %q %v, want %q", got, err, want)
	}
	if got, err := (&PipelineSetOptions{}).webhookSecrets(); got != nil || err != nil {
		t.Fatalf("no flags: %v %v", got, err)
	}
	for _, tc := range []struct {
		flags []string
		err   string
	}{
		{[]string{"repo"}, `--webhook-secret-file "repo": use SOURCE=PATH`},
		{[]string{"=" + lf}, `use SOURCE=PATH`},
		{[]string{"repo="}, `use SOURCE=PATH`},
		{[]string{"repo=" + lf, "repo=" + crlf}, "--webhook-secret-file: source repo is given twice"},
		{[]string{"repo=" + filepath.Join(dir, "missing")}, "--webhook-secret-file repo: open "},
	} {
		if _, err := (&PipelineSetOptions{WebhookSecretFiles: tc.flags}).webhookSecrets(); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want %q", tc.flags, err, tc.err)
		}
	}
}

// TestRefusedArguments: the commands without a runF seam refuse bad
// arguments and flags before they call the cell (whose stand-in fails the
// test if it is called).
func TestRefusedArguments(t *testing.T) {
	cell := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the cell was called: %s %s", r.Method, r.URL)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer cell.Close()
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"space", "create"}, "accepts 1 arg(s), received 0"},
		{[]string{"space", "create", "a", "b"}, "accepts 1 arg(s), received 2"},
		{[]string{"space", "list", "a"}, `unknown command "a" for "paved space list"`},
		{[]string{"space", "delete"}, "accepts 1 arg(s), received 0"},
		{[]string{"token", "create", "ci"}, `required flag(s) "role" not set`},
		{[]string{"token", "create", "--role", "admin"}, "accepts 1 arg(s), received 0"},
		{[]string{"token", "create", "ci", "--role", "root"}, "--role: "},
		{[]string{"token", "create", "ci", "--role", "space_developer"}, "--space: "},
		{[]string{"token", "create", "ci", "--role", "admin", "--space", "prod"}, "--space: "},
		{[]string{"token", "create", "no spaces allowed", "--role", "admin"}, "NAME: "},
		{[]string{"token", "list", "x"}, `unknown command "x" for "paved token list"`},
		{[]string{"token", "revoke"}, "accepts 1 arg(s), received 0"},
		{[]string{"env", "create", "pr-1"}, `required flag(s) "from" not set`},
		{[]string{"env", "create", "--from", "prod"}, "accepts 1 arg(s), received 0"},
		{[]string{"env", "create", "pr-1", "--from", "prod", "--ttl", "2"}, `invalid argument "2" for "--ttl" flag`},
		{[]string{"env", "list", "x"}, `unknown command "x" for "paved env list"`},
		{[]string{"env", "delete"}, "accepts 1 arg(s), received 0"},
		{[]string{"restore"}, "accepts 1 arg(s), received 0"},
		{[]string{"restore", "prod", "--snapshot", "last"}, `invalid argument "last" for "--snapshot" flag`},
		{[]string{"snapshots"}, "accepts 1 arg(s), received 0"},
		{[]string{"pipeline", "list"}, `required flag(s) "space" not set`},
		{[]string{"pipeline", "delete", "web"}, `required flag(s) "space" not set`},
		{[]string{"pipeline", "check", "web", "-s", "prod"}, "accepts 2 arg(s), received 1"},
		{[]string{"pipeline", "timings", "web", "-s", "prod", "--last", "all"}, `invalid argument "all" for "--last" flag`},
		{[]string{"builds", "web"}, `required flag(s) "space" not set`},
		{[]string{"builds", "watch", "web/unit"}, `required flag(s) "space" not set`},
		{[]string{"builds", "watch", "web", "-s", "prod"}, `watch takes PIPELINE/JOB, not "web"`},
		{[]string{"app"}, ""}, // a group alone prints its help
	} {
		r := runCLI(t.Context(), append([]string{"--endpoint", cell.URL}, tc.args...)...)
		if tc.err == "" {
			if r.runErr != nil || !strings.Contains(r.err, "Available Commands:") {
				t.Errorf("paved %s: %v, help:\n%s", strings.Join(tc.args, " "), r.runErr, r.err)
			}
			continue
		}
		if r.runErr == nil || !strings.Contains(r.runErr.Error(), tc.err) {
			t.Errorf("paved %s: %v, want an error with %q", strings.Join(tc.args, " "), r.runErr, tc.err)
		}
		if r.out != "" {
			t.Errorf("paved %s wrote to stdout: %q", strings.Join(tc.args, " "), r.out)
		}
	}
}

// TestOneLine: Main's error line is one line, and names the field an API
// error is about once.
func TestOneLine(t *testing.T) {
	field := &paved.APIError{Status: 422, Code: paved.CodeValidation, Field: "source", Message: "not a tar.gz or zip archive"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{field, "source: not a tar.gz or zip archive"},
		{fmt.Errorf("upload source abc: %w", field), "upload source abc: source: not a tar.gz or zip archive"},
		{&paved.APIError{Status: 404, Message: "app \"web\" does not exist"}, `app "web" does not exist`},
		{fmt.Errorf("first\nsecond\n"), "first second"},
	} {
		if got := oneLine(tc.err); got != tc.want {
			t.Errorf("oneLine(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestRequestsOfCommandsWithoutSeam: the commands that have no runF send
// what their arguments and flags say (a stand-in cell records the
// requests and answers {}).
func TestRequestsOfCommandsWithoutSeam(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(body)))
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"space", "create", "prod"}, `POST /v1/spaces {"name":"prod"}`},
		{[]string{"space", "list"}, `GET /v1/spaces`},
		{[]string{"space", "delete", "prod"}, `DELETE /v1/spaces/prod`},
		{[]string{"token", "create", "ci", "--role", "space_auditor", "--space", "prod"}, `POST /v1/tokens {"name":"ci","role":"space_auditor","space":"prod"}`},
		{[]string{"token", "revoke", "tok_1"}, `DELETE /v1/tokens/tok_1`},
		{[]string{"env", "create", "pr-1", "--from", "prod"}, `POST /v1/environments {"name":"pr-1","from_space":"prod","ttl":"1h0m0s"}`},
		{[]string{"env", "create", "pr-1", "--from", "prod", "--ttl", "90m", "--destroy-on-success"},
			`POST /v1/environments {"name":"pr-1","from_space":"prod","ttl":"1h30m0s","destroy_on_success":true}`},
		{[]string{"env", "delete", "pr-1"}, `DELETE /v1/environments/pr-1`},
		{[]string{"restore", "prod"}, `POST /v1/spaces/prod/restore {}`},
		{[]string{"restore", "prod", "--snapshot", "3"}, `POST /v1/spaces/prod/restore {"snapshot":3}`},
		{[]string{"snapshots", "prod"}, `GET /v1/spaces/prod/snapshots`},
		{[]string{"pipeline", "list", "-s", "prod"}, `GET /v1/spaces/prod/pipelines`},
		{[]string{"pipeline", "delete", "web", "-s", "prod"}, `DELETE /v1/spaces/prod/pipelines/web`},
		{[]string{"pipeline", "check", "web", "repo", "-s", "prod"}, `POST /v1/spaces/prod/pipelines/web/sources/repo/check`},
		{[]string{"pipeline", "timings", "web", "-s", "prod"}, `GET /v1/spaces/prod/pipelines/web/timings?last=20`},
		{[]string{"pipeline", "timings", "web", "-s", "prod", "--last", "5"}, `GET /v1/spaces/prod/pipelines/web/timings?last=5`},
		{[]string{"builds", "web", "-s", "prod"}, `GET /v1/spaces/prod/pipelines/web/builds`},
		{[]string{"builds", "web/unit", "-s", "prod"}, `GET /v1/spaces/prod/pipelines/web/jobs/unit/builds`},
		{[]string{"events", "--after", "7", "--limit", "3"}, `GET /v1/events?after=7&limit=3`},
		{[]string{"events", "--limit", "0"}, `GET /v1/events?after=0`},
		{[]string{"rollback", "web", "-s", "prod", "--to", "2", "--timeout", "1ms"}, `POST /v1/spaces/prod/apps/web/rollback {"to":2}`},
	} {
		got = nil
		runCLI(t.Context(), append([]string{"--endpoint", srv.URL, "--token", "t"}, tc.args...)...)
		if len(got) == 0 || got[0] != tc.want {
			t.Errorf("paved %s sent %q, want first %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

// TestMainExitCode: Main, as the paved binary runs it, exits 1 with one
// "paved: …" line on stderr for an error, and 0 otherwise.
func TestMainExitCode(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"--version"}, 0, "paved version test\n", ""},
		{[]string{"space", "create"}, 1, "", "paved: accepts 1 arg(s), received 0\n"},
		{[]string{"apps", "-o", "yaml"}, 1, "", "paved: --output must be table or json, not \"yaml\"\n"},
		{[]string{"token", "create", "ci", "--role", "root"}, 1, "", ""},
	} {
		cmd := exec.Command(exe, tc.args...)
		cmd.Env = append(os.Environ(), "PAVED_CLI_TEST_AS_PAVED=1")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || stdout.String() != tc.stdout || tc.stderr != "" && stderr.String() != tc.stderr {
			t.Errorf("paved %s: exit %d, stdout %q, stderr %q; want %d, %q, %q", strings.Join(tc.args, " "), code, stdout.String(), stderr.String(),
				tc.code, tc.stdout, tc.stderr)
		}
		if tc.code != 0 && (!strings.HasPrefix(stderr.String(), "paved: ") || strings.Count(stderr.String(), "\n") != 1) {
			t.Errorf("paved %s: the error is not one paved: line: %q", strings.Join(tc.args, " "), stderr.String())
		}
	}
}

func TestServerRefusesUnknownLogFormat(t *testing.T) {
	err := runServer(context.Background(), &ServerOptions{f: &Factory{Out: io.Discard, Err: io.Discard}, LogFmt: "yaml"})
	if err == nil || err.Error() != `--log-format "yaml": use text or json` {
		t.Fatalf("runServer with --log-format yaml: %v", err)
	}
}

func TestPushRefusesBadEnvBeforeUploading(t *testing.T) {
	// No cell listens there: reaching for it would fail with another error.
	f := &Factory{Out: io.Discard, Err: io.Discard, Endpoint: "http://127.0.0.1:1"}
	err := runPush(context.Background(), &PushOptions{f: f, Dir: t.TempDir(), Space: "prod", App: "web", Env: []string{"NOVALUE"}})
	if err == nil || err.Error() != `--env "NOVALUE" must look like KEY=VALUE` {
		t.Fatalf("push with a bad --env: %v", err)
	}
}
