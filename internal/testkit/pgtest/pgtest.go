// Package pgtest runs a real, throwaway PostgreSQL server for tests: a
// fresh cluster (initdb) in a temporary directory, listening on a free
// loopback port, as the postgres system user when the test runs as root
// (PostgreSQL refuses to run as root). scripts/install-postgres.sh
// installs Debian's postgresql package when it is missing.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running PostgreSQL server.
type Server struct {
	Host     string // 127.0.0.1
	Port     int
	User     string // the superuser, "admin"
	Password string
	Dir      string // data directory, socket and log
	Bin      string // the directory of initdb, postgres, pg_dump, …

	cmd  *exec.Cmd
	done chan struct{}
}

// DSN is a connection string for the superuser to database db.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", s.User, s.Password, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), db)
}

// BinDir finds the newest PostgreSQL under /usr/lib/postgresql (Debian's
// layout), or $PAVED_PG_BIN.
func BinDir() (string, error) {
	if d := os.Getenv("PAVED_PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) < version(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("no PostgreSQL server found under /usr/lib/postgresql: run scripts/install-postgres.sh (Debian's postgresql package)")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start starts a server; the test's cleanup stops it and removes its
// directory.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartServer starts a server; the caller must Stop it.
func StartServer() (s *Server, err error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "paved-pg")
	if err != nil {
		return nil, err
	}
	s = &Server{Host: "127.0.0.1", User: "admin", Password: randomHex(16), Dir: dir, Bin: bin}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w%s", err, s.log())
			s.Stop()
		}
	}()
	cred, err := runAs(dir)
	if err != nil {
		return s, err
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return s, err
	}
	if cred != nil {
		_ = os.Chown(pwfile, int(cred.Uid), int(cred.Gid))
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", s.User, "--pwfile", pwfile,
		"--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return s, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if s.Port, err = freePort(); err != nil {
		return s, err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return s, err
	}
	defer logf.Close()
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-h", s.Host, "-p", strconv.Itoa(s.Port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return s, fmt.Errorf("postgres: %w", err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			return s, nil
		}
		select {
		case <-s.done:
			return s, errors.New("postgres exited at start")
		case <-ctx.Done():
			return s, fmt.Errorf("postgres did not accept connections in 30s: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runAs is the credential to run PostgreSQL with: the postgres system
// user when this process is root (dir is handed to it), else none.
func runAs(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres system user (Debian's postgresql package makes it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Stop stops the server (fast shutdown, then SIGKILL) and removes its
// directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
		s.cmd = nil
	}
	if s.Dir != "" {
		os.RemoveAll(s.Dir)
		s.Dir = ""
	}
}

func (s *Server) log() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "\npostgres log:\n" + strings.Join(lines, "\n")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
