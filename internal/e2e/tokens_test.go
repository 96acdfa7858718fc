package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/cli"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// pavedAs runs the CLI against this cell with token, returning stdout and
// stderr.
func (c *cell) pavedAs(token string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	f := &cli.Factory{Out: &out, Err: &errOut, Version: "test"}
	root := cli.NewRootCmd(f)
	root.SetArgs(append([]string{"--endpoint", "http://" + c.api, "--token", token}, args...))
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// TestTokens: an admin creates, lists and revokes tokens with the CLI; a
// space_developer token pushes an app into its space but not into
// another, and is refused at once after its revoke. Denials are events.
func TestTokens(t *testing.T) {
	c := startCell(t)
	c.mustPaved("space", "create", "shop")
	c.mustPaved("space", "create", "other")

	// A bad role or a missing space is refused before the cell is called.
	if _, _, err := c.pavedAs(c.token, "token", "create", "x", "--role", "space_developer"); err == nil || !contains(err.Error(), "--space") {
		t.Fatalf("create without --space: %v", err)
	}
	if _, _, err := c.pavedAs(c.token, "token", "create", "x", "--role", "root"); err == nil || !contains(err.Error(), "--role") {
		t.Fatalf("create with a bad role: %v", err)
	}

	// create prints the secret once, with a warning.
	out, errOut, err := c.pavedAs(c.token, "token", "create", "ci", "--role", "space_developer", "--space", "shop")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, errOut)
	}
	m := regexp.MustCompile(`token (tok_[0-9a-f]+) \(ci\) created: space_developer of space shop\nsecret: (\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("token create printed:\n%s", out)
	}
	id, secret := m[1], m[2]
	if len(secret) < paved.MinTokenSecret || !contains(errOut, "will not show it again") {
		t.Fatalf("secret %q, stderr %q", secret, errOut)
	}

	// list shows the token, never its secret.
	list := c.mustPaved("token", "list")
	if !regexp.MustCompile(id+`\s+ci\s+space_developer\s+shop\s+.*admin\s+active`).MatchString(list) || contains(list, secret) {
		t.Fatalf("token list:\n%s", list)
	}
	var tokens []paved.Token
	if err := json.Unmarshal([]byte(c.mustPaved("token", "list", "-o", "json")), &tokens); err != nil || len(tokens) != 1 ||
		tokens[0].ID != id || tokens[0].Secret != "" {
		t.Fatalf("token list -o json: %+v %v", tokens, err)
	}

	// The developer pushes into its space.
	push := func(space string) (string, error) {
		_, errOut, err := c.pavedAs(secret, "push", helloDir(t), "--space", space, "--app", "web",
			"--instances", "1", "--build", "go build -o hello .", "--command", "./hello",
			"--route", "web."+space+".test", "--health-path", "/healthz", "--timeout", "2m")
		return errOut, err
	}
	if errOut, err := push("shop"); err != nil {
		t.Fatalf("push into its own space: %v\n%s", err, errOut)
	}
	if v := c.appShow("shop", "web"); v.Status != paved.AppRunning {
		t.Fatalf("shop/web is %s", v.Status)
	}
	eventually(t, 20*time.Second, "web.shop.test answers", func() error {
		resp, _, err := c.get(httpClient(), "web.shop.test", "/")
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})

	// ... but not into another, nor anything cell-wide.
	if _, err := push("other"); err == nil || !contains(err.Error(), "space_developer") || !contains(err.Error(), `"other"`) {
		t.Fatalf("push into another space: %v, want a refusal naming the role and the space", err)
	}
	if apps, err := c.client.Apps.List(t.Context(), paved.ListAppsOptions{Space: "other"}); err != nil || len(apps) != 0 {
		t.Fatalf("apps of other: %+v %v", apps, err)
	}
	for _, args := range [][]string{{"token", "list"}, {"space", "create", "mine"}, {"space", "delete", "shop"}, {"events"}} {
		if _, _, err := c.pavedAs(secret, args...); err == nil || !contains(err.Error(), "space_developer") {
			t.Errorf("paved %s as the developer: %v, want forbidden", strings.Join(args, " "), err)
		}
	}

	// The audit trail names the token for what it did and for what it was refused.
	evs, err := c.client.Events.List(t.Context(), paved.ListEventsOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	who := "ci (" + id + ")"
	var created, denied int
	for _, e := range evs {
		switch {
		case e.Action == "app.create" && e.Object == "app/shop/web":
			if e.Actor != who {
				t.Errorf("app.create by %q, want %q", e.Actor, who)
			}
			created++
		case e.Action == "auth.deny":
			if e.Actor != who || !contains(e.Detail, " /v1/") {
				t.Errorf("auth.deny event %+v", e)
			}
			denied++
		case e.Action == "token.create" && (e.Object != "token/"+id || e.Actor != "admin"):
			t.Errorf("token.create event %+v", e)
		}
		if contains(e.Detail, secret) {
			t.Errorf("event %+v holds the secret", e)
		}
	}
	if created != 1 || denied < 5 {
		t.Errorf("%d app.create and %d auth.deny events by the token", created, denied)
	}

	// A log stream the developer follows is open before the revoke ...
	dev, err := paved.NewClient(paved.Config{Endpoint: "http://" + c.api, Token: secret})
	if err != nil {
		t.Fatal(err)
	}
	streamCtx, stopStream := context.WithTimeout(t.Context(), 2*time.Minute)
	defer stopStream()
	opened := make(chan struct{})
	streamDone := make(chan error, 1)
	go func() {
		var once sync.Once
		streamDone <- dev.Logs.Stream(streamCtx, "shop", "web", paved.LogsOptions{Tail: 1, Follow: true}, func(paved.LogLine) error {
			once.Do(func() { close(opened) })
			return nil
		})
	}()
	select {
	case <-opened:
	case err := <-streamDone:
		t.Fatalf("the developer's log stream ended before the revoke: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the developer's log stream sent no line")
	}

	// A revoke takes effect at once.
	if out := c.mustPaved("token", "revoke", id); !contains(out, "token "+id+" revoked") {
		t.Fatalf("token revoke: %s", out)
	}
	if _, _, err := c.pavedAs(secret, "apps", "--space", "shop"); err == nil || !contains(err.Error(), "revoked") {
		t.Fatalf("a revoked token: %v, want refused as revoked", err)
	}
	// ... and ends by itself: the cell checks a stream's token again every
	// second. (The bound is the test's patience, not a measured latency.)
	select {
	case err := <-streamDone:
		if streamCtx.Err() != nil {
			t.Error("the log stream of a revoked token stayed open until the test gave up on it")
		} else if err != nil {
			t.Errorf("the revoked stream ended with %v, want a clean end", err)
		}
	case <-streamCtx.Done():
		t.Error("the log stream of a revoked token was still open after 2 minutes")
	}
	if list := c.mustPaved("token", "list"); !regexp.MustCompile(id + `.*revoked`).MatchString(list) {
		t.Fatalf("token list after revoke:\n%s", list)
	}
	if _, _, err := c.pavedAs(c.token, "token", "revoke", "tok_nope"); err == nil {
		t.Fatal("revoking an unknown token succeeded")
	}
}
