package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Record is one donation, exactly as it is stored: one JSON object per line.
type Record struct {
	Key    string    `json:"key"`
	Amount int64     `json:"amount"` // cents
	Region string    `json:"region"`
	At     time.Time `json:"at"` // encoding/json writes RFC 3339 with nanoseconds
}

// ErrUnavailable means the store cannot make a donation durable (a write or
// fsync failed earlier, or the store is shutting down). Nothing is
// acknowledged in that state; clients retry with the same key.
var ErrUnavailable = errors.New("store unavailable")

const (
	maxBatch     = 1024                   // donations per group commit at most
	tailInterval = 500 * time.Millisecond // how often other instances' files are read
)

// pending is one donation waiting for the writer. done is closed once err
// says whether the batch holding it reached the disk.
type pending struct {
	rec  Record
	err  error
	done chan struct{}
}

// Store is the durable donation log of one process.
//
// Every process appends to its own file log-<instance>.jsonl in the data
// directory, so processes sharing the directory (instances of one region, or
// successive processes of one instance) never interleave writes. At start it
// loads every log-*.jsonl file; afterwards a tailer picks up what the other
// files gain. A single writer goroutine group-commits: one write and one
// fsync per batch, and a donation is acknowledged only after that fsync.
type Store struct {
	dir      string
	region   string
	ownName  string // base name of this process's file
	epoch    string
	file     *os.File
	reqs     chan *pending
	stop     chan struct{} // closed by Close: ends the tailer
	bg       sync.WaitGroup
	senders  sync.WaitGroup       // Donate calls between the closed check and the send
	syncFile func(*os.File) error // (*os.File).Sync; tests slow it down or fail it
	batches  atomic.Int64         // group commits done (tests look at it)
	offsets  map[string]int64     // bytes of each file already read; only readFiles uses it

	mu        sync.Mutex
	failed    error               // sticky: the first failed write or fsync
	closed    bool                // Close was called: refuse new writes
	known     map[string]Record   // union of local and peer records, by key
	local     map[string]struct{} // keys that are in a file of this data dir
	own       []Record            // local records in the order this process learned them (the /log order)
	reserved  map[string]*pending // keys whose write is in flight
	total     int64               // sum of amounts over known
	filesSeen int                 // log files read so far, for the start log
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// OpenStore loads dir and starts the writer and the tailer. instance names
// this process's file; region labels its new records.
func OpenStore(dir, region, instance string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	name := unsafeName.ReplaceAllString(instance, "_")
	s := &Store{
		dir:      dir,
		region:   region,
		ownName:  "log-" + name + ".jsonl",
		epoch:    fmt.Sprintf("%s-%d", instance, time.Now().UnixNano()),
		reqs:     make(chan *pending, maxBatch),
		stop:     make(chan struct{}),
		syncFile: (*os.File).Sync,
		known:    map[string]Record{},
		local:    map[string]struct{}{},
		reserved: map[string]*pending{},
		offsets:  map[string]int64{},
	}
	if err := s.openOwn(); err != nil {
		return nil, err
	}
	if err := s.readFiles(true); err != nil {
		s.file.Close()
		return nil, err
	}
	s.bg.Add(2)
	go s.writer()
	go s.tailer()
	return s, nil
}

// openOwn opens this process's file for appending. A file of the same name
// exists when the instance restarted (paved keeps PAVED_INSTANCE across
// restarts); if that process died mid-write its file ends in a torn line,
// which was never acknowledged (acks follow the fsync of whole lines). Cut
// it off, or our first line would be glued to the fragment and lost.
func (s *Store) openOwn() error {
	path := filepath.Join(s.dir, s.ownName)
	if data, err := os.ReadFile(path); err == nil {
		if keep := int64(bytes.LastIndexByte(data, '\n') + 1); keep < int64(len(data)) {
			log.Printf("store: %s: dropping a torn last line (%d bytes)", s.ownName, int64(len(data))-keep)
			if err := os.Truncate(path, keep); err != nil {
				return err
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	// Make the new directory entry durable too, or a power cut could lose
	// the whole file along with records whose fsync succeeded.
	if d, err := os.Open(s.dir); err == nil {
		if err := d.Sync(); err != nil {
			log.Printf("store: sync %s: %v", s.dir, err)
		}
		d.Close()
	}
	s.file = f
	return nil
}

// readFiles reads the complete lines each log-*.jsonl file gained since the
// last call. At start it reads everything, this process's own file included;
// later the tailer skips the own file, whose records the writer adds itself.
// Only the opener and then the tailer call it, one after the other, so
// offsets needs no lock.
func (s *Store) readFiles(starting bool) error {
	paths, err := filepath.Glob(filepath.Join(s.dir, "log-*.jsonl"))
	if err != nil {
		return err
	}
	sort.Strings(paths) // a stable load order
	for _, path := range paths {
		name := filepath.Base(path)
		if name == s.ownName && !starting {
			continue
		}
		if _, seen := s.offsets[name]; !seen {
			s.mu.Lock()
			s.filesSeen++
			s.mu.Unlock()
		}
		if err := s.readFrom(path, name); err != nil {
			if starting {
				return err
			}
			log.Printf("store: tail %s: %v", name, err) // try again next tick
		}
	}
	return nil
}

// readFrom consumes the complete lines of path after its recorded offset.
// A trailing line without its newline is left for a later call: it is either
// still being written or the torn end of a crashed process, and in both
// cases it was not acknowledged.
func (s *Store) readFrom(path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	off := s.offsets[name]
	if st, err := f.Stat(); err == nil && st.Size() < off {
		off = 0 // the file shrank under us: reread it, dedupe makes that safe
	}
	data, err := io.ReadAll(io.NewSectionReader(f, off, 1<<62))
	if err != nil {
		return err
	}
	complete := bytes.LastIndexByte(data, '\n') + 1
	var recs []Record
	for line := range bytes.Lines(data[:complete]) {
		var r Record
		if err := json.Unmarshal(line, &r); err != nil || r.Key == "" || r.Amount <= 0 {
			log.Printf("store: %s: skipping a bad line", name)
			continue
		}
		recs = append(recs, r)
	}
	s.offsets[name] = off + int64(complete)
	s.mu.Lock()
	for _, r := range recs {
		s.addLocal(r)
	}
	s.mu.Unlock()
	return nil
}

// addLocal records r as present in this data dir. The first record of a key
// wins; later ones (the same key written by two instances of the region
// before either saw the other) are ignored. Caller holds mu.
func (s *Store) addLocal(r Record) {
	if _, ok := s.local[r.Key]; ok {
		return
	}
	s.local[r.Key] = struct{}{}
	s.own = append(s.own, r)
	if _, ok := s.known[r.Key]; !ok { // a peer may have told us first: count it once
		s.known[r.Key] = r
		s.total += r.Amount
	}
}

// Merge adds records pulled from peers. Keys already known (locally or from
// another peer) are skipped, so each key counts once. It returns how many
// records were new.
func (s *Store) Merge(recs []Record) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	added := 0
	for _, r := range recs {
		if r.Key == "" || r.Amount <= 0 {
			continue
		}
		if _, ok := s.known[r.Key]; ok {
			continue
		}
		s.known[r.Key] = r
		s.total += r.Amount
		added++
	}
	return added
}

// Donate makes a donation durable, or returns the record already known for
// key (dup is then true; the caller compares amounts). It returns
// ErrUnavailable when the donation could not be made durable.
func (s *Store) Donate(ctx context.Context, key string, amount int64) (rec Record, dup bool, err error) {
	for {
		s.mu.Lock()
		if r, ok := s.known[key]; ok {
			s.mu.Unlock()
			return r, true, nil
		}
		if p, ok := s.reserved[key]; ok {
			// Someone is writing this key right now. Writing it a second time
			// could record two amounts; wait for the outcome, then look again.
			s.mu.Unlock()
			select {
			case <-p.done:
				continue
			case <-ctx.Done():
				return Record{}, false, ctx.Err()
			}
		}
		if s.failed != nil || s.closed {
			s.mu.Unlock()
			return Record{}, false, ErrUnavailable
		}
		p := &pending{
			rec:  Record{Key: key, Amount: amount, Region: s.region, At: time.Now().UTC()},
			done: make(chan struct{}),
		}
		s.reserved[key] = p
		s.senders.Add(1) // under mu, so Close cannot close reqs under our feet
		s.mu.Unlock()

		s.reqs <- p
		s.senders.Done()
		// No ctx here: once queued the write happens, and a reply before its
		// outcome is known would be a guess.
		<-p.done
		if p.err != nil {
			return Record{}, false, ErrUnavailable
		}
		return p.rec, false, nil
	}
}

// writer is the only goroutine that writes the own file. It takes whatever
// is queued (up to maxBatch), writes it with one write and one fsync, and
// only then releases the waiters: many concurrent donations share one fsync.
func (s *Store) writer() {
	defer s.bg.Done()
	var buf bytes.Buffer
	batch := make([]*pending, 0, maxBatch)
	for first := range s.reqs {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < maxBatch {
			select {
			case p, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		s.mu.Lock()
		err := s.failed // a failed store stays failed: see below
		s.mu.Unlock()
		if err == nil {
			buf.Reset()
			for _, p := range batch {
				line, _ := json.Marshal(p.rec) // a Record always marshals
				buf.Write(line)
				buf.WriteByte('\n')
			}
			if _, err = s.file.Write(buf.Bytes()); err == nil {
				err = s.syncFile(s.file)
			}
			s.batches.Add(1)
		}
		s.mu.Lock()
		if err != nil {
			// After a failed write or fsync the file's state is unknown (a
			// failed fsync may even have dropped dirty pages), so refuse every
			// later write rather than ack something that might not be there.
			// A 503 is honest: the client retries with the same key, and if
			// the lines did reach the disk the next process answers duplicate.
			if s.failed == nil {
				log.Printf("store: write failed, refusing further writes: %v", err)
				s.failed = err
			}
		}
		for _, p := range batch {
			delete(s.reserved, p.rec.Key)
			p.err = err
			if err == nil {
				s.addLocal(p.rec)
			}
		}
		s.mu.Unlock()
		for _, p := range batch {
			close(p.done)
		}
	}
}

// tailer keeps reading what the other files of the directory gain, so the
// instances of one region converge on the same set of records.
func (s *Store) tailer() {
	defer s.bg.Done()
	t := time.NewTicker(tailInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.readFiles(false); err != nil {
				log.Printf("store: tail: %v", err) // try again next tick
			}
		}
	}
}

// Close refuses new donations, lets the writer finish what is queued, stops
// the tailer and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true // new donations get ErrUnavailable; queued ones are still written
	s.mu.Unlock()
	s.senders.Wait() // every Donate past the check has queued its donation
	close(s.reqs)
	close(s.stop)
	s.bg.Wait()
	return s.file.Close()
}

// Healthy returns the write error that broke the store, if any.
func (s *Store) Healthy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Stats is what /total reports about the store.
type Stats struct {
	TotalCents int64
	Count      int
	LocalCount int
}

func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{TotalCents: s.total, Count: len(s.known), LocalCount: len(s.local)}
}

// Since returns up to limit records of this region's log from index since,
// and the index to ask for next.
func (s *Store) Since(since, limit int) ([]Record, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	since = min(since, len(s.own))
	end := min(since+limit, len(s.own))
	return append([]Record(nil), s.own[since:end]...), end
}

// All returns every known record (local ∪ peers), sorted by key.
func (s *Store) All() []Record {
	s.mu.Lock()
	out := make([]Record, 0, len(s.known))
	for _, r := range s.known {
		out = append(out, r)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Epoch names this process's /log ordering.
func (s *Store) Epoch() string { return s.epoch }

// FileCount is how many log files the store has read.
func (s *Store) FileCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.filesSeen
}

// ownPath is the path of this process's file.
func (s *Store) ownPath() string { return filepath.Join(s.dir, s.ownName) }
