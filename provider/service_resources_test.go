package provider

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/jackc/pgx/v5"

	"github.com/pavedroad/terraform-provider-paved/internal/broker/postgres"
	"github.com/pavedroad/terraform-provider-paved/internal/osb"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/pgtest"
	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
)

// envValues returns the value of variable key in every live process that
// has it (the cell's instances are the test's grandchildren).
func envValues(key string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(b), "\x00") {
			if v, ok := strings.CutPrefix(kv, key+"="); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

// startPostgresBroker runs paved's PostgreSQL broker on a real PostgreSQL
// server, over real HTTP on loopback.
func startPostgresBroker(t *testing.T) (*pgtest.Server, string) {
	t.Helper()
	pg := pgtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := postgres.New(ctx, postgres.Options{AdminDSN: pg.DSN("postgres")})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(osb.Handler(b, osb.HandlerOptions{Username: "paved", Password: "broker-s3cret"}))
	t.Cleanup(func() { srv.Close(); b.Close() })
	return pg, srv.URL
}

func servicesConfig(c *testcell.Cell, src, brokerURL, plan string) string {
	return appConfig(c, src, "hello", "") + fmt.Sprintf(`
resource "paved_service_broker" "pg" {
  name                = "pg"
  url                 = %q
  username            = "paved"
  password_wo         = "broker-s3cret"
  password_wo_version = "1"
}

data "paved_service_offerings" "all" {
  depends_on = [paved_service_broker.pg]
}

resource "paved_service_instance" "db" {
  space    = paved_space.shop.name
  name     = "db"
  offering = paved_service_broker.pg.offerings[0]
  plan     = %q
}

resource "paved_service_binding" "web_db" {
  space    = paved_space.shop.name
  name     = "web-db"
  instance = paved_service_instance.db.name
  app      = paved_app.web.name
}
`, brokerURL, plan)
}

// TestAccServices is the life cycle of a broker, an instance and a binding
// through the real CLI, on a real cell and paved's PostgreSQL broker:
// apply, the binding's credentials log in and write, an empty re-plan, a
// plan change in place, imports, and a destroy that drops the database.
func TestAccServices(t *testing.T) {
	accPreCheck(t)
	pg, brokerURL := startPostgresBroker(t)
	c := testcell.Start(t)
	src := helloSource(t)
	databases := func(want int) resource.TestCheckFunc {
		return func(*terraform.State) error {
			conn, err := pgx.Connect(context.Background(), pg.DSN("postgres"))
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			var n int
			if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname LIKE 'paved\\_%' AND datname != $1", postgres.StateDatabase).Scan(&n); err != nil {
				return err
			}
			if n != want {
				return fmt.Errorf("%d instance databases on the server, want %d", n, want)
			}
			return nil
		}
	}
	connLimit := func(want int) resource.TestCheckFunc {
		return func(*terraform.State) error {
			creds, err := c.Client.ServiceBindings.Credentials(context.Background(), "shop", "web-db")
			if err != nil {
				return err
			}
			conn, err := pgx.Connect(context.Background(), pg.DSN("postgres"))
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			var n int
			if err := conn.QueryRow(context.Background(), "SELECT datconnlimit FROM pg_database WHERE datname = $1", creds["database"]).Scan(&n); err != nil {
				return err
			}
			if n != want {
				return fmt.Errorf("connection limit %d, want %d", n, want)
			}
			return nil
		}
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             resource.ComposeAggregateTestCheckFunc(cellIsEmpty(c), databases(0)),
		Steps: []resource.TestStep{
			{
				Config: servicesConfig(c, src, brokerURL, "small"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_service_broker.pg", "offerings.0", "postgresql"),
					resource.TestCheckResourceAttr("data.paved_service_offerings.all", "offerings.0.name", "postgresql"),
					resource.TestCheckResourceAttr("data.paved_service_offerings.all", "offerings.0.plans.#", "2"),
					resource.TestCheckResourceAttr("paved_service_instance.db", "broker", "pg"),
					resource.TestCheckResourceAttrSet("paved_service_instance.db", "guid"),
					resource.TestCheckResourceAttrSet("paved_service_binding.web_db", "guid"),
					resource.TestCheckNoResourceAttr("paved_service_broker.pg", "password_wo"),
					databases(1),
					func(*terraform.State) error {
						creds, err := c.Client.ServiceBindings.Credentials(context.Background(), "shop", "web-db")
						if err != nil {
							return err
						}
						conn, err := pgx.Connect(context.Background(), creds["uri"].(string))
						if err != nil {
							return fmt.Errorf("log in with the binding's credentials: %w", err)
						}
						defer conn.Close(context.Background())
						_, err = conn.Exec(context.Background(), "CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
						return err
					},
				),
			},
			{
				Config:           servicesConfig(c, src, brokerURL, "small"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				Config: servicesConfig(c, src, brokerURL, "medium"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_service_instance.db", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("paved_service_binding.web_db", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_service_instance.db", "plan", "medium"),
					connLimit(50),
				),
			},
			{
				// The ephemeral credentials, given to a write-only attribute:
				// an app's secret_env, which its instance gets.
				Config: servicesConfig(c, src, brokerURL, "medium") + `
ephemeral "paved_service_credentials" "db" {
  space   = "shop"
  binding = paved_service_binding.web_db.name
}

resource "paved_app" "reader" {
  space              = paved_space.shop.name
  name               = "reader"
  source             = paved_app.web.source
  build              = "go build -o hello ."
  command            = "./hello"
  secret_env         = { DB_URI = ephemeral.paved_service_credentials.db.credentials["uri"], DB_PORT = ephemeral.paved_service_credentials.db.credentials["port"] }
  secret_env_version = "1"
}
`,
				Check: func(*terraform.State) error {
					creds, err := c.Client.ServiceBindings.Credentials(context.Background(), "shop", "web-db")
					if err != nil {
						return err
					}
					for k, want := range map[string]string{"DB_URI": creds["uri"].(string), "DB_PORT": fmt.Sprint(creds["port"])} {
						if !slices.Contains(envValues(k), want) {
							return fmt.Errorf("no instance has %s=%s from the ephemeral credentials", k, want)
						}
					}
					return nil
				},
			},
			{ResourceName: "paved_service_instance.db", ImportState: true, ImportStateId: "shop/db", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"timeouts"}},
			{ResourceName: "paved_service_binding.web_db", ImportState: true, ImportStateId: "shop/web-db", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"timeouts"}},
			{ResourceName: "paved_service_broker.pg", ImportState: true, ImportStateId: "pg", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"password_wo_version"}},
		},
	})
}

// TestAccUserProvidedService: a user-provided service bound to an app; a
// new credentials version reaches the app's instances; the credentials
// are never in state.
func TestAccUserProvidedService(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	src := helloSource(t)
	config := func(secret, version string) string {
		return appConfig(c, src, "hello", "") + fmt.Sprintf(`
resource "paved_user_provided_service" "legacy" {
  space                  = paved_space.shop.name
  name                   = "legacy-db"
  credentials_wo         = jsonencode({ uri = "mysql://u:%s@db.internal/app" })
  credentials_wo_version = %q
  tags                   = ["mysql"]
}

resource "paved_service_binding" "web_legacy" {
  space    = paved_space.shop.name
  name     = "web-legacy"
  instance = paved_user_provided_service.legacy.name
  app      = paved_app.web.name
}
`, secret, version)
	}
	hasVCAP := func(secret string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
				for _, v := range envValues("VCAP_SERVICES") {
					if strings.Contains(v, `"user-provided":[{`) && strings.Contains(v, secret) {
						return nil
					}
				}
			}
			return fmt.Errorf("no instance got the user-provided credentials with %s", secret)
		}
	}
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             cellIsEmpty(c),
		Steps: []resource.TestStep{
			{
				Config: config("first-secret", "1"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckNoResourceAttr("paved_user_provided_service.legacy", "credentials_wo"),
					resource.TestCheckResourceAttr("paved_user_provided_service.legacy", "tags.0", "mysql"),
					hasVCAP("first-secret"),
				),
			},
			{
				Config:           config("first-secret", "1"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{
				Config: config("second-secret", "2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_user_provided_service.legacy", plancheck.ResourceActionUpdate),
				}},
				Check: hasVCAP("second-secret"),
			},
			{ResourceName: "paved_user_provided_service.legacy", ImportState: true, ImportStateId: "shop/legacy-db", ImportStateVerify: true,
				ImportStateVerifyIgnore: []string{"credentials_wo_version"}},
		},
	})
}
