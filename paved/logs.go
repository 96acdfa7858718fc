package paved

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// LogLine is one line an instance (or the cell, for an app) printed.
type LogLine struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	Stream   string    `json:"stream"` // stdout, stderr, or cell for the cell's own notes
	Text     string    `json:"text"`
}

// LogsOptions selects log lines: the last Tail lines (default 100), then,
// with Follow, every new line until the context ends.
type LogsOptions struct {
	Tail   int
	Follow bool
}

// Logs is the app log API.
type Logs interface {
	Stream(ctx context.Context, space, app string, opts LogsOptions, fn func(LogLine) error) error
}

type logs struct{ c *Client }

var _ Logs = logs{}

func (s logs) Stream(ctx context.Context, space, app string, opts LogsOptions, fn func(LogLine) error) error {
	tail := opts.Tail
	if tail == 0 {
		tail = 100
	}
	path := fmt.Sprintf("%s/logs?tail=%d&follow=%t", appPath(space, app), tail, opts.Follow)
	resp, err := s.c.stream(ctx, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		var l LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("read log stream: %w", err)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read log stream: %w", err)
	}
	return nil
}
