package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ErrHostTaken is returned by PutReplicaSet when another replica set holds
// the global host.
var ErrHostTaken = errors.New("global host held by another replica set")

const replicaSetCols = "name, space, app, global_host, peers, version, created_at, updated_at"

func scanReplicaSet(row scanner) (paved.ReplicaSetRecord, error) {
	var r paved.ReplicaSetRecord
	var peers, created, updated string
	err := row.Scan(&r.Name, &r.Space, &r.App, &r.GlobalHost, &peers, &r.Version, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(peers), &r.Peers); err != nil {
		return r, fmt.Errorf("replica set %s: peers: %w", r.Name, err)
	}
	r.CreatedAt, r.UpdatedAt = parseTS(created), parseTS(updated)
	return r, nil
}

// PutReplicaSet creates or replaces a replica-set record. A global host
// that another name holds is refused with ErrHostTaken: the check is the
// table's UNIQUE key, inside the write, so two concurrent puts cannot both
// win.
func (s *SQLite) PutReplicaSet(ctx context.Context, actor string, r paved.ReplicaSetRecord) (paved.ReplicaSetRecord, error) {
	t := ts(now())
	peers := r.Peers
	if peers == nil {
		peers = []paved.Peer{}
	}
	detail := fmt.Sprintf("%s → %s/%s, %d peers", r.GlobalHost, r.Space, r.App, len(r.Peers))
	err := s.inTx(ctx, event(actor, "replica_set.put", "replica_set/"+r.Name, detail), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO replica_sets(`+replicaSetCols+`) VALUES(?,?,?,?,?,1,?,?)
			ON CONFLICT(name) DO UPDATE SET space = excluded.space, app = excluded.app, global_host = excluded.global_host,
			peers = excluded.peers, version = version + 1, updated_at = excluded.updated_at`,
			r.Name, r.Space, r.App, r.GlobalHost, mustJSON(peers), t, t)
		if isUniqueViolation(err) {
			return ErrHostTaken
		}
		return err
	})
	if err != nil {
		return paved.ReplicaSetRecord{}, err
	}
	return s.GetReplicaSet(ctx, r.Name)
}

// GetReplicaSet reads one record.
func (s *SQLite) GetReplicaSet(ctx context.Context, name string) (paved.ReplicaSetRecord, error) {
	return scanReplicaSet(s.db.QueryRowContext(ctx, "SELECT "+replicaSetCols+" FROM replica_sets WHERE name = ?", name))
}

// ReplicaSetByHost reads the record holding a global host.
func (s *SQLite) ReplicaSetByHost(ctx context.Context, host string) (paved.ReplicaSetRecord, error) {
	return scanReplicaSet(s.db.QueryRowContext(ctx, "SELECT "+replicaSetCols+" FROM replica_sets WHERE global_host = ?", host))
}

// ListReplicaSets lists every record by name.
func (s *SQLite) ListReplicaSets(ctx context.Context) ([]paved.ReplicaSetRecord, error) {
	return queryAll(ctx, s.db, scanReplicaSet, "SELECT "+replicaSetCols+" FROM replica_sets ORDER BY name")
}

// DeleteReplicaSet removes a record (ErrNotFound when there is none).
func (s *SQLite) DeleteReplicaSet(ctx context.Context, actor, name string) error {
	return s.inTx(ctx, event(actor, "replica_set.delete", "replica_set/"+name, ""), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM replica_sets WHERE name = ?", name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}
