package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// ErrRouteTaken is what a write of an app's routes fails with (as a
// *RouteConflict) when another app holds one of them, or another space
// holds the route's host.
var ErrRouteTaken = errors.New("route taken")

// RouteConflict says which route of an app's spec could not be claimed and
// who holds it. errors.Is(err, ErrRouteTaken) holds for it.
type RouteConflict struct {
	Index int         // the route's index in the spec's routes
	Route paved.Route // as the spec spells it
	Space string      // the holder: the space owning the route or its host
	App   string      // an app of Space serving the route (or the host)
	// Host is true when the route itself is free but its host belongs to
	// another space: every path of a host belongs to one space.
	Host bool
}

func (e *RouteConflict) Error() string {
	if e.Host {
		return fmt.Sprintf("routes[%d]: host %s is already used by app %s/%s", e.Index, e.Route.Host, e.Space, e.App)
	}
	return fmt.Sprintf("routes[%d]: route %s is already served by app %s/%s", e.Index, e.Route, e.Space, e.App)
}

// Unwrap makes errors.Is(err, ErrRouteTaken) hold.
func (e *RouteConflict) Unwrap() error { return ErrRouteTaken }

// RouteClaim is one row of the routes table: a route as the router keys it
// and the app holding it.
type RouteClaim struct {
	Host, Path string // RouteKey's form
	Space, App string
}

// RouteKey is the form a route is owned in, the router's routing key: the
// host ASCII lower-cased without a port or trailing dots (router
// normalizeHost), the path without trailing slashes and with a leading one
// ("" for "/", router normalizePrefix). Two routes with one key are one
// route to the router.
func RouteKey(r paved.Route) (host, path string) {
	host = r.Host
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			host = host[:i+1]
		}
	} else {
		if i := strings.IndexByte(host, ':'); i >= 0 {
			host = host[:i]
		}
		host = strings.TrimRight(host, ".")
	}
	b := []byte(host)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	path = strings.TrimRight(r.Path, "/")
	if path != "" && path[0] != '/' {
		path = "/" + path
	}
	return string(b), path
}

// ListRouteClaims lists every claimed route, by host and path.
func (s *SQLite) ListRouteClaims(ctx context.Context) ([]RouteClaim, error) {
	return queryAll(ctx, s.db, func(row scanner) (RouteClaim, error) {
		var c RouteClaim
		err := row.Scan(&c.Host, &c.Path, &c.Space, &c.App)
		return c, err
	}, "SELECT host, path, space, app FROM routes ORDER BY host, path")
}

// claimRoutes makes the app's claims exactly routes, in the transaction
// that writes the app (after its row exists): the claims it no longer
// lists are released, hosts left without routes lose their owner, and a
// route held by another app (or under a host of another space) fails the
// write with a *RouteConflict.
func claimRoutes(ctx context.Context, tx *sql.Tx, space, app string, routes []paved.Route) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM routes WHERE space = ? AND app = ?", space, app); err != nil {
		return err
	}
	for i, r := range routes {
		if err := claimRoute(ctx, tx, space, app, r); err != nil {
			var rc *RouteConflict
			if errors.As(err, &rc) {
				rc.Index = i
			}
			return err
		}
	}
	return releaseHosts(ctx, tx, space)
}

func claimRoute(ctx context.Context, tx *sql.Tx, space, app string, r paved.Route) error {
	host, path := RouteKey(r)
	var holderSpace, holderApp string
	err := tx.QueryRowContext(ctx, "SELECT space, app FROM routes WHERE host = ? AND path = ?", host, path).Scan(&holderSpace, &holderApp)
	switch {
	case err == nil && holderSpace == space && holderApp == app:
		return nil // listed twice in one spec: one claim
	case err == nil:
		return &RouteConflict{Route: r, Space: holderSpace, App: holderApp}
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	var owner string
	err = tx.QueryRowContext(ctx, "SELECT space FROM route_hosts WHERE host = ?", host).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, "INSERT INTO route_hosts(host, space) VALUES(?, ?)", host, space); err != nil {
			return err
		}
	case err != nil:
		return err
	case owner != space:
		rc := &RouteConflict{Route: r, Space: owner, Host: true}
		if err := tx.QueryRowContext(ctx, "SELECT app FROM routes WHERE host = ? ORDER BY path LIMIT 1", host).Scan(&rc.App); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return rc
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO routes(host, path, space, app) VALUES(?, ?, ?, ?)", host, path, space, app)
	if isUniqueViolation(err) || err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed") {
		// The checks above ran under the write lock, so this is only
		// reached by a store without one: the keys still refuse it.
		return &RouteConflict{Route: r, Space: holderSpace, App: holderApp}
	}
	return err
}

// releaseHosts drops the ownership of the space's hosts that no route uses
// any more, so another space may take them.
func releaseHosts(ctx context.Context, tx *sql.Tx, space string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM route_hosts WHERE space = ?
		AND NOT EXISTS (SELECT 1 FROM routes WHERE routes.host = route_hosts.host)`, space)
	return err
}

// backfillRoutes is the Go half of migration 0009: it claims the routes of
// every app there is, oldest app first. Data from before the migration may
// hold what the table now refuses (two apps on one route, one host in two
// spaces); the later claim is then left out, the app keeps the route in its
// spec, and a route.unclaimed event says so: the app's next update must
// drop the route or fails with ErrRouteTaken.
func backfillRoutes(tx *sql.Tx) error {
	ctx := context.Background()
	type appRoutes struct {
		space, name string
		routes      []paved.Route
	}
	rows, err := tx.QueryContext(ctx, "SELECT space, name, spec FROM apps ORDER BY created_at, space, name")
	if err != nil {
		return err
	}
	var apps []appRoutes
	for rows.Next() {
		var a appRoutes
		var spec string
		if err := rows.Scan(&a.space, &a.name, &spec); err != nil {
			rows.Close()
			return err
		}
		var only struct {
			Routes []paved.Route `json:"routes"`
		}
		if err := json.Unmarshal([]byte(spec), &only); err != nil {
			rows.Close()
			return fmt.Errorf("app %s/%s: %w", a.space, a.name, err)
		}
		a.routes = only.Routes
		apps = append(apps, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, a := range apps {
		for i, r := range a.routes {
			err := claimRoute(ctx, tx, a.space, a.name, r)
			var rc *RouteConflict
			if errors.As(err, &rc) {
				rc.Index = i
				err = appendEvent(ctx, tx, paved.Event{Actor: "cell", Action: "route.unclaimed", Object: appObject(a.space, a.name),
					Detail: rc.Error() + "; the app keeps it in its spec but does not hold it, and its next update must drop it"})
			}
			if err != nil {
				return err
			}
		}
		if err := releaseHosts(ctx, tx, a.space); err != nil {
			return err
		}
	}
	return nil
}
