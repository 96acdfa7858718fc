package cell

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// The cell's own files are its user's alone: the data dir is 0700, and the
// database, its WAL and shared-memory files and the admin token are 0600.
// Start makes them so on every start (an older cell created them 0755 and
// 0644) and creates new ones with those modes whatever the umask says.
const (
	privateDirMode  fs.FileMode = 0o700
	privateFileMode fs.FileMode = 0o600
)

// storeFiles are the SQLite files in the data dir (internal/store).
var storeFiles = []string{"paved.db", "paved.db-wal", "paved.db-shm"}

// cellUID is the user the cell's files must belong to (a variable for the
// tests, which run as one user).
var cellUID = os.Geteuid

// privateDataDir creates the data dir (0700) or makes an existing one 0700;
// it must belong to the cell's user.
func privateDataDir(dir string) error {
	if err := os.MkdirAll(dir, privateDirMode); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	return makePrivate(dir, privateDirMode)
}

// makePrivate sets path's mode to exactly mode after checking that it
// belongs to the cell's user. A missing path is no error.
func makePrivate(path string, mode fs.FileMode) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if uid, ok := fileOwner(fi); ok && uid != cellUID() {
		return fmt.Errorf("%s belongs to uid %d, not to the user the cell runs as (uid %d): chown it to that user", path, uid, cellUID())
	}
	if fi.Mode().Perm() != mode {
		if err := os.Chmod(path, mode); err != nil {
			return fmt.Errorf("make %s private: %w", path, err)
		}
	}
	return nil
}

// privateStoreFiles makes the database files 0600, creating an empty
// paved.db (0600) if there is none: SQLite gives the -wal and -shm files it
// creates the mode of the database file, so they are born 0600 too.
func privateStoreFiles(dataDir string) error {
	db := filepath.Join(dataDir, storeFiles[0])
	f, err := os.OpenFile(db, os.O_RDWR|os.O_CREATE|os.O_EXCL, privateFileMode)
	switch {
	case err == nil:
		err = f.Chmod(privateFileMode) // the umask may have taken bits off
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("create %s: %w", db, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create %s: %w", db, err)
	}
	for _, name := range storeFiles {
		if err := makePrivate(filepath.Join(dataDir, name), privateFileMode); err != nil {
			return err
		}
	}
	return nil
}

// writePrivateFile writes data to a new or existing file with mode 0600,
// whatever the umask.
func writePrivateFile(path string, data []byte) error {
	if err := makePrivate(path, privateFileMode); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, privateFileMode)
	if err != nil {
		return err
	}
	err = f.Chmod(privateFileMode)
	if _, werr := f.Write(data); err == nil {
		err = werr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// tightenSecretFile takes group and other permissions off a secret the
// operator names (--token-file, --tls-key), which may live outside the data
// dir. What cannot be fixed there (a read-only mount, a file of another
// user) is logged as a warning rather than stopping the cell.
func tightenSecretFile(log *slog.Logger, flag, path string) {
	fi, err := os.Stat(path)
	if err != nil {
		return // reading it reports the error
	}
	if uid, ok := fileOwner(fi); ok && uid != cellUID() {
		log.Warn("a secret file belongs to another user than the cell's", "flag", flag, "path", path, "owner_uid", uid, "cell_uid", cellUID())
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return
	}
	if err := os.Chmod(path, perm&^0o077); err != nil {
		log.Warn("a secret file is readable by other users and could not be made private; chmod 600 it", "flag", flag, "path", path,
			"mode", fmt.Sprintf("%#o", perm), "err", err)
		return
	}
	log.Info("made a secret file private (it was readable by other users)", "flag", flag, "path", path,
		"was", fmt.Sprintf("%#o", perm), "now", fmt.Sprintf("%#o", perm&^0o077))
}
