package tests

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/terraform"
	test_structure "github.com/gruntwork-io/terratest/modules/test-structure"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/donationload"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

// donationRegions are the three cells of examples/donations.
var donationRegions = []string{"aws-eu-west-1", "gcp-europe-west2", "onprem-london"}

// TestDonationsSurviveLosingARegion is issue 6's donation night: apply
// examples/donations to three cells, drive donations through the three
// routers, kill -9 one cell halfway while donors retry failures on another
// router with the same idempotency key, restart it, and require every
// acknowledged donation in every region's merged total exactly once. Then
// destroy and require nothing of the app to run anywhere.
func TestDonationsSurviveLosingARegion(t *testing.T) {
	ctx := context.Background()
	cells := make([]*testcell.Cell, len(donationRegions))
	endpoints, tokens, routers := map[string]any{}, map[string]any{}, map[string]any{}
	var routerURLs []string
	for i, name := range donationRegions {
		cells[i] = testcell.StartWith(t, testcell.Options{Region: name, Cloud: strings.SplitN(name, "-", 2)[0]})
		endpoints[name], tokens[name] = cells[i].Endpoint, cells[i].Token
		routers[name] = "http://" + cells[i].RouterAddr
		routerURLs = append(routerURLs, "http://"+cells[i].RouterAddr)
	}

	dir := test_structure.CopyTerraformFolderToTemp(t, filepath.Join(repoRoot(), "examples", "donations"), ".")
	opts := &terraform.Options{
		TerraformDir:    dir,
		TerraformBinary: tofuBin,
		Vars:            map[string]any{"endpoints": endpoints, "tokens": tokens, "routers": routers},
		EnvVars:         map[string]string{"TF_CLI_CONFIG_FILE": cliConfig},
		NoColor:         true,
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			terraform.DestroyContext(t, context.Background(), opts)
		}
	})
	// Apply, then plan again: a second plan must show no changes.
	terraform.InitAndApplyAndIdempotentContext(t, ctx, opts)
	host := terraform.OutputContext(t, ctx, opts, "global_host")

	client := &http.Client{Timeout: 5 * time.Second}
	for _, r := range routerURLs {
		eventually(t, time.Minute, r+" serves "+host, func() error {
			_, err := donationload.Verify(ctx, client, r, host, nil, nil)
			return err
		})
	}

	// ≥ 300 donations/s for 30 s through the three routers; the first
	// cell dies halfway.
	victim := cells[0]
	res, err := donationload.Run(ctx, donationload.Config{
		Routers: routerURLs, Host: host, Rate: 350, Duration: 30 * time.Second, Workers: 32,
		Prefix: "tt-" + fmt.Sprint(time.Now().UnixNano()),
		AtHalf: func() { victim.Kill9() },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d donations acknowledged (%.0f/s), %d attempts failed; longest window of failures before a retry succeeded: %s (failures between %s and %s)",
		len(res.Acked), res.Rate(), res.Failed, res.FailureWindow.Round(time.Millisecond),
		res.FirstFailure.Format("15:04:05.000"), res.LastFailure.Format("15:04:05.000"))
	if len(res.Lost) > 0 {
		t.Fatalf("%d donations were never acknowledged by any region, e.g. %s", len(res.Lost), res.Lost[0])
	}
	if len(res.Acked) < 300*30 {
		t.Fatalf("only %d donations were made; the test needs at least 300/s for 30 s", len(res.Acked))
	}
	if res.Failed == 0 {
		t.Fatalf("no request failed although a region was killed mid-run: the kill did not happen")
	}

	victim.Restart(t)
	for _, r := range routerURLs {
		eventually(t, 90*time.Second, r+" counts every acknowledged donation once", func() error {
			_, err := donationload.Verify(ctx, client, r, host, res.Acked, res.Lost)
			return err
		})
	}

	terraform.DestroyContext(t, ctx, opts)
	destroyed = true
	for _, c := range cells {
		if err := cellIsEmpty(ctx, c); err != nil {
			t.Fatalf("after destroy: %v", err)
		}
	}
}

// eventually retries fn every 250 ms until it succeeds or within passes.
func eventually(t *testing.T, within time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s: %v", what, within, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
