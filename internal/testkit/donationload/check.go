package donationload

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Export is what GET /export of the donations app answers: every donation
// the region knows, its own and those merged from its peers.
type Export struct {
	Records []struct {
		Key    string `json:"key"`
		Amount int64  `json:"amount"`
		Region string `json:"region"`
	} `json:"records"`
}

// Total is what GET /total answers.
type Total struct {
	Region     string `json:"region"`
	TotalCents int64  `json:"total_cents"`
	Count      int    `json:"count"`
	LocalCount int    `json:"local_count"`
}

// Verify reads one region's merged view through its router and checks it
// against what clients were acknowledged: every acknowledged donation is
// there exactly once with its amount, and the total is their sum.
// Donations that landed but whose acknowledgement was lost (the region died
// before answering) appear too, and are fine only if their key belongs to
// this run and was retried to an acknowledgement, which Run guarantees for
// every key it did not give up on; lost lists those it gave up on.
func Verify(ctx context.Context, client *http.Client, router, host string, acked map[string]int64, lost []string) (Total, error) {
	var exp Export
	if err := getJSON(ctx, client, router, host, "/export", &exp); err != nil {
		return Total{}, err
	}
	var tot Total
	if err := getJSON(ctx, client, router, host, "/total", &tot); err != nil {
		return Total{}, err
	}
	seen := make(map[string]int64, len(exp.Records))
	var problems []string
	for _, r := range exp.Records {
		if _, dup := seen[r.Key]; dup {
			problems = append(problems, fmt.Sprintf("key %s listed twice", r.Key))
		}
		seen[r.Key] = r.Amount
	}
	var missing []string
	var want int64
	for k, amt := range acked {
		want += amt
		got, ok := seen[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case got != amt:
			problems = append(problems, fmt.Sprintf("key %s has amount %d, acknowledged %d", k, got, amt))
		}
	}
	isLost := make(map[string]bool, len(lost))
	for _, k := range lost {
		isLost[k] = true
	}
	var extra []string
	var extraSum int64
	for k, amt := range seen {
		if _, ok := acked[k]; !ok {
			if !isLost[k] {
				extra = append(extra, k)
			}
			extraSum += amt
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		problems = append(problems, fmt.Sprintf("%d acknowledged donations missing, e.g. %s", len(missing), strings.Join(missing[:min(5, len(missing))], ", ")))
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		problems = append(problems, fmt.Sprintf("%d donations nobody was acknowledged or retried, e.g. %s", len(extra), strings.Join(extra[:min(5, len(extra))], ", ")))
	}
	if tot.TotalCents != want+extraSum || tot.Count != len(seen) {
		problems = append(problems, fmt.Sprintf("total %d cents over %d donations, want %d over %d",
			tot.TotalCents, tot.Count, want+extraSum, len(seen)))
	}
	if len(problems) > 0 {
		return tot, fmt.Errorf("region %s: %s", tot.Region, strings.Join(problems, "; "))
	}
	return tot, nil
}

func getJSON(ctx context.Context, client *http.Client, router, host, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, router+path, nil)
	if err != nil {
		return err
	}
	req.Host = host
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s%s: %s", router, path, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}
