package store_test

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/secrets"
	"github.com/pavedroad/terraform-provider-paved/internal/store"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// secretValue is a fresh value no file can hold by chance.
func secretValue(t *testing.T, label string) string {
	t.Helper()
	b := make([]byte, 12)
	rand.Read(b)
	return label + "-" + hex.EncodeToString(b)
}

// leaks lists which values (in plain, base64 or hex form) occur in the raw
// bytes of any file under dir, secrets.key (and its .old) excepted: what a
// copy of the data dir without the key file would give away.
func leaks(t *testing.T, dir string, values []string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), store.KeyFile) {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range values {
			for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawStdEncoding.EncodeToString([]byte(v)),
				base64.URLEncoding.EncodeToString([]byte(v)), hex.EncodeToString([]byte(v)), strings.ToUpper(hex.EncodeToString([]byte(v)))} {
				if bytes.Contains(data, []byte(form)) {
					found = append(found, v+" in "+filepath.Base(path))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// dataFiles names the files of the data dir, to show that the -wal file
// was there when it was searched.
func dataFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "paved.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// storedSecretEnv is what the database holds as the secret_env of every
// app and release.
func storedSecretEnv(t *testing.T, dir string) []string {
	t.Helper()
	raw := rawDB(t, dir)
	defer raw.Close()
	rows, err := raw.Query(`SELECT json_extract(spec, '$.secret_env') FROM apps WHERE json_type(spec, '$.secret_env') IS NOT NULL
		UNION ALL SELECT json_extract(config, '$.secret_env') FROM releases WHERE json_type(config, '$.secret_env') IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func eventsWith(t *testing.T, s store.Store, action string) []paved.Event {
	t.Helper()
	evs, err := s.ListEvents(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []paved.Event
	for _, e := range evs {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// TestSecretsAreNotInTheDataFiles: secret_env values set through every
// store write that takes them are in no file of the data dir but the key,
// neither while the store is open (the -wal file) nor after, and reads
// still give them back in plain.
func TestSecretsAreNotInTheDataFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustSpace(t, s, "prod")
	vals := map[string]string{}
	for _, k := range []string{"DB_PASSWORD", "API_KEY", "STRIPE", "REPLACED"} {
		vals[k] = secretValue(t, strings.ToLower(k))
	}
	spec := appSpec("web")
	spec.SecretEnv = map[string]string{"DB_PASSWORD": vals["DB_PASSWORD"], "REPLACED": vals["REPLACED"]}
	a, err := s.CreateApp(ctx, "tester", "prod", spec)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(a.Spec.SecretEnv, spec.SecretEnv) {
		t.Fatalf("CreateApp read back %v", a.Spec.SecretEnv)
	}
	spec.SecretEnv = map[string]string{"DB_PASSWORD": vals["DB_PASSWORD"], "API_KEY": vals["API_KEY"]}
	if _, err := s.UpdateApp(ctx, "tester", "prod", spec, 0); err != nil {
		t.Fatal(err)
	}
	rel, err := s.CreateRelease(ctx, "tester", "prod", "web", paved.ReleaseConfig{Droplet: "d", Command: "./server",
		SecretEnv: map[string]string{"STRIPE": vals["STRIPE"], "DB_PASSWORD": vals["DB_PASSWORD"]}})
	if err != nil {
		t.Fatal(err)
	}
	// An app without secrets and one with an empty map: nil and {} differ
	// to an update, so the store keeps the difference.
	mustApp(t, s, "prod", "plain")
	empty := appSpec("empty")
	empty.SecretEnv = map[string]string{}
	if _, err := s.CreateApp(ctx, "tester", "prod", empty); err != nil {
		t.Fatal(err)
	}

	all := []string{vals["DB_PASSWORD"], vals["API_KEY"], vals["STRIPE"], vals["REPLACED"]}
	if got := leaks(t, dir, all); len(got) > 0 {
		t.Errorf("with the store open (files %v): found %v", dataFiles(t, dir), got)
	}
	if _, err := os.Stat(filepath.Join(dir, "paved.db-wal")); err != nil {
		t.Errorf("no -wal file was searched: %v", err)
	}

	// Reads give the plain values back.
	got, err := s.GetApp(ctx, "prod", "web")
	if err != nil || !maps.Equal(got.Spec.SecretEnv, spec.SecretEnv) {
		t.Fatalf("GetApp: %v %v", got.Spec.SecretEnv, err)
	}
	list, err := s.ListApps(ctx, "prod")
	if err != nil || len(list) != 3 {
		t.Fatalf("ListApps: %v %v", list, err)
	}
	for _, a := range list {
		switch a.Spec.Name {
		case "plain":
			if a.Spec.SecretEnv != nil {
				t.Errorf("no secret_env became %#v", a.Spec.SecretEnv)
			}
		case "empty":
			if a.Spec.SecretEnv == nil || len(a.Spec.SecretEnv) != 0 {
				t.Errorf("an empty secret_env became %#v", a.Spec.SecretEnv)
			}
		}
	}
	r, err := s.GetRelease(ctx, "prod", "web", rel.Number)
	if err != nil || r.Config.SecretEnv["STRIPE"] != vals["STRIPE"] {
		t.Fatalf("GetRelease: %v %v", r.Config.SecretEnv, err)
	}
	if rels, err := s.ListReleases(ctx, "prod", "web"); err != nil || rels[0].Config.SecretEnv["DB_PASSWORD"] != vals["DB_PASSWORD"] {
		t.Fatalf("ListReleases: %v %v", rels, err)
	}

	s.Close()
	if got := leaks(t, dir, all); len(got) > 0 {
		t.Errorf("after Close (files %v): found %v", dataFiles(t, dir), got)
	}
	kr, _, err := secrets.LoadKeyring(filepath.Join(dir, store.KeyFile), false)
	if err != nil {
		t.Fatal(err)
	}
	stored := storedSecretEnv(t, dir)
	if len(stored) != 3 {
		t.Fatalf("stored secret_env values: %q", stored)
	}
	for _, v := range stored {
		if id, ok := secrets.SealedKeyID(v); !ok || id != kr.ID() {
			t.Errorf("stored secret_env %q is not sealed with key %s", v, kr.ID())
		}
	}
}

// TestPlainSecretsAreSealedOnFirstStart: a data dir written by the
// previous version (plain secret_env objects, one of them left in a free
// page by a delete) is sealed by the first Open, in one transaction with
// one event, and nothing of the plain text stays in the files.
func TestPlainSecretsAreSealedOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustSpace(t, s, "prod")
	s.Close()
	os.Remove(filepath.Join(dir, store.KeyFile)) // the previous version had none

	web, gone, rel := secretValue(t, "web"), secretValue(t, "deleted"), secretValue(t, "release")
	old := func(name string, env map[string]string) string {
		spec := appSpec(name)
		spec.SecretEnv = env
		b, _ := json.Marshal(spec) // exactly what the previous version stored
		return string(b)
	}
	cfg, _ := json.Marshal(paved.ReleaseConfig{Droplet: "d", Command: "./server", SecretEnv: map[string]string{"K": rel}})
	raw := rawDB(t, dir)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO apps(space, name, spec, version, generation, created_at, updated_at) VALUES('prod', ?, ?, 1, 1, '', '')",
			[]any{"web", old("web", map[string]string{"PASSWORD": web})}},
		{"INSERT INTO apps(space, name, spec, version, generation, created_at, updated_at) VALUES('prod', ?, ?, 1, 1, '', '')",
			// PAD sorts first and makes the row span overflow pages: its
			// PASSWORD lands in a page the delete puts on the free list,
			// which no later write touches.
			[]any{"gone", old("gone", map[string]string{"PAD": strings.Repeat("x", 10000), "PASSWORD": gone})}},
		{"INSERT INTO apps(space, name, spec, version, generation, created_at, updated_at) VALUES('prod', ?, ?, 1, 1, '', '')",
			[]any{"empty", old("empty", map[string]string{})}},
		{"INSERT INTO releases(space, app, number, config, status, actor, created_at) VALUES('prod', 'web', 1, ?, 'good', 'tester', '')",
			[]any{string(cfg)}},
		{"DELETE FROM apps WHERE name = 'gone'", nil},
	} {
		if _, err := raw.Exec(q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	raw.Close()
	values := []string{web, gone, rel}
	if got := leaks(t, dir, values); len(got) < 3 {
		t.Fatalf("the old-format data dir should hold all three values in plain (the test would prove nothing): %v", got)
	}

	s2 := openStore(t, dir)
	a, err := s2.GetApp(ctx, "prod", "web")
	if err != nil || a.Spec.SecretEnv["PASSWORD"] != web {
		t.Fatalf("GetApp after sealing: %v %v", a.Spec.SecretEnv, err)
	}
	e, err := s2.GetApp(ctx, "prod", "empty")
	if err != nil || e.Spec.SecretEnv == nil || len(e.Spec.SecretEnv) != 0 {
		t.Fatalf("the empty secret_env after sealing: %#v %v", e.Spec.SecretEnv, err)
	}
	r, err := s2.GetRelease(ctx, "prod", "web", 1)
	if err != nil || r.Config.SecretEnv["K"] != rel {
		t.Fatalf("GetRelease after sealing: %v %v", r.Config.SecretEnv, err)
	}
	evs := eventsWith(t, s2, "secrets.seal")
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "3 apps and releases") {
		t.Fatalf("secrets.seal events: %+v", evs)
	}
	if got := leaks(t, dir, values); len(got) > 0 {
		t.Errorf("after sealing (files %v): found %v", dataFiles(t, dir), got)
	}
	s2.Close()
	for _, v := range storedSecretEnv(t, dir) {
		if _, ok := secrets.SealedKeyID(v); !ok {
			t.Errorf("still plain: %q", v)
		}
	}
	s3 := openStore(t, dir)
	if evs := eventsWith(t, s3, "secrets.seal"); len(evs) != 1 {
		t.Errorf("a second start sealed again: %+v", evs)
	}
}

func sealedApp(t *testing.T, s store.Store, name string, env map[string]string) {
	t.Helper()
	spec := appSpec(name)
	spec.SecretEnv = env
	if _, err := s.CreateApp(ctx, "tester", "prod", spec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRelease(ctx, "tester", "prod", name, paved.ReleaseConfig{Droplet: "d", SecretEnv: env}); err != nil {
		t.Fatal(err)
	}
}

// TestRotateKey: rotate-key re-seals every value under a new key, in one
// transaction with one event, removes the old key file and leaves no
// ciphertext of the old key in the data files.
func TestRotateKey(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, store.KeyFile)
	s := openStore(t, dir)
	mustSpace(t, s, "prod")
	v1, v2 := secretValue(t, "one"), secretValue(t, "two")
	sealedApp(t, s, "a", map[string]string{"X": v1})
	// A large value spans overflow pages, which a re-sealing UPDATE puts on
	// the free list with the old ciphertext in them.
	sealedApp(t, s, "b", map[string]string{"Y": v2, "PAD": strings.Repeat("p", 10000)})
	// A deleted app's ciphertext stays in free pages, under the old key,
	// unless the rotation purges the file.
	sealedApp(t, s, "c", map[string]string{"Z": secretValue(t, "deleted"), "PAD": strings.Repeat("q", 10000)})
	s.Close()
	before := storedSecretEnv(t, dir)
	s = openStore(t, dir)
	if err := s.DeleteApp(ctx, "tester", "prod", "c", 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	oldKey, _ := os.ReadFile(keyPath)

	rot, err := store.RotateKey(ctx, dir, store.Options{})
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	newKey, _ := os.ReadFile(keyPath)
	if rot.From == rot.To || bytes.Equal(oldKey, newKey) || rot.KeyFile != keyPath {
		t.Fatalf("rotation %+v did not change the key", rot)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new key file: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat(keyPath + secrets.OldSuffix); !os.IsNotExist(err) {
		t.Fatalf("the old key file survived the rotation: %v", err)
	}
	for _, v := range storedSecretEnv(t, dir) {
		if id, _ := secrets.SealedKeyID(v); id != rot.To {
			t.Errorf("value %q is not under the new key %s", v, rot.To)
		}
	}
	// The old ciphertext is gone from the files too (VACUUM): a leaked old
	// key opens nothing.
	var pieces []string // a long value is split over pages: look for its pieces
	for _, v := range before {
		for i := 0; i < len(v); i += 40 {
			pieces = append(pieces, v[i:min(i+40, len(v))])
		}
	}
	if got := leaks(t, dir, pieces); len(got) > 0 {
		t.Errorf("old ciphertext left after the rotation: %d pieces, e.g. %v", len(got), got[0])
	}
	s2 := openStore(t, dir)
	for name, want := range map[string]string{"a": v1, "b": v2} {
		a, err := s2.GetApp(ctx, "prod", name)
		r, rerr := s2.GetRelease(ctx, "prod", name, 1)
		if err != nil || rerr != nil || !slicesHave(a.Spec.SecretEnv, want) || !slicesHave(r.Config.SecretEnv, want) {
			t.Errorf("%s after rotation: %v %v %v %v", name, a.Spec.SecretEnv, r.Config.SecretEnv, err, rerr)
		}
	}
	evs := eventsWith(t, s2, "secrets.rotate")
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "4 apps and releases from key "+rot.From+" to key "+rot.To) {
		t.Errorf("secrets.rotate events: %+v", evs)
	}
}

func slicesHave(env map[string]string, v string) bool {
	for _, x := range env {
		if x == v {
			return true
		}
	}
	return false
}

// TestRotationCrashRecovery: each state a crash in the middle of a
// rotation can leave opens with every secret, and the next start finishes
// the rotation.
func TestRotationCrashRecovery(t *testing.T) {
	setup := func(t *testing.T) (dir, keyPath, value string) {
		dir = t.TempDir()
		s := openStore(t, dir)
		mustSpace(t, s, "prod")
		value = secretValue(t, "v")
		sealedApp(t, s, "web", map[string]string{"K": value})
		s.Close()
		return dir, filepath.Join(dir, store.KeyFile), value
	}
	check := func(t *testing.T, dir, value, wantID string, rotateEvents int) {
		t.Helper()
		s := openStore(t, dir)
		a, err := s.GetApp(ctx, "prod", "web")
		if err != nil || a.Spec.SecretEnv["K"] != value {
			t.Fatalf("after the restart: %v %v", a.Spec.SecretEnv, err)
		}
		if n := len(eventsWith(t, s, "secrets.rotate")); n != rotateEvents {
			t.Errorf("%d secrets.rotate events, want %d", n, rotateEvents)
		}
		s.Close()
		for _, p := range []string{".old", ".tmp", ".old.tmp"} {
			if _, err := os.Stat(filepath.Join(dir, store.KeyFile+p)); !os.IsNotExist(err) {
				t.Errorf("%s%s is left: %v", store.KeyFile, p, err)
			}
		}
		for _, v := range storedSecretEnv(t, dir) {
			if id, _ := secrets.SealedKeyID(v); id != wantID {
				t.Errorf("value %q not under key %s", v, wantID)
			}
		}
	}

	t.Run("after the new key file, before re-sealing", func(t *testing.T) {
		dir, keyPath, value := setup(t)
		kr, _, err := secrets.LoadKeyring(keyPath, false)
		if err != nil {
			t.Fatal(err)
		}
		next, err := kr.Rotate() // the key files change; the database not yet
		if err != nil {
			t.Fatal(err)
		}
		check(t, dir, value, next.ID(), 1)
	})
	t.Run("between keeping the old key and writing the new one", func(t *testing.T) {
		dir, keyPath, value := setup(t)
		key, _ := os.ReadFile(keyPath)
		os.WriteFile(keyPath+".old", key, 0o600)
		os.WriteFile(keyPath+".tmp", []byte("half a new ke"), 0o600)
		kr, _, _ := secrets.LoadKeyring(keyPath, false)
		check(t, dir, value, kr.ID(), 0)
	})
	t.Run("after the commit, before removing the old key", func(t *testing.T) {
		dir, keyPath, value := setup(t)
		old, _ := os.ReadFile(keyPath)
		rot, err := store.RotateKey(ctx, dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(keyPath+".old", old, 0o600)
		check(t, dir, value, rot.To, 1)
	})
}

// TestDataDirLock: while a store has the data dir, neither another Open
// nor a rotation can take it; after Close both can.
func TestDataDirLock(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, err := store.Open(dir); err == nil || !strings.Contains(err.Error(), "in use by another paved process") {
		t.Fatalf("a second Open of a held data dir: %v", err)
	}
	if _, err := store.RotateKey(ctx, dir, store.Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a rotation of a held data dir: %v", err)
	}
	s.Close()
	if _, err := store.RotateKey(ctx, dir, store.Options{}); err != nil {
		t.Fatalf("a rotation after Close: %v", err)
	}
}

// TestSecretsKeyFileOption: an explicit key file is used (nothing is
// created in the data dir), a bad one refuses the start with one line
// naming the flag, and a database sealed with another key is refused.
func TestSecretsKeyFileOption(t *testing.T) {
	dir, keys := t.TempDir(), t.TempDir()
	mine := filepath.Join(keys, "paved.key")
	os.WriteFile(mine, []byte(strings.Repeat("5a", 32)+"\n"), 0o600)
	s, err := store.OpenWith(dir, store.Options{SecretsKeyFile: mine})
	if err != nil {
		t.Fatal(err)
	}
	mustSpace(t, s, "prod")
	sealedApp(t, s, "web", map[string]string{"K": "value-1234"})
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, store.KeyFile)); !os.IsNotExist(err) {
		t.Errorf("a key was created in the data dir although a key file was given: %v", err)
	}

	for name, tc := range map[string]struct {
		file, content string
		mode          os.FileMode
		want          string
	}{
		"missing":       {"nope.key", "", 0, "no such file"},
		"world":         {"world.key", strings.Repeat("5a", 32), 0o644, "readable by group or others"},
		"short":         {"short.key", "5a5a", 0o600, "want a 32-byte key"},
		"another key":   {"other.key", strings.Repeat("a5", 32), 0o600, "paved.db holds secrets sealed with key"},
		"default, lost": {"", "", 0, "there was no"},
	} {
		path := filepath.Join(keys, tc.file)
		if tc.file == "" {
			path = "" // the default, DATA/secrets.key, does not exist: a new key cannot open the values
		} else if tc.content != "" {
			os.WriteFile(path, []byte(tc.content), 0o600)
			os.Chmod(path, tc.mode)
		}
		_, err := store.OpenWith(dir, store.Options{SecretsKeyFile: path})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), secrets.KeyFlag) ||
			strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line with %s and %q", name, err, secrets.KeyFlag, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, store.KeyFile)); !os.IsNotExist(err) {
		t.Errorf("a refused start left a new key in the data dir: %v", err)
	}
	s, err = store.OpenWith(dir, store.Options{SecretsKeyFile: mine})
	if err != nil {
		t.Fatalf("the right key after the refusals: %v", err)
	}
	if a, err := s.GetApp(ctx, "prod", "web"); err != nil || a.Spec.SecretEnv["K"] != "value-1234" {
		t.Fatalf("GetApp: %v %v", a.Spec.SecretEnv, err)
	}
	s.Close()
}
