package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/cli"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// startTLSCell starts a cell with --tls-cert/--tls-key from files; the
// harness's client and CLI runs trust files.CA.
func startTLSCell(t *testing.T, files testcell.TLSFiles, extra ...string) *cell {
	t.Helper()
	return launchCell(t, &cell{scheme: "https", caFile: files.CA, caPEM: files.CAPEM,
		extra: append([]string{"--tls-cert", files.Cert, "--tls-key", files.Key}, extra...)})
}

// trustingClient is an HTTP client that trusts the PEM CA.
func trustingClient(caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// pavedWith runs the CLI with the given global flags instead of the
// harness's (endpoint, token and --ca-cert).
func pavedWith(global []string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	root := cli.NewRootCmd(&cli.Factory{Out: &out, Err: &errOut, Version: "test"})
	root.SetArgs(append(global, args...))
	if err := root.Execute(); err != nil {
		return out.String(), fmt.Errorf("%w (stderr: %s)", err, errOut.String())
	}
	return out.String(), nil
}

// TestTLSCell runs a cell with HTTPS on both listeners: the CLI with
// --ca-cert pushes an app, the router serves it over HTTPS, plain HTTP and
// clients that do not trust the CA get no service, --insecure works, and a
// pipeline's router and preview-environment asserts go over TLS.
func TestTLSCell(t *testing.T) {
	t.Setenv("PAVED_CA_CERT", "")
	t.Setenv("PAVED_INSECURE", "")
	ca, err := testcell.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(t.TempDir(), "tls")
	files, err := ca.WriteFiles(tlsDir)
	if err != nil {
		t.Fatal(err)
	}
	c := startTLSCell(t, files)
	ctx := context.Background()

	h, err := c.client.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !h.TLS {
		t.Fatalf("health of a TLS cell: tls = false")
	}
	c.pushHello("demo", "web", "web.tls.test", 1)
	if out := c.mustPaved("status"); !contains(out, "router:    https://"+c.router) || !contains(out, "at https://"+c.api) {
		t.Fatalf("paved status of a TLS cell:\n%s", out)
	}

	// Through the router over HTTPS, with the app's Host header.
	secure := trustingClient(files.CAPEM)
	res, body, err := c.get(secure, "web.tls.test", "/")
	if err != nil || res.StatusCode != 200 || !strings.HasPrefix(body, "hello") {
		t.Fatalf("GET through the HTTPS router: %v %v %q", res, err, body)
	}
	if res.TLS == nil {
		t.Fatal("the router answered without TLS")
	}

	// Plain HTTP gets no service on either listener: a TLS server that
	// reads an HTTP request where a ClientHello belongs answers 400.
	for name, addr := range map[string]string{"api": c.api, "router": c.router} {
		res, err := httpClient().Get("http://" + addr + "/v1/health")
		if err != nil {
			t.Fatalf("plain HTTP to the %s: %v, want a 400 answer", name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !contains(string(b), "HTTP request to an HTTPS server") {
			t.Fatalf("plain HTTP to the %s: %d %q, want 400", name, res.StatusCode, b)
		}
	}

	// Without the CA: a certificate error, from the library and the CLI.
	bare, err := paved.NewClient(paved.Config{Endpoint: c.endpoint(), Token: c.token, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.Health(ctx); err == nil || !contains(err.Error(), "certificate") {
		t.Fatalf("a client without the CA: %v, want a certificate error", err)
	}
	if _, err := pavedWith([]string{"--endpoint", c.endpoint(), "--token", c.token}, "status"); err == nil || !contains(err.Error(), "certificate") {
		t.Fatalf("paved status without --ca-cert: %v, want a certificate error", err)
	}
	if _, _, err := c.get(httpClient(), "web.tls.test", "/"); err == nil || !contains(err.Error(), "certificate") {
		t.Fatalf("router client without the CA: %v, want a certificate error", err)
	}
	// --insecure works (and is the user's explicit choice).
	if out, err := pavedWith([]string{"--endpoint", c.endpoint(), "--token", c.token, "--insecure"}, "apps", "--space", "demo"); err != nil || !contains(out, "web") {
		t.Fatalf("paved apps --insecure: %v\n%s", err, out)
	}

	// A pipeline whose asserts go through the router (router: and env:) and
	// whose environment step uses the cell's API: all over TLS.
	c.setPipeline(t, `name: tls
sources:
  - {name: ver, type: semver, initial: 1.0.0, check_every: 1s}
jobs:
  - name: check
    plan:
      - {get: ver, trigger: true}
      - {assert: router-answers, http: {url: "router:/", host: web.tls.test, contains: "hello"}}
      - {environment: preview, from_space: demo, ttl: 5m}
      - {assert: preview-answers, http: {url: "env:web/", contains: "hello"}}
`)
	var b paved.JobBuild
	eventually(t, 2*time.Minute, "the pipeline's build finishes", func() error {
		bs, err := c.client.Pipelines.Builds(ctx, "demo", "tls", "check")
		if err != nil || len(bs) == 0 || bs[len(bs)-1].FinishedAt == nil {
			return fmt.Errorf("no finished build yet (%v)", err)
		}
		b = bs[len(bs)-1]
		return nil
	})
	log, _ := c.client.Pipelines.BuildLog(ctx, b.ID)
	if b.Status != paved.BuildSucceeded {
		t.Fatalf("pipeline build over TLS: %s %s\n%s", b.Status, b.Reason, log)
	}
	if !contains(log, "at https://") {
		t.Fatalf("the preview environment's URL is not https:\n%s", log)
	}

	// SIGHUP reloads a renewed certificate.
	serial := func() (string, error) {
		conn, err := tls.Dial("tcp", c.api, &tls.Config{RootCAs: secure.Transport.(*http.Transport).TLSClientConfig.RootCAs})
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
	}
	before, err := serial()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteFiles(tlsDir); err != nil {
		t.Fatal(err)
	}
	c.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, 10*time.Second, "SIGHUP reloads the certificate", func() error {
		after, err := serial()
		if err != nil {
			return err
		}
		if after == before {
			return fmt.Errorf("still serial %s", after)
		}
		return nil
	})
	if _, err := c.client.Health(ctx); err != nil {
		t.Fatalf("after the reload: %v", err)
	}
}

// Bad TLS flags stop `paved server` at once with a one-line reason.
func TestTLSFlagErrors(t *testing.T) {
	files, err := testcell.WriteTLSFiles(filepath.Join(t.TempDir(), "tls"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcell.WriteTLSFiles(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", files.Cert}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", files.Cert, "--tls-key", other.Key}, "private key does not match public key"},
		{[]string{"--tls-cert", filepath.Join(t.TempDir(), "missing.pem"), "--tls-key", files.Key}, "read --tls-cert"},
	} {
		cmd := exec.Command(pavedBin, append([]string{"server", "--data", t.TempDir(), "--api", "127.0.0.1:0", "--router", "127.0.0.1:0"}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !contains(string(out), tc.want) {
			t.Fatalf("paved server %v: %v\n%s\nwant an error saying %q", tc.args, err, out, tc.want)
		}
		if lines := strings.Count(strings.TrimSpace(string(out)), "\n"); lines > 0 {
			t.Errorf("paved server %v: %d lines of output, want one:\n%s", tc.args, lines+1, out)
		}
	}
}

// TestTLSGlobalPeering: two TLS cells whose certificates one CA signed
// (each certificate file carrying the CA, so no --peer-ca-cert is needed)
// serve one global host. The records say TLS because the regions' health
// does; the cell without local instances forwards to its peer over TLS.
func TestTLSGlobalPeering(t *testing.T) {
	ca, err := testcell.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	euFiles, err := ca.WriteFiles(filepath.Join(t.TempDir(), "eu"))
	if err != nil {
		t.Fatal(err)
	}
	usFiles, err := ca.WriteFiles(filepath.Join(t.TempDir(), "us"))
	if err != nil {
		t.Fatal(err)
	}
	eu := startTLSCell(t, euFiles, "--region", "eu")
	us := startTLSCell(t, usFiles, "--region", "us")
	us.pushHello("shop", "web", "web.us.test", 1)
	eu.mustPaved("space", "create", "shop")
	ctx := context.Background()

	// The peers as the library's fan-out records them: from each region's
	// health, which says the routers speak TLS.
	regions, err := paved.NewRegions(map[string]paved.Config{
		"eu": {Endpoint: eu.endpoint(), Token: eu.token, CACert: ca.PEM},
		"us": {Endpoint: us.endpoint(), Token: us.token, CACert: ca.PEM},
	})
	if err != nil {
		t.Fatal(err)
	}
	var peers []paved.Peer
	for _, h := range regions.Health(ctx) {
		if !h.Healthy || !h.RouterTLS {
			t.Fatalf("region %s: healthy %v, router TLS %v (%v)", h.Region, h.Healthy, h.RouterTLS, h.Err)
		}
		peers = append(peers, paved.Peer{Region: h.Region, Router: h.RouterAddr, TLS: h.RouterTLS})
	}
	rec := paved.ReplicaSetRecord{Name: "web", Space: "shop", App: "web", GlobalHost: "web.global.test", Peers: peers}
	for _, c := range []*cell{eu, us} {
		if _, err := c.client.ReplicaSets.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := eu.client.ReplicaSets.Get(ctx, "web"); err != nil || len(got.Peers) != 2 || !got.Peers[0].TLS || !got.Peers[1].TLS {
		t.Fatalf("the stored record: %+v %v, want both peers with tls", got, err)
	}
	if out := eu.mustPaved("regions", "--regions=eu="+eu.endpoint()+",us="+us.endpoint()); !contains(out, "https://"+us.router) {
		t.Fatalf("paved regions does not show the https routers:\n%s", out)
	}

	// eu has no instance of web: its router forwards to us over TLS.
	client := trustingClient(ca.PEM)
	eventually(t, 20*time.Second, "eu forwards the global host to us over TLS", func() error {
		res, body, err := eu.get(client, "web.global.test", "/")
		if err != nil {
			return err
		}
		if got := res.Header.Get(paved.RegionHeader); res.StatusCode != 200 || got != "us" || !strings.HasPrefix(body, "hello") {
			return fmt.Errorf("status %d, region %q: %s", res.StatusCode, got, body)
		}
		return nil
	})
	// us serves it itself.
	res, body, err := us.get(client, "web.global.test", "/")
	if err != nil || res.StatusCode != 200 || res.Header.Get(paved.RegionHeader) != "us" {
		t.Fatalf("us: %v %v %q", res, err, body)
	}
}
