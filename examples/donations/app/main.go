// Command donations is the app of the multi-region "donation night" demo.
//
// The same binary runs in every region. Each region acknowledges a donation
// only once it is fsynced to that region's disk, and pulls the other regions'
// logs in the background to show a global total. A region can die at peak
// load without losing an acknowledged donation: the donation is on its disk
// (and, within a sync interval, in the other regions' memory too), and
// clients retry with the same idempotency key elsewhere. Availability over
// consistency: every region keeps taking donations while others are down.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	maxAmount  = 1_000_000_000 // cents
	maxBody    = 4 << 10
	defLimit   = 5000
	maxLimit   = 20000
	keyPattern = `^[A-Za-z0-9._:-]{1,128}$`
)

var validKey = regexp.MustCompile(keyPattern)

func main() {
	port := env("PORT", "8080")
	// PAVED_HOST is the address the runtime wants bound (the cell's loopback
	// for a process instance, every address of a Kubernetes pod).
	addr := net.JoinHostPort(env("PAVED_HOST", "127.0.0.1"), port)
	dataDir := env("PAVED_DATA_DIR", "./data")
	region := env("PAVED_REGION", "local")
	instance := os.Getenv("PAVED_INSTANCE")
	if instance == "" {
		b := make([]byte, 6)
		rand.Read(b)
		instance = hex.EncodeToString(b)
	}
	interval, err := time.ParseDuration(env("PEER_SYNC_INTERVAL", "1s"))
	if err != nil || interval <= 0 {
		log.Fatalf("donations: PEER_SYNC_INTERVAL must be a positive Go duration, got %q", os.Getenv("PEER_SYNC_INTERVAL"))
	}

	store, err := OpenStore(dataDir, region, instance)
	if err != nil {
		log.Fatalf("donations: open store: %v", err)
	}
	merger, err := NewMerger(store, region, os.Getenv("GLOBAL_HOST"), os.Getenv("PEERS"), interval)
	if err != nil {
		log.Fatalf("donations: %v", err)
	}
	st := store.Stats()
	log.Printf("donations: region %s instance %s data %s: %d files, %d records loaded; %d peers; listening on %s",
		region, instance, dataDir, store.FileCount(), st.LocalCount, len(merger.peers), addr)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go merger.Run(ctx)

	srv := &http.Server{
		Addr:              addr,
		Handler:           newServer(store, merger, region).routes(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		log.Fatalf("donations: %v", err)
	case <-ctx.Done():
	}
	// Stop accepting, let in-flight requests get their fsync and answer,
	// then let the writer finish what is queued and close the file.
	log.Printf("donations: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Printf("donations: shutdown: %v", err)
	}
	if err := store.Close(); err != nil {
		log.Printf("donations: close store: %v", err)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// server is the HTTP face of a store and its merger.
type server struct {
	store  *Store
	merger *Merger
	region string
}

func newServer(store *Store, merger *Merger, region string) *server {
	return &server{store: store, merger: merger, region: region}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /donate", s.donate)
	mux.HandleFunc("GET /log", s.log)
	mux.HandleFunc("GET /total", s.total)
	mux.HandleFunc("GET /export", s.export)
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

type donateRequest struct {
	Key    string `json:"key"`
	Amount int64  `json:"amount"`
}

type donateResponse struct {
	Key       string `json:"key"`
	Amount    int64  `json:"amount"`
	Region    string `json:"region"`
	Duplicate bool   `json:"duplicate"`
}

func (s *server) donate(w http.ResponseWriter, r *http.Request) {
	req, err := parseDonation(w, r)
	if err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, err.Error())
		return
	}
	rec, dup, err := s.store.Donate(r.Context(), req.Key, req.Amount)
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "cannot store the donation right now, retry with the same key")
	case dup && rec.Amount != req.Amount:
		writeError(w, http.StatusConflict, fmt.Sprintf("key %q was already used for amount %d (region %s)", rec.Key, rec.Amount, rec.Region))
	case dup:
		writeJSON(w, http.StatusOK, donateResponse{rec.Key, rec.Amount, rec.Region, true})
	default:
		writeJSON(w, http.StatusCreated, donateResponse{rec.Key, rec.Amount, rec.Region, false})
	}
}

// parseDonation reads and validates a donation; its errors are meant for
// the client.
func parseDonation(w http.ResponseWriter, r *http.Request) (donateRequest, error) {
	var req donateRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields() // "amount_cents" should fail loudly, not donate 0
	if err := dec.Decode(&req); err != nil {
		if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return req, mbe
		}
		return req, fmt.Errorf(`body must be a JSON object {"key":"...","amount":<integer cents>}: %w`, err)
	}
	if dec.More() {
		return req, errors.New("body must hold a single JSON object")
	}
	if h := r.Header.Get("Idempotency-Key"); h != "" {
		if req.Key != "" && req.Key != h {
			return req, fmt.Errorf("body key %q and Idempotency-Key header %q differ", req.Key, h)
		}
		req.Key = h
	}
	if req.Key == "" {
		return req, errors.New(`missing key: send "key" in the body or an Idempotency-Key header`)
	}
	if !validKey.MatchString(req.Key) {
		return req, errors.New("key must be 1-128 characters of A-Z a-z 0-9 . _ : -")
	}
	if req.Amount < 1 || req.Amount > maxAmount {
		return req, fmt.Errorf("amount must be an integer number of cents from 1 to %d", maxAmount)
	}
	return req, nil
}

func (s *server) log(w http.ResponseWriter, r *http.Request) {
	since, err := intParam(r, "since", 0)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, err := intParam(r, "limit", defLimit)
	if err != nil || limit < 1 {
		writeError(w, http.StatusBadRequest, "limit must be a positive integer")
		return
	}
	recs, next := s.store.Since(since, min(limit, maxLimit))
	writeJSON(w, http.StatusOK, logPage{Region: s.region, Epoch: s.store.Epoch(), Records: recs, Next: next})
}

func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a non-negative integer", name)
	}
	return n, nil
}

func (s *server) total(w http.ResponseWriter, r *http.Request) {
	st := s.store.Stats()
	writeJSON(w, http.StatusOK, map[string]any{
		"region":      s.region,
		"total_cents": st.TotalCents,
		"count":       st.Count,
		"local_count": st.LocalCount,
		"peers":       s.merger.Status(),
	})
}

type exportRecord struct {
	Key    string `json:"key"`
	Amount int64  `json:"amount"`
	Region string `json:"region"`
}

func (s *server) export(w http.ResponseWriter, r *http.Request) {
	all := s.store.All()
	out := make([]exportRecord, len(all))
	for i, rec := range all {
		out[i] = exportRecord{rec.Key, rec.Amount, rec.Region}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": out})
}

// healthz is ok once the store is loaded (it is before we listen). A store
// that failed a write answers 503, so the router sends donations to a
// healthy instance and paved can restart this one.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Healthy(); err != nil {
		http.Error(w, "store failed: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent: nothing is left to tell the client of a failure
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": strings.TrimSpace(msg)})
}
