package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// steadyLoad sends requests to a healthy app until stopped and counts failures,
// so a test can show that bad input disturbs nothing that runs.
type steadyLoad struct {
	ok, failed atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(c *cell, host string) *steadyLoad {
	l := &steadyLoad{stop: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		client := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-l.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			resp, _, err := c.get(client, host, "/")
			if err == nil && resp.StatusCode == 200 {
				l.ok.Add(1)
			} else {
				l.failed.Add(1)
			}
		}
	}()
	return l
}

func (l *steadyLoad) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if l.failed.Load() > 0 || l.ok.Load() == 0 {
		t.Fatalf("the running app was disturbed: %d ok, %d failed", l.ok.Load(), l.failed.Load())
	}
}

// apiCall sends a raw request and decodes the error envelope, if any.
func apiCall(t *testing.T, c *cell, method, path, token, body string) (int, *paved.APIError) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+c.api+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env paved.ErrorBody
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(data, &env); err != nil || env.Error == nil {
			t.Fatalf("%s %s: status %d without a JSON error body: %s", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, env.Error
}

func TestAuth(t *testing.T) {
	c := startCell(t)
	if code, _ := apiCall(t, c, "GET", "/v1/health", "", ""); code != 200 {
		t.Fatalf("/v1/health without a token: %d, want 200", code)
	}
	for _, tok := range []string{"", "wrong-token"} {
		code, e := apiCall(t, c, "GET", "/v1/spaces", tok, "")
		if code != 401 || e.Code != paved.CodeUnauthorized {
			t.Fatalf("token %q: %d %+v, want 401 unauthorized", tok, code, e)
		}
	}
	if code, _ := apiCall(t, c, "GET", "/v1/spaces", c.token, ""); code != 200 {
		t.Fatalf("with the token: %d", code)
	}
	bad, _ := paved.NewClient(paved.Config{Endpoint: "http://" + c.api, Token: "nope"})
	if _, err := bad.Spaces.List(context.Background()); !errors.Is(err, paved.ErrUnauthorized) {
		t.Fatalf("library with a wrong token: %v, want ErrUnauthorized", err)
	}
}

// TestBadInput feeds the cell bad input while an app serves traffic: each
// is refused with a precise error, and the running app sees no failure.
func TestBadInput(t *testing.T) {
	c := startCell(t, "--max-source-bytes", "65536")
	c.pushHello("demo", "web", "web.example.test", 2)
	load := startLoad(c, "web.example.test")
	ctx := context.Background()

	t.Run("invalid names", func(t *testing.T) {
		for _, name := range []string{"Bad_Name", "-lead", "trail-", strings.Repeat("a", 64), "UPPER"} {
			_, err := c.client.Spaces.Create(ctx, paved.SpaceSpec{Name: name})
			var apiErr *paved.APIError
			if !errors.As(err, &apiErr) || !errors.Is(err, paved.ErrValidation) || apiErr.Field != "name" ||
				!strings.Contains(apiErr.Message, "not a valid name") {
				t.Errorf("space %q: %v, want a validation error on field name", name, err)
			}
		}
		if _, err := c.paved("space", "create", "Not_Valid"); err == nil || !strings.Contains(err.Error(), "not a valid name") {
			t.Errorf("CLI: %v", err)
		}
	})

	t.Run("unknown JSON field", func(t *testing.T) {
		code, e := apiCall(t, c, "POST", "/v1/spaces/demo/apps", c.token, `{"name":"x","command":"true","instancez":3}`)
		if code != 400 || e.Field != "instancez" || !strings.Contains(e.Message, "unknown field") {
			t.Fatalf("%d %+v", code, e)
		}
	})

	t.Run("invalid app settings", func(t *testing.T) {
		cases := map[string]string{
			`{"name":"x","command":""}`:                                                      "command",
			`{"name":"x","command":"true","health_check":{"type":"grpc"}}`:                   "health_check.type",
			`{"name":"x","command":"true","routes":[{"host":"Bad_Host"}]}`:                   "routes[0].host",
			`{"name":"x","command":"true","instances":-1}`:                                   "instances",
			`{"name":"x","command":"true","health_check":{"type":"http","interval":"soon"}}`: "",
		}
		for body, field := range cases {
			code, e := apiCall(t, c, "POST", "/v1/spaces/demo/apps", c.token, body)
			if code != 422 && code != 400 || e.Field != field {
				t.Errorf("%s: %d %+v, want field %q", body, code, e, field)
			}
		}
	})

	t.Run("oversize archive", func(t *testing.T) {
		dir := helloDir(t)
		big := make([]byte, 256<<10) // random, so gzip cannot shrink it under the cap
		rand.Read(big)
		os.WriteFile(filepath.Join(dir, "blob.bin"), big, 0o644)
		_, err := c.paved("push", dir, "--space", "demo", "--app", "big", "--command", "./hello")
		if err == nil || !strings.Contains(err.Error(), "larger than this cell accepts") {
			t.Fatalf("push of an oversize dir: %v", err)
		}
		if _, err := c.client.Apps.Get(ctx, "demo", "big"); !paved.IsNotFound(err) {
			t.Fatalf("an app was created from a refused upload: %v", err)
		}
	})

	t.Run("archive escaping with ../", func(t *testing.T) {
		data := tarGz(t, map[string]string{"ok.txt": "fine", "../../evil.txt": "pwned"})
		_, err := c.client.Sources.Upload(ctx, data, nil)
		var apiErr *paved.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 422 || apiErr.Field != "source" || !strings.Contains(apiErr.Message, "evil.txt") {
			t.Fatalf("upload of a ../ archive: %v, want 422 naming the entry", err)
		}
		for _, p := range []string{filepath.Join(c.data, "..", "evil.txt"), filepath.Join(c.data, "evil.txt"), filepath.Join(c.data, "sources", "..", "..", "evil.txt")} {
			if _, err := os.Stat(p); err == nil {
				t.Fatalf("%s was written", p)
			}
		}
	})

	t.Run("failing build keeps the running release", func(t *testing.T) {
		_, err := c.paved("push", helloDir(t), "--space", "demo", "--app", "web", "--build", "echo compiler says no >&2; exit 3", "--timeout", "1m")
		if err == nil || !strings.Contains(err.Error(), "build") {
			t.Fatalf("push with a failing build: %v", err)
		}
		v := c.appShow("demo", "web")
		if v.Release != 1 || v.Running != 2 || v.Status != paved.AppFailed || !strings.Contains(v.Message, "release 1 is still running") {
			t.Fatalf("after a failed build: release %d, %d running, status %s, message %q", v.Release, v.Running, v.Status, v.Message)
		}
		builds, err := c.client.Builds.List(ctx, "demo", "web")
		if err != nil || len(builds) < 2 || builds[0].Status != paved.BuildFailed {
			t.Fatalf("builds: %+v %v", builds, err)
		}
		log, err := c.client.Builds.Log(ctx, "demo", "web", builds[0].ID)
		if err != nil || !strings.Contains(log, "compiler says no") {
			t.Fatalf("build log lacks the build's output: %q %v", log, err)
		}
	})

	t.Run("start command that exits at once", func(t *testing.T) {
		_, err := c.paved("push", helloDir(t), "--space", "demo", "--app", "crashy", "--command", "echo boom; exit 1", "--timeout", "1m")
		if err == nil || !strings.Contains(err.Error(), "crash") {
			t.Fatalf("push of a crashing app: %v", err)
		}
		eventually(t, 30*time.Second, "crash loop shows in status", func() error {
			v := c.appShow("demo", "crashy")
			if v.Status != paved.AppCrashing || len(v.Instances) != 1 || v.Instances[0].Crashes < 2 || v.Instances[0].LastExit != "exit status 1" {
				return fmt.Errorf("status %s instances %+v", v.Status, v.Instances)
			}
			return nil
		})
		rels, err := c.client.Releases.List(ctx, "demo", "crashy")
		if err != nil || len(rels) != 1 || rels[0].Status != paved.ReleaseFailed || rels[0].Reason == "" {
			t.Fatalf("releases of the crashing app: %+v %v", rels, err)
		}
	})

	load.finish(t)
	t.Logf("%d requests served, none failed, while the bad input was refused", load.ok.Load())
}

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}
