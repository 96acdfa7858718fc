package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"sync"
	"time"
)

// maxLineBytes bounds the memory one stream can make us hold: a longer line
// is passed on in pieces of this size.
const maxLineBytes = 64 << 10

// pump reads one output stream line by line until EOF (every writer,
// grandchildren included, has closed the pipe) or until drainLogs closes
// the pipe under it.
func (p *proc) pump(r *os.File, stream string, onLine func(stream, text string)) {
	defer p.logs.Done()
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLineBytes)
	for {
		chunk, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			onLine(stream, string(trimEOL(chunk)))
		case errors.Is(err, bufio.ErrBufferFull):
			onLine(stream, string(chunk)) // a piece of an over-long line
		default: // EOF or closed: flush an unterminated last line
			if len(chunk) > 0 {
				onLine(stream, string(chunk))
			}
			return
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// drainLogs waits for the pumps to reach EOF. A process that escaped the
// group may still hold the pipes open, so after timeout the read ends are
// closed, which makes the pending reads return at once.
func (p *proc) drainLogs(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		p.logs.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(timeout):
	}
	for _, f := range p.pipes {
		f.Close()
	}
	<-done
}

// logFile is an instance's append-only log, shared by both streams and by
// every process of the instance.
type logFile struct {
	mu sync.Mutex
	f  *os.File
}

func openLogFile(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &logFile{f: f}, nil
}

// write appends "RFC3339Nano stream text\n". One write per line keeps
// lines whole even when both streams log at once. Errors are dropped: a full
// disk must not stop the app, and OnLog still sees the line.
func (l *logFile) write(line LogLine) {
	buf := make([]byte, 0, len(line.Text)+48)
	buf = line.Time.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, ' ')
	buf = append(buf, line.Stream...)
	buf = append(buf, ' ')
	buf = append(buf, line.Text...)
	buf = append(buf, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_, _ = l.f.Write(buf)
	}
}

func (l *logFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
