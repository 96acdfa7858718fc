package testcell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ErrAddrInUse marks a cell that exited because one of its addresses was
// taken (by another process, between picking the port and binding it).
var ErrAddrInUse = errors.New("address already in use")

// StartProcess runs `paved server` (bin with args), its output appended to
// logPath, and waits up to 20 s until client gets an answer from its
// /v1/health. It returns the command and a channel closed once the
// process has exited (wait on that, not on the command). A process that
// exits before it answers is reported at once with what it logged, as
// ErrAddrInUse when its address was taken; one that does not answer in
// time is killed.
func StartProcess(bin string, args []string, logPath string, client *paved.Client) (*exec.Cmd, <-chan struct{}, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, io.SeekEnd)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // how it ended is in its log
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Each probe is short, so that an exit is noticed at once (and a
		// port held by another process that never answers cannot stall it).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := client.Health(ctx)
		cancel()
		if err == nil {
			return cmd, exited, nil
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			out := lastLines(strings.TrimSpace(string(b[min(int(logStart), len(b)):])), 20)
			err := fmt.Errorf("paved server exited before it answered: %s", out)
			if strings.Contains(out, "address already in use") {
				err = fmt.Errorf("%w (%w)", err, ErrAddrInUse)
			}
			return nil, nil, err
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return nil, nil, fmt.Errorf("paved server did not answer within 20s: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
