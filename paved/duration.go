package paved

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("5s", "1m30s"), the same text users write in HCL and on the CLI.
// A JSON number is accepted as seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "1m30s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("a duration must be a string such as \"5s\" or a number of seconds")
		}
		// Out of range, the conversion to int64 would wrap (amd64) or
		// saturate (arm64) instead of failing.
		ns := secs * float64(time.Second)
		if ns >= math.MaxInt64 || ns < math.MinInt64 {
			return fmt.Errorf("%s seconds is out of range for a duration (about 292 years at most)", b)
		}
		*d = Duration(ns)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (examples: \"500ms\", \"5s\", \"1m\")", s)
	}
	*d = Duration(v)
	return nil
}
