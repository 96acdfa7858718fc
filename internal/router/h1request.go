package router

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Request heads on the fast server. A head is found and validated in
// place in the connection's read buffer, and the request is written to the
// instance from those bytes: header lines are copied as they came, minus
// the hop-by-hop ones. Nothing is allocated for a request whose head fits
// the buffer and whose method is a standard one.

// What to do with a request head.
const (
	actServe   = iota // serve it on the fast path
	actHandOff        // valid but unusual: hand the connection to net/http
	actDone           // answered (400, 431) or the connection broke: close
)

// Kinds of request header fields.
const (
	qfOther uint8 = iota
	qfHost
	qfContentLength
	qfTransferEncoding
	qfConnection
	qfTe
	qfExpect
	qfUserAgent
	qfXFF
	qfXFH
	qfXFP
	qfHopByHop // never forwarded: Keep-Alive, Proxy-*, Trailer, Upgrade, Forwarded
	qfIdempotency
	qfHop // paved.HopHeader
)

// reqField locates one header line in the head.
type reqField struct {
	ks, ke, vs, ve int // name and (trimmed) value
	kind           uint8
}

// h1Request is the parsed head of the current request. Offsets are into
// block.
type h1Request struct {
	block    []byte // request line through the final empty line
	consumed bool   // block was copied out of br, which no longer holds it

	method             string
	http11             bool // HTTP/1.1, else HTTP/1.0
	pathStart, pathEnd int
	queryEnd           int  // > pathEnd when the target has a query: block[pathEnd+1:queryEnd]
	pathEscaped        bool // the path holds %XX escapes
	hostStart, hostEnd int
	contentLength      int64 // -1: none
	fields             []reqField

	wantsClose bool // the connection closes after the response
	keepAlive  bool // HTTP/1.0 with Connection: keep-alive
	connNames  bool // Connection names headers to drop
	teTrailers bool // Te lists trailers
	hopped     bool // carries paved.HopHeader
	idemKey    bool // carries Idempotency-Key or X-Idempotency-Key
}

func (q *h1Request) hostBytes() []byte { return q.block[q.hostStart:q.hostEnd] }

// readRequest reads and parses the next request head, answering it itself
// when it is malformed.
func (fc *h1Conn) readRequest() int {
	q := &fc.req
	q.block, q.consumed = nil, false
	act, code, why := fc.readHead()
	if act == actServe {
		act, code, why = q.parse(q.block)
	}
	if act == actDone && code != 0 {
		fc.reject(code, why)
	}
	return act
}

// readHead finds the next request head: in place in br when it fits,
// otherwise copied out of it, up to the server's head limit. Empty lines
// before a request are skipped (RFC 9112 §2.2). A bare LF line ending,
// which net/http accepts, sends the connection to net/http.
func (fc *h1Conn) readHead() (act, code int, why string) {
	br, q := fc.br, &fc.req
	limit := fc.s.headLimit
	for {
		b, err := br.Peek(2)
		if err != nil {
			return actDone, 0, ""
		}
		if b[0] != '\r' || b[1] != '\n' {
			break
		}
		discardBuffered(br, 2)
	}
	scanned, lineStart := 0, 0
	var buf []byte
	for {
		buf, _ = br.Peek(br.Buffered())
		for scanned < len(buf) {
			i := bytes.IndexByte(buf[scanned:], '\n')
			if i < 0 {
				scanned = len(buf)
				break
			}
			i += scanned
			if i == 0 || buf[i-1] != '\r' {
				return actHandOff, 0, ""
			}
			if i-lineStart == 1 { // the empty line
				if i+1 > limit {
					return actDone, http.StatusRequestHeaderFieldsTooLarge, ""
				}
				q.block = buf[:i+1]
				return actServe, 0, ""
			}
			lineStart, scanned = i+1, i+1
		}
		if len(buf) >= limit {
			return actDone, http.StatusRequestHeaderFieldsTooLarge, ""
		}
		if len(buf) == br.Size() {
			break // longer than the buffer
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return actDone, 0, ""
		}
	}

	// A long head: copy it out, exactly up to its end.
	big := make([]byte, 0, 2*len(buf))
	big = append(big, buf...)
	discardBuffered(br, len(buf))
	q.block, q.consumed = big, true
	for {
		if len(big) >= limit {
			return actDone, http.StatusRequestHeaderFieldsTooLarge, ""
		}
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				return actDone, 0, ""
			}
		}
		chunk, _ := br.Peek(br.Buffered())
		base := len(big)
		for j := 0; j < len(chunk); {
			k := bytes.IndexByte(chunk[j:], '\n')
			if k < 0 {
				break
			}
			pos := base + j + k
			prev := byte(0)
			if pos-1 >= base {
				prev = chunk[pos-1-base]
			} else {
				prev = big[pos-1]
			}
			if prev != '\r' {
				q.block = big // replayed to net/http with the rest of br
				return actHandOff, 0, ""
			}
			if pos-lineStart == 1 {
				big = append(big, chunk[:j+k+1]...)
				discardBuffered(br, j+k+1)
				q.block = big
				if len(big) > limit {
					return actDone, http.StatusRequestHeaderFieldsTooLarge, ""
				}
				return actServe, 0, ""
			}
			lineStart = pos + 1
			j += k + 1
		}
		big = append(big, chunk...)
		discardBuffered(br, len(chunk))
		q.block = big
	}
}

// discardBuffered drops the first n bytes of br's buffer, which holds them
// (n <= br.Buffered(), as after a Peek of n): Discard then reads nothing
// and cannot fail.
func discardBuffered(br *bufio.Reader, n int) { _, _ = br.Discard(n) }

// parse validates a request head and classifies it. It rejects (400) what
// is malformed or could be read two ways by two servers (request
// smuggling), and hands to net/http what is valid but not for the fast
// path.
func (q *h1Request) parse(b []byte) (act, code int, why string) {
	q.fields = q.fields[:0]
	q.contentLength, q.hostStart, q.hostEnd, q.queryEnd = -1, 0, 0, 0
	q.wantsClose, q.keepAlive, q.connNames, q.teTrailers = false, false, false, false
	q.hopped, q.idemKey, q.pathEscaped = false, false, false
	bad := func(why string) (int, int, string) { return actDone, http.StatusBadRequest, why }

	// Request line: method SP request-target SP HTTP-version.
	le := bytes.Index(b, crlf)
	line := b[:le]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return bad("malformed request line")
	}
	for _, c := range line[:sp1] {
		if !isTokenByte(c) {
			return bad("invalid method")
		}
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 < 0 {
		return bad("malformed request line")
	}
	ts, te := sp1+1, sp1+1+sp2
	switch proto := line[te+1:]; string(proto) {
	case "HTTP/1.1":
		q.http11 = true
	case "HTTP/1.0":
		q.http11 = false
	default:
		if len(proto) == 8 && string(proto[:5]) == "HTTP/" && isDigit(proto[5]) && proto[6] == '.' && isDigit(proto[7]) {
			return actHandOff, 0, "" // net/http answers 505, or serves HTTP/1.x > 1.1, or the h2 preface
		}
		return bad("malformed HTTP version")
	}
	q.method = methodString(line[:sp1])
	if q.method == http.MethodConnect {
		return actHandOff, 0, ""
	}
	if ts == te {
		return bad("empty request target")
	}
	for _, c := range b[ts:te] {
		if c < ' ' || c == 0x7f {
			return bad("invalid request target")
		}
	}
	if b[ts] != '/' {
		return actHandOff, 0, "" // absolute-form, asterisk-form
	}
	q.pathStart, q.pathEnd = ts, te
	if i := bytes.IndexByte(b[ts:te], '?'); i >= 0 {
		q.pathEnd, q.queryEnd = ts+i, te
	}
	// The path is written to the instance as it came, which is what
	// url.URL.EscapedPath gives back only for these bytes; anything else
	// takes net/http's way.
	for i := q.pathStart; i < q.pathEnd; i++ {
		c := b[i]
		if c == '%' {
			if i+2 >= q.pathEnd || !ishex(b[i+1]) || !ishex(b[i+2]) {
				return bad("invalid URL escape")
			}
			q.pathEscaped = true
			i += 2
			continue
		}
		if !pathByte[c] {
			return actHandOff, 0, ""
		}
	}

	// Header lines.
	var (
		hosts, te2        int
		clStart, clEnd    int // the first Content-Length value
		expect, upgrade   bool
		closeTok, keepTok bool
	)
	end := len(b) - 2
	for off := le + 2; off < end; {
		e := off + bytes.Index(b[off:end+2], crlf)
		if b[off] == ' ' || b[off] == '\t' {
			return bad("obsolete line folding")
		}
		colon := bytes.IndexByte(b[off:e], ':')
		if colon <= 0 {
			return bad("malformed header line")
		}
		ks, ke := off, off+colon
		for _, c := range b[ks:ke] {
			if !isTokenByte(c) {
				return bad("invalid header name")
			}
		}
		vs, ve := ke+1, e
		for _, c := range b[vs:ve] {
			if !validHeaderValueByte(c) {
				return bad("invalid header value")
			}
		}
		for vs < ve && (b[vs] == ' ' || b[vs] == '\t') {
			vs++
		}
		for ve > vs && (b[ve-1] == ' ' || b[ve-1] == '\t') {
			ve--
		}
		off = e + 2
		v := b[vs:ve]
		kind := classifyRequestHeader(b[ks:ke])
		switch kind {
		case qfHost:
			if hosts++; hosts > 1 {
				return bad("too many Host headers")
			}
			for _, c := range v {
				if !validHostByte[c] {
					return bad("malformed Host header")
				}
			}
			q.hostStart, q.hostEnd = vs, ve
		case qfContentLength:
			// As net/http (Go 1.22 and later): an empty value is refused,
			// and repeated headers must be the same text, not merely the
			// same number ("3" and "03" are two lengths to someone).
			n := parseDigits(v)
			if len(v) == 0 || n < 0 {
				return bad("bad Content-Length")
			}
			if q.contentLength >= 0 && !bytes.Equal(v, b[clStart:clEnd]) {
				return bad("differing Content-Length headers")
			}
			q.contentLength, clStart, clEnd = n, vs, ve
		case qfTransferEncoding:
			te2++
		case qfConnection:
			for tok := range tokens(v) {
				switch {
				case bytes.EqualFold(tok, []byte("close")):
					closeTok = true
				case bytes.EqualFold(tok, []byte("keep-alive")):
					keepTok = true
				case bytes.EqualFold(tok, []byte("upgrade")):
					upgrade = true
				default:
					q.connNames = true
				}
			}
		case qfTe:
			for tok := range tokens(v) {
				if bytes.EqualFold(tok, []byte("trailers")) {
					q.teTrailers = true
				}
			}
		case qfExpect:
			expect = true
		case qfIdempotency:
			q.idemKey = true
		case qfHop:
			q.hopped = true
		}
		q.fields = append(q.fields, reqField{ks, ke, vs, ve, kind})
	}

	switch {
	case te2 > 0 && q.contentLength >= 0:
		return bad("both Transfer-Encoding and Content-Length")
	case q.http11 && hosts == 0:
		return bad("missing required Host header")
	case te2 > 0 || expect || upgrade:
		// Chunked bodies, 100-continue and protocol switches are
		// net/http's and ReverseProxy's business.
		return actHandOff, 0, ""
	}
	if q.http11 {
		q.wantsClose = closeTok
	} else {
		q.wantsClose = closeTok || !keepTok
		q.keepAlive = !q.wantsClose
	}
	return actServe, 0, ""
}

// tokens yields the non-empty elements of a comma-separated header value.
func tokens(v []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			var tok []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				tok, v = v, nil
			}
			if tok = bytes.Trim(tok, " \t"); len(tok) > 0 && !yield(tok) {
				return
			}
		}
	}
}

// namedInConnection reports whether a Connection header lists name, which
// makes that header hop-by-hop.
func (q *h1Request) namedInConnection(name []byte) bool {
	for i := range q.fields {
		if f := &q.fields[i]; f.kind == qfConnection {
			for tok := range tokens(q.block[f.vs:f.ve]) {
				if bytes.EqualFold(tok, name) {
					return true
				}
			}
		}
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// methodString returns the method without allocating for standard ones.
func methodString(m []byte) string {
	switch string(m) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodTrace:
		return http.MethodTrace
	}
	return string(m)
}

// classifyRequestHeader returns the kind of a header by its name, in any
// case.
func classifyRequestHeader(name []byte) uint8 {
	var kb [24]byte
	if len(name) > len(kb) {
		return qfOther
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		kb[i] = c
	}
	switch string(kb[:len(name)]) {
	case "host":
		return qfHost
	case "content-length":
		return qfContentLength
	case "transfer-encoding":
		return qfTransferEncoding
	case "connection":
		return qfConnection
	case "te":
		return qfTe
	case "expect":
		return qfExpect
	case "user-agent":
		return qfUserAgent
	case "x-forwarded-for":
		return qfXFF
	case "x-forwarded-host":
		return qfXFH
	case "x-forwarded-proto":
		return qfXFP
	case "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
		"trailer", "upgrade", "forwarded":
		return qfHopByHop
	case "idempotency-key", "x-idempotency-key":
		return qfIdempotency
	case "x-paved-hop":
		return qfHop
	}
	return qfOther
}

// pathByte holds the bytes a path may contain to be forwarded as is:
// those url.URL.EscapedPath keeps (validEncoded's set), '%' aside.
var pathByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for _, c := range "-._~!$&'()*+,;=:@[]/" {
		t[c] = true
	}
	return t
}()

// validHostByte is httpguts.ValidHostHeader's table.
var validHostByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for _, c := range "!$%&()*+,-.:;=[']_~" {
		t[c] = true
	}
	return t
}()

// queryNeedsReencode reports whether cleanQueryParams would change a
// query, without allocating.
func queryNeedsReencode(q []byte) bool {
	amps := 0
	for i := 0; i < len(q); {
		switch q[i] {
		case ';':
			return true
		case '%':
			if i+2 >= len(q) || !ishex(q[i+1]) || !ishex(q[i+2]) {
				return true
			}
			i += 3
			continue
		case '&':
			amps++
		}
		i++
	}
	return amps+1 > 10000
}

// writeRequest writes the request line and headers of the current request
// for an instance: what writeRequest writes for a ServeHTTP request, from
// the raw head. writeBody ends it.
func (fc *h1Conn) writeRequest(bw *bufio.Writer, out *outReq, addr string, trust bool) {
	q := &fc.req
	b := q.block
	bw.WriteString(out.method)
	bw.WriteByte(' ')
	bw.Write(b[q.pathStart:q.pathEnd])
	if q.queryEnd > q.pathEnd {
		bw.WriteByte('?')
		if query := b[q.pathEnd+1 : q.queryEnd]; queryNeedsReencode(query) {
			bw.WriteString(cleanQueryParams(string(query)))
		} else {
			bw.Write(query)
		}
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := q.hostBytes()
	switch {
	case len(host) == 0:
		bw.WriteString(removeZone(addr))
	case host[0] == '[':
		bw.WriteString(removeZone(string(host)))
	default:
		bw.Write(host)
	}
	bw.WriteString("\r\n")
	ua := false
	var xfh, xfp bool
	for i := range q.fields {
		f := &q.fields[i]
		switch f.kind {
		case qfHost, qfContentLength, qfTransferEncoding, qfConnection, qfTe, qfHopByHop, qfXFF:
			continue
		case qfXFH:
			xfh = true
			continue
		case qfXFP:
			xfp = true
			continue
		}
		if q.connNames && q.namedInConnection(b[f.ks:f.ke]) {
			continue
		}
		if f.kind == qfUserAgent {
			// Only the first User-Agent, if not empty, as http.Transport.
			if ua || f.vs == f.ve {
				ua = true
				continue
			}
			ua = true
		}
		bw.Write(b[f.ks:f.ke])
		bw.WriteString(": ")
		bw.Write(b[f.vs:f.ve])
		bw.WriteString("\r\n")
	}
	if q.teTrailers {
		bw.WriteString("Te: trailers\r\n")
	}
	if out.hop != nil {
		writeHeaderLine(bw, paved.HopHeader, out.hop[0])
	}

	// X-Forwarded-*, as writeForwarded.
	if !trust {
		bw.WriteString("X-Forwarded-Host: ")
		bw.Write(host)
		bw.WriteString("\r\n")
		if fc.ip != "" {
			writeHeaderLine(bw, "X-Forwarded-For", fc.ip)
		}
		bw.WriteString(fc.protoLine())
		return
	}
	if fc.ipOK {
		bw.WriteString("X-Forwarded-For: ")
		fc.writeValues(bw, qfXFF, ", ")
		bw.WriteString(fc.ip)
		bw.WriteString("\r\n")
	}
	if xfh {
		fc.writeValues(bw, qfXFH, "")
	} else {
		bw.WriteString("X-Forwarded-Host: ")
		bw.Write(host)
		bw.WriteString("\r\n")
	}
	if xfp {
		fc.writeValues(bw, qfXFP, "")
	} else {
		bw.WriteString(fc.protoLine())
	}
}

// writeValues writes the values of the fields of one kind, each followed
// by sep, or (sep == "") each as a header line of its own.
func (fc *h1Conn) writeValues(bw *bufio.Writer, kind uint8, sep string) {
	q := &fc.req
	for i := range q.fields {
		f := &q.fields[i]
		if f.kind != kind {
			continue
		}
		if sep == "" {
			bw.Write(q.block[f.ks:f.ke])
			bw.WriteString(": ")
		}
		bw.Write(q.block[f.vs:f.ve])
		if sep == "" {
			bw.WriteString("\r\n")
		} else {
			bw.WriteString(sep)
		}
	}
}

// reject answers a malformed request and leaves the connection to be
// closed, like net/http's server.
func (fc *h1Conn) reject(code int, why string) {
	text := strconv.Itoa(code) + " " + http.StatusText(code)
	body := text
	if why != "" {
		body += ": " + why
	}
	bw := fc.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(text)
	bw.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ")
	bw.WriteString(strconv.Itoa(len(body)))
	bw.WriteString("\r\n\r\n")
	bw.WriteString(body)
	bw.Flush()
	// The client may still be sending the rest of a long head.
	fc.unreadBody = code == http.StatusRequestHeaderFieldsTooLarge
}
