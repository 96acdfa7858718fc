package paved_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

func TestDurationMarshal(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{90 * time.Second, `"1m30s"`},
		{500 * time.Millisecond, `"500ms"`},
		{0, `"0s"`},
		{2 * time.Hour, `"2h0m0s"`},
	}
	for _, tc := range tests {
		b, err := json.Marshal(paved.Duration(tc.d))
		if err != nil {
			t.Fatalf("Marshal(%s): %v", tc.d, err)
		}
		if string(b) != tc.want {
			t.Errorf("Marshal(%s) = %s, want %s", tc.d, b, tc.want)
		}
		var back paved.Duration
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if back.D() != tc.d {
			t.Errorf("round trip of %s gave %s", tc.d, back)
		}
	}
}

func TestDurationUnmarshal(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{`"1m30s"`, 90 * time.Second},
		{`"5s"`, 5 * time.Second},
		{`"250ms"`, 250 * time.Millisecond},
		{`90`, 90 * time.Second},
		{`1.5`, 1500 * time.Millisecond},
		{`0`, 0},
	}
	for _, tc := range tests {
		var d paved.Duration
		if err := json.Unmarshal([]byte(tc.in), &d); err != nil {
			t.Errorf("Unmarshal(%s): %v", tc.in, err)
			continue
		}
		if d.D() != tc.want {
			t.Errorf("Unmarshal(%s) = %s, want %s", tc.in, d.D(), tc.want)
		}
	}
}

func TestDurationUnmarshalErrors(t *testing.T) {
	tests := []struct {
		in       string
		contains []string
	}{
		{`"soon"`, []string{`"soon"`, "examples", `"5s"`}},
		{`"5"`, []string{"examples"}},
		{`""`, []string{"examples"}},
		{`true`, []string{`"5s"`, "seconds"}},
		{`{"s":5}`, []string{"seconds"}},
		{`[1]`, []string{"seconds"}},
	}
	for _, tc := range tests {
		var d paved.Duration
		err := json.Unmarshal([]byte(tc.in), &d)
		if err == nil {
			t.Errorf("Unmarshal(%s) = %s, want an error", tc.in, d)
			continue
		}
		for _, s := range tc.contains {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("Unmarshal(%s) error %q does not mention %s", tc.in, err, s)
			}
		}
	}
}

func TestDurationInHealthCheck(t *testing.T) {
	hc := paved.HealthCheck{Type: paved.HealthHTTP, Path: "/up", Interval: paved.Duration(2 * time.Second)}
	b, err := json.Marshal(hc)
	if err != nil {
		t.Fatal(err)
	}
	// Zero durations are left out, set ones are strings.
	if want := `{"type":"http","path":"/up","interval":"2s"}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var back paved.HealthCheck
	if err := json.Unmarshal([]byte(`{"type":"tcp","interval":"3s","timeout":1,"grace":"1m"}`), &back); err != nil {
		t.Fatal(err)
	}
	if back.Interval.D() != 3*time.Second || back.Timeout.D() != time.Second || back.Grace.D() != time.Minute {
		t.Errorf("Unmarshal = %+v", back)
	}
	err = json.Unmarshal([]byte(`{"type":"tcp","interval":"often"}`), &back)
	if err == nil || !strings.Contains(err.Error(), "examples") {
		t.Errorf("bad interval error = %v, want one with examples", err)
	}
}

// JSON null conventionally means "not set": an Unmarshaler should treat it
// as a no-op, as encoding/json does for a plain int64.
func TestDurationUnmarshalNull(t *testing.T) {
	var hc paved.HealthCheck
	if err := json.Unmarshal([]byte(`{"type":"http","interval":null}`), &hc); err != nil {
		t.Fatalf("null interval: %v", err)
	}
	if hc.Interval != 0 {
		t.Errorf("interval = %s, want 0", hc.Interval)
	}
}
