package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrUIDsExhausted: every uid of the configured range is taken.
var ErrUIDsExhausted = errors.New("store: the range of space uids is used up")

// SpaceUID returns the unprivileged uid of space, allocating the next one
// of [base, base+size) on first use. Allocation and lookup are one
// transaction, so two concurrent first uses agree. A uid is never handed
// out twice, even after its space is deleted.
func (s *SQLite) SpaceUID(ctx context.Context, space string, base, size int) (int, error) {
	if base <= 0 || size <= 0 {
		return 0, fmt.Errorf("store: space uid range %d+%d must start above 0", base, size)
	}
	var uid int
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT uid FROM space_users WHERE space = ?", space).Scan(&uid)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var last sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT MAX(uid) FROM space_users WHERE uid >= ? AND uid < ?", base, base+size).Scan(&last); err != nil {
			return err
		}
		uid = base
		if last.Valid {
			uid = int(last.Int64) + 1
		}
		if uid >= base+size {
			return fmt.Errorf("%w (%d uids from %d)", ErrUIDsExhausted, size, base)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO space_users(space, uid) VALUES(?, ?)", space, uid)
		return err
	})
	return uid, err
}
