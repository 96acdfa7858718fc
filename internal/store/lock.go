package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// LockFile is the data dir's lock: whoever holds it owns the data dir.
const LockFile = "paved.lock"

// lockDataDir takes an exclusive flock on DATA/paved.lock for as long as
// the store is open, and writes the holder's pid in it. One data dir is
// one process's: two cells on it would kill each other's instances as
// orphans, and `paved server rotate-key` must not re-seal the secrets
// under a running cell (which would go on sealing with the retired key).
// The kernel drops the lock when the process ends, however it ends, so
// a cell killed with -9 leaves nothing to clean up. Go opens files
// close-on-exec, so instances and builds never inherit it.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder, _ := os.ReadFile(path)
			return nil, fmt.Errorf("data dir %s is in use by another paved process (pid %s holds %s): stop it first",
				dir, strings.TrimSpace(string(holder)), path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// The pid only names the holder in a second process's error: best effort.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	}
	return f, nil
}
