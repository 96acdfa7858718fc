package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// post sends body to url+"/donate" and returns the response and its body.
func post(t *testing.T, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/donate", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func newApp(t *testing.T) (*Store, *httptest.Server) {
	t.Helper()
	s := openStore(t, t.TempDir(), "eu", "eu-1")
	srv := httptest.NewServer(newServer(s, mustMerger(t, s, "eu", ""), "eu").routes())
	t.Cleanup(srv.Close)
	return s, srv
}

func TestDonateHTTP(t *testing.T) {
	_, srv := newApp(t)
	steps := []struct {
		name   string
		body   string
		header map[string]string
		status int
		want   string // a substring of the answer
	}{
		{"new", `{"key":"k1","amount":1234}`, nil, 201, `{"key":"k1","amount":1234,"region":"eu","duplicate":false}`},
		{"retry", `{"key":"k1","amount":1234}`, nil, 200, `"duplicate":true`},
		{"other amount", `{"key":"k1","amount":99}`, nil, 409, `already used for amount 1234`},
		{"header key", `{"amount":5}`, map[string]string{"Idempotency-Key": "h-1"}, 201, `"key":"h-1"`},
		{"same key both", `{"key":"h-2","amount":5}`, map[string]string{"Idempotency-Key": "h-2"}, 201, `"key":"h-2"`},
		{"keys differ", `{"key":"a","amount":5}`, map[string]string{"Idempotency-Key": "b"}, 400, `differ`},
		{"no key", `{"amount":5}`, nil, 400, `missing key`},
		{"bad key", `{"key":"a b","amount":5}`, nil, 400, `key must be`},
		{"long key", `{"key":"` + strings.Repeat("k", 129) + `","amount":5}`, nil, 400, `key must be`},
		{"zero", `{"key":"z","amount":0}`, nil, 400, `amount must be`},
		{"negative", `{"key":"z","amount":-5}`, nil, 400, `amount must be`},
		{"too much", `{"key":"z","amount":1000000001}`, nil, 400, `amount must be`},
		{"max", `{"key":"max","amount":1000000000}`, nil, 201, `"amount":1000000000`},
		{"fraction", `{"key":"z","amount":12.5}`, nil, 400, `integer cents`},
		{"string amount", `{"key":"z","amount":"12"}`, nil, 400, `integer cents`},
		{"unknown field", `{"key":"z","amount_cents":12}`, nil, 400, `unknown field`},
		{"not json", `key=z`, nil, 400, `JSON object`},
		{"two objects", `{"key":"z","amount":1}{"key":"y","amount":1}`, nil, 400, `single JSON object`},
		{"too big", `{"key":"z","amount":1,"pad":"` + strings.Repeat("x", 5000) + `"}`, nil, 413, `too large`},
	}
	for _, st := range steps {
		resp, body := post(t, srv.URL, st.body, st.header)
		if resp.StatusCode != st.status || !strings.Contains(body, st.want) {
			t.Errorf("%s: %d %s, want %d containing %q", st.name, resp.StatusCode, body, st.status, st.want)
		}
		if resp.StatusCode >= 400 && !strings.Contains(body, `"error":`) {
			t.Errorf("%s: error answer without an error field: %s", st.name, body)
		}
	}
	var tot totalBody
	getJSON(t, srv.URL+"/total", &tot)
	if tot.Count != 4 || tot.TotalCents != 1234+5+5+1_000_000_000 || tot.LocalCount != 4 || tot.Peers == nil {
		t.Fatalf("total %+v", tot)
	}
	if resp, _ := http.Get(srv.URL + "/donate"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /donate: %s", resp.Status)
	}
}

func TestLogPaging(t *testing.T) {
	s, srv := newApp(t)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		mustDonate(t, s, k, 1)
	}
	var p logPage
	getJSON(t, srv.URL+"/log?limit=2", &p)
	if len(p.Records) != 2 || p.Records[0].Key != "a" || p.Next != 2 || p.Region != "eu" || p.Epoch != s.Epoch() {
		t.Fatalf("first page %+v", p)
	}
	getJSON(t, srv.URL+"/log?since=4&limit=2", &p)
	if len(p.Records) != 1 || p.Records[0].Key != "e" || p.Next != 5 {
		t.Fatalf("last page %+v", p)
	}
	p = logPage{}
	getJSON(t, srv.URL+"/log?since=5", &p)
	if len(p.Records) != 0 || p.Next != 5 {
		t.Fatalf("past the end %+v", p)
	}
	for _, q := range []string{"since=-1", "since=x", "limit=0", "limit=y"} {
		if resp, _ := http.Get(srv.URL + "/log?" + q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/log?%s: %s, want 400", q, resp.Status)
		}
	}
}

func TestBrokenStoreAnswers503(t *testing.T) {
	s, srv := newApp(t)
	if resp, _ := http.Get(srv.URL + "/healthz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz on a good store: %s", resp.Status)
	}
	s.syncFile = func(*os.File) error { return errors.New("EIO") }
	if resp, body := post(t, srv.URL, `{"key":"k","amount":1}`, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("donation on a failing disk: %d %s", resp.StatusCode, body)
	}
	if resp, _ := http.Get(srv.URL + "/healthz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz on a broken store: %s", resp.Status)
	}
	var tot totalBody
	getJSON(t, srv.URL+"/total", &tot)
	if tot.Count != 0 {
		t.Fatalf("a refused donation is counted: %+v", tot)
	}
}
