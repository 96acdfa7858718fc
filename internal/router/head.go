package router

import (
	"bytes"
	"net/http"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// respHead is a response's status and framing, from either parser.
type respHead struct {
	status int
	// contentLength is what http.Response.ContentLength would be: -1 when
	// unknown (chunked, close-delimited, HEAD without Content-Length).
	contentLength int64
	// bodyLen is the number of body bytes to copy from the connection in
	// the fast path (0 for HEAD, 204 and 304).
	bodyLen int64
	close   bool           // the instance will close the connection
	res     *http.Response // set when parsed by http.ReadResponse
	// raw: the head was validated in place by scanHead for the fast
	// server, which writes it to the client itself (h1Conn.writeRawHead).
	raw bool
}

// maxFastHeaders bounds the header count of the fast path; a response with
// more goes through http.ReadResponse.
const maxFastHeaders = 32

var crlf, crlfcrlf = []byte("\r\n"), []byte("\r\n\r\n")

// Kinds of the response header fields scanHead keeps, for the raw relay of
// the fast server (see h1Conn.writeRawHead).
const (
	rfOther uint8 = iota
	rfContentLength
	rfContentType
	rfDate
	rfInstance // InstanceHeader
	rfRegion   // paved.RegionHeader
)

// headField locates one header line of a response head in its block.
type headField struct {
	ks, ke, vs, ve int // key and (trimmed) value
	recase         bool
	kind           uint8
}

// scannedHead is a plain response head validated in place by scanHead: the
// bytes stay in the connection's read buffer until the head is committed.
type scannedHead struct {
	block     []byte // status line through the final empty line
	statusEnd int    // index of the status line's CRLF
	fields    [maxFastHeaders]headField
	nf        int
	hasDate   bool
	stream    bool // Content-Type: text/event-stream
}

// readHeadFast parses a plain response head straight from the connection's
// read buffer into h, the client's (empty) response header map, leaving out
// hop-by-hop headers. Plain means: HTTP/1.1, a final status 200–599, a
// single valid Content-Length (or no body: HEAD, 204, 304), no
// Transfer-Encoding, Trailer or Pragma header, at most maxFastHeaders
// header lines of token names and valid values without continuation lines,
// Connection at most "close" or "keep-alive", and the whole head within the
// buffer. The result is what http.ReadResponse plus ReverseProxy's header
// copy would produce.
//
// It returns ok=false for anything else, or on a read error, without having
// consumed a byte or touched h: http.ReadResponse then parses the same
// bytes (and meets the same error).
func readHeadFast(pc *pconn, h http.Header, method string) (head respHead, ok bool) {
	var sh scannedHead
	if head, ok = scanHead(pc, method, &sh); !ok {
		return head, false
	}
	commitHead(&sh, h)
	discardBuffered(pc.br, len(sh.block))
	return head, true
}

// scanHead validates a plain response head (see readHeadFast) in place and
// records its kept fields in sh, consuming nothing.
func scanHead(pc *pconn, method string, sh *scannedHead) (head respHead, ok bool) {
	br := pc.br
	var block []byte
	for {
		n := br.Buffered()
		if n == 0 {
			n = 1
		}
		buf, err := br.Peek(n)
		if err != nil {
			return head, false
		}
		if i := bytes.Index(buf, crlfcrlf); i >= 0 {
			block = buf[:i+4]
			break
		}
		if len(buf) >= br.Size() {
			return head, false // head larger than the buffer
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return head, false
		}
	}

	return scanBlock(block, method, sh)
}

// scanBlock validates the response head block (status line through the
// final empty line) as scanHead does, recording its kept fields in sh.
func scanBlock(block []byte, method string, sh *scannedHead) (head respHead, ok bool) {
	// Status line: "HTTP/1.1 NNN" and an optional reason phrase.
	e := bytes.Index(block, crlf)
	line := block[:e]
	if len(line) < 12 || string(line[:9]) != "HTTP/1.1 " || (len(line) > 12 && line[12] != ' ') {
		return head, false
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return head, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 {
		return head, false
	}
	// The reason phrase is relayed as it came (writeRawHead), so it must
	// hold nothing a client could read as the end of the line: a bare LF
	// or CR (RFC 9112 §2.2) would let an instance slip header lines past
	// the router ("200 OK\nTransfer-Encoding: chunked"); NUL and other
	// controls have no place there either. Such heads leave the fast path.
	for _, c := range line[min(12, len(line)):] {
		if !validHeaderValueByte(c) {
			return head, false
		}
	}

	// Header lines, validated as textproto does, before anything is kept.
	var (
		nf     int
		cl     int64 = -1
		closes bool
		kb     [32]byte // canonical form of a key, for classification
	)
	sh.hasDate, sh.stream = false, false
	start := e + 2
	end := len(block) - 2 // the final empty line
	for off := start; off < end; {
		le := off + bytes.Index(block[off:], crlf)
		colon := bytes.IndexByte(block[off:le], ':')
		if colon <= 0 {
			return head, false
		}
		ks, ke := off, off+colon
		recase := false
		upper := true
		for i := ks; i < ke; i++ {
			c := block[i]
			if !isTokenByte(c) {
				return head, false
			}
			want := c
			if upper && 'a' <= c && c <= 'z' {
				want = c - 'a' + 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				want = c - 'A' + 'a'
			}
			if want != c {
				recase = true
			}
			if j := i - ks; j < len(kb) {
				kb[j] = want
			}
			upper = c == '-'
		}
		vs, ve := ke+1, le
		for i := vs; i < ve; i++ {
			if !validHeaderValueByte(block[i]) {
				return head, false
			}
		}
		for vs < ve && (block[vs] == ' ' || block[vs] == '\t') {
			vs++
		}
		for ve > vs && (block[ve-1] == ' ' || block[ve-1] == '\t') {
			ve--
		}
		off = le + 2

		keep := true
		kind := rfOther
		if n := ke - ks; n <= len(kb) {
			switch string(kb[:n]) {
			case "Content-Length":
				if cl >= 0 {
					return head, false // repeated: let ReadResponse judge
				}
				if cl = parseDigits(block[vs:ve]); cl < 0 {
					return head, false
				}
				kind = rfContentLength
			case "Connection":
				// Any Connection line that says close closes, as in
				// net/http: a later "keep-alive" does not take it back.
				c, plainConn := connectionTokens(block[vs:ve])
				if !plainConn {
					return head, false
				}
				closes = closes || c
				keep = false
			case "Transfer-Encoding", "Trailer", "Pragma", "Close":
				return head, false
			case "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Upgrade":
				keep = false // hop-by-hop
			case "Content-Type":
				kind = rfContentType
				if isEventStreamValue(block[vs:ve]) {
					sh.stream = true
				}
			case "Date":
				kind = rfDate
				sh.hasDate = true
			case InstanceHeader:
				kind = rfInstance
			case paved.RegionHeader:
				kind = rfRegion
			}
		}
		if !keep {
			continue
		}
		if nf == len(sh.fields) {
			return head, false
		}
		sh.fields[nf] = headField{ks, ke, vs, ve, recase, kind}
		nf++
	}

	head = respHead{status: code, contentLength: cl, bodyLen: cl, close: closes}
	switch {
	case method == http.MethodHead:
		head.bodyLen = 0
	case code == http.StatusNoContent || code == http.StatusNotModified:
		head.contentLength, head.bodyLen = 0, 0
	case cl < 0:
		return head, false // close-delimited body
	}
	sh.block, sh.statusEnd, sh.nf = block, e, nf
	return head, true
}

// commitHead puts the fields of a scanned head into h with canonical keys,
// as http.ReadResponse would. It canonicalizes keys in place: the block is
// consumed right after and never read again.
func commitHead(sh *scannedHead, h http.Header) {
	block, nf := sh.block, sh.nf
	for i := range nf {
		if f := &sh.fields[i]; f.recase {
			upper := true
			for j := f.ks; j < f.ke; j++ {
				c := block[j]
				if upper && 'a' <= c && c <= 'z' {
					block[j] = c - 'a' + 'A'
				} else if !upper && 'A' <= c && c <= 'Z' {
					block[j] = c - 'A' + 'a'
				}
				upper = c == '-'
			}
		}
	}
	// One string for all names and values, one slice for all values.
	start := sh.statusEnd + 2
	s := string(block[start : len(block)-2])
	vals := make([]string, nf)
	for i := range nf {
		f := &sh.fields[i]
		k := s[f.ks-start : f.ke-start]
		vals[i] = s[f.vs-start : f.ve-start]
		if prev, ok := h[k]; ok {
			h[k] = append(prev, vals[i])
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
}

// isEventStreamValue reports whether a Content-Type value is
// text/event-stream (see isEventStream).
func isEventStreamValue(v []byte) bool {
	if i := bytes.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(v), []byte("text/event-stream"))
}

// parseDigits parses a Content-Length value, or returns -1.
func parseDigits(b []byte) int64 {
	if len(b) == 0 || len(b) > 18 {
		return -1
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// connectionTokens reads a response Connection header value: plain is true
// when it only holds "close" and "keep-alive" tokens.
func connectionTokens(v []byte) (closes, plain bool) {
	for tok := range tokens(v) {
		switch {
		case bytes.EqualFold(tok, []byte("close")):
			closes = true
		case bytes.EqualFold(tok, []byte("keep-alive")):
		default:
			return false, false
		}
	}
	return closes, true
}

// isTokenByte reports whether c may appear in a header field name (RFC 7230
// token), as textproto requires.
func isTokenByte(c byte) bool {
	return tokenTable[c]
}

var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validHeaderValueByte mirrors textproto: tab, visible ASCII, space and
// obs-text (>= 0x80) are allowed; other control bytes and DEL are not.
func validHeaderValueByte(c byte) bool {
	return c == '\t' || (c >= 0x20 && c != 0x7f)
}
