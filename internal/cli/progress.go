package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal tells whether w is an interactive terminal; progress bars are
// for people, and scripts and CI logs get plain lines instead.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// statusLine reports progress: a live spinner on a terminal, otherwise one
// line per change of the description.
type statusLine struct {
	w    io.Writer
	bar  *progressbar.ProgressBar
	last string
}

func newStatusLine(w io.Writer) *statusLine {
	s := &statusLine{w: w}
	if isTerminal(w) {
		s.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	return s
}

func (s *statusLine) Set(desc string) {
	if s.bar != nil {
		s.bar.Describe(desc)
		_ = s.bar.Add(1) // a progress bar's errors (a failed draw) are cosmetic
		return
	}
	if desc != s.last {
		fmt.Fprintln(s.w, desc)
		s.last = desc
	}
}

func (s *statusLine) Finish() {
	if s.bar != nil {
		_ = s.bar.Finish()
	}
}

// byteBar shows upload progress on a terminal and nothing elsewhere.
func byteBar(w io.Writer, total int64, desc string) func(int64) {
	if !isTerminal(w) {
		return func(int64) {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(100*time.Millisecond),
	)
	return func(n int64) {
		_ = bar.Set64(n) // cosmetic, as in statusLine
		if n >= total {
			_ = bar.Finish()
		}
	}
}
