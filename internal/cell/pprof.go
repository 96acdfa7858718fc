package cell

import (
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strings"
	"time"
)

// startPprof serves Go's profiles (/debug/pprof/) on cfg.PprofAddr
// (PAVED_PPROF), for whoever debugs the cell: `make bench` profiles the
// router this way. Profiles show the process's memory and its command line,
// so every request needs the admin token (Authorization: Bearer …); a TLS
// cell serves them over HTTPS, like its other listeners.
func (c *Cell) startPprof() error {
	if c.cfg.PprofAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", c.cfg.PprofAddr)
	if err != nil {
		return fmt.Errorf("PAVED_PPROF address %s: %w", c.cfg.PprofAddr, err)
	}
	if c.tls != nil {
		ln = tls.NewListener(ln, c.tls.serverConfig())
	}
	// Sample lock contention too (/debug/pprof/mutex): 1 in 100 events.
	runtime.SetMutexProfileFraction(100)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and every named profile under it
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	c.pprofLn = ln
	c.pprofSrv = &http.Server{Handler: requireBearer(c.token, mux), ReadHeaderTimeout: 10 * time.Second}
	go c.serve(c.pprofSrv, ln, "pprof")
	return nil
}

// requireBearer answers 401 to every request that does not carry
// Authorization: Bearer token.
func requireBearer(token string, h http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || len(want) == 0 ||
			subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paved pprof"`)
			http.Error(w, "the profiles need the cell's admin token: send Authorization: Bearer <admin token>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// PprofAddr is the bound profiles address ("" when PAVED_PPROF is unset).
func (c *Cell) PprofAddr() string {
	if c.pprofLn == nil {
		return ""
	}
	return c.pprofLn.Addr().String()
}
