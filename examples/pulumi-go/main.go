// Command paved-hello is a Pulumi Go program: a space and the hello app
// (examples/hello) on a paved cell, rolled out with a canary. See README.md.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/pavedroad/terraform-provider-paved/pulumi/sdk/go/paved"
)

func main() { pulumi.Run(Program) }

// Program declares the stack; the tests run it as an inline program.
func Program(ctx *pulumi.Context) error {
	cfg := config.New(ctx, "")
	source := cfg.Get("source")
	if source == "" {
		source = "../hello"
	}
	host := cfg.Get("host")
	if host == "" {
		host = "hello.shop.example.test"
	}

	// A Pulumi secret (pulumi config set --secret apiKey …): sent to the
	// cell, never in the app's outputs.
	var secrets pulumi.StringMap
	if key, err := cfg.TrySecret("apiKey"); err == nil {
		secrets = pulumi.StringMap{"API_KEY": key}
	}

	shop, err := paved.NewSpace(ctx, "shop", &paved.SpaceArgs{
		Name:   pulumi.String("shop"),
		Labels: pulumi.StringMap{"team": pulumi.String("web")},
	})
	if err != nil {
		return err
	}
	hello, err := paved.NewApp(ctx, "hello", &paved.AppArgs{
		Space:     shop.Name,
		Name:      pulumi.String("hello"),
		Source:    pulumi.String(source), // a change of its content is an update, never a replace
		Build:     pulumi.String("go build -o hello ."),
		Command:   pulumi.String("./hello"),
		Instances: pulumi.Int(2),
		Env:       pulumi.StringMap{"GREETING": pulumi.String("hello from Pulumi")},
		SecretEnv: secrets,
		Routes:    pulumi.StringArray{pulumi.String(host)},
		HealthCheck: &paved.HealthCheckArgs{
			Type: pulumi.String("http"),
			Path: pulumi.String("/healthz"),
		},
		Deployment: &paved.DeploymentArgs{
			Strategy:         pulumi.String("canary"),
			ProgressDeadline: pulumi.String("2m"),
			Canary: &paved.CanaryArgs{
				Steps:        pulumi.IntArray{pulumi.Int(10), pulumi.Int(50)}, // traffic percent, each watched for Watch
				Watch:        pulumi.String("15s"),
				MaxErrorRate: pulumi.Float64(0.05),
				MinRequests:  pulumi.Int(20),
			},
		},
	})
	if err != nil {
		return err
	}
	ctx.Export("urls", hello.Urls)
	ctx.Export("release", hello.Release)
	ctx.Export("status", hello.Status)
	return nil
}
