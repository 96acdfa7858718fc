package cli

// The run functions against a real cell (cell_test.go): each test starts
// its own `paved server`, drives it with the real command tree in-process
// and checks what the commands print and what the cell then holds.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// mustMatch fails the test unless s matches the regular expression.
func mustMatch(t *testing.T, what, s, re string) []string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%s does not match %s:\n%s", what, re, s)
	}
	return m
}

// decode parses JSON output into v, failing the test if it does not parse.
func decode(t *testing.T, what, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s is not the JSON expected: %v\n%s", what, err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%s has more than one JSON value:\n%s", what, out)
	}
}

// serves polls until GET / of host through the router answers 200 with a
// body starting with want.
func (c *testCell) serves(host, want string) {
	c.t.Helper()
	eventually(c.t, 10*time.Second, host+" answers "+want, func() error {
		code, body, err := c.get(host, "/")
		if err != nil {
			return err
		}
		if code != http.StatusOK || !strings.HasPrefix(body, want) {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
}

func (c *testCell) app(space, name string) *paved.App {
	c.t.Helper()
	a, err := c.client.Apps.Get(context.Background(), space, name)
	if err != nil {
		c.t.Fatalf("app %s/%s: %v", space, name, err)
	}
	return a
}

func (c *testCell) noApp(space, name string) {
	c.t.Helper()
	if a, err := c.client.Apps.Get(context.Background(), space, name); !paved.IsNotFound(err) {
		c.t.Fatalf("app %s/%s exists (%v, %v), want none", space, name, a, err)
	}
}

// TestRunSpaces: space create, list and delete, in table and JSON form,
// and the cell's refusals as errors.
func TestRunSpaces(t *testing.T) {
	t.Parallel()
	c := startCell(t)
	ctx := context.Background()
	if out := c.ok("space", "create", "demo"); out != "space demo created\n" {
		t.Fatalf("space create printed %q", out)
	}
	var sp paved.Space
	decode(t, "space create -o json", c.ok("space", "create", "other", "-o", "json"), &sp)
	if sp.Name != "other" || sp.CreatedAt.IsZero() || sp.Version == 0 {
		t.Fatalf("space create -o json: %+v", sp)
	}
	if r := c.fails("space", "create", "demo"); !errors.Is(r.runErr, paved.ErrConflict) || !strings.Contains(r.runErr.Error(), "demo") {
		t.Fatalf("creating a space twice: %v", r.runErr)
	}
	if r := c.fails("space", "create", "Not_A_Label"); !errors.Is(r.runErr, paved.ErrValidation) || !strings.HasPrefix(oneLine(r.runErr), "name: ") {
		t.Fatalf("a bad space name: %v (%q)", r.runErr, oneLine(r.runErr))
	}

	list := c.ok("space", "list")
	mustMatch(t, "space list", list, `^SPACE\s+CREATED\n`)
	mustMatch(t, "space list", list, `(?m)^demo\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)
	mustMatch(t, "space list", list, `(?m)^other\s+\d{4}-`)
	var spaces []paved.Space
	decode(t, "space list -o json", c.ok("space", "list", "-o", "json"), &spaces)
	var names []string
	for _, s := range spaces {
		names = append(names, s.Name)
	}
	if slices.Sort(names); !slices.Equal(names, []string{"demo", "other"}) {
		t.Fatalf("space list -o json: %v", names)
	}

	if out := c.ok("space", "delete", "other"); out != "space other deleted\n" {
		t.Fatalf("space delete printed %q", out)
	}
	if _, err := c.client.Spaces.Get(ctx, "other"); !paved.IsNotFound(err) {
		t.Fatalf("the deleted space: %v", err)
	}
	if r := c.fails("space", "delete", "other"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("deleting a missing space: %v", r.runErr)
	}
	// A space with an app in it is not deleted.
	c.ok("push", appDir(t), "-s", "demo", "-a", "idle", "--instances", "0")
	if r := c.fails("space", "delete", "demo"); !errors.Is(r.runErr, paved.ErrConflict) {
		t.Fatalf("deleting a space with an app: %v", r.runErr)
	}
	if _, err := c.client.Spaces.Get(ctx, "demo"); err != nil {
		t.Fatalf("the space with an app: %v", err)
	}
}

// TestRunAppLifecycle follows one app through push (new, unchanged
// source, changed env), apps, app show, status, logs (with --follow),
// rollback, rollout status, a rollout that is rolled back, events and
// delete.
func TestRunAppLifecycle(t *testing.T) {
	t.Parallel()
	c := startCell(t)
	ctx := context.Background()
	exe, _ := os.Executable()
	dir := appDir(t)
	_, digest, err := paved.ReadSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.ok("space", "create", "demo")

	// A new app: its command from the Procfile, the flags' settings.
	r := c.run("push", dir, "--space", "demo", "--app", "web", "--env", appEnv+"=1", "--env", "GREETING=one",
		"--route", "web.test", "--health-path", "/healthz", "--timeout", "1m")
	if r.runErr != nil {
		t.Fatalf("push: %v\n%s", r.runErr, r.err)
	}
	if r.out != "app demo/web is running: release 1, 1/1 instances healthy\n  route web.test\n" {
		t.Fatalf("push printed %q", r.out)
	}
	mustMatch(t, "push's stderr", r.err, `^uploaded `+digest[:12]+` \(\d+ bytes\)\n`)
	mustMatch(t, "push's stderr", r.err, `(?m)^web: running, 1/1 instances healthy$`)
	a := c.app("demo", "web")
	if a.Command != "exec "+exe || a.Source != digest || a.Instances != 1 || a.Env["GREETING"] != "one" ||
		a.HealthCheck == nil || a.HealthCheck.Type != paved.HealthHTTP || a.HealthCheck.Path != "/healthz" ||
		len(a.Routes) != 1 || a.Routes[0].Host != "web.test" {
		t.Fatalf("the pushed app: %+v", a.AppSpec)
	}
	c.serves("web.test", "one from demo-web-1-")

	// The same source again is not uploaded again; flags not given keep
	// the app's settings.
	r = c.run("push", dir, "-s", "demo", "-a", "web", "-e", "GREETING=two")
	if r.runErr != nil {
		t.Fatalf("second push: %v\n%s", r.runErr, r.err)
	}
	mustMatch(t, "second push's stderr", r.err, `^source `+digest[:12]+` already on the cell, skipping upload\n`)
	if r.out != "app demo/web is running: release 2, 1/1 instances healthy\n  route web.test\n" {
		t.Fatalf("second push printed %q", r.out)
	}
	a = c.app("demo", "web")
	if a.Release != 2 || a.Instances != 1 || a.Env["GREETING"] != "two" || a.Env[appEnv] != "1" || a.Command != "exec "+exe ||
		a.HealthCheck == nil || a.HealthCheck.Path != "/healthz" || len(a.Routes) != 1 {
		t.Fatalf("after a push of only --env: %+v", a.AppSpec)
	}
	c.serves("web.test", "two from demo-web-2-")

	// apps, in every form.
	for _, args := range [][]string{{"apps"}, {"apps", "-s", "demo"}} {
		out := c.ok(args...)
		mustMatch(t, strings.Join(args, " "), out, `^SPACE\s+APP\s+STATUS\s+RELEASE\s+INSTANCES\s+ROUTES\ndemo\s+web\s+running\s+2\s+1/1\s+web\.test\n$`)
	}
	var views []AppView
	decode(t, "apps -o json", c.ok("apps", "-o", "json"), &views)
	if len(views) != 1 || views[0].Name != "web" || views[0].Space != "demo" || views[0].Release != 2 || views[0].LastGoodRelease != 2 ||
		views[0].Desired != 1 || views[0].Running != 1 || !slices.Equal(views[0].Routes, []string{"web.test"}) ||
		len(views[0].Instances) != 1 || !views[0].Instances[0].Healthy || views[0].Source != digest {
		t.Fatalf("apps -o json: %+v", views)
	}
	if r := c.fails("apps", "-s", "nowhere"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("apps of a missing space: %v", r.runErr)
	}

	// app show.
	show := c.ok("app", "show", "web", "-s", "demo")
	for _, line := range []string{"app:       demo/web", "status:    running", "release:   2 (last good 2)", "instances: 1/1 healthy",
		"routes:    web.test", "command:   exec " + exe} {
		if !strings.Contains(show, line+"\n") {
			t.Fatalf("app show has no line %q:\n%s", line, show)
		}
	}
	mustMatch(t, "app show", show, `(?m)^INSTANCE\s+STATE\s+RELEASE\s+CRASHES\s+PID\s+PORT\s+LAST EXIT\ndemo-web-2-\S+\s+running\s+2\s+0\s+[1-9]\d*\s+[1-9]\d*\s*$`)
	var view AppView
	decode(t, "app show -o json", c.ok("app", "show", "web", "-s", "demo", "-o", "json"), &view)
	if view.Env["GREETING"] != "two" || view.HealthCheck == nil || view.HealthCheck.Path != "/healthz" || view.Command != "exec "+exe ||
		len(view.Instances) != 1 || view.Instances[0].Release != 2 || view.Instances[0].State != paved.InstanceRunning || view.Version == 0 {
		t.Fatalf("app show -o json: %+v", view)
	}
	if r := c.fails("app", "show", "nope", "-s", "demo"); !paved.IsNotFound(r.runErr) || !strings.Contains(r.runErr.Error(), `"nope"`) {
		t.Fatalf("app show of a missing app: %v", r.runErr)
	}

	// status.
	status := c.ok("status")
	for _, re := range []string{
		`^cell:      test \(local\) at ` + regexp.QuoteMeta(c.endpoint) + `, version test, up \d+s\n`,
		`(?m)^router:    http://` + regexp.QuoteMeta(c.router) + `$`,
		`(?m)^isolation: off \(--isolation none: .*\)$`,
		`(?m)^counts:    1 spaces, 1 apps, 1/1 instances healthy$`,
		`(?m)^demo\s+web\s+running\s+2\s+1/1\s+web\.test$`,
	} {
		mustMatch(t, "status", status, re)
	}
	var st struct {
		Cell paved.CellHealth `json:"cell"`
		Apps []AppView        `json:"apps"`
	}
	decode(t, "status -o json", c.ok("status", "-o", "json"), &st)
	if st.Cell.Region != "test" || st.Cell.Version != "test" || st.Cell.RouterAddr != c.router || st.Cell.Isolation.Enabled ||
		st.Cell.Counts.HealthyInstances != 1 || len(st.Apps) != 1 || st.Apps[0].Name != "web" {
		t.Fatalf("status -o json: %+v", st)
	}

	// logs: the app's lines and the cell's notes, in order.
	logs := c.ok("logs", "web", "-s", "demo")
	lines := strings.Split(strings.TrimSuffix(logs, "\n"), "\n")
	for _, l := range lines {
		mustMatch(t, "a log line", l, `^\d\d:\d\d:\d\d\.\d{3} \[\S+\] `)
	}
	one := slices.IndexFunc(lines, func(l string) bool {
		return strings.Contains(l, `[demo-web-1-`) && strings.Contains(l, `test app says "one"`)
	})
	two := slices.IndexFunc(lines, func(l string) bool {
		return strings.Contains(l, `[demo-web-2-`) && strings.Contains(l, `test app says "two"`)
	})
	note := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "[cell] deployment ") })
	if one < 0 || two < one || note < 0 {
		t.Fatalf("logs lack the app's lines or the cell's notes:\n%s", logs)
	}
	for _, n := range []int{1, 2} {
		tail := c.ok("logs", "web", "-s", "demo", "-n", fmt.Sprint(n))
		if strings.Count(tail, "\n") != n || !strings.HasSuffix(c.ok("logs", "web", "-s", "demo"), tail) {
			t.Fatalf("logs -n %d printed %q, not the last %d lines", n, tail, n)
		}
	}
	dec := json.NewDecoder(strings.NewReader(c.ok("logs", "web", "-s", "demo", "-o", "json")))
	var texts []string
	for {
		var l paved.LogLine
		if err := dec.Decode(&l); err == io.EOF {
			break
		} else if err != nil || l.Time.IsZero() || l.Instance == "" || l.Stream == "" {
			t.Fatalf("logs -o json: %+v %v", l, err)
		}
		texts = append(texts, l.Stream+" "+l.Text)
	}
	if !slices.ContainsFunc(texts, func(s string) bool { return strings.HasPrefix(s, `stdout test app says "two"`) }) || len(texts) < len(lines) {
		t.Fatalf("logs -o json: %q", texts)
	}
	if r := c.fails("logs", "nope", "-s", "demo"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("logs of a missing app: %v", r.runErr)
	}

	// logs --follow keeps printing new lines until it is interrupted,
	// which is not an error; rollback starts release 3 (release 1's
	// settings) meanwhile.
	followCtx, stop := context.WithCancel(ctx)
	follow, done := runLive(followCtx, "--endpoint", c.endpoint, "--token", c.token, "logs", "web", "-s", "demo", "-f", "-n", "1")
	eventually(t, 10*time.Second, "logs -f prints the tail", func() error {
		if strings.Count(follow.String(), "\n") < 1 {
			return errors.New("nothing yet")
		}
		return nil
	})
	if out := c.ok("rollback", "web", "-s", "demo"); out != "app demo/web is running: release 3, 1/1 instances healthy\n  route web.test\n" {
		t.Fatalf("rollback printed %q", out)
	}
	if a = c.app("demo", "web"); a.Release != 3 || a.Env["GREETING"] != "one" {
		t.Fatalf("after rollback: release %d, env %v", a.Release, a.Env)
	}
	c.serves("web.test", "one from demo-web-3-")
	eventually(t, 10*time.Second, "logs -f prints release 3's start", func() error {
		if !regexp.MustCompile(`\[demo-web-3-\S+\] test app says "one"`).MatchString(follow.String()) {
			return errors.New("not yet")
		}
		return nil
	})
	stop()
	select {
	case r := <-done:
		if r.runErr != nil {
			t.Fatalf("logs -f ended with %v", r.runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not end when interrupted")
	}

	if out := c.ok("rollback", "web", "-s", "demo", "--to", "2"); !strings.HasPrefix(out, "app demo/web is running: release 4,") {
		t.Fatalf("rollback --to 2 printed %q", out)
	}
	if a = c.app("demo", "web"); a.Release != 4 || a.Env["GREETING"] != "two" {
		t.Fatalf("after rollback --to 2: release %d, env %v", a.Release, a.Env)
	}
	c.serves("web.test", "two from demo-web-4-")
	if r := c.fails("rollback", "web", "-s", "demo", "--to", "99"); !strings.Contains(r.runErr.Error(), "99") {
		t.Fatalf("rollback to a missing release: %v", r.runErr)
	}

	// rollout status: the latest deployment, one by id, JSON, --watch.
	rs := c.ok("rollout", "status", "web", "-s", "demo")
	m := mustMatch(t, "rollout status", rs, `^deployment (\d+) of demo/web: release 4 replacing 3 \(rolling\)\nstatus:     succeeded, phase \S+, step \d+\n`)
	mustMatch(t, "rollout status", rs, `(?m)^INSTANCE\s+RELEASE\s+STATE\s+ROLE\s+CRASHES\ndemo-web-4-\S+\s+4\s+running\s+\S+\s+0$`)
	mustMatch(t, "rollout status", rs, `(?m)^events:\n(  \d\d:\d\d:\d\d\.\d{3}  \S+\s+.*\n)+`)
	var dep paved.Deployment
	decode(t, "rollout status -o json", c.ok("rollout", "status", "web", "-s", "demo", "-o", "json"), &dep)
	if fmt.Sprint(dep.ID) != m[1] || dep.Release != 4 || dep.From != 3 || dep.Status != paved.DeploymentSucceeded || dep.App != "web" || len(dep.Events) == 0 {
		t.Fatalf("rollout status -o json: %+v", dep)
	}
	deps, err := c.client.Deployments.List(ctx, "demo", "web")
	if err != nil || len(deps) != 4 {
		t.Fatalf("deployments: %v %v", deps, err)
	}
	first := deps[len(deps)-1].ID
	mustMatch(t, "rollout status --deployment", c.ok("rollout", "status", "web", "-s", "demo", "--deployment", fmt.Sprint(first)),
		fmt.Sprintf(`^deployment %d of demo/web: release 1 replacing 0 \(rolling\)\nstatus:     succeeded`, first))
	watched := c.ok("rollout", "status", "web", "-s", "demo", "--watch")
	mustMatch(t, "rollout status --watch", watched, `^(\d\d:\d\d:\d\d\.\d{3}  \S+\s+.*\n)+deployment \d+ of demo/web: release 4 replacing 3`)
	if r := c.fails("rollout", "status", "web", "-s", "demo", "--deployment", "999"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("a missing deployment: %v", r.runErr)
	}

	// A release whose instances crash is rolled back; push says so and
	// fails, and the app keeps serving the release before.
	r = c.run("push", dir, "-s", "demo", "-a", "web", "--command", "exit 1")
	if r.runErr == nil || r.out != "" {
		t.Fatalf("push of a crashing command: %v, printed %q", r.runErr, r.out)
	}
	mustMatch(t, "the error of a rolled back push", r.runErr.Error(), `^rollout of demo/web was rolled back: release 5 failed and was rolled back: .*crashed.*release 4 is running`)
	if strings.Contains(r.err, "build ") {
		t.Fatalf("a build log for a rollout that built fine:\n%s", r.err)
	}
	c.serves("web.test", "two from demo-web-4-")
	if a = c.app("demo", "web"); a.Release != 4 || a.LastGoodRelease != 4 {
		t.Fatalf("after the rolled back push: release %d, last good %d", a.Release, a.LastGoodRelease)
	}
	mustMatch(t, "rollout status", c.ok("rollout", "status", "web", "-s", "demo"), `(?m)^status:     rolled_back, .*\nreason:     .*crashed`)
	if r := c.fails("rollout", "status", "web", "-s", "demo", "--watch"); !strings.Contains(r.runErr.Error(), "rolled_back") {
		t.Fatalf("rollout status --watch of a rolled back deployment: %v", r.runErr)
	}

	// events: the audit trail of all this, paged.
	var evs []paved.Event
	decode(t, "events -o json", c.ok("events", "-o", "json"), &evs)
	seen := map[string]bool{}
	for i, e := range evs {
		seen[e.Action+" "+e.Object+" "+e.Actor] = true
		if i > 0 && e.ID <= evs[i-1].ID {
			t.Fatalf("events out of order: %+v", evs)
		}
	}
	for _, want := range []string{"space.create space/demo admin", "source.upload source/" + digest + " admin", "app.create app/demo/web admin",
		"app.update app/demo/web admin", "app.rollback app/demo/web admin", "release.create app/demo/web cell"} {
		if !seen[want] {
			t.Fatalf("no event %q in %v", want, seen)
		}
	}
	var page []paved.Event
	decode(t, "events --after --limit", c.ok("events", "--after", fmt.Sprint(evs[2].ID), "--limit", "3", "-o", "json"), &page)
	if len(page) != 3 || page[0].ID != evs[3].ID || page[2].ID != evs[5].ID {
		t.Fatalf("events --after %d --limit 3: %+v", evs[2].ID, page)
	}
	row := func(e paved.Event) string {
		return fmt.Sprintf(`%d\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+%s\s+%s\s+%s\s*%s\n`, e.ID, regexp.QuoteMeta(e.Actor),
			regexp.QuoteMeta(e.Action), regexp.QuoteMeta(e.Object), regexp.QuoteMeta(e.Detail))
	}
	mustMatch(t, "events --limit 2", c.ok("events", "--limit", "2"), `^ID\s+TIME\s+ACTOR\s+ACTION\s+OBJECT\s+DETAIL\n`+row(evs[0])+row(evs[1])+`$`)

	// delete.
	if out := c.ok("delete", "web", "-s", "demo"); out != "app demo/web deleted\n" {
		t.Fatalf("delete printed %q", out)
	}
	c.noApp("demo", "web")
	eventually(t, 10*time.Second, "the deleted app's route is gone", func() error {
		if code, body, err := c.get("web.test", "/"); err != nil || code != http.StatusNotFound {
			return fmt.Errorf("%d %q %v", code, body, err)
		}
		return nil
	})
	if r := c.fails("delete", "web", "-s", "demo"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("deleting a deleted app: %v", r.runErr)
	}
	if out := c.ok("apps"); out != "SPACE  APP  STATUS  RELEASE  INSTANCES  ROUTES\n" {
		t.Fatalf("apps after delete: %q", out)
	}
	mustMatch(t, "status", c.ok("status"), `(?m)^counts:    1 spaces, 0 apps, 0/0 instances healthy\n\nno apps yet: paved push DIR --space S --app NAME\n$`)
}

// runLive runs `paved ARGS…` in the background; its stdout can be read
// while it runs, and done gets its result.
func runLive(ctx context.Context, args ...string) (*syncBuffer, <-chan result) {
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan result, 1)
	go func() {
		root := NewRootCmd(&Factory{Out: out, Err: errOut, Version: "test"})
		root.SetArgs(args)
		root.SetOut(errOut)
		root.SetErr(errOut)
		err := root.ExecuteContext(ctx)
		done <- result{out: out.String(), err: errOut.String(), runErr: err}
	}()
	return out, done
}

// TestRunPushFailures: what push refuses before it changes anything, and
// how a failed build, a cell's refusal, --no-wait and --timeout end.
func TestRunPushFailures(t *testing.T) {
	t.Parallel()
	c := startCell(t)
	dir := appDir(t)
	c.ok("space", "create", "demo")

	// A build that fails: its log on stderr, the verdict in the error.
	r := c.run("push", dir, "-s", "demo", "-a", "bad", "--build", "echo nope >&2; exit 3", "--command", "true")
	if r.runErr == nil || r.out != "" {
		t.Fatalf("push with a failing build: %v, printed %q", r.runErr, r.out)
	}
	m := mustMatch(t, "the error of a failed build", r.runErr.Error(), `^rollout of demo/bad failed: build (\d+) failed: build command failed: exit status 3$`)
	mustMatch(t, "push's stderr", r.err, `(?m)^bad: failed, 0/1 instances healthy\nbuild `+m[1]+` log \(last \d+ lines\):\n(  .*\n)*  nope\n`)
	if a := c.app("demo", "bad"); a.Status != paved.AppFailed || a.Release != 0 {
		t.Fatalf("the app of a failed build: %s, release %d", a.Status, a.Release)
	}
	if r := c.fails("rollout", "status", "bad", "-s", "demo"); r.runErr.Error() != "app demo/bad has no deployments yet" {
		t.Fatalf("rollout status of an app never deployed: %v", r.runErr)
	}

	// Refused before anything is created.
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "index.html"), []byte("hi"), 0o644)
	if r := c.fails("push", empty, "-s", "demo", "-a", "nocmd"); r.runErr.Error() != "--command is required for a new app (or a Procfile in DIR with a web: line)" {
		t.Fatalf("a new app without a command: %v", r.runErr)
	}
	c.noApp("demo", "nocmd")
	if r := c.fails("push", dir, "-s", "demo", "-a", "badenv", "-e", "GREETING"); r.runErr.Error() != `--env "GREETING" must look like KEY=VALUE` {
		t.Fatalf("a bad --env: %v", r.runErr)
	}
	c.noApp("demo", "badenv")
	if r := c.fails("push", dir, "-s", "nowhere", "-a", "web"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("push into a missing space: %v", r.runErr)
	}
	if r := c.fails("push", filepath.Join(empty, "missing"), "-s", "demo", "-a", "web"); !errors.Is(r.runErr, os.ErrNotExist) {
		t.Fatalf("push of a missing dir: %v", r.runErr)
	}
	if r := c.fails("push", filepath.Join(empty, "index.html"), "-s", "demo", "-a", "web"); !strings.Contains(r.runErr.Error(), "must be a directory, a .tar.gz or a .zip archive") {
		t.Fatalf("push of a text file: %v", r.runErr)
	}
	// The cell refuses a corrupt archive; the one-line error names the
	// field once.
	bad := filepath.Join(empty, "app.tar.gz")
	os.WriteFile(bad, []byte("\x1f\x8bnot really gzip"), 0o644)
	if r := c.fails("push", bad, "-s", "demo", "-a", "web", "--command", "true"); !errors.Is(r.runErr, paved.ErrValidation) ||
		!strings.HasPrefix(oneLine(r.runErr), "upload source ") || strings.Count(oneLine(r.runErr), "source:") != 1 {
		t.Fatalf("push of a corrupt archive: %q", oneLine(r.runErr))
	}
	// The cell's own checks, with the field.
	r = c.fails("push", dir, "-s", "demo", "-a", "web", "--command", "true", "--health-type", "ping")
	if !errors.Is(r.runErr, paved.ErrValidation) || !strings.HasPrefix(oneLine(r.runErr), "health_check.type: ") {
		t.Fatalf("a bad health check type: %q", oneLine(r.runErr))
	}
	c.noApp("demo", "web")

	// --no-wait returns once the cell took the change.
	r = c.run("push", dir, "-s", "demo", "-a", "later", "--command", "true", "--instances", "0", "--no-wait")
	if r.runErr != nil || r.out != "" || !strings.HasSuffix(r.err, "app demo/later accepted (generation 1)\n") {
		t.Fatalf("push --no-wait: %v, stdout %q, stderr %q", r.runErr, r.out, r.err)
	}
	if a := c.app("demo", "later"); a.Instances != 0 || a.Command != "true" {
		t.Fatalf("the app pushed with --no-wait: %+v", a.AppSpec)
	}

	// --timeout: the app had not settled by then.
	start := time.Now()
	r = c.fails("push", dir, "-s", "demo", "-a", "slow", "--build", "sleep 60", "--command", "true", "--timeout", "2500ms")
	mustMatch(t, "the error of a push that timed out", r.runErr.Error(), `^app demo/slow did not settle within 2.5s \(status (pending|staging)\)$`)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("push --timeout 2500ms took %s", d)
	}
}

// TestRunTokens: an admin creates, lists and revokes tokens; a
// space_developer token works in its space only, and not at all once
// revoked.
func TestRunTokens(t *testing.T) {
	t.Parallel()
	c := startCell(t)
	c.ok("space", "create", "shop")
	c.ok("space", "create", "other")

	r := c.run("token", "create", "ci", "--role", "space_developer", "--space", "shop")
	if r.runErr != nil {
		t.Fatal(r.runErr)
	}
	m := mustMatch(t, "token create", r.out, `^token (\S+) \(ci\) created: space_developer of space shop\nsecret: (\S+)\n$`)
	id, secret := m[1], m[2]
	if r.err != "Save the secret now: the cell keeps only its hash and will not show it again.\n" {
		t.Fatalf("token create's stderr: %q", r.err)
	}
	var admin paved.Token
	r = c.run("token", "create", "ops", "--role", "admin", "-o", "json")
	decode(t, "token create -o json", r.out, &admin)
	if admin.Name != "ops" || admin.Role != paved.RoleAdmin || admin.Secret == "" || admin.ID == id {
		t.Fatalf("token create -o json: %+v", admin)
	}

	list := c.ok("token", "list")
	mustMatch(t, "token list", list, `^ID\s+NAME\s+ROLE\s+SPACE\s+CREATED\s+BY\s+STATUS\n`)
	mustMatch(t, "token list", list, `(?m)^`+regexp.QuoteMeta(id)+`\s+ci\s+space_developer\s+shop\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+admin\s+active$`)
	mustMatch(t, "token list", list, `(?m)^`+regexp.QuoteMeta(admin.ID)+`\s+ops\s+admin\s+-\s+`)
	if strings.Contains(list, secret) || strings.Contains(list, admin.Secret) {
		t.Fatalf("token list shows a secret:\n%s", list)
	}

	// The developer's token reads and writes its space only.
	if r := c.runAs(secret, "apps", "-s", "shop"); r.runErr != nil {
		t.Fatalf("apps in its own space: %v", r.runErr)
	}
	if r := c.runAs(secret, "push", appDir(t), "-s", "shop", "-a", "idle", "--instances", "0"); r.runErr != nil {
		t.Fatalf("push into its own space: %v", r.runErr)
	}
	if r := c.runAs(secret, "apps", "-s", "other"); !errors.Is(r.runErr, paved.ErrForbidden) {
		t.Fatalf("apps in another space: %v", r.runErr)
	}
	if r := c.runAs(secret, "token", "list"); !errors.Is(r.runErr, paved.ErrForbidden) {
		t.Fatalf("token list by a space developer: %v", r.runErr)
	}
	if r := c.runAs(admin.Secret, "space", "create", "third"); r.runErr != nil {
		t.Fatalf("the new admin token: %v", r.runErr)
	}

	if out := c.ok("token", "revoke", id); out != "token "+id+" revoked\n" {
		t.Fatalf("token revoke printed %q", out)
	}
	if r := c.runAs(secret, "apps", "-s", "shop"); !errors.Is(r.runErr, paved.ErrUnauthorized) {
		t.Fatalf("a revoked token: %v", r.runErr)
	}
	mustMatch(t, "token list", c.ok("token", "list"), `(?m)^`+regexp.QuoteMeta(id)+`\s+ci\s+.*\s+revoked \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)
	var tokens []paved.Token
	decode(t, "token list -o json", c.ok("token", "list", "-o", "json"), &tokens)
	i := slices.IndexFunc(tokens, func(tk paved.Token) bool { return tk.ID == id })
	if len(tokens) != 2 || i < 0 || !tokens[i].Revoked() || tokens[i].Secret != "" {
		t.Fatalf("token list -o json: %+v", tokens)
	}
	if r := c.fails("token", "revoke", "tok_missing"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("revoking a missing token: %v", r.runErr)
	}
	if r := c.runAs("wrong-token-0123456789abcdef", "status"); !errors.Is(r.runErr, paved.ErrUnauthorized) {
		t.Fatalf("a wrong token: %v", r.runErr)
	}
}

// TestRunTokenLifetime: a token made with --ttl shows its expiry, renew
// moves it, and a token without one cannot be renewed.
func TestRunTokenLifetime(t *testing.T) {
	t.Parallel()
	c := startCell(t)
	r := c.run("token", "create", "short", "--role", "admin", "--ttl", "10m")
	if r.runErr != nil {
		t.Fatal(r.runErr)
	}
	m := mustMatch(t, "token create --ttl", r.out, `^token (\S+) \(short\) created: admin\nsecret: \S+\nexpires: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\n$`)
	id := m[1]
	mustMatch(t, "token list", c.ok("token", "list"), `(?m)^`+regexp.QuoteMeta(id)+`\s+short\s+.*\s+expires \d{4}-`)
	before, err := c.client.Tokens.Get(t.Context(), id)
	if err != nil || before.ExpiresAt == nil {
		t.Fatalf("the token on the cell: %+v %v", before, err)
	}
	mustMatch(t, "token renew", c.ok("token", "renew", id, "--ttl", "2h"), `^token `+regexp.QuoteMeta(id)+` renewed: expires \d{4}-`)
	after, err := c.client.Tokens.Get(t.Context(), id)
	if err != nil || after.ExpiresAt == nil || after.ExpiresAt.Sub(*before.ExpiresAt) < time.Hour {
		t.Fatalf("after renew --ttl 2h: %+v (was %v) %v", after, before.ExpiresAt, err)
	}
	if r := c.fails("token", "create", "bad", "--role", "admin", "--ttl", "1s"); !strings.HasPrefix(r.runErr.Error(), "--ttl: ") {
		t.Fatalf("token create --ttl 1s: %v", r.runErr)
	}
	forever := c.run("token", "create", "forever", "--role", "admin", "-o", "json")
	var tk paved.Token
	decode(t, "token create -o json", forever.out, &tk)
	if r := c.fails("token", "renew", tk.ID); !errors.Is(r.runErr, paved.ErrConflict) {
		t.Fatalf("renewing a token without a lifetime: %v", r.runErr)
	}
}

// TestRunRegions: every region's cell, up or down, in a table or JSON.
func TestRunRegions(t *testing.T) {
	t.Parallel()
	c := startCell(t)
	c.ok("space", "create", "demo")
	c.ok("push", appDir(t), "-s", "demo", "-a", "idle", "--instances", "0")
	down := "http://" + freeAddr(t) // nothing listens there
	// eu is the same cell, which calls itself test: that is refused.
	regions := "test=" + c.endpoint + ",us=" + down + ",eu=" + c.endpoint
	out := c.ok("regions", "--regions", regions)
	mustMatch(t, "regions", out, `^REGION\s+CLOUD\s+STATE\s+APPS\s+INSTANCES\s+ROUTER\s+VERSION\n`+
		`eu\s+-\s+down: .*calls itself region "test", not "eu".*\n`+
		`test\s+local\s+up\s+1\s+0/0 healthy\s+http://`+regexp.QuoteMeta(c.router)+`\s+test\n`+
		`us\s+-\s+down: .*\n$`)
	var rows []regionRow
	decode(t, "regions -o json", c.ok("regions", "--regions", regions, "-o", "json"), &rows)
	if len(rows) != 3 || rows[1].Region != "test" || !rows[1].Healthy || rows[1].Apps != 1 || rows[1].Version != "test" ||
		rows[2].Region != "us" || rows[2].Healthy || rows[2].Error == "" || rows[2].Endpoint != down || rows[0].Healthy {
		t.Fatalf("regions -o json: %+v", rows)
	}
	if r := c.fails("regions", "--regions", "no-endpoint"); !strings.Contains(r.runErr.Error(), "no-endpoint") {
		t.Fatalf("a bad --regions: %v", r.runErr)
	}

	// --watch redraws until interrupted, which ends it without an error.
	ctx, stop := context.WithCancel(context.Background())
	live, done := runLive(ctx, "--token", c.token, "regions", "--regions", "test="+c.endpoint, "--watch", "100ms")
	eventually(t, 10*time.Second, "regions --watch redraws", func() error {
		if n := strings.Count(live.String(), "\033[H\033[2J"); n < 2 {
			return fmt.Errorf("%d draws", n)
		}
		return nil
	})
	stop()
	select {
	case r := <-done:
		if r.runErr != nil {
			t.Fatalf("regions --watch ended with %v", r.runErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("regions --watch did not end when interrupted")
	}
}

// TestRunSnapshotsRestoreEnv: a space's snapshots of good releases,
// restore to the one before, and a preview environment cloned from it.
func TestRunSnapshotsRestoreEnv(t *testing.T) {
	t.Parallel()
	c := startCell(t)
	ctx := context.Background()
	dir := appDir(t)
	c.ok("space", "create", "demo")
	c.ok("push", dir, "-s", "demo", "-a", "web", "-e", appEnv+"=1", "-e", "GREETING=one", "--route", "web.test", "--health-path", "/healthz")
	c.ok("push", dir, "-s", "demo", "-a", "web", "-e", "GREETING=two")
	c.serves("web.test", "two")

	snaps := c.ok("snapshots", "demo")
	mustMatch(t, "snapshots", snaps, `^SNAPSHOT\s+TIME\s+RELEASES\s+REASON\n`)
	mustMatch(t, "snapshots", snaps, `(?m)^1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+web@1\s+`)
	mustMatch(t, "snapshots", snaps, `(?m)^2\s+\d{4}-.*\s+web@2\s+`)
	var list []paved.Snapshot
	decode(t, "snapshots -o json", c.ok("snapshots", "demo", "-o", "json"), &list)
	if len(list) != 2 {
		t.Fatalf("snapshots -o json: %+v", list)
	}

	r := c.run("restore", "demo")
	if r.runErr != nil {
		t.Fatalf("restore: %v\n%s", r.runErr, r.err)
	}
	if !strings.HasPrefix(r.err, "restoring demo to snapshot 1\n") || !strings.HasPrefix(r.out, "app demo/web is running: release 3,") {
		t.Fatalf("restore printed %q and %q", r.out, r.err)
	}
	if a := c.app("demo", "web"); a.Release != 3 || a.Env["GREETING"] != "one" {
		t.Fatalf("after restore: release %d, env %v", a.Release, a.Env)
	}
	c.serves("web.test", "one")
	if r := c.fails("restore", "demo", "--snapshot", "42"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("restore of a missing snapshot: %v", r.runErr)
	}

	start := time.Now()
	out := c.ok("env", "create", "pr-1", "--from", "demo", "--ttl", "2h")
	mustMatch(t, "env create", out, `^environment pr-1 from demo, expires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n  web: http://\S+\n$`)
	env, err := c.client.Environments.Get(ctx, "pr-1")
	if err != nil || env.FromSpace != "demo" || env.DestroyOnSuccess {
		t.Fatalf("the environment: %+v %v", env, err)
	}
	if ttl := env.ExpiresAt.Sub(start); ttl < 2*time.Hour-time.Minute || ttl > 2*time.Hour+time.Minute {
		t.Fatalf("the environment expires in %s, want 2h", ttl)
	}
	var env2 paved.Environment
	decode(t, "env create -o json", c.ok("env", "create", "pr-2", "--from", "demo", "--destroy-on-success", "-o", "json"), &env2)
	if env2.Name != "pr-2" || !env2.DestroyOnSuccess || env2.URLs["web"] == "" {
		t.Fatalf("env create -o json: %+v", env2)
	}
	mustMatch(t, "env list", c.ok("env", "list"), `^ENVIRONMENT\s+FROM\s+EXPIRES\s+APPS\npr-1\s+demo\s+\d{4}-.*\s+1\npr-2\s+demo\s+.*\s+1\n$`)
	if r := c.fails("env", "create", "pr-3", "--from", "nowhere"); !errors.Is(r.runErr, paved.ErrValidation) || !strings.HasPrefix(oneLine(r.runErr), "from_space: ") {
		t.Fatalf("env create from a missing space: %v", r.runErr)
	}
	if out := c.ok("env", "delete", "pr-1"); out != "environment pr-1 destroyed\n" {
		t.Fatalf("env delete printed %q", out)
	}
	eventually(t, 10*time.Second, "the destroyed environment is gone", func() error {
		if _, err := c.client.Environments.Get(ctx, "pr-1"); !paved.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	var envs []paved.Environment
	decode(t, "env list -o json", c.ok("env", "list", "-o", "json"), &envs)
	if len(envs) != 1 || envs[0].Name != "pr-2" {
		t.Fatalf("env list -o json: %+v", envs)
	}
}

// TestRunPipeline: pipeline set (generated and given webhook secrets),
// list, builds, timings and delete; a bad file is refused before the cell
// sees it.
func TestRunPipeline(t *testing.T) {
	t.Parallel()
	c := startCell(t)
	ctx := context.Background()
	c.ok("space", "create", "demo")
	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yml")
	os.WriteFile(file, []byte(`name: nightly
sources:
  - {name: tick, type: time, interval: 24h}
jobs:
  - name: unit
    plan:
      - get: tick
      - task: test
        run: echo ok
`), 0o644)

	r := c.run("pipeline", "set", "-s", "demo", "-c", file)
	if r.runErr != nil {
		t.Fatal(r.runErr)
	}
	m := mustMatch(t, "pipeline set", r.out, `^pipeline demo/nightly set \(version (\d+)\): 1 sources, 1 jobs\n  webhook for tick: POST `+
		regexp.QuoteMeta(c.endpoint)+`(/\S+) with `+paved.WebhookHeader+`: (\S+)\n$`)
	if !strings.Contains(r.err, "Save the generated webhook secrets now") {
		t.Fatalf("pipeline set's stderr: %q", r.err)
	}
	// The generated secret works: the webhook checks the source.
	req, _ := http.NewRequest(http.MethodPost, c.endpoint+m[2], nil)
	req.Header.Set(paved.WebhookHeader, m[3])
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("the webhook with the printed secret: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte(strings.Repeat("s", 40)+"\n"), 0o600)
	r = c.run("pipeline", "set", "-s", "demo", "-c", file, "--webhook-secret-file", "tick="+secret)
	if r.runErr != nil || !strings.Contains(r.out, "with "+paved.WebhookHeader+": the secret you set\n") || strings.Contains(r.err, "Save") {
		t.Fatalf("pipeline set with a secret file: %v\n%s%s", r.runErr, r.out, r.err)
	}
	if r := c.fails("pipeline", "set", "-s", "demo", "-c", file, "--webhook-secret-file", "tock="+secret); r.runErr == nil {
		t.Fatal("a secret for a missing source was accepted")
	}

	// Refused locally, with the file and the path to the bad part.
	os.WriteFile(file+".bad", []byte("name: nightly\nsources: []\njobs:\n  - name: unit\n    plan:\n      - get: nope\n"), 0o644)
	if r := c.fails("pipeline", "set", "-s", "demo", "-c", file+".bad"); !strings.HasPrefix(r.runErr.Error(), file+".bad: ") ||
		!strings.Contains(r.runErr.Error(), "jobs[0].plan[0]") {
		t.Fatalf("a pipeline with a bad reference: %v", r.runErr)
	}
	os.WriteFile(file+".unknown", []byte("name: nightly\nsourcez: []\n"), 0o644)
	if r := c.fails("pipeline", "set", "-s", "demo", "-c", file+".unknown"); !strings.Contains(r.runErr.Error(), "sourcez") {
		t.Fatalf("a pipeline with an unknown key: %v", r.runErr)
	}
	if r := c.fails("pipeline", "set", "-s", "demo", "-c", filepath.Join(dir, "missing.yml")); !errors.Is(r.runErr, os.ErrNotExist) {
		t.Fatalf("a missing pipeline file: %v", r.runErr)
	}
	p, err := c.client.Pipelines.Get(ctx, "demo", "nightly")
	if err != nil {
		t.Fatal(err)
	}
	if first := m[1]; fmt.Sprint(p.Version-1) != first || p.Jobs[0].Plan[0].Get != "tick" {
		t.Fatalf("after one more good set and refused ones: version %d (first %s), plan %+v", p.Version, first, p.Jobs[0].Plan)
	}

	mustMatch(t, "pipeline list", c.ok("pipeline", "list", "-s", "demo"), `^PIPELINE\s+SOURCES\s+JOBS\s+PAUSED\nnightly\s+1\s+1\s+false\n$`)
	var ps []paved.Pipeline
	decode(t, "pipeline list -o json", c.ok("pipeline", "list", "-s", "demo", "-o", "json"), &ps)
	if len(ps) != 1 || ps[0].Name != "nightly" || len(ps[0].Jobs) != 1 {
		t.Fatalf("pipeline list -o json: %+v", ps)
	}
	if out := c.ok("pipeline", "check", "nightly", "tick", "-s", "demo"); out != "" {
		t.Fatalf("pipeline check printed %q", out)
	}
	if r := c.fails("pipeline", "check", "nightly", "tock", "-s", "demo"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("pipeline check of a missing source: %v", r.runErr)
	}
	if out := c.ok("builds", "nightly/unit", "-s", "demo"); out != "ID  JOB  #  STATUS  INPUTS  DURATION\n" {
		t.Fatalf("builds of a job never run: %q", out)
	}
	if out := c.ok("pipeline", "timings", "nightly", "-s", "demo"); out != "JOB  STEP  BUILDS  P50  P95  MAX\n" {
		t.Fatalf("timings of a pipeline never run: %q", out)
	}
	if out := c.ok("pipeline", "delete", "nightly", "-s", "demo"); out != "pipeline nightly deleted\n" {
		t.Fatalf("pipeline delete printed %q", out)
	}
	if _, err := c.client.Pipelines.Get(ctx, "demo", "nightly"); !paved.IsNotFound(err) {
		t.Fatalf("the deleted pipeline: %v", err)
	}
	if r := c.fails("pipeline", "delete", "nightly", "-s", "demo"); !paved.IsNotFound(r.runErr) {
		t.Fatalf("deleting a deleted pipeline: %v", r.runErr)
	}
}
