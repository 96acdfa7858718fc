package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goTestJSON runs the real `go test -json` on a throwaway module holding
// src as its only test file and returns what it printed.
func goTestJSON(t *testing.T, src string) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"go.mod":        "module example.test/guarded\n\ngo 1.22\n",
		"guard_test.go": src,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-json", "-count=1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	out, _ := cmd.Output() // a failing test exits 1; the events say why
	if !bytes.Contains(out, []byte(`"Action":"start"`)) {
		t.Fatalf("go test -json printed no events:\n%s", out)
	}
	return out
}

const guardTests = `package guarded

import "testing"

func TestPasses(t *testing.T) {}

func TestOtherPass(t *testing.T) { t.Skip("belongs to the other pass") }

func TestGuard(t *testing.T) {
	t.Log("checking the guard")
	t.Skipf("BUG: the defect is back")
}

func TestSubtests(t *testing.T) {
	for _, n := range []string{"a", "b"} {
		t.Run(n, func(t *testing.T) { t.Skip("belongs to the other pass") })
	}
}
`

func mustRules(t *testing.T, list string) []rule {
	t.Helper()
	rules, err := parseAllowList(strings.NewReader(list), "allow")
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

func TestUnlistedSkipFailsTheRun(t *testing.T) {
	events := goTestJSON(t, guardTests)
	rules := mustRules(t, "# the suite runs in two passes\nguarded  *  belongs to the other pass\n")
	var out bytes.Buffer
	if code := run(bytes.NewReader(events), &out, "unit", rules, false); code != 1 {
		t.Fatalf("exit %d with a skip that no entry allows, want 1:\n%s", code, &out)
	}
	report := out.String()
	for _, want := range []string{
		`NOT ALLOWED  example.test/guarded TestGuard: "BUG: the defect is back"`,
		"allowed by the allow-list's line 2 (the suite runs in two passes):\n" +
			`    example.test/guarded TestOtherPass: "belongs to the other pass"`,
		`    example.test/guarded TestSubtests/a: "belongs to the other pass"`,
		"unit: 2 passed, 0 failed, 4 skipped",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "checking the guard") {
		t.Errorf("a skipped test's log was printed without -v:\n%s", report)
	}
}

func TestListedSkipsPass(t *testing.T) {
	events := goTestJSON(t, guardTests)
	rules := mustRules(t, "# two passes\n*  TestOtherPass  belongs to\n# two passes\nguarded TestSubtests/* belongs to the other pass\n# the guard is waived here\nexample.test/guarded TestGuard BUG:\n")
	var out bytes.Buffer
	if code := run(bytes.NewReader(events), &out, "unit", rules, true); code != 0 {
		t.Fatalf("exit %d with every skip allowed, want 0:\n%s", code, &out)
	}
	if !strings.Contains(out.String(), "=== RUN   TestPasses") || !strings.Contains(out.String(), "checking the guard") {
		t.Errorf("-v did not print tests as they ran:\n%s", &out)
	}
}

func TestFailureIsPrintedAndFails(t *testing.T) {
	events := goTestJSON(t, `package guarded

import "testing"

func TestQuiet(t *testing.T) { t.Log("quiet detail") }

func TestBroken(t *testing.T) {
	t.Log("the detail that explains it")
	t.Fatal("boom")
}
`)
	var out bytes.Buffer
	if code := run(bytes.NewReader(events), &out, "unit", nil, false); code != 1 {
		t.Fatalf("exit %d with a failing test, want 1", code)
	}
	report := out.String()
	for _, want := range []string{"the detail that explains it", "boom", "--- FAIL: TestBroken", "FAIL example.test/guarded", "unit: 1 passed, 1 failed, 0 skipped"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "quiet detail") {
		t.Errorf("a passing test's log was printed without -v:\n%s", report)
	}
}

func TestBuildFailureFails(t *testing.T) {
	events := goTestJSON(t, "package guarded\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) { undefined() }\n")
	var out bytes.Buffer
	if code := run(bytes.NewReader(events), &out, "unit", nil, false); code != 1 {
		t.Fatalf("exit %d when the package does not build, want 1:\n%s", code, &out)
	}
	if !strings.Contains(out.String(), "undefined") {
		t.Errorf("the compiler's message is missing:\n%s", &out)
	}
}

func TestAllowListNeedsAComment(t *testing.T) {
	rules, err := parseAllowList(strings.NewReader("# shared\na TestA why\nb TestB why\n"), "f")
	if err != nil || len(rules) != 2 || rules[1].why != "shared" {
		t.Fatalf("entries right under one comment: %v %+v", err, rules)
	}
	_, err = parseAllowList(strings.NewReader("# ok\na TestA why\n\nb TestB why\n"), ".ci/allowed-skips")
	if err == nil || !strings.Contains(err.Error(), ".ci/allowed-skips:4") || !strings.Contains(err.Error(), "no comment") {
		t.Fatalf("err %v, want the uncommented entry on line 3 refused", err)
	}
	if _, err := parseAllowList(strings.NewReader("# short\na TestA\n"), "f"); err == nil {
		t.Fatal("an entry without a reason was accepted")
	}
}

func TestRuleMatching(t *testing.T) {
	r := mustRules(t, "# x\ninternal/router  Test*Lane*  runs in the lane pass\n")[0]
	for _, tc := range []struct {
		pkg, test, reason string
		want              bool
	}{
		{"m/internal/router", "TestLaneUnderMixedLoad", "runs in the lane pass", true},
		{"m/internal/router", "TestLaneUnderMixedLoad", "runs in the lane pass only", true},
		{"m/internal/routerx", "TestLaneUnderMixedLoad", "runs in the lane pass", false},
		{"m/internal/router", "TestLaneUnderMixedLoad", "BUG: runs in the lane pass", false},
		{"m/internal/router", "TestFast", "runs in the lane pass", false},
	} {
		if got := r.matches(tc.pkg, tc.test, tc.reason); got != tc.want {
			t.Errorf("matches(%q, %q, %q) = %v, want %v", tc.pkg, tc.test, tc.reason, got, tc.want)
		}
	}
}
