package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openStore opens a store for a test and closes it at the end.
func openStore(t *testing.T, dir, region, instance string) *Store {
	t.Helper()
	s, err := OpenStore(dir, region, instance)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustDonate(t *testing.T, s *Store, key string, amount int64) Record {
	t.Helper()
	rec, dup, err := s.Donate(context.Background(), key, amount)
	if err != nil || dup {
		t.Fatalf("Donate(%s, %d) = dup %v, err %v; want a new record", key, amount, dup, err)
	}
	return rec
}

// fileLines returns the lines of path, failing on any line that is not a
// whole record.
func fileLines(t *testing.T, path string) []Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for line := range bytes.Lines(data) {
		var r Record
		if err := json.Unmarshal(line, &r); err != nil || line[len(line)-1] != '\n' {
			t.Fatalf("%s: bad line %q", filepath.Base(path), line)
		}
		out = append(out, r)
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDurableAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s1 := openStore(t, dir, "eu", "web-1")
	mustDonate(t, s1, "a", 100)
	mustDonate(t, s1, "b", 250)
	mustDonate(t, s1, "c", 5)
	// "kill -9": no Close. What was acknowledged must already be on disk.

	s2 := openStore(t, dir, "eu", "web-1") // same PAVED_INSTANCE, as after a restart
	st := s2.Stats()
	if st.Count != 3 || st.LocalCount != 3 || st.TotalCents != 355 {
		t.Fatalf("after restart: %+v, want 3 records, 355 cents", st)
	}
	recs, next := s2.Since(0, 10)
	if next != 3 || len(recs) != 3 || recs[0].Key != "a" || recs[2].Key != "c" || recs[1].Region != "eu" {
		t.Fatalf("log after restart = %+v next %d", recs, next)
	}
	rec, dup, err := s2.Donate(context.Background(), "b", 250)
	if err != nil || !dup || rec.Amount != 250 {
		t.Fatalf("re-donating b after restart: %+v dup %v err %v", rec, dup, err)
	}
	if s2.Epoch() == s1.Epoch() {
		t.Fatalf("a new process must have a new epoch, both are %q", s1.Epoch())
	}
}

func TestDedupeAndConflict(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, "eu", "web-1")
	mustDonate(t, s, "k", 100)
	rec, dup, err := s.Donate(context.Background(), "k", 100)
	if err != nil || !dup || rec.Amount != 100 {
		t.Fatalf("same key again: %+v dup %v err %v", rec, dup, err)
	}
	rec, dup, err = s.Donate(context.Background(), "k", 999)
	if err != nil || !dup || rec.Amount != 100 {
		t.Fatalf("same key, other amount: %+v dup %v err %v; want the original 100", rec, dup, err)
	}
	if lines := fileLines(t, s.ownPath()); len(lines) != 1 {
		t.Fatalf("file has %d lines, want 1: %+v", len(lines), lines)
	}
	if st := s.Stats(); st.TotalCents != 100 || st.Count != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGroupCommitUnderConcurrency(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, "eu", "web-1")
	var syncs atomic.Int64
	s.syncFile = func(f *os.File) error {
		syncs.Add(1)
		time.Sleep(5 * time.Millisecond) // a disk with a real fsync cost
		return f.Sync()
	}
	const n = 400
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, dup, err := s.Donate(context.Background(), fmt.Sprintf("k%d", i), int64(i+1)); err != nil || dup {
				errs <- fmt.Errorf("k%d: dup %v err %v", i, dup, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := syncs.Load(); got == 0 || got > n/4 {
		t.Errorf("%d fsyncs for %d concurrent donations; group commit should share them", got, n)
	}
	if syncs.Load() != s.batches.Load() {
		t.Errorf("fsyncs %d != batches %d", syncs.Load(), s.batches.Load())
	}
	if lines := fileLines(t, s.ownPath()); len(lines) != n {
		t.Fatalf("file has %d lines, want %d", len(lines), n)
	}
	s3 := openStore(t, dir, "eu", "web-2")
	if st := s3.Stats(); st.Count != n || st.TotalCents != n*(n+1)/2 {
		t.Fatalf("reloaded %+v, want %d records", st, n)
	}
}

func TestSameKeyConcurrentlyWrittenOnce(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, "eu", "web-1")
	s.syncFile = func(f *os.File) error { time.Sleep(20 * time.Millisecond); return f.Sync() }
	var fresh, dups atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, dup, err := s.Donate(context.Background(), "same", 700)
			switch {
			case err != nil:
				t.Error(err)
			case dup:
				dups.Add(1)
			default:
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 || dups.Load() != 49 {
		t.Fatalf("fresh %d dups %d, want 1 and 49", fresh.Load(), dups.Load())
	}
	if lines := fileLines(t, s.ownPath()); len(lines) != 1 {
		t.Fatalf("file has %d lines, want 1", len(lines))
	}
}

func TestAckOnlyAfterFsync(t *testing.T) {
	s := openStore(t, t.TempDir(), "eu", "web-1")
	release := make(chan struct{})
	s.syncFile = func(f *os.File) error { <-release; return f.Sync() }
	done := make(chan error, 1)
	go func() { _, _, err := s.Donate(context.Background(), "k", 1); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Donate returned (%v) before its fsync finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	if st := s.Stats(); st.Count != 0 {
		t.Fatalf("record visible before its fsync: %+v", st)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWriteFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, "eu", "web-1")
	mustDonate(t, s, "before", 10)
	s.syncFile = func(*os.File) error { return errors.New("EIO") }
	if _, _, err := s.Donate(context.Background(), "k1", 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Donate with failing fsync: err %v, want ErrUnavailable", err)
	}
	batches := s.batches.Load()
	s.syncFile = (*os.File).Sync // the disk "recovers": the store must not trust it
	if _, _, err := s.Donate(context.Background(), "k2", 1); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Donate after a failure: err %v, want ErrUnavailable", err)
	}
	if s.batches.Load() != batches {
		t.Fatalf("the store wrote again after a failed fsync")
	}
	if st := s.Stats(); st.Count != 1 {
		t.Fatalf("unacknowledged records in memory: %+v", st)
	}
	if s.Healthy() == nil {
		t.Fatal("Healthy() = nil after a failed fsync")
	}
	// Known keys still answer: reads stay available.
	if rec, dup, err := s.Donate(context.Background(), "before", 10); err != nil || !dup || rec.Amount != 10 {
		t.Fatalf("known key on a failed store: %+v %v %v", rec, dup, err)
	}
}

func TestTornLastLineIgnored(t *testing.T) {
	dir := t.TempDir()
	good := `{"key":"a","amount":1,"region":"eu","at":"2025-01-01T00:00:00Z"}` + "\n" +
		`{"key":"b","amount":2,"region":"eu","at":"2025-01-01T00:00:00Z"}` + "\n"
	torn := `{"key":"c","amou`
	// Another instance that died mid-write, and our own previous process.
	os.WriteFile(filepath.Join(dir, "log-other.jsonl"), []byte(good+torn), 0o644)
	os.WriteFile(filepath.Join(dir, "log-web-1.jsonl"),
		[]byte(`{"key":"d","amount":4,"region":"eu","at":"2025-01-01T00:00:00Z"}`+"\n"+torn), 0o644)

	s := openStore(t, dir, "eu", "web-1")
	if st := s.Stats(); st.Count != 3 || st.TotalCents != 7 {
		t.Fatalf("loaded %+v, want a, b, d (7 cents)", st)
	}
	mustDonate(t, s, "c", 3) // c was torn, so never acknowledged: it is new
	s.Close()

	// Our first line must not have been glued onto the fragment.
	if lines := fileLines(t, filepath.Join(dir, "log-web-1.jsonl")); len(lines) != 2 || lines[1].Key != "c" {
		t.Fatalf("own file after restart: %+v", lines)
	}
	s2 := openStore(t, dir, "eu", "web-1")
	if st := s2.Stats(); st.Count != 4 || st.TotalCents != 10 {
		t.Fatalf("reloaded %+v, want 4 records, 10 cents", st)
	}
}

func TestTailerSeesOtherInstances(t *testing.T) {
	dir := t.TempDir()
	a := openStore(t, dir, "eu", "web-1")
	b := openStore(t, dir, "eu", "web-2") // a file that appears after a started
	mustDonate(t, a, "from-a", 10)
	mustDonate(t, b, "from-b", 20)
	for _, s := range []*Store{a, b} {
		eventually(t, "both instances to see both records", func() bool { return s.Stats().LocalCount == 2 })
	}
	if _, dup, _ := b.Donate(context.Background(), "from-a", 10); !dup {
		t.Fatal("b accepted a key a had already written")
	}

	// A line being written shows up only once it is complete.
	path := filepath.Join(dir, "log-web-3.jsonl")
	line := `{"key":"slow","amount":5,"region":"eu","at":"2025-01-01T00:00:00Z"}` + "\n"
	os.WriteFile(path, []byte(line[:20]), 0o644)
	time.Sleep(2 * tailInterval)
	if st := a.Stats(); st.Count != 2 {
		t.Fatalf("half a line was loaded: %+v", st)
	}
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(line[20:])
	f.Close()
	eventually(t, "the completed line", func() bool { return a.Stats().TotalCents == 35 })
	if recs, _ := a.Since(0, 10); len(recs) != 3 || recs[2].Key != "slow" {
		t.Fatalf("a's log: %+v", recs)
	}
}

func TestCloseWritesWhatIsQueued(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir, "eu", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	s.syncFile = func(f *os.File) error { time.Sleep(10 * time.Millisecond); return f.Sync() }
	var acked sync.Map
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			key := fmt.Sprintf("k%d", i)
			_, _, err := s.Donate(context.Background(), key, 1)
			if err == nil {
				acked.Store(key, true)
			} else if !errors.Is(err, ErrUnavailable) {
				t.Error(err)
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait() // no Donate may hang on a closed store
	s2 := openStore(t, dir, "eu", "web-1")
	acked.Range(func(k, _ any) bool {
		if _, dup, _ := s2.Donate(context.Background(), k.(string), 1); !dup {
			t.Errorf("%s was acknowledged but is not on disk", k)
		}
		return true
	})
}

func TestKeyFromPeerThenFromLocalFileCountsOnce(t *testing.T) {
	// Another instance of our region wrote k; a peer pull (through our own
	// region's router) told us about it before our tailer read the file.
	dir := t.TempDir()
	s := openStore(t, dir, "eu", "web-1")
	if n := s.Merge([]Record{{Key: "k", Amount: 40, Region: "eu"}, {Key: "p", Amount: 2, Region: "us"}}); n != 2 {
		t.Fatalf("Merge added %d, want 2", n)
	}
	if n := s.Merge([]Record{{Key: "k", Amount: 40, Region: "eu"}}); n != 0 {
		t.Fatalf("merging a known key again added %d", n)
	}
	os.WriteFile(filepath.Join(dir, "log-web-2.jsonl"),
		[]byte(`{"key":"k","amount":40,"region":"eu","at":"2025-01-01T00:00:00Z"}`+"\n"), 0o644)
	eventually(t, "the tailer", func() bool { return s.Stats().LocalCount == 1 })
	if st := s.Stats(); st.Count != 2 || st.TotalCents != 42 {
		t.Fatalf("stats %+v, want k counted once", st)
	}
	if recs, _ := s.Since(0, 10); len(recs) != 1 || recs[0].Key != "k" {
		t.Fatalf("own log %+v: only local records belong there", recs)
	}
}
