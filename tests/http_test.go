package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

var httpClient = &http.Client{Timeout: 5 * time.Second}

// httpContains sends GET path with Host host to a router and wants a 200
// whose body contains want.
func httpContains(router, host, path, want string) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+router+path, nil)
	if err != nil {
		return err
	}
	req.Host = host
	res, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("%s: %q", res.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// cellIsEmpty reports an error naming what still exists or runs on a cell:
// apps, replica sets, environments, instances.
func cellIsEmpty(ctx context.Context, c *testcell.Cell) error {
	apps, err := c.Client.Apps.List(ctx, paved.ListAppsOptions{})
	if err != nil {
		return err
	}
	sets, err := c.Client.ReplicaSets.List(ctx)
	if err != nil {
		return err
	}
	envs, err := c.Client.Environments.List(ctx)
	if err != nil {
		return err
	}
	h, err := c.Client.Health(ctx)
	if err != nil {
		return err
	}
	if len(apps) > 0 || len(sets) > 0 || len(envs) > 0 || h.Counts.Instances > 0 {
		return fmt.Errorf("cell %s still has %d apps, %d replica sets, %d environments, %d instances",
			c.Region, len(apps), len(sets), len(envs), h.Counts.Instances)
	}
	return nil
}
