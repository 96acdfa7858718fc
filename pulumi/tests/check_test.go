package tests

import (
	"context"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	pv "github.com/pavedroad/terraform-provider-paved/pulumi/sdk/go/paved"
)

// TestPulumiCheck: the plugin refuses bad inputs in Check, before any cell
// is called (the endpoint here answers nothing), naming each property and
// saying what is wrong — the rules the Terraform provider applies at plan.
func TestPulumiCheck(t *testing.T) {
	src := t.TempDir()
	spaceOnly := false
	program := func(ctx *pulumi.Context) error {
		if spaceOnly {
			_, err := pv.NewSpace(ctx, "bad-space", &pv.SpaceArgs{Name: pulumi.String("-shop")})
			return err
		}
		_, err := pv.NewApp(ctx, "bad", &pv.AppArgs{
			Space:     pulumi.String("shop"),
			Name:      pulumi.String("Bad_Name"),
			Source:    pulumi.String(src),
			Command:   pulumi.String("./web"),
			Instances: pulumi.Int(-1),
			Env:       pulumi.StringMap{"PORT": pulumi.String("80")},
			Routes:    pulumi.StringArray{pulumi.String("web.example.test"), pulumi.String("We_b.test/api")},
			HealthCheck: &pv.HealthCheckArgs{
				Type: pulumi.String("http"), Interval: pulumi.String("soon"),
			},
			Deployment: &pv.DeploymentArgs{
				Strategy:    pulumi.String("sideways"),
				MaxInFlight: pulumi.String("150%"),
				Canary:      &pv.CanaryArgs{Steps: pulumi.IntArray{pulumi.Int(0)}},
			},
		})
		return err
	}
	s := newStack(t, "check", "http://127.0.0.1:9", "token", program)
	var out strings.Builder
	_, err := s.Preview(context.Background(), optpreview.ProgressStreams(&out))
	if err == nil {
		t.Fatalf("a preview with bad inputs succeeded:\n%s", out.String())
	}
	text := out.String() + err.Error()
	defer func() {
		if t.Failed() {
			t.Log(text)
		}
	}()
	for _, want := range []struct{ path, reason string }{
		{"name", `"Bad_Name" is not a valid name: use 1 to 63 lowercase letters, digits and hyphens`},
		{"instances", "instances must be between 0 and 256, not -1"},
		{"env.PORT", "PORT is set by the cell and cannot be overridden"},
		{"routes[1]", `route "We_b.test/api": "We_b.test" is not a valid host name`},
		{"healthCheck.interval", `"soon" is not a duration`},
		{"deployment.strategy", `strategy "sideways" is not one of rolling, canary, blue_green or recreate`},
		{"deployment.maxInFlight", `"150%" is not a percentage between 1% and 100%`},
		{"deployment.canary", `canary settings only apply when strategy = "canary", not "sideways"`},
		{"deployment.canary.steps[0]", "weight is a percentage of traffic between 1 and 100, not 0"},
	} {
		if !strings.Contains(text, "resource 'bad': property "+want.path+" value") || !strings.Contains(text, want.reason) {
			t.Errorf("no failure at %s saying %q", want.path, want.reason)
		}
	}
	for _, good := range []string{"source", "routes[0]", "space", "command"} {
		if strings.Contains(text, "resource 'bad': property "+good+" value") {
			t.Errorf("the good %s was refused", good)
		}
	}

	spaceOnly = true
	out.Reset()
	if _, err = s.Preview(context.Background(), optpreview.ProgressStreams(&out)); err == nil {
		t.Fatalf("a preview with a bad space name succeeded:\n%s", out.String())
	}
	if text := out.String() + err.Error(); !strings.Contains(text, "resource 'bad-space': property name value") ||
		!strings.Contains(text, `"-shop" is not a valid name`) {
		t.Errorf("the space's bad name was not refused at name:\n%s", text)
	}
}
