package provider

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// appConfig is a space and a hello app; extra goes inside the app block.
func appConfig(c *testcell.Cell, src, greeting, extra string) string {
	return appConfigEnv(c, src, fmt.Sprintf("{ GREETING = %q }", greeting), extra)
}

// appConfigEnv is appConfig with the env map written out.
func appConfigEnv(c *testcell.Cell, src, env, extra string) string {
	return providerConfig(c) + fmt.Sprintf(`
resource "paved_space" "shop" {
  name = "shop"
}

resource "paved_app" "web" {
  space     = paved_space.shop.name
  name      = "web"
  source    = %q
  build     = "go build -o hello ."
  command   = "./hello"
  instances = 2
  env       = %s
  routes    = ["web.shop.example.test"]
  secret_env         = { API_KEY = "s3cret-value-never-in-state" }
  secret_env_version = "1"
  health_check {
    type     = "http"
    path     = "/healthz"
    interval = "200ms"
    timeout  = "150ms"
  }
  %s
}
`, src, env, extra)
}

// get calls the app through the cell's router.
func get(t *testing.T, c *testcell.Cell, host string) (string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+c.RouterAddr+"/", nil)
	req.Host = host
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.Header.Get("X-Paved-Instance")
}

// answers checks the router serves the app with a greeting from a release.
func answers(t *testing.T, c *testcell.Cell, greeting string, release int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		for range 10 {
			body, inst := get(t, c, "web.shop.example.test")
			if !strings.HasPrefix(body, greeting) {
				return fmt.Errorf("router answered %q, want %q", body, greeting)
			}
			// A process instance is SPACE-web-RELEASE-…, a pod web-rRELEASE-….
			if !strings.Contains(inst, fmt.Sprintf("-web-%d-", release)) && !strings.HasPrefix(inst, fmt.Sprintf("web-r%d-", release)) {
				return fmt.Errorf("answered by instance %s, not release %d", inst, release)
			}
		}
		return nil
	}
}

// stateHasNo fails when the state file contains s anywhere.
func stateHasNo(s string) resource.TestCheckFunc {
	return func(st *terraform.State) error {
		for _, m := range st.Modules {
			for name, r := range m.Resources {
				for k, v := range r.Primary.Attributes {
					if strings.Contains(v, s) || strings.Contains(k, "secret_env.") {
						return fmt.Errorf("%s.%s holds a secret: %s", name, k, v)
					}
				}
			}
		}
		return nil
	}
}

// loadWhile sends requests to the app in the background until stop is
// called; a canary needs traffic for its error-rate gate.
func loadWhile(c *testcell.Cell) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+c.RouterAddr+"/", nil)
			req.Host = "web.shop.example.test"
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

func cellIsEmpty(c *testcell.Cell) resource.TestCheckFunc {
	return func(*terraform.State) error {
		h, err := c.Client.Health(context.Background())
		if err != nil {
			return err
		}
		if h.Counts.Apps != 0 || h.Counts.Spaces != 0 || h.Counts.Instances != 0 {
			return fmt.Errorf("the cell still has %d spaces, %d apps, %d instances", h.Counts.Spaces, h.Counts.Apps, h.Counts.Instances)
		}
		return nil
	}
}

// appImportPlanChecks are the checks of the first plan after an import of
// the app running release: an in-place update that only records what the
// cell cannot know, every computed value known.
func appImportPlanChecks(release int64) []plancheck.PlanCheck {
	return []plancheck.PlanCheck{
		plancheck.ExpectResourceAction("paved_app.web", plancheck.ResourceActionUpdate),
		onlyLocalChanges{addr: "paved_app.web", local: []string{"source", "secret_env_version"}},
		plancheck.ExpectKnownValue("paved_app.web", tfjsonpath.New("release"), knownvalue.Int64Exact(release)),
		plancheck.ExpectKnownValue("paved_app.web", tfjsonpath.New("last_good_release"), knownvalue.Int64Exact(release)),
		plancheck.ExpectKnownValue("paved_app.web", tfjsonpath.New("status"), knownvalue.StringExact("running")),
		plancheck.ExpectKnownValue("paved_app.web", tfjsonpath.New("running_instances"), knownvalue.Int64Exact(2)),
		plancheck.ExpectKnownValue("paved_app.web", tfjsonpath.New("urls"),
			knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact("http://web.shop.example.test/")})),
		plancheck.ExpectKnownValue("paved_app.web", tfjsonpath.New("source_hash"), knownvalue.NotNull()),
	}
}

// appOnCell is shop/web as the cell has it.
func appOnCell(t *testing.T, c *testcell.Cell) *paved.App {
	t.Helper()
	a, err := c.Client.Apps.Get(context.Background(), "shop", "web")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// appSeen is shop/web on the cell and its newest deployment.
type appSeen struct {
	app            *paved.App
	lastDeployment int64
}

func seeApp(t *testing.T, c *testcell.Cell) appSeen {
	t.Helper()
	ds, err := c.Client.Deployments.List(context.Background(), "shop", "web")
	if err != nil {
		t.Fatal(err)
	}
	seen := appSeen{app: appOnCell(t, c)}
	for _, d := range ds {
		seen.lastDeployment = max(seen.lastDeployment, d.ID)
	}
	return seen
}

// appUnchanged checks shop/web is as it was (*before): the same spec
// version, release and deployments.
func appUnchanged(t *testing.T, c *testcell.Cell, before *appSeen) resource.TestCheckFunc {
	return func(*terraform.State) error {
		was, now := *before, seeApp(t, c)
		a, w := now.app, was.app
		if a.Version != w.Version || a.Generation != w.Generation || a.Release != w.Release || a.LastGoodRelease != w.LastGoodRelease {
			return fmt.Errorf("the import changed the app: version %d→%d, generation %d→%d, release %d→%d, last good %d→%d",
				w.Version, a.Version, w.Generation, a.Generation, w.Release, a.Release, w.LastGoodRelease, a.LastGoodRelease)
		}
		if now.lastDeployment != was.lastDeployment {
			return fmt.Errorf("the import started deployment %d", now.lastDeployment)
		}
		return nil
	}
}

func TestAccApp(t *testing.T) {
	accPreCheck(t)
	c := testcell.Start(t)
	src := helloSource(t)
	var running appSeen // the app on the cell before an import
	var stopLoad func()
	defer func() {
		if stopLoad != nil {
			stopLoad()
		}
	}()
	canary := `deployment {
    strategy          = "canary"
    progress_deadline = "30s"
    canary {
      steps          = [50]
      watch          = "3s"
      max_error_rate = 0.05
      min_requests   = 10
    }
  }`
	accTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6,
		CheckDestroy:             cellIsEmpty(c),
		Steps: slices.Concat([]resource.TestStep{
			{ // create
				Config: appConfig(c, src, "hello v1", ""),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_app.web", "id", "shop/web"),
					resource.TestCheckResourceAttr("paved_app.web", "status", "running"),
					resource.TestCheckResourceAttr("paved_app.web", "release", "1"),
					resource.TestCheckResourceAttr("paved_app.web", "last_good_release", "1"),
					resource.TestCheckResourceAttr("paved_app.web", "running_instances", "2"),
					resource.TestCheckResourceAttr("paved_app.web", "urls.0", "http://web.shop.example.test/"),
					resource.TestCheckResourceAttrSet("paved_app.web", "source_hash"),
					resource.TestCheckNoResourceAttr("paved_app.web", "secret_env"),
					stateHasNo("s3cret-value-never-in-state"),
					answers(t, c, "hello v1", 1),
				),
			},
			{ // unchanged config: an empty plan
				Config:           appConfig(c, src, "hello v1", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
			},
			{ // a source change is an in-place update, served by the new release
				PreConfig: func() {
					os.WriteFile(filepath.Join(src, "VERSION"), []byte("2\n"), 0o644)
				},
				Config: appConfig(c, src, "hello v1", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_app.web", plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue("paved_app.web", tfjsonpath.New("release")),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_app.web", "release", "2"),
					answers(t, c, "hello v1", 2),
				),
			},
			{ // a settings change rolls out in place too
				Config: appConfig(c, src, "hello v2", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_app.web", plancheck.ResourceActionUpdate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("paved_app.web", tfjsonpath.New("release"), knownvalue.Int64Exact(3)),
					statecheck.ExpectKnownValue("paved_app.web", tfjsonpath.New("env"), knownvalue.MapExact(map[string]knownvalue.Check{"GREETING": knownvalue.StringExact("hello v2")})),
				},
				Check: answers(t, c, "hello v2", 3),
			},
			{ // import by ID
				ResourceName:            "paved_app.web",
				ImportState:             true,
				ImportStateId:           "shop/web",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"source", "secret_env_version", "timeouts"},
			},
			{ // import by identity: source (a local path) and secret_env_version cannot be
				// read back from the cell, so the import plans an in-place update that only
				// records them: every computed value stays what the cell says
				Config:             appConfig(c, src, "hello v2", ""),
				ResourceName:       "paved_app.web",
				ImportState:        true,
				ImportStateKind:    resource.ImportBlockWithResourceIdentity,
				ExpectNonEmptyPlan: true,
				ImportPlanChecks:   resource.ImportPlanChecks{PreApply: appImportPlanChecks(3)},
			},
		}, reimport{ // each way of importing adopts the running app: no new release, no deployment
			addr: "paved_app.web", id: "shop/web", identity: `{ space = "shop", name = "web" }`,
			config: appConfig(c, src, "hello v2", ""), action: plancheck.ResourceActionUpdate,
			local: []string{"source", "secret_env_version"}, cells: []*testcell.Cell{c},
			before: func() { running = seeApp(t, c) }, unchanged: appUnchanged(t, c, &running),
		}.steps(t), []resource.TestStep{
			{ // after the import, a new secret_env_version sends the secrets and rolls out
				Config: strings.Replace(appConfig(c, src, "hello v2", ""), `API_KEY = "s3cret-value-never-in-state" }
  secret_env_version = "1"`, `API_KEY = "s3cret-value-never-in-state", API_KEY_2 = "s3cret-2" }
  secret_env_version = "2"`, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_app.web", plancheck.ResourceActionUpdate),
					plancheck.ExpectUnknownValue("paved_app.web", tfjsonpath.New("release")),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_app.web", "release", "4"),
					resource.TestCheckResourceAttr("paved_app.web", "secret_env_version", "2"),
					func(*terraform.State) error {
						if a := appOnCell(t, c); !slices.Contains(a.SecretEnvKeys, "API_KEY_2") {
							return fmt.Errorf("the new secret did not reach the cell: %v", a.SecretEnvKeys)
						}
						return nil
					},
					answers(t, c, "hello v2", 4),
					stateHasNo("s3cret-2"),
				),
			},
			{ // drift: scaled outside, planned back
				PreConfig: func() {
					a, err := c.Client.Apps.Get(context.Background(), "shop", "web")
					if err != nil {
						t.Fatal(err)
					}
					a.Instances = 1
					a.SecretEnv = nil
					if _, err := c.Client.Apps.Update(context.Background(), "shop", a.AppSpec); err != nil {
						t.Fatal(err)
					}
				},
				Config: appConfig(c, src, "hello v2", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_app.web", plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue("paved_app.web", tfjsonpath.New("instances"), knownvalue.Int64Exact(2)),
				}},
				Check: resource.TestCheckResourceAttr("paved_app.web", "running_instances", "2"),
			},
			{ // drift: deleted outside, recreated
				PreConfig: func() {
					if err := c.Client.Apps.Delete(context.Background(), "shop", "web"); err != nil {
						t.Fatal(err)
					}
				},
				Config: appConfig(c, src, "hello v2", ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("paved_app.web", plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("paved_app.web", "release", "1"),
					answers(t, c, "hello v2", 1),
				),
			},
			{ // the canary strategy alone is no new release
				Config: appConfig(c, src, "hello v2", canary),
				Check:  resource.TestCheckResourceAttr("paved_app.web", "release", "1"),
			},
			{ // a failing canary: the apply fails with the reason, the app stays on its last good release
				PreConfig:   func() { stopLoad = loadWhile(c) },
				Config:      appConfigEnv(c, src, `{ GREETING = "hello v2", FAIL_EVERY = "2" }`, canary),
				ExpectError: regexp.MustCompile(`(?s)rolled back.*error rate`),
			},
			{ // ... and the change is still pending
				PreConfig: func() {
					stopLoad()
					a, err := c.Client.Apps.Get(context.Background(), "shop", "web")
					if err != nil || a.Release != 1 || a.LastGoodRelease != 1 {
						t.Fatalf("after the failed canary: %+v %v", a, err)
					}
				},
				Config:             appConfigEnv(c, src, `{ GREETING = "hello v2", FAIL_EVERY = "2" }`, canary),
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
		}),
	})
	if a, err := c.Client.Apps.List(context.Background(), paved.ListAppsOptions{}); err != nil || len(a) != 0 {
		t.Fatalf("apps left after destroy: %v %v", a, err)
	}
}
