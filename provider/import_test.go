package provider

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/pavedroad/terraform-provider-paved/internal/testkit/testcell"
	"github.com/pavedroad/terraform-provider-paved/paved"
)

// reimport takes a resource out of the state (it stays on the cell) and
// imports it again each way a user can: the import command by id, an
// import block by id and, on CLIs with resource identity, an import
// block by identity. After each import the first plan may change only
// what the cell cannot know (local), keeps every computed value known,
// and applying it writes nothing to the cells; the plan after it is empty.
type reimport struct {
	addr string // e.g. paved_app.web
	// id is the import id; idFunc, when set, gives it when the steps run
	// (an id the cell chose).
	id     string
	idFunc func() string
	// identity is the HCL object of the identity ("" for a resource
	// without one); it may use var.import_id, the import id.
	identity string
	config   string // the configuration that manages addr
	// action is the first plan's action after the import (Update when the
	// config sets what the cell cannot know, else NoOp).
	action plancheck.ResourceActionType
	// local are the attributes the first plan may change.
	local []string
	// cells are the cells nothing may be written to.
	cells []*testcell.Cell
	// before, when set, runs before each import (to note what unchanged
	// compares); unchanged checks more of the cells after each apply.
	before    func()
	unchanged resource.TestCheckFunc
}

// steps are the test steps of every import, each after a step that
// forgets the resource.
func (ri reimport) steps(t *testing.T) []resource.TestStep {
	t.Helper()
	marks := make([]int64, len(ri.cells))
	mark := func() {
		for i, c := range ri.cells {
			marks[i] = lastEvent(t, c)
		}
		if ri.before != nil {
			ri.before()
		}
	}
	noWrites := func(*terraform.State) error {
		for i, c := range ri.cells {
			if err := noWritesSince(c, marks[i]); err != nil {
				return err
			}
		}
		return nil
	}
	check := noWrites
	if ri.unchanged != nil {
		check = resource.ComposeAggregateTestCheckFunc(noWrites, ri.unchanged)
	}
	planChecks := []plancheck.PlanCheck{
		plancheck.ExpectResourceAction(ri.addr, ri.action),
		onlyLocalChanges{addr: ri.addr, local: ri.local},
	}
	forget := resource.TestStep{PreConfig: mark, Config: withoutResource(ri.config, ri.addr) + fmt.Sprintf(`
removed {
  from = %s
  lifecycle {
    destroy = false
  }
}
`, ri.addr)}
	id := func() string {
		if ri.idFunc != nil {
			return ri.idFunc()
		}
		return ri.id
	}
	// imported is the step after an import; block is the import block.
	imported := func(block string) resource.TestStep {
		st := resource.TestStep{
			Config:           ri.config + block,
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: planChecks},
			Check:            check,
		}
		if block != "" {
			st.Config += "\nvariable \"import_id\" {\n  type = string\n}\n"
			st.PreConfig = func() { t.Setenv("TF_VAR_import_id", id()) }
		}
		return st
	}
	steps := []resource.TestStep{
		forget,
		{ // the import command
			Config: ri.config, ResourceName: ri.addr, ImportState: true, ImportStatePersist: true,
			ImportStateIdFunc: func(*terraform.State) (string, error) { return id(), nil },
		},
		imported(""),
		forget,
		imported(fmt.Sprintf("\nimport {\n  to = %s\n  id = var.import_id\n}\n", ri.addr)),
	}
	if ri.identity != "" {
		if name, v := cliVersion(); v.LessThan(identityCLI) {
			t.Logf("import of %s by identity left out: %s %s has no resource identity (needs %s)", ri.addr, name, v, identityCLI)
		} else {
			steps = append(steps, forget, imported(fmt.Sprintf("\nimport {\n  to       = %s\n  identity = %s\n}\n", ri.addr, ri.identity)))
		}
	}
	return append(steps, resource.TestStep{
		Config:           ri.config,
		ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
		Check:            check,
	})
}

// withoutResource is config without the block of resource addr.
func withoutResource(config, addr string) string {
	typ, name, _ := strings.Cut(addr, ".")
	loc := regexp.MustCompile(fmt.Sprintf(`(?m)^resource %q %q \{`, typ, name)).FindStringIndex(config)
	if loc == nil {
		panic("no resource " + addr + " in the config")
	}
	depth := 0
	for i := loc[1] - 1; i < len(config); i++ {
		switch config[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return config[:loc[0]] + config[i+1:]
			}
		}
	}
	panic("unbalanced resource " + addr)
}

// lastEvent is the id of a cell's newest event.
func lastEvent(t *testing.T, c *testcell.Cell) int64 {
	t.Helper()
	var last int64
	for {
		evs, err := c.Client.Events.List(context.Background(), paved.ListEventsOptions{After: last, Limit: 500})
		if err != nil {
			t.Fatalf("events of %s: %v", c.Region, err)
		}
		if len(evs) == 0 {
			return last
		}
		last = evs[len(evs)-1].ID
	}
}

// noWritesSince fails when a client of the cell changed anything on it
// after event mark (the cell's own events, such as checks, are no writes).
func noWritesSince(c *testcell.Cell, mark int64) error {
	evs, err := c.Client.Events.List(context.Background(), paved.ListEventsOptions{After: mark, Limit: 500})
	if err != nil {
		return err
	}
	var writes []string
	for _, e := range evs {
		if e.Actor != "cell" && !strings.HasPrefix(e.Action, "auth.") {
			writes = append(writes, fmt.Sprintf("%s %s by %s", e.Action, e.Object, e.Actor))
		}
	}
	if len(writes) > 0 {
		return fmt.Errorf("the import's apply wrote to cell %s: %s", c.Region, strings.Join(writes, "; "))
	}
	return nil
}

// onlyLocalChanges checks that the plan of addr changes no attribute but
// local ones (paths such as app.source, and what is inside them) and
// leaves no value unknown.
type onlyLocalChanges struct {
	addr  string
	local []string
}

func (o onlyLocalChanges) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	for _, rc := range req.Plan.ResourceChanges {
		if rc.Address != o.addr {
			continue
		}
		if unknown := unknownPaths(rc.Change.AfterUnknown, ""); len(unknown) > 0 {
			resp.Error = fmt.Errorf("%s: the plan after the import leaves %s unknown", o.addr, strings.Join(unknown, ", "))
			return
		}
		before, after := map[string]string{}, map[string]string{}
		flatten(rc.Change.Before, "", before)
		flatten(rc.Change.After, "", after)
		var changed []string
		for k := range mergeKeys(before, after) {
			local := slices.ContainsFunc(o.local, func(l string) bool {
				return k == l || strings.HasPrefix(k, l+".") || strings.HasPrefix(k, l+"[")
			})
			if before[k] != after[k] && !local {
				changed = append(changed, fmt.Sprintf("%s: %q -> %q", k, before[k], after[k]))
			}
		}
		slices.Sort(changed)
		if len(changed) > 0 {
			resp.Error = fmt.Errorf("%s: the plan after the import changes what the cell knows: %s", o.addr, strings.Join(changed, "; "))
		}
		return
	}
	resp.Error = fmt.Errorf("no change of %s in the plan", o.addr)
}

// unknownPaths lists the paths an after_unknown value marks unknown.
func unknownPaths(v any, at string) []string {
	var out []string
	switch v := v.(type) {
	case bool:
		if v {
			out = append(out, at)
		}
	case map[string]any:
		for k, e := range v {
			out = append(out, unknownPaths(e, strings.TrimPrefix(at+"."+k, "."))...)
		}
	case []any:
		for i, e := range v {
			out = append(out, unknownPaths(e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	}
	return out
}

// flatten sets out[path] for every leaf of a plan's JSON value v.
func flatten(v any, at string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			flatten(e, strings.TrimPrefix(at+"."+k, "."), out)
		}
	case []any:
		for i, e := range v {
			flatten(e, fmt.Sprintf("%s[%d]", at, i), out)
		}
	default:
		out[at] = fmt.Sprint(v)
	}
}

func mergeKeys(a, b map[string]string) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}
