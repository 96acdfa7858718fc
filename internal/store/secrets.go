package store

// Secrets at rest. The only secret values the store keeps are secret_env
// maps: in an app's spec (apps.spec) and in each release's config
// (releases.config). Everything else that is secret is kept as a sha256
// only (API tokens, webhook secrets) or not at all. Environments, snapshots,
// replica sets and deployments hold no secret_env of their own: an
// environment's apps are apps, a snapshot names release numbers.
//
// Both documents are stored as the same JSON as before except that
// secret_env is a string sealed by secrets.Keyring (AES-256-GCM, see
// internal/secrets/seal.go) instead of an object. Sealing and opening
// happen here, at the JSON boundary of those two documents (appJSON,
// decodeApp, releaseJSON, decodeRelease), so every reader gets plain values
// (the deployer hands them to instances exactly as before) and no caller
// can forget to seal. A JSON object there is a value written before
// sealing existed: sealAll, run by every Open, seals those in one
// transaction (so a data dir of the previous version is sealed on its first
// start), and a read still understands them.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/pavedroad/terraform-provider-paved/internal/secrets"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// Options are how OpenWith finds its secrets key.
type Options struct {
	// SecretsKeyFile is the key that seals secret values (paved server
	// --secrets-key-file). "" means DATA/secrets.key, created (mode
	// 0600) on first open; a file named here must exist.
	SecretsKeyFile string
}

// KeyFile is the default key file's name in the data dir.
const KeyFile = "secrets.key"

// sealedDocs are the JSON columns that have a secret_env member.
var sealedDocs = []struct{ table, column string }{
	{"apps", "spec"},       // paved.AppSpec
	{"releases", "config"}, // paved.ReleaseConfig
}

// sealedColumns hold a whole value sealed by the keyring: a service
// broker's password and a service binding's credentials (services.go).
var sealedColumns = []struct{ table, column string }{
	{"service_brokers", "password"},
	{"service_bindings", "credentials"},
	{"service_instances", "credentials"},
}

// metaPurge, present in meta, means sealAll changed stored values and the
// database file still has to be rebuilt (purge) so that their previous
// form (plain text, or sealed with a retired key) is not left behind in
// free pages or in the WAL. It is written in the sealing transaction, so a
// crash before the purge leaves it for the next start.
const metaPurge = "secrets_purge_pending"

// appDoc and releaseDoc are the stored forms: the spec or config with
// secret_env replaced by its sealed string (the outer field wins over the
// embedded one in encoding/json).
type appDoc struct {
	*paved.AppSpec
	SecretEnv json.RawMessage `json:"secret_env,omitempty"`
}

type releaseDoc struct {
	*paved.ReleaseConfig
	SecretEnv json.RawMessage `json:"secret_env,omitempty"`
}

func (s *SQLite) appJSON(spec paved.AppSpec) string {
	sealed := s.sealEnv(spec.SecretEnv)
	spec.SecretEnv = nil
	return mustJSON(appDoc{&spec, sealed})
}

func (s *SQLite) decodeApp(data string, spec *paved.AppSpec) error {
	doc := appDoc{AppSpec: spec}
	if err := json.Unmarshal([]byte(data), &doc); err != nil {
		return err
	}
	var err error
	spec.SecretEnv, err = s.openEnv(doc.SecretEnv)
	return err
}

func (s *SQLite) releaseJSON(cfg paved.ReleaseConfig) string {
	sealed := s.sealEnv(cfg.SecretEnv)
	cfg.SecretEnv = nil
	return mustJSON(releaseDoc{&cfg, sealed})
}

func (s *SQLite) decodeRelease(data string, cfg *paved.ReleaseConfig) error {
	doc := releaseDoc{ReleaseConfig: cfg}
	if err := json.Unmarshal([]byte(data), &doc); err != nil {
		return err
	}
	var err error
	cfg.SecretEnv, err = s.openEnv(doc.SecretEnv)
	return err
}

// sealEnv is the stored form of a secret_env map. nil stays absent, but an
// empty map is sealed too: to an update, nil means "keep the secrets" and
// an empty map "remove them", so the difference must survive the store.
func (s *SQLite) sealEnv(env map[string]string) json.RawMessage {
	if env == nil {
		return nil
	}
	return json.RawMessage(mustJSON(s.keys.Seal([]byte(mustJSON(env)))))
}

// openEnv reads a stored secret_env: a sealed string, or (written before
// sealing, until sealAll has run) a plain object.
func (s *SQLite) openEnv(raw json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var sealed string
		if err := json.Unmarshal(raw, &sealed); err != nil {
			return nil, err
		}
		plain, err := s.keys.Open(sealed)
		if err != nil {
			return nil, fmt.Errorf("secret_env: %w", err)
		}
		raw = plain
	}
	var env map[string]string
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("secret_env: %w", err)
	}
	return env, nil
}

// sealAll brings every stored secret_env under the keyring's current key
// in one transaction: plain objects (a data dir of the previous version)
// are sealed, values sealed with the previous key (a rotation: rotate-key,
// or a start after a rotation stopped half-way) are re-sealed, and values
// already under the current key are left alone, so on an ordinary start it
// only reads. Each kind of change appends one event. A value sealed with a
// key the keyring does not hold fails the whole pass: the cell must not
// start with secrets it cannot give its apps. When the pass committed,
// KEYFILE.old is removed (nothing needs it any more) and the file is
// purged of the values' previous form. rotating (rotate-key) records the
// rotation even when there is no value to re-seal.
func (s *SQLite) sealAll(ctx context.Context, rotating bool) error {
	kr := s.keys
	var plain, resealed, services int
	var purge bool
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		for _, d := range sealedDocs {
			type stored struct {
				rowid       int64
				kind, value string
			}
			var todo []stored
			rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT rowid, json_type(%[1]s, '$.secret_env'), json_extract(%[1]s, '$.secret_env')
				FROM %[2]s WHERE json_type(%[1]s, '$.secret_env') IN ('object', 'text')`, d.column, d.table))
			if err != nil {
				return err
			}
			for rows.Next() {
				var r stored
				if err := rows.Scan(&r.rowid, &r.kind, &r.value); err != nil {
					rows.Close()
					return err
				}
				if id, ok := secrets.SealedKeyID(r.value); r.kind == "text" && ok && id == kr.ID() {
					continue // the common case: nothing to do
				}
				todo = append(todo, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, r := range todo {
				var sealed string
				if r.kind == "object" {
					sealed = kr.Seal([]byte(r.value))
					plain++
				} else {
					id, ok := secrets.SealedKeyID(r.value)
					if !ok {
						return fmt.Errorf("%s row %d: secret_env is neither an object nor a sealed value", d.table, r.rowid)
					}
					if !kr.Has(id) {
						return &wrongKeyError{sealed: id, kr: kr}
					}
					p, err := kr.Open(r.value)
					if err != nil {
						return fmt.Errorf("%s row %d: %w", d.table, r.rowid, err)
					}
					sealed = kr.Seal(p)
					resealed++
				}
				if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %[1]s SET %[2]s = json_set(%[2]s, '$.secret_env', ?) WHERE rowid = ?", d.table, d.column),
					sealed, r.rowid); err != nil {
					return err
				}
			}
		}
		for _, c := range sealedColumns {
			n, err := resealColumn(ctx, tx, kr, c.table, c.column)
			if err != nil {
				return err
			}
			services += n
		}
		var pending int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM meta WHERE key = ?", metaPurge).Scan(&pending); err != nil {
			return err
		}
		purge = pending > 0 || plain+resealed+services > 0
		if plain+resealed+services > 0 {
			if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, 'yes')", metaPurge); err != nil {
				return err
			}
		}
		if plain > 0 {
			if err := appendEvent(ctx, tx, paved.Event{Actor: "cell", Action: "secrets.seal", Object: "secrets",
				Detail: fmt.Sprintf("sealed the plain-text secret_env of %d apps and releases with AES-256-GCM key %s", plain, kr.ID())}); err != nil {
				return err
			}
		}
		if resealed+services > 0 || rotating {
			detail := fmt.Sprintf("re-sealed the secret_env of %d apps and releases from key %s to key %s", resealed, kr.OldID(), kr.ID())
			if services > 0 {
				detail += fmt.Sprintf(", and %d service broker passwords and binding credentials", services)
			}
			return appendEvent(ctx, tx, paved.Event{Actor: "cell", Action: "secrets.rotate", Object: "secrets", Detail: detail})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if purge {
		if err := s.purge(ctx); err != nil {
			return err
		}
	}
	if kr.Unfinished() {
		next, err := kr.DropOld()
		if err != nil {
			return err
		}
		s.keys = next
	}
	return nil
}

// resealColumn re-seals under the current key the values of a sealed
// column that an older key sealed; it returns how many.
func resealColumn(ctx context.Context, tx *sql.Tx, kr *secrets.Keyring, table, column string) (int, error) {
	type stored struct {
		rowid int64
		value string
	}
	var todo []stored
	rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT rowid, %s FROM %s WHERE %[1]s != ''", column, table))
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var r stored
		if err := rows.Scan(&r.rowid, &r.value); err != nil {
			rows.Close()
			return 0, err
		}
		if id, ok := secrets.SealedKeyID(r.value); !ok || id != kr.ID() {
			todo = append(todo, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, r := range todo {
		id, ok := secrets.SealedKeyID(r.value)
		if !ok {
			return 0, fmt.Errorf("%s row %d: %s is not a sealed value", table, r.rowid, column)
		}
		if !kr.Has(id) {
			return 0, &wrongKeyError{sealed: id, kr: kr}
		}
		p, err := kr.Open(r.value)
		if err != nil {
			return 0, fmt.Errorf("%s row %d: %w", table, r.rowid, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s = ? WHERE rowid = ?", table, column), kr.Seal(p), r.rowid); err != nil {
			return 0, err
		}
	}
	return len(todo), nil
}

// wrongKeyError: the database holds values sealed with a key the key
// file (and KEYFILE.old) does not hold.
type wrongKeyError struct {
	sealed string
	kr     *secrets.Keyring
}

func (e *wrongKeyError) Error() string {
	return fmt.Sprintf("paved.db holds secrets sealed with key %s, but %s %s holds key %s: start with the key file that sealed them",
		e.sealed, secrets.KeyFlag, e.kr.Path(), e.kr.ID())
}

// purge rebuilds the database file (VACUUM) and empties the WAL into it
// (checkpoint TRUNCATE): SQLite leaves deleted and overwritten rows in
// free pages and in old WAL frames, where a plain-text secret (or one
// sealed with a retired, maybe leaked, key) would outlive its re-sealing.
func (s *SQLite) purge(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("purge the old form of re-sealed secrets (VACUUM; it needs free disk space about the size of paved.db): %w", err)
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM meta WHERE key = ?", metaPurge); err != nil {
		return err
	}
	var busy, logFrames, done int
	if err := s.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("purge: checkpoint: %w", err)
	}
	if busy != 0 {
		return errors.New("purge: the WAL checkpoint was blocked by a reader")
	}
	return nil
}

// keyFile is the key file Options names, or the data dir's default.
func (o Options) keyFile(dataDir string) (path string, create bool) {
	if o.SecretsKeyFile != "" {
		return o.SecretsKeyFile, false
	}
	return filepath.Join(dataDir, KeyFile), true
}

// Rotation is what RotateKey did.
type Rotation struct {
	From, To string // key ids
	KeyFile  string
}

// RotateKey re-seals every secret of the data dir under a new random key
// and replaces the key file with it. The data dir must not be in use (the
// store's lock, see lockDataDir). The steps, each safe to crash after:
//
//  1. Open as a cell would: plain values sealed, an unfinished rotation
//     finished, KEYFILE.old gone.
//  2. Keyring.Rotate: KEYFILE.old := old key, then KEYFILE := new key,
//     each written to a temporary file (0600), fsynced and renamed.
//  3. sealAll: every value re-sealed with the new key, one transaction,
//     one secrets.rotate event; then KEYFILE.old is removed and the
//     database file purged of the old ciphertext.
//
// A crash before 3 commits leaves KEYFILE (new key) and KEYFILE.old (the
// key every value is still sealed with); values name their key by id, so
// the next start (or rotate-key) opens them with the old key and finishes
// step 3. A crash after it leaves only a KEYFILE.old that nothing needs,
// which the next start removes.
func RotateKey(ctx context.Context, dataDir string, o Options) (Rotation, error) {
	s, err := OpenWith(dataDir, o)
	if err != nil {
		return Rotation{}, err
	}
	defer s.Close()
	r := Rotation{From: s.keys.ID(), KeyFile: s.keys.Path()}
	next, err := s.keys.Rotate()
	if err != nil {
		return r, err
	}
	s.keys = next
	r.To = next.ID()
	if err := s.sealAll(ctx, true); err != nil {
		return r, fmt.Errorf("re-seal under key %s (the next start finishes the rotation, since %s%s keeps the old key): %w",
			r.To, r.KeyFile, secrets.OldSuffix, err)
	}
	return r, nil
}
