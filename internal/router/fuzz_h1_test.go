package router

// Fuzz targets for the parsers of untrusted bytes on the router's own
// server and its event loops: request heads from clients (readHead and
// h1Request.parse, and the lane's headEnd where there is one) and response
// heads from instances (scanHead, scanBlock, readHeadFast and
// readResponse, and writeRawHead, which relays what scanBlock accepted).
// The reference is net/http reading the same bytes: what the router
// accepts, net/http must read the same way, and the request the router
// writes to an instance net/http must accept. Run them with
// scripts/fuzz.sh; `go test` runs their seeds (f.Add below and
// testdata/fuzz/) as ordinary tests.
//
// They hold the router to net/http with no exception: the three
// divergences they found (a reason phrase with a bare LF relayed as it
// came, a "Connection: close" forgotten behind a later Connection line,
// Content-Length headers net/http refuses) were fixed, and their inputs
// are seeds in testdata/fuzz/.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// laneHeadEnd is the lane's request-head finder (headEnd) where the
// platform has the lane (fuzz_lane_linux_test.go), else nil.
var laneHeadEnd func([]byte) (int, bool)

// FuzzRequestHead reads up to four pipelined request heads from data as
// the fast server does (readHead on a bufio.Reader of bufSize bytes fed
// chunk bytes at a time, with a head limit of limit, 0 meaning the
// default), parses each (h1Request.parse) and, for a request it serves,
// writes the instance's request (h1Conn.writeRequest, writeBody).
// Invariants:
//
//   - readHead ends a head exactly after the first CRLFCRLF (after the
//     empty lines it skips), hands the connection to net/http at a bare
//     LF before it, answers 431 for a head over the limit, and loses or
//     repeats no byte: the head it took plus what is left to read is the
//     input; the lane's headEnd finds the same end;
//   - parse depends on its input only (a reused h1Request parses as a
//     fresh one), never serves a head with Transfer-Encoding and a
//     Content-Length, differing Content-Lengths, several Host headers,
//     obs-fold, a bare CR or a NUL, and rejects them with 400 when the
//     request line is one the fast path takes;
//   - a served head is one net/http's ReadRequest accepts, with the same
//     method, version, Host, path, query, Content-Length, Connection
//     verdict, header fields, hop and idempotency flags;
//   - the request written to the instance is accepted by ReadRequest with
//     the same method, path, query, Host and length, no hop-by-hop
//     header, every end-to-end header of the client, and X-Forwarded-*
//     set by the router (extended when trust);
//   - a rejection is a well-formed response with its status that closes.
func FuzzRequestHead(f *testing.F) {
	big := strings.Repeat("b", 5000)
	for _, s := range []struct {
		head    string
		bufSize uint16
		limit   uint16
		chunk   uint8
	}{
		// Normal and pipelined.
		{"GET / HTTP/1.1\r\nHost: web.test\r\n\r\n", 4096, 0, 0},
		{"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: Web.Test:8080\r\nUser-Agent: ua/1\r\nAccept: */*\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.0\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 4096, 0, 0},
		{"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 16, 0, 1},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n", 4096, 0, 3},
		{"DELETE /a/b;c=d/%2F?x=%zz;y HTTP/1.1\r\nHost: a\r\nIdempotency-Key: k\r\n\r\n", 4096, 0, 0},
		{"GET /?a HTTP/1.1\r\nHost: [fe80::1%25en0]:80\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: front\r\nX-Forwarded-Proto: https\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-A, keep-alive\r\nX-A: gone\r\nKeep-Alive: 5\r\nTe: trailers, deflate\r\nX-Paved-Hop: eu\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent:\r\nUser-Agent: second\r\nPragma: no-cache\r\n\r\n", 4096, 0, 0},
		{"PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		// Chunked, upgrades and what else goes to net/http.
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 4096, 0, 0},
		{"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 4096, 0, 0},
		{"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", 4096, 0, 0},
		{"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 4096, 0, 0},
		{"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 4096, 0, 0},
		{"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		// Oversized: copied out of a small buffer, or over the limit.
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", 4096, 0, 0},
		{"GET /" + big + " HTTP/1.1\r\nHost: a\r\n\r\n", 64, 0, 7},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", 4096, 4096, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: 0123456789\r\n\r\n", 16, 40, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big, 4096, 0, 0},
		// Smuggling-style and malformed.
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 4096, 0, 0},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 4096, 0, 0},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 4096, 0, 0},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 4096, 0, 0},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 03\r\n\r\nabc", 4096, 0, 0},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", 4096, 0, 0},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\r\n b\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\nHost: a\n\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-\x00: b\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-A: \x00\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 4096, 0, 0},
		{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"GET /\r\nHost: a\r\n\r\n", 4096, 0, 0},
		{"\n", 4096, 0, 0},
		{"", 4096, 0, 0},
	} {
		f.Add([]byte(s.head), s.bufSize, s.limit, s.chunk, false)
	}
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\nX-Forwarded-Host: front\r\n\r\n"), uint16(4096), uint16(0), uint8(0), true)
	f.Fuzz(func(t *testing.T, data []byte, bufSize, limit uint16, chunk uint8, trust bool) {
		size := 16 + int(bufSize)%(clientBufSize-15)
		headLimit := int(limit)
		if headLimit == 0 {
			headLimit = http.DefaultMaxHeaderBytes + 4096 // Server's default
		}
		src := &chunkReader{data: data, max: int(chunk)}
		var answer bytes.Buffer
		fc := &h1Conn{s: &Server{headLimit: headLimit}, ip: "192.0.2.1", ipOK: true}
		fc.br = bufio.NewReaderSize(src, size)
		fc.bw = bufio.NewWriter(&answer)
		q := &fc.req
		for range 4 {
			left := unread(fc.br, src)
			rest := skipEmptyLines(left)
			want, end, lfAt := refHeadEnd(rest, headLimit)

			q.block, q.consumed = nil, false
			act, code, why := fc.readHead()
			got := verdictOf(act, code)
			switch {
			case got == want:
			case want == hvHandOff && got == hvTooLarge && lfAt >= headLimit:
				// The bare LF lies beyond the limit: either verdict is right.
			default:
				t.Fatalf("readHead(%q) with a %d-byte buffer, limit %d: %s, want %s", rest, size, headLimit, got, want)
			}
			var taken []byte
			if q.consumed {
				taken = q.block
			}
			if now := unread(fc.br, src); got != hvEOF && !bytes.Equal(append(append([]byte(nil), taken...), now...), rest) {
				t.Fatalf("readHead(%q): %s took %q and left %q: bytes lost or repeated", rest, got, taken, now)
			}
			if laneHeadEnd != nil && len(rest) >= 2 {
				lend, bad := laneHeadEnd(left)
				skip := len(left) - len(rest)
				switch {
				case want == hvServe && (bad || lend != skip+end):
					t.Fatalf("lane headEnd(%q) = %d, %v; the fast server's head ends at %d", left, lend, bad, skip+end)
				case want == hvHandOff && !bad:
					t.Fatalf("lane headEnd(%q) = %d, %v: misses the bare LF at %d", left, lend, bad, skip+lfAt)
				case want == hvEOF && (bad || lend != 0):
					t.Fatalf("lane headEnd(%q) = %d, %v for an incomplete head", left, lend, bad)
				}
			}
			if got != hvServe {
				if got == hvTooLarge {
					checkReject(t, fc, &answer, code, why)
				}
				return
			}
			block := q.block
			if !bytes.Equal(block, rest[:end]) {
				t.Fatalf("readHead(%q) took the head %q, want %q", rest, block, rest[:end])
			}

			act, code, why = q.parse(block)
			fresh := h1Request{block: block, consumed: q.consumed}
			fa, fcode, fwhy := fresh.parse(block)
			if fa != act || fcode != code || fwhy != why || (act == actServe && !sameParse(q, &fresh)) {
				t.Fatalf("parse(%q) depends on the previous request: %d %d %q / fresh %d %d %q", block, act, code, why, fa, fcode, fwhy)
			}
			checkSmuggling(t, block, act, code)
			if act == actDone {
				checkReject(t, fc, &answer, code, why)
				return
			}
			if act == actHandOff {
				return
			}
			checkServedRequest(t, fc, block, trust)

			// Next request, as serveRequest leaves the connection.
			if !q.consumed {
				fc.br.Discard(len(block))
			}
			if n := q.contentLength; n > 0 {
				if _, err := fc.br.Discard(int(min(n, math.MaxInt32))); err != nil {
					return
				}
			}
		}
	})
}

// FuzzScanBlock validates one response head block (data up to and with
// its first CRLFCRLF, one added if it has none) with scanBlock for a
// request of method (an index into a few) and relays it with writeRawHead
// to an HTTP/1.1 or HTTP/1.0 client. Invariants, from readHeadFast's
// documentation of a plain head:
//
//   - scanBlock accepts a block exactly when http.ReadResponse accepts it
//     and it is plain: HTTP/1.1, a final status 200–599, a single valid
//     Content-Length (or no body: HEAD, 204, 304), no Transfer-Encoding,
//     Trailer, Pragma (or Close) header, at most maxFastHeaders kept lines
//     of token names and valid values without continuation lines, and
//     Connection at most "close" or "keep-alive";
//   - then status, length and Close are ReadResponse's, the header map
//     commitHead builds is what ReadResponse plus ReverseProxy's header
//     copy give, the body length is the one to copy, and the fields lie in
//     the block;
//   - the relayed head is one ReadResponse accepts, with the same status,
//     length and headers, minus the hop-by-hop ones, plus X-Paved-Instance
//     (and X-Paved-Region) of the router's target and a Date.
func FuzzScanBlock(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\nx-CUSTOM-thing:  v1 \r\nX-Custom-Thing: v2\r\n\r\n",
		"HTTP/1.1 404\r\nContent-Length: 0\r\nConnection: close\r\nKeep-Alive: timeout=5\r\n\r\n",
		"HTTP/1.1 503 Busy\r\nContent-Length:7\r\nConnection: keep-alive\r\nX-Empty:\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-A: b\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\nContent-Type: text/html\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Paved-Instance: spoofed\r\nX-Paved-Region: spoofed\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nX-Obs: \xe2\x9c\x93\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nclose-delimited",
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nPragma: no-cache\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\nClose: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: X-Foo\r\nX-Foo: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Folded: a\r\n b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nBad Key: a\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Ctl: a\x01b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Nul: \x00\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTrailer: X-T\r\n\r\n",
		"HTTP/1.1 20x OK\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1  200 OK\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 200OK\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\n\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n" + strings.Repeat("X-Many: 1\r\n", maxFastHeaders) + "\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Big: " + strings.Repeat("x", 3*connReadBufSize) + "\r\n\r\n",
		"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
		"",
	} {
		for m := range uint8(3) {
			f.Add([]byte(s), m, m != 1)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, method uint8, client11 bool) {
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		in := data
		if !bytes.Contains(in, crlfcrlf) {
			in = append(append([]byte(nil), data...), crlfcrlf...)
		}
		e := bytes.Index(in, crlfcrlf)
		block, body := append([]byte(nil), in[:e+4]...), in[e+4:]
		orig := append([]byte(nil), block...)
		var sh scannedHead
		head, ok := scanBlock(block, m, &sh)
		if !bytes.Equal(block, orig) {
			t.Fatalf("scanBlock(%q) changed the block", orig)
		}
		statusLine := block[:bytes.Index(block, crlf)]
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), &http.Request{Method: m})
		plain := err == nil && refPlain(block, m)
		if ok != plain {
			t.Fatalf("scanBlock(%q, %s) = %v; ReadResponse err %v, plain by the documentation %v", block, m, ok, err, refPlain(block, m))
		}
		if !ok {
			return
		}
		if head.status != res.StatusCode || head.contentLength != res.ContentLength || head.close != res.Close {
			t.Fatalf("scanBlock(%q, %s): status %d length %d close %v; ReadResponse %d %d %v", block, m,
				head.status, head.contentLength, head.close, res.StatusCode, res.ContentLength, res.Close)
		}
		wantBody := head.contentLength
		if m == http.MethodHead || res.StatusCode == 204 || res.StatusCode == 304 {
			wantBody = 0
		}
		if head.bodyLen != wantBody || head.res != nil || head.raw {
			t.Fatalf("scanBlock(%q, %s): body length %d (res %v raw %v), want %d", block, m, head.bodyLen, head.res != nil, head.raw, wantBody)
		}
		if sh.nf > maxFastHeaders || sh.statusEnd != len(statusLine) || !bytes.Equal(sh.block, block) {
			t.Fatalf("scanBlock(%q): %d fields, status end %d, block %q", block, sh.nf, sh.statusEnd, sh.block)
		}
		for _, fl := range sh.fields[:sh.nf] {
			inPlace := sh.statusEnd < fl.ks && fl.ks < fl.ke && fl.ke < fl.vs && fl.vs <= fl.ve && fl.ve <= len(block)-4
			if !inPlace {
				t.Fatalf("scanBlock(%q): field %+v out of place", block, fl)
			}
		}
		want := http.Header{}
		copyResponseHeader(want, res.Header)
		csh := sh
		csh.block = append([]byte(nil), block...)
		h := http.Header{}
		commitHead(&csh, h)
		if !reflect.DeepEqual(h, want) {
			t.Fatalf("scanBlock(%q): header map\n  %v\nReadResponse and ReverseProxy give\n  %v", block, h, want)
		}
		if sh.stream != isEventStream(want) {
			t.Fatalf("scanBlock(%q): event stream %v", block, sh.stream)
		}

		// The raw relay to the client.
		region := method&4 != 0
		relayed, stream := relayRaw(&sh, m, client11, region)
		if stream != sh.stream {
			t.Fatalf("writeRawHead(%q) says stream %v", block, stream)
		}
		cres, err := http.ReadResponse(bufio.NewReader(io.MultiReader(bytes.NewReader(relayed), bytes.NewReader(body))), &http.Request{Method: m})
		if err != nil {
			t.Fatalf("writeRawHead(%q) wrote %q, which ReadResponse refuses: %v", block, relayed, err)
		}
		wantCL := res.ContentLength
		if m == http.MethodHead && (res.StatusCode == 204 || res.StatusCode == 304) {
			wantCL = -1 // no Content-Length line is relayed with these
		}
		if cres.StatusCode != res.StatusCode || cres.ContentLength != wantCL || cres.ProtoMinor != map[bool]int{true: 1, false: 0}[client11] {
			t.Fatalf("writeRawHead(%q) wrote %q: status %d length %d %s", block, relayed, cres.StatusCode, cres.ContentLength, cres.Proto)
		}
		want[InstanceHeader] = []string{"i-1"}
		if region {
			want[paved.RegionHeader] = []string{"r-1"}
		}
		switch res.StatusCode {
		case http.StatusNotModified:
			delete(want, "Content-Type")
			fallthrough
		case http.StatusNoContent:
			delete(want, "Content-Length")
		}
		if _, ok := want["Date"]; !ok {
			if d := cres.Header["Date"]; len(d) != 1 {
				t.Fatalf("writeRawHead(%q) wrote %q: no Date", block, relayed)
			} else if _, err := http.ParseTime(d[0]); err != nil {
				t.Fatalf("writeRawHead(%q) wrote a bad Date %q", block, d[0])
			}
			want["Date"] = cres.Header["Date"]
		}
		delete(cres.Header, "Connection") // the router's keep-alive for an HTTP/1.0 client
		if !reflect.DeepEqual(cres.Header, want) {
			t.Fatalf("writeRawHead(%q) wrote %q: the client reads\n  %v\nwant\n  %v", block, relayed, cres.Header, want)
		}
	})
}

// FuzzResponseHead reads the response head of an exchange from data as
// an instance's connection delivers it (a bufio.Reader of bufSize bytes
// fed chunk bytes at a time), for a request of method: scanHead alone,
// then readResponse for the lean forwarder under ServeHTTP and under
// Server. Invariants:
//
//   - scanHead consumes nothing and finds the head exactly: it accepts
//     only a head whose first CRLFCRLF lies within the buffer, its block
//     ends just after it, and for such a head its verdict is scanBlock's;
//   - readResponse fails exactly when net/http's ReadResponse does (or
//     the instance switches protocols), passes on the 1xx responses before
//     the final one, and reads that one as ReadResponse does: status,
//     length, Close and (fast path) the header map, leaving the reader at
//     the body;
//   - both front ends read the same response the same way; Server keeps a
//     plain head in the buffer (head.raw) for writeRawHead.
func FuzzResponseHead(f *testing.F) {
	for _, s := range []struct {
		head    string
		bufSize uint16
		chunk   uint8
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", 4096, 0},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4096, 1},
		{"HTTP/1.1 100 Continue\r\nX-A: 1\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 4096, 0},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 4096, 0},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", 4096, 0},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 4096, 0},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 4096, 0},
		{"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n", 4096, 0},
		{"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 4096, 0},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: \r\r\n\r\nok", 4096, 0},
		{"HTTP/1.0 200 OK\r\n\r\nuntil close", 4096, 0},
		{"HTTP/1.1 204 No Content\r\n\r\n", 4096, 2},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Big: " + strings.Repeat("x", 5000) + "\r\n\r\nx", 4096, 0},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Big: 0123456789abcdef\r\n\r\nx", 32, 5},
		{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 4096, 0},
		{"HTTP/1.1 200 OK\r\nContent-Len", 4096, 0},
		{"", 4096, 0},
		{"garbage\r\n\r\n", 4096, 0},
	} {
		for m := range uint8(3) {
			f.Add([]byte(s.head), m, s.bufSize, s.chunk)
		}
	}
	r := New(Options{})
	f.Fuzz(func(t *testing.T, data []byte, method uint8, bufSize uint16, chunk uint8) {
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		size := 16 + int(bufSize)%(connReadBufSize-15)
		e := bytes.Index(data, crlfcrlf)
		fits := e >= 0 && e+4 <= size

		// scanHead: consumes nothing, ends the head at the first CRLFCRLF.
		pc, src := fuzzPconn(data, size, chunk)
		var sh scannedHead
		head, ok := scanHead(pc, m, &sh)
		switch {
		case ok && !fits:
			t.Fatalf("scanHead(%q) accepted a head whose end (%d) is not within %d bytes", data, e, size)
		case ok && !bytes.Equal(sh.block, data[:e+4]):
			t.Fatalf("scanHead(%q) took the head %q, want %q", data, sh.block, data[:e+4])
		case fits:
			var sh2 scannedHead
			head2, ok2 := scanBlock(append([]byte(nil), data[:e+4]...), m, &sh2)
			if ok2 != ok || head2 != head {
				t.Fatalf("scanHead(%q) = %+v %v; scanBlock of its head %+v %v", data, head, ok, head2, ok2)
			}
		}
		if left := unread(pc.br, src); !bytes.Equal(left, data) {
			t.Fatalf("scanHead(%q) consumed input: %q left", data, left)
		}

		// net/http's reading: 1xx responses (but 101) are passed on.
		var (
			wantInfo []int
			ref      *http.Response
			refErr   error
		)
		rb := bufio.NewReader(bytes.NewReader(data))
		for {
			ref, refErr = http.ReadResponse(rb, &http.Request{Method: m})
			if refErr != nil || ref.StatusCode < 100 || ref.StatusCode > 199 || ref.StatusCode == http.StatusSwitchingProtocols {
				break
			}
			wantInfo = append(wantInfo, ref.StatusCode)
		}
		if refErr == nil && ref.StatusCode == http.StatusSwitchingProtocols {
			refErr = fmt.Errorf("instance switched protocols")
		}
		var refBody []byte
		if refErr == nil {
			refBody, _ = io.ReadAll(io.LimitReader(ref.Body, int64(len(data))))
		}

		// The lean forwarder under ServeHTTP, then under Server.
		type reading struct {
			head respHead
			hdr  http.Header
			info []int
			err  error
		}
		var rd [2]reading
		for i, server := range []bool{false, true} {
			pc, _ := fuzzPconn(data, size, chunk)
			w := &headRecorder{h: http.Header{}}
			out := &outReq{method: m}
			if server {
				out.fc = &h1Conn{}
			}
			got, err := r.readResponse(w, pc, out)
			rd[i] = reading{got, w.h, w.info, err}
			if err != nil {
				continue
			}
			switch {
			case got.raw:
				if !server || got.res != nil || !bytes.HasSuffix(out.fc.rh.block, crlfcrlf) {
					t.Fatalf("readResponse(%q, server %v): raw head %q", data, server, out.fc.rh.block)
				}
				sh := out.fc.rh
				sh.block = append([]byte(nil), sh.block...)
				rd[i].hdr = http.Header{}
				commitHead(&sh, rd[i].hdr)
			case got.res != nil:
				rd[i].hdr = http.Header{}
				copyResponseHeader(rd[i].hdr, got.res.Header)
			}
			if refErr != nil {
				t.Fatalf("readResponse(%q, %s, server %v) reads %+v; net/http: %v", data, m, server, got, refErr)
			}
			want := http.Header{}
			copyResponseHeader(want, ref.Header)
			if got.status != ref.StatusCode || got.contentLength != ref.ContentLength || got.close != ref.Close || !reflect.DeepEqual(rd[i].hdr, want) {
				t.Fatalf("readResponse(%q, %s, server %v): %d %d %v %v; net/http: %d %d %v %v", data, m, server,
					got.status, got.contentLength, got.close, rd[i].hdr, ref.StatusCode, ref.ContentLength, ref.Close, want)
			}
			if got.res == nil && got.bodyLen > 0 {
				// Left at the body: what follows is the body net/http reads.
				if got.raw {
					pc.br.Discard(len(out.fc.rh.block))
				}
				n := min(got.bodyLen, int64(len(data)))
				gb, _ := io.ReadAll(io.LimitReader(pc.br, n))
				rbody := refBody[:min(n, int64(len(refBody)))]
				if !bytes.Equal(gb, rbody) {
					t.Fatalf("readResponse(%q, server %v) left the body at %q; net/http reads %q", data, server, gb, rbody)
				}
			}
		}
		for i, x := range rd {
			if (x.err != nil) != (refErr != nil) || !reflect.DeepEqual(x.info, wantInfo) {
				t.Fatalf("readResponse(%q, %s, server %v): err %v, 1xx %v; net/http: %v, 1xx %v", data, m, i == 1, x.err, x.info, refErr, wantInfo)
			}
		}
		a, b := rd[0], rd[1]
		if (a.err != nil) != (b.err != nil) || !reflect.DeepEqual(a.info, b.info) {
			t.Fatalf("readResponse(%q, %s): ServeHTTP gets %v (1xx %v), Server %v (1xx %v)", data, m, a.err, a.info, b.err, b.info)
		}
		if a.err != nil {
			return
		}
		x, y := a.head, b.head
		if x.status != y.status || x.contentLength != y.contentLength || x.close != y.close ||
			(x.res == nil) != y.raw || y.raw && x.bodyLen != y.bodyLen || !reflect.DeepEqual(a.hdr, b.hdr) {
			t.Fatalf("readResponse(%q, %s): ServeHTTP reads %+v %v, Server %+v %v", data, m, x, a.hdr, y, b.hdr)
		}
	})
}

var fuzzMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete}

// ---------------------------------------------------------------- requests --

// Verdicts of readHead.
type headVerdict int

const (
	hvServe    headVerdict = iota // a complete head within the limit
	hvHandOff                     // a bare LF line ending: net/http's
	hvTooLarge                    // 431
	hvEOF                         // the input ended first
)

func (v headVerdict) String() string {
	return [...]string{"serve", "hand-off", "431", "EOF"}[v]
}

func verdictOf(act, code int) headVerdict {
	switch {
	case act == actServe:
		return hvServe
	case act == actHandOff:
		return hvHandOff
	case code == http.StatusRequestHeaderFieldsTooLarge:
		return hvTooLarge
	}
	return hvEOF
}

// refHeadEnd is readHead's documentation as a reference, for rest (the
// input after the empty lines it skips): the head ends just after the
// first CRLFCRLF, a LF without its CR before that end goes to net/http,
// and a head (or an input without an end) longer than limit is refused.
// It returns the end of a served head and where the bare LF is.
func refHeadEnd(rest []byte, limit int) (v headVerdict, end, lfAt int) {
	if len(rest) < 2 {
		return hvEOF, 0, -1
	}
	e := bytes.Index(rest, crlfcrlf)
	lfAt = -1
	for i, c := range rest {
		if c == '\n' && (i == 0 || rest[i-1] != '\r') {
			lfAt = i
			break
		}
	}
	switch {
	case lfAt >= 0 && (e < 0 || lfAt < e):
		return hvHandOff, 0, lfAt
	case e >= 0 && e+4 <= limit:
		return hvServe, e + 4, -1
	case e >= 0 || len(rest) >= limit:
		return hvTooLarge, 0, -1
	}
	return hvEOF, 0, -1
}

func skipEmptyLines(b []byte) []byte {
	for len(b) >= 2 && b[0] == '\r' && b[1] == '\n' {
		b = b[2:]
	}
	return b
}

// sameParse reports whether two parses of one head agree on everything
// but the buffer.
func sameParse(a, b *h1Request) bool {
	x, y := *a, *b
	x.block, y.block, x.consumed, y.consumed = nil, nil, false, false
	if len(x.fields) == 0 && len(y.fields) == 0 {
		x.fields, y.fields = nil, nil
	}
	return reflect.DeepEqual(x, y)
}

// headLines splits a head block into its request or status line and its
// header lines (each without its CRLF).
func headLines(block []byte) (first []byte, lines [][]byte) {
	all := bytes.Split(block[:len(block)-4], crlf)
	return all[0], all[1:]
}

// checkSmuggling: what request smuggling relies on is never served, and
// answered 400 when the request line is one the fast path takes (else
// net/http judges the whole head).
func checkSmuggling(t *testing.T, block []byte, act, code int) {
	t.Helper()
	line, lines := headLines(block)
	var te, hosts int
	var cls []string
	why := ""
	for _, l := range lines {
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
			why = "obs-fold"
		}
		name, value, _ := bytes.Cut(l, []byte(":"))
		switch strings.ToLower(string(name)) {
		case "transfer-encoding":
			te++
		case "content-length":
			if v := strings.Trim(string(value), " \t"); v != "" {
				cls = append(cls, v)
			}
		case "host":
			hosts++
		}
	}
	first := int64(-1)
	for _, v := range cls {
		n := int64(-1)
		if len(v) <= 18 && strings.Trim(v, "0123456789") == "" {
			n, _ = strconv.ParseInt(v, 10, 64)
		}
		switch {
		case n < 0:
			why = "an invalid Content-Length"
		case first >= 0 && n != first:
			why = "differing Content-Lengths"
		case first < 0:
			first = n
		}
	}
	switch {
	case te > 0 && len(cls) > 0:
		why = "Transfer-Encoding and Content-Length"
	case hosts > 1:
		why = "several Host headers"
	case bytes.IndexByte(block, 0) >= 0:
		why = "NUL"
	case bytes.Contains(bytes.ReplaceAll(block, crlf, nil), []byte("\r")):
		why = "bare CR"
	}
	if why == "" {
		return
	}
	if act == actServe {
		t.Fatalf("parse(%q) serves a head with %s", block, why)
	}
	var probe h1Request
	if pa, _, _ := probe.parse(append(append([]byte(nil), line...), "\r\nHost: a\r\n\r\n"...)); pa == actHandOff {
		return // a request line for net/http, which reads the head itself
	}
	if act != actDone || code != http.StatusBadRequest {
		t.Fatalf("parse(%q): act %d code %d for a head with %s, want 400", block, act, code, why)
	}
}

// checkServedRequest compares a head parse serves with net/http's reading
// of it, then the request written to the instance with net/http's reading
// of that.
func checkServedRequest(t *testing.T, fc *h1Conn, block []byte, trust bool) {
	t.Helper()
	q := &fc.req
	std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(block)))
	if err != nil {
		t.Fatalf("parse serves %q, which net/http refuses: %v", block, err)
	}
	path := string(block[q.pathStart:q.pathEnd])
	query := ""
	if q.queryEnd > q.pathEnd {
		query = string(block[q.pathEnd+1 : q.queryEnd])
	}
	host := string(q.hostBytes())
	wantProto := map[bool]int{true: 1, false: 0}[q.http11]
	switch {
	case std.Method != q.method || std.ProtoMajor != 1 || std.ProtoMinor != wantProto:
		t.Fatalf("%q: parse reads %s HTTP/1.%d; net/http %s %s", block, q.method, wantProto, std.Method, std.Proto)
	case std.Host != host || std.URL.Path != fc.pathString() || std.URL.RawQuery != query:
		t.Fatalf("%q: parse reads host %q path %q query %q; net/http %q %q %q", block, host, fc.pathString(), query, std.Host, std.URL.Path, std.URL.RawQuery)
	case std.ContentLength != max(q.contentLength, 0) || std.Close != q.wantsClose:
		t.Fatalf("%q: parse reads length %d close %v; net/http %d %v", block, q.contentLength, q.wantsClose, std.ContentLength, std.Close)
	case isHopped(std.Header) != q.hopped || isIdempotent(std) != (safeMethod(q.method) || q.idemKey) ||
		hasToken(std.Header["Te"], "trailers") != q.teTrailers:
		t.Fatalf("%q: parse reads hop %v idempotency key %v Te trailers %v; net/http differs", block, q.hopped, q.idemKey, q.teTrailers)
	}
	want := http.Header{}
	for _, fl := range q.fields {
		k := http.CanonicalHeaderKey(string(block[fl.ks:fl.ke]))
		if k != "Host" {
			want[k] = append(want[k], string(block[fl.vs:fl.ve]))
		}
	}
	if cl := want["Content-Length"]; len(cl) > 1 {
		want["Content-Length"] = cl[:1] // net/http keeps one of identical values
	}
	if p := want["Pragma"]; len(p) > 0 && p[0] == "no-cache" && want["Cache-Control"] == nil {
		want["Cache-Control"] = []string{"no-cache"} // net/http's fixPragmaCacheControl
	}
	if !reflect.DeepEqual(want, std.Header) {
		t.Fatalf("%q: parse's fields\n  %v\nnet/http's\n  %v", block, want, std.Header)
	}

	// The request for the instance.
	const addr = "10.0.0.1:8080"
	out := &outReq{fc: fc, method: q.method}
	if n := q.contentLength; n > 0 {
		out.kind, out.contentLength = bodyMem, n // the body itself is not written here
	}
	var sent bytes.Buffer
	pc := &pconn{bw: bufio.NewWriter(&sent)}
	fc.writeRequest(pc.bw, out, addr, trust)
	if err := writeBody(pc, out, nil); err != nil {
		t.Fatal(err)
	}
	fwd, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(sent.Bytes())))
	if err != nil {
		t.Fatalf("for %q the router writes %q, which net/http refuses: %v", block, sent.Bytes(), err)
	}
	wantHost := host
	switch {
	case host == "":
		wantHost = removeZone(addr)
	case host[0] == '[':
		wantHost = removeZone(host)
	}
	switch {
	case fwd.Method != q.method || fwd.Host != wantHost || fwd.URL.Path != fc.pathString() ||
		fwd.URL.RawQuery != cleanQueryParams(query) || fwd.ContentLength != max(q.contentLength, 0):
		t.Fatalf("for %q the router writes %q: %s host %q path %q query %q length %d", block, sent.Bytes(),
			fwd.Method, fwd.Host, fwd.URL.Path, fwd.URL.RawQuery, fwd.ContentLength)
	case !strings.HasPrefix(fwd.RequestURI, path):
		t.Fatalf("for %q the router writes the path as %q, not as it came", block, fwd.RequestURI)
	}
	for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Transfer-Encoding", "Upgrade", "Trailer", "Forwarded"} {
		if v, ok := fwd.Header[k]; ok {
			t.Fatalf("for %q the router forwards the hop-by-hop %s: %q", block, k, v)
		}
	}
	// X-Forwarded-*: the router's own, or the front proxy's extended.
	wantXFF, wantXFH, wantXFP := []string{"192.0.2.1"}, []string{host}, []string{"http"}
	if trust {
		if v := std.Header["X-Forwarded-For"]; len(v) > 0 {
			wantXFF = []string{strings.Join(append(append([]string(nil), v...), "192.0.2.1"), ", ")}
		}
		if v := std.Header["X-Forwarded-Host"]; len(v) > 0 {
			wantXFH = v
		}
		if v := std.Header["X-Forwarded-Proto"]; len(v) > 0 {
			wantXFP = v
		}
	}
	if !reflect.DeepEqual(fwd.Header["X-Forwarded-For"], wantXFF) || !reflect.DeepEqual(fwd.Header["X-Forwarded-Host"], wantXFH) ||
		!reflect.DeepEqual(fwd.Header["X-Forwarded-Proto"], wantXFP) {
		t.Fatalf("for %q (trust %v) the router writes X-Forwarded-For %q -Host %q -Proto %q, want %q %q %q", block, trust,
			fwd.Header["X-Forwarded-For"], fwd.Header["X-Forwarded-Host"], fwd.Header["X-Forwarded-Proto"], wantXFF, wantXFH, wantXFP)
	}
	// Every end-to-end header of the client, as net/http read it.
	named := map[string]bool{}
	for _, v := range std.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			named[http.CanonicalHeaderKey(strings.Trim(tok, " \t"))] = true
		}
	}
	for k, vv := range std.Header {
		switch {
		case skipOutHeader(k) && k != "User-Agent", named[k], k == "Cache-Control" && std.Header["Pragma"] != nil:
			continue
		case k == "User-Agent":
			if vv[0] == "" {
				vv = nil
			} else {
				vv = vv[:1] // the first only, as http.Transport
			}
		}
		if got := fwd.Header[k]; !reflect.DeepEqual(got, vv) {
			t.Fatalf("for %q the router writes %q: %s is %q, the client sent %q", block, sent.Bytes(), k, got, vv)
		}
	}
}

// checkReject: a rejection is a complete response with its status that
// closes the connection.
func checkReject(t *testing.T, fc *h1Conn, answer *bytes.Buffer, code int, why string) {
	t.Helper()
	answer.Reset()
	fc.reject(code, why)
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer.Bytes())), nil)
	if err != nil {
		t.Fatalf("reject(%d, %q) wrote %q: %v", code, why, answer.Bytes(), err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != code || !res.Close || !strings.HasPrefix(string(body), strconv.Itoa(code)+" ") {
		t.Fatalf("reject(%d, %q) wrote %q", code, why, answer.Bytes())
	}
}

// --------------------------------------------------------------- responses --

// reasonPhraseOK reports whether a status line's reason phrase holds only
// what RFC 9112 allows: HTAB, SP, VCHAR and obs-text. A plain head must:
// writeRawHead relays the line as it came.
func reasonPhraseOK(statusLine []byte) bool {
	if len(statusLine) <= 12 || statusLine[12] != ' ' {
		return true // no reason phrase, or not a status line scanBlock takes
	}
	for _, c := range statusLine[12:] {
		if c != '\t' && (c < 0x20 || c == 0x7f) {
			return false
		}
	}
	return true
}

// refPlain is readHeadFast's documentation of a plain head, for a block
// net/http accepts.
func refPlain(block []byte, method string) bool {
	status, lines := headLines(block)
	if !reasonPhraseOK(status) {
		return false
	}
	if len(status) < 12 || string(status[:9]) != "HTTP/1.1 " || len(status) > 12 && status[12] != ' ' {
		return false
	}
	if strings.Trim(string(status[9:12]), "0123456789") != "" {
		return false
	}
	code, _ := strconv.Atoi(string(status[9:12]))
	if code < 200 || code > 599 {
		return false
	}
	kept, cls := 0, 0
	for _, l := range lines {
		if len(l) == 0 || l[0] == ' ' || l[0] == '\t' {
			return false
		}
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(name) == 0 {
			return false
		}
		for _, c := range name {
			alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
			if !alnum && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
				return false
			}
		}
		for _, c := range value {
			if c != '\t' && (c < 0x20 || c == 0x7f) {
				return false
			}
		}
		v := strings.Trim(string(value), " \t")
		switch http.CanonicalHeaderKey(string(name)) {
		case "Transfer-Encoding", "Trailer", "Pragma", "Close":
			return false
		case "Content-Length":
			cls++
			if v == "" || len(v) > 18 || strings.Trim(v, "0123456789") != "" {
				return false
			}
		case "Connection":
			for tok := range strings.SplitSeq(v, ",") {
				if tok = strings.Trim(tok, " \t"); tok != "" && !strings.EqualFold(tok, "close") && !strings.EqualFold(tok, "keep-alive") {
					return false
				}
			}
			continue
		case "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Upgrade":
			continue
		}
		kept++
	}
	noBody := method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	return kept <= maxFastHeaders && cls <= 1 && (cls == 1 || noBody)
}

// relayRaw writes a scanned head to a client as the fast server does and
// returns the bytes.
func relayRaw(sh *scannedHead, method string, client11, region bool) ([]byte, bool) {
	var out bytes.Buffer
	fc := &h1Conn{s: &Server{}}
	fc.resp.fc = fc
	fc.bw = bufio.NewWriter(&out)
	fc.req.http11, fc.req.method = client11, method
	fc.rh = *sh
	tg := &target{id: "i-1", idHeader: []string{"i-1"}}
	if region {
		tg.region = []string{"r-1"}
	}
	stream := fc.writeRawHead(tg)
	fc.bw.Flush()
	return out.Bytes(), stream
}

// headRecorder is the client's http.ResponseWriter of readResponse: its
// header map and the 1xx statuses passed on.
type headRecorder struct {
	h    http.Header
	info []int
}

func (w *headRecorder) Header() http.Header         { return w.h }
func (w *headRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (w *headRecorder) WriteHeader(code int)        { w.info = append(w.info, code) }

// fuzzPconn is an instance connection that delivers data.
func fuzzPconn(data []byte, size int, chunk uint8) (*pconn, *chunkReader) {
	src := &chunkReader{data: data, max: int(chunk)}
	pc := &pconn{conn: fuzzConn{src}, readLimit: math.MaxInt64}
	pc.br = bufio.NewReaderSize(pc, size)
	return pc, src
}

// ------------------------------------------------------------------ input --

// chunkReader delivers data at most max bytes per Read (0: no limit), as
// a connection does in packets.
type chunkReader struct {
	data []byte
	off  int
	max  int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	if r.max > 0 && len(p) > r.max {
		p = p[:r.max]
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}

// unread is what is left to read through br from src.
func unread(br *bufio.Reader, src *chunkReader) []byte {
	b, _ := br.Peek(br.Buffered())
	return append(append([]byte(nil), b...), src.data[src.off:]...)
}

// fuzzConn is a net.Conn reading from a chunkReader; nothing else is used.
type fuzzConn struct{ r *chunkReader }

func (c fuzzConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c fuzzConn) Write(p []byte) (int, error)        { return len(p), nil }
func (c fuzzConn) Close() error                       { return nil }
func (c fuzzConn) LocalAddr() net.Addr                { return nil }
func (c fuzzConn) RemoteAddr() net.Addr               { return nil }
func (c fuzzConn) SetDeadline(time.Time) error        { return nil }
func (c fuzzConn) SetReadDeadline(time.Time) error    { return nil }
func (c fuzzConn) SetWriteDeadline(t time.Time) error { return nil }
