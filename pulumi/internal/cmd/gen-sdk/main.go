// Command gen-sdk regenerates schema.json and the Go SDK (sdk/go/paved)
// from the plugin with the Pulumi CLI (see package sdkgen). Run from the
// pulumi module: go run ./internal/cmd/gen-sdk -cli PULUMI -plugin PLUGIN
// (`make pulumi-sdk` does).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/pavedroad/terraform-provider-paved/pulumi/internal/sdkgen"
)

func main() {
	cli := flag.String("cli", "pulumi", "the Pulumi CLI")
	plugin := flag.String("plugin", "", "the pulumi-resource-paved binary")
	schemaOut := flag.String("schema", "schema.json", "where to write the schema")
	sdkOut := flag.String("out", "sdk/go", "the SDK's go directory (the package lands in OUT/paved)")
	flag.Parse()
	if err := run(*cli, *plugin, *schemaOut, *sdkOut); err != nil {
		fmt.Fprintln(os.Stderr, "gen-sdk:", err)
		os.Exit(1)
	}
}

func run(cli, plugin, schemaOut, sdkOut string) error {
	if plugin == "" {
		return fmt.Errorf("-plugin is required")
	}
	spec, err := sdkgen.Schema(context.Background(), cli, plugin)
	if err != nil {
		return err
	}
	if err := os.WriteFile(schemaOut, spec, 0o644); err != nil {
		return err
	}
	files, err := sdkgen.Generate(spec)
	if err != nil {
		return err
	}
	if err := sdkgen.Write(sdkOut, files); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %d files under %s\n", schemaOut, len(files), sdkOut)
	return nil
}
