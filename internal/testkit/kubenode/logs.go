package kubenode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeletHandler is the part of a kubelet's API this agent serves: pod
// logs, which the API server's pods/log endpoint reads from it.
func (n *Node) kubeletHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		opts, err := parseLogQuery(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc, err := n.prov.containerLogs(r.Context(), r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container"), opts)
		if err != nil {
			code := http.StatusInternalServerError
			if errdefs.IsNotFound(err) {
				code = http.StatusNotFound
			}
			http.Error(w, err.Error(), code)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		rcw := http.NewResponseController(w)
		buf := make([]byte, 32<<10)
		for {
			k, err := rc.Read(buf)
			if k > 0 {
				if _, werr := w.Write(buf[:k]); werr != nil {
					return
				}
				rcw.Flush()
			}
			if err != nil {
				return
			}
		}
	})
	return mux
}

func parseLogQuery(q url.Values) (*corev1.PodLogOptions, error) {
	o := &corev1.PodLogOptions{}
	var err error
	boolean := func(name string, dst *bool) {
		if v := q.Get(name); v != "" && err == nil {
			*dst, err = strconv.ParseBool(v)
		}
	}
	integer := func(name string) *int64 {
		v := q.Get(name)
		if v == "" || err != nil {
			return nil
		}
		var n int64
		n, err = strconv.ParseInt(v, 10, 64)
		return &n
	}
	boolean("follow", &o.Follow)
	boolean("previous", &o.Previous)
	boolean("timestamps", &o.Timestamps)
	o.TailLines = integer("tailLines")
	o.LimitBytes = integer("limitBytes")
	o.SinceSeconds = integer("sinceSeconds")
	if v := q.Get("sinceTime"); v != "" && err == nil {
		var t time.Time
		if t, err = time.Parse(time.RFC3339, v); err == nil {
			mt := metav1.NewTime(t)
			o.SinceTime = &mt
		}
	}
	return o, err
}

func (p *provider) containerLogs(ctx context.Context, namespace, name, ctrName string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	if opts == nil {
		opts = &corev1.PodLogOptions{}
	}
	p.mu.Lock()
	pd := p.pods[podKey(namespace, name)]
	if pd == nil {
		p.mu.Unlock()
		return nil, errdefs.NotFoundf("pod %s/%s is not on this node", namespace, name)
	}
	var c *container
	all := append(append([]*container{}, pd.inits...), pd.ctrs...)
	if ctrName == "" && len(pd.ctrs) == 1 {
		c = pd.ctrs[0]
	}
	for _, x := range all {
		if x.spec.Name == ctrName {
			c = x
		}
	}
	if c == nil {
		p.mu.Unlock()
		return nil, errdefs.NotFoundf("container %q is not in pod %s/%s", ctrName, namespace, name)
	}
	instances := append([]instance{}, c.instances...)
	p.mu.Unlock()
	i := len(instances) - 1
	if opts.Previous {
		i--
	}
	if i < 0 {
		if opts.Previous {
			return nil, errdefs.NotFoundf("previous terminated container %q in pod %q not found", ctrName, name)
		}
		return nil, errdefs.NotFoundf("container %q in pod %q has not started", ctrName, name)
	}
	inst := instances[i]
	f, err := os.Open(inst.log)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		defer f.Close()
		pw.CloseWithError(streamLog(ctx, pw, f, inst.proc.logDone, opts))
	}()
	return pr, nil
}

var errLimit = errors.New("limit reached")

// streamLog writes the lines of a log file made by copyLines as opts asks.
func streamLog(ctx context.Context, w io.Writer, f *os.File, done <-chan struct{}, opts *corev1.PodLogOptions) error {
	var since time.Time
	if opts.SinceSeconds != nil {
		since = time.Now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	if opts.SinceTime != nil {
		since = opts.SinceTime.Time
	}
	remaining := int64(-1)
	if opts.LimitBytes != nil {
		remaining = *opts.LimitBytes
	}
	emit := func(line []byte) error {
		ts, text, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			text = line
		}
		if !since.IsZero() {
			if t, err := time.Parse(time.RFC3339Nano, string(ts)); err == nil && t.Before(since) {
				return nil
			}
		}
		out := text
		if opts.Timestamps {
			out = line
		}
		if remaining >= 0 {
			if int64(len(out)) >= remaining {
				_, _ = w.Write(out[:remaining]) // the limit ends the copy either way
				return errLimit
			}
			remaining -= int64(len(out))
		}
		_, err := w.Write(out)
		return err
	}
	br := bufio.NewReader(f)
	var partial []byte
	// readLine returns a whole line, or nil at the (current) end.
	readLine := func() ([]byte, error) {
		chunk, err := br.ReadBytes('\n')
		partial = append(partial, chunk...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil
			}
			return nil, err
		}
		line := partial
		partial = nil
		return line, nil
	}
	// What is there now, tailed.
	var lines [][]byte
	for {
		line, err := readLine()
		if err != nil {
			return err
		}
		if line == nil {
			break
		}
		lines = append(lines, line)
	}
	if opts.TailLines != nil && int64(len(lines)) > *opts.TailLines {
		lines = lines[int64(len(lines))-*opts.TailLines:]
	}
	for _, l := range lines {
		if err := emit(l); err != nil {
			return ignoreLimit(err)
		}
	}
	if !opts.Follow {
		return nil
	}
	finished := false
	for {
		line, err := readLine()
		if err != nil {
			return err
		}
		if line != nil {
			if err := emit(line); err != nil {
				return ignoreLimit(err)
			}
			continue
		}
		if finished {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			finished = true // read what is left, then end
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ignoreLimit(err error) error {
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}
