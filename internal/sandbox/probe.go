package sandbox

import (
	"context"
	"fmt"
	"os"
	"time"
)

// probeUID is the uid the probe runs as: "nobody" on Debian, never a
// space's (those come from the cell's configured range).
const probeUID = 65534

// Probe checks, for real, whether this host can run sandboxes: it starts
// one running /bin/true as an unprivileged uid. The error says why not, in
// one sentence an operator can act on.
func Probe(ctx context.Context) error {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Errorf("the cell runs as uid %d; starting commands as other users in their own namespaces needs root", uid)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd, err := Command(ctx, Config{UID: probeUID, GID: probeUID, Dir: "/", Argv: []string{"/bin/true"}})
	if err != nil {
		return err
	}
	out := &capped{limit: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("a test sandbox failed (%w): %s", err, out.String())
	}
	return nil
}

// capped keeps the first limit bytes written to it.
type capped struct {
	buf   []byte
	limit int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) String() string { return string(c.buf) }
