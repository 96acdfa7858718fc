package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pavedroad/terraform-provider-paved/internal/secrets"
	"github.com/pavedroad/terraform-provider-paved/paved"
	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
)

//go:embed migrations/*.sql
var migrations embed.FS

// SQLite is the embedded Store: one database file in WAL mode.
type SQLite struct {
	db     *sql.DB
	cellID string
	// keys seals and opens secret values (secrets.go). It is replaced only
	// by Open and RotateKey, before anyone else uses the store.
	keys *secrets.Keyring
	lock *os.File // DATA/paved.lock, held while the store is open
}

var _ Store = (*SQLite)(nil)

// Open opens (creating and migrating if needed) the database in dataDir,
// with its secrets key in DATA/secrets.key (created on first open).
func Open(dataDir string) (*SQLite, error) { return OpenWith(dataDir, Options{}) }

// OpenWith is Open with options. It locks the data dir first (one process
// at a time: lockDataDir) and, after the schema migrations, loads the
// secrets key and brings every stored secret under it (sealAll).
func OpenWith(dataDir string, o Options) (*SQLite, error) {
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, err
	}
	// The key is checked before the database is touched: a wrong flag must
	// not leave a migrated database behind.
	keyFile, create := o.keyFile(dataDir)
	kr, created, err := secrets.LoadKeyring(keyFile, create)
	if err != nil {
		lock.Close()
		return nil, err
	}
	s, err := open(dataDir, kr)
	if err != nil {
		lock.Close()
		if created {
			os.Remove(keyFile) // a key made for a database that did not open helps no one
			if wk := (*wrongKeyError)(nil); errors.As(err, &wk) {
				err = fmt.Errorf("%w (there was no %s: restore it)", err, keyFile)
			}
		}
		return nil, err
	}
	s.lock = lock
	return s, nil
}

func open(dataDir string, kr *secrets.Keyring) (*SQLite, error) {
	path := filepath.Join(dataDir, "paved.db")
	// _txlock=immediate takes the write lock at BEGIN, so two writers queue
	// on busy_timeout instead of failing with SQLITE_BUSY half-way through.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &SQLite{db: db}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.loadCellID(); err != nil {
		db.Close()
		return nil, err
	}
	s.keys = kr
	if err := s.sealAll(context.Background(), false); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// dataMigrations are the Go halves of migrations that rewrite data SQL
// cannot (hashing), run in the migration's transaction after its SQL.
var dataMigrations = map[string]func(*sql.Tx) error{
	"0008_webhook_hashes.sql": hashWebhookTokens,
	"0009_routes.sql":         backfillRoutes,
	"0012_token_expiry.sql":   addTokenExpiry,
}

// migrate applies the embedded migrations past PRAGMA user_version, each in
// its own transaction.
func (s *SQLite) migrate() error {
	var current int
	if err := s.db.QueryRow("PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for i, name := range names {
		version := i + 1
		if version <= current {
			continue
		}
		ddl, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := s.db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(string(ddl)); err != nil {
			_ = tx.Rollback() // the failure is returned; the rollback is cleanup
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if data := dataMigrations[path.Base(name)]; data != nil {
			if err := data(tx); err != nil {
				_ = tx.Rollback()
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// loadCellID gives the data dir a stable random identity; the runtime tags
// every process with it so a restarted cell can find its orphans.
func (s *SQLite) loadCellID() error {
	err := s.db.QueryRow("SELECT value FROM meta WHERE key = 'cell_id'").Scan(&s.cellID)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	b := make([]byte, 8)
	rand.Read(b)
	s.cellID = hex.EncodeToString(b)
	_, err = s.db.Exec("INSERT INTO meta(key, value) VALUES('cell_id', ?)", s.cellID)
	return err
}

// CellID is the data dir's stable identity.
func (s *SQLite) CellID() string { return s.cellID }

// Close closes the database.
func (s *SQLite) Close() error {
	err := s.db.Close()
	if s.lock != nil {
		s.lock.Close() // releases the flock
	}
	return err
}

func now() time.Time { return time.Now().UTC() }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTS(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// inTx runs fn in one transaction and appends ev (when non-nil) in it too.
func (s *SQLite) inTx(ctx context.Context, ev *paved.Event, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback() // the failure is returned; the rollback is cleanup
		return err
	}
	if ev != nil {
		if err := appendEvent(ctx, tx, *ev); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

func appendEvent(ctx context.Context, tx *sql.Tx, e paved.Event) error {
	if e.Time.IsZero() {
		e.Time = now()
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO events(time, actor, action, object, detail) VALUES(?,?,?,?,?)",
		ts(e.Time), e.Actor, e.Action, e.Object, e.Detail)
	return err
}

func event(actor, action, object, detail string) *paved.Event {
	return &paved.Event{Actor: actor, Action: action, Object: object, Detail: detail}
}

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// checkVersion turns "no row updated" into ErrNotFound or ErrStale.
func checkVersion(ctx context.Context, tx *sql.Tx, res sql.Result, existsQuery string, args ...any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var one int
	if err := tx.QueryRowContext(ctx, existsQuery, args...).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	return ErrStale
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain data structs are marshalled here
	}
	return string(b)
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// queryAll runs a query and scans every row with scan; a list is never nil,
// so it encodes as [] rather than null.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
