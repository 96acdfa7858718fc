package router

import (
	"bufio"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Responses on the fast server. A plain instance response (see scanHead) is
// relayed head and body byte for byte (writeRawHead). Everything else —
// the router's own answers, chunked or close-delimited responses, 1xx,
// trailers, event streams — goes through h1Resp, a minimal
// http.ResponseWriter with net/http's framing rules, so that the lean
// forwarder's general path and the router's error pages serve both front
// ends.

// h1Resp is the http.ResponseWriter of the fast server's current response.
type h1Resp struct {
	fc     *h1Conn
	header http.Header // reused from request to request
	status int         // 0 until WriteHeader
	mode   respMode
	// declared is the Content-Length in force (rmFixed), written the
	// number of body bytes written (or eaten, for HEAD).
	declared, written int64
	buf               []byte   // body held back until the head is written (rmPending)
	trailers          []string // names declared in the Trailer header
	keys              []string // scratch for sorting header keys
	scratch           [20]byte
}

type respMode uint8

const (
	rmPending respMode = iota // head not written: the body is buffered, so a short one gets a Content-Length
	rmRaw                     // relayed from the instance (writeRawHead): bytes pass through
	rmFixed                   // Content-Length
	rmChunked                 // chunked (HTTP/1.1, length unknown)
	rmClose                   // until the connection closes (HTTP/1.0, length unknown)
	rmNone                    // no body: HEAD, 204, 304
)

// bufferBeforeCommit is how much body a response holds back before writing
// its head: short bodies (router errors, the probe) get a Content-Length
// rather than chunking, as with net/http.
const bufferBeforeCommit = 4 << 10

func (w *h1Resp) reset() {
	if w.header == nil {
		w.header = make(http.Header)
	} else {
		clear(w.header)
	}
	w.status, w.mode, w.declared, w.written = 0, rmPending, -1, 0
	w.buf, w.trailers = w.buf[:0], w.trailers[:0]
}

func (w *h1Resp) Header() http.Header { return w.header }

func (w *h1Resp) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.status = code
}

func (w *h1Resp) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.mode == rmPending {
		if !bodyAllowedForStatus(w.status) {
			return 0, http.ErrBodyNotAllowed
		}
		switch {
		case w.fc.req.method == http.MethodHead && w.header.Get("Content-Length") == "":
			w.written += int64(len(p)) // eaten; counted for the Content-Length
			return len(p), nil
		case w.header.Get("Content-Length") == "" && len(w.buf)+len(p) <= bufferBeforeCommit:
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	return w.writeBody(p)
}

func (w *h1Resp) writeBody(p []byte) (int, error) {
	bw := w.fc.bw
	switch w.mode {
	case rmNone:
		return len(p), nil
	case rmFixed:
		if w.written+int64(len(p)) > w.declared {
			return 0, http.ErrContentLength
		}
	case rmChunked:
		if len(p) == 0 {
			return 0, nil
		}
		bw.Write(strconv.AppendInt(w.scratch[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		n, err := bw.Write(p)
		w.written += int64(n)
		if err == nil {
			_, err = bw.WriteString("\r\n")
		}
		return n, err
	}
	n, err := bw.Write(p)
	w.written += int64(n)
	return n, err
}

// Flush writes the head if not yet written (as a streamed response) and
// sends what is buffered.
func (w *h1Resp) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.mode == rmPending {
		w.commit(false)
	}
	w.fc.bw.Flush()
}

// finish completes the response: the head if not yet written, the held
// back body, the last chunk and trailers.
func (w *h1Resp) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.mode == rmPending {
		w.commit(true)
	}
	fc := w.fc
	switch w.mode {
	case rmChunked:
		bw := fc.bw
		bw.WriteString("0\r\n")
		w.writeTrailers(bw)
		bw.WriteString("\r\n")
	case rmFixed:
		if w.written != w.declared {
			fc.closeAfter = true // the client waits for bytes that never come
		}
	case rmClose:
		fc.closeAfter = true
	}
}

// writeInformational sends a 1xx response at once, as net/http does.
func (w *h1Resp) writeInformational(code int) {
	bw := w.fc.bw
	w.writeStatusLine(bw, code)
	w.writeHeaderMap(bw, func(k string) bool { return k == "Content-Length" || k == "Transfer-Encoding" })
	bw.WriteString("\r\n")
	bw.Flush()
}

// commit writes the head from the header map with net/http's framing
// rules; final means the handler is done, so a body held back gets a
// Content-Length.
func (w *h1Resp) commit(final bool) {
	fc := w.fc
	h := w.header
	code := w.status
	isHead := fc.req.method == http.MethodHead
	bodyOK := bodyAllowedForStatus(code)
	for _, v := range h["Trailer"] {
		for tok := range strings.SplitSeq(v, ",") {
			switch k := http.CanonicalHeaderKey(textproto.TrimString(tok)); k {
			case "", "Transfer-Encoding", "Content-Length", "Trailer":
			default:
				w.trailers = append(w.trailers, k)
			}
		}
	}
	hasTrailers := len(w.trailers) > 0
	if !hasTrailers {
		for k := range h {
			if strings.HasPrefix(k, http.TrailerPrefix) {
				hasTrailers = true
				break
			}
		}
	}
	w.declared = -1
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		}
	}
	switch {
	case !bodyOK:
		w.mode, w.declared = rmNone, -1
	case isHead:
		w.mode = rmNone
		if w.declared < 0 && final && w.written > 0 {
			w.declared = w.written
		}
	case w.declared >= 0:
		w.mode = rmFixed
	case final && !hasTrailers:
		w.mode, w.declared = rmFixed, int64(len(w.buf))
	case fc.req.http11:
		w.mode = rmChunked
	default:
		w.mode = rmClose
	}
	closeAfter := fc.decideClose(w.mode != rmClose)

	bw := fc.bw
	w.writeStatusLine(bw, code)
	w.writeHeaderMap(bw, func(k string) bool {
		switch k {
		case "Connection", "Transfer-Encoding", "Content-Length", "Trailer":
			return k != "Trailer" || w.mode != rmChunked // trailers only go with chunking
		case "Content-Type":
			return code == http.StatusNotModified
		}
		return strings.HasPrefix(k, http.TrailerPrefix)
	})
	if _, ok := h["Date"]; !ok {
		writeDate(bw)
	}
	switch {
	case w.mode == rmChunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case w.declared >= 0 && bodyOK:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(w.scratch[:0], w.declared, 10))
		bw.WriteString("\r\n")
	}
	writeConnection(bw, fc, closeAfter)
	bw.WriteString("\r\n")
	if w.mode != rmChunked {
		w.trailers = w.trailers[:0]
	}
	w.written = 0
	if len(w.buf) > 0 {
		// A failed write shows at Flush (bw's error is sticky), a short one
		// as written != declared, which finish answers by closing.
		_, _ = w.writeBody(w.buf)
		w.buf = w.buf[:0]
	}
}

func writeConnection(bw *bufio.Writer, fc *h1Conn, closeAfter bool) {
	switch {
	case closeAfter && fc.req.http11:
		bw.WriteString("Connection: close\r\n")
	case !closeAfter && !fc.req.http11:
		bw.WriteString("Connection: keep-alive\r\n")
	}
}

func (w *h1Resp) writeStatusLine(bw *bufio.Writer, code int) {
	if w.fc.req.http11 {
		bw.WriteString("HTTP/1.1 ")
	} else {
		bw.WriteString("HTTP/1.0 ")
	}
	if text := http.StatusText(code); text != "" {
		bw.Write(strconv.AppendInt(w.scratch[:0], int64(code), 10))
		bw.WriteByte(' ')
		bw.WriteString(text)
		bw.WriteString("\r\n")
	} else {
		fmt.Fprintf(bw, "%03d status code %d\r\n", code, code)
	}
}

// writeHeaderMap writes the header map in key order, as net/http does,
// leaving out skipped keys, invalid names and empty values' line breaks.
func (w *h1Resp) writeHeaderMap(bw *bufio.Writer, skip func(string) bool) {
	keys := w.keys[:0]
	for k := range w.header {
		if !skip(k) && validHeaderName(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range w.header[k] {
			writeHeaderLine(bw, k, sanitizeValue(v))
		}
	}
	clear(keys)
	w.keys = keys[:0]
}

func (w *h1Resp) writeTrailers(bw *bufio.Writer) {
	h := w.header
	for _, k := range w.trailers {
		for _, v := range h[k] {
			writeHeaderLine(bw, k, sanitizeValue(v))
		}
	}
	for k, vv := range h {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && validHeaderName(name) {
			for _, v := range vv {
				writeHeaderLine(bw, name, sanitizeValue(v))
			}
		}
	}
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isTokenByte(k[i]) {
			return false
		}
	}
	return true
}

// sanitizeValue keeps a value on its line, as net/http's Header.Write.
func sanitizeValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(v)
	}
	return textproto.TrimString(v)
}

func bodyAllowedForStatus(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == http.StatusNoContent, status == http.StatusNotModified:
		return false
	}
	return true
}

// writeRawHead writes the plain instance response scanned into fc.rh to the
// client: its status line (with the client's HTTP version) and header
// lines as they came, minus what the router replaces, then the router's
// own lines. It reports whether the response is an event stream. The
// caller consumes the head's bytes from the instance connection.
func (fc *h1Conn) writeRawHead(tg *target) bool {
	sh := &fc.rh
	b := sh.block
	w := &fc.resp
	status := int(b[9]-'0')*100 + int(b[10]-'0')*10 + int(b[11]-'0')
	w.status, w.mode = status, rmRaw
	closeAfter := fc.decideClose(true)

	bw := fc.bw
	if fc.req.http11 {
		bw.WriteString("HTTP/1.1 ")
	} else {
		bw.WriteString("HTTP/1.0 ")
	}
	bw.Write(b[9 : sh.statusEnd+2])
	for i := range sh.nf {
		f := &sh.fields[i]
		switch f.kind {
		case rfInstance:
			if tg.idHeader != nil {
				continue
			}
		case rfRegion:
			if tg.region != nil {
				continue
			}
		case rfContentLength:
			if status == http.StatusNoContent || status == http.StatusNotModified {
				continue // net/http drops it for bodiless statuses
			}
		case rfContentType:
			if status == http.StatusNotModified {
				continue
			}
		}
		bw.Write(b[f.ks:f.ke])
		bw.WriteString(": ")
		bw.Write(b[f.vs:f.ve])
		bw.WriteString("\r\n")
	}
	if tg.idHeader != nil {
		writeHeaderLine(bw, InstanceHeader, tg.idHeader[0])
	}
	if tg.region != nil {
		writeHeaderLine(bw, paved.RegionHeader, tg.region[0])
	}
	if !sh.hasDate {
		writeDate(bw)
	}
	writeConnection(bw, fc, closeAfter)
	bw.WriteString("\r\n")
	sh.block = nil // the instance connection's buffer, which the caller consumes
	return sh.stream
}

// The Date header, formatted once a second.
type cachedDate struct {
	sec  int64
	line []byte
}

var dateCache atomic.Pointer[cachedDate]

func writeDate(bw *bufio.Writer) {
	now := time.Now()
	d := dateCache.Load()
	if d == nil || d.sec != now.Unix() {
		line := append([]byte("Date: "), now.UTC().AppendFormat(nil, http.TimeFormat)...)
		d = &cachedDate{sec: now.Unix(), line: append(line, "\r\n"...)}
		dateCache.Store(d)
	}
	bw.Write(d.line)
}
