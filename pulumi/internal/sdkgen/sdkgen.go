// Package sdkgen generates the Go SDK (sdk/go/paved) from the plugin's
// schema with Pulumi's own Go code generator: the schema comes from the
// real CLI (`pulumi package get-schema <plugin>`), and the files are what
// `pulumi package gen-sdk <plugin> --language go` writes. gen-sdk itself
// hands the bound schema to the pulumi-language-go plugin, which calls
// the same generator (pkg/v3/codegen/go.GeneratePackage); that plugin is
// not served by any registry reachable here (its module is not on the Go
// module proxy), so the generator is called directly, at the CLI's version.
package sdkgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/blang/semver"
	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

// Tool is the generator's name in the files' headers, as pulumi-language-go writes it.
const Tool = "pulumi-language-go"

// Schema asks the Pulumi CLI for a plugin's schema, pretty-printed.
func Schema(ctx context.Context, cli, plugin string) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, cli, "package", "get-schema", plugin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "PULUMI_SKIP_UPDATE_CHECK=true")
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pulumi package get-schema %s: %w\n%s", plugin, err, errb.String())
	}
	var v any
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		return nil, fmt.Errorf("schema of %s: %w", plugin, err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	return append(b, '\n'), err
}

// Generate binds the schema (as gen-sdk does) and returns the Go SDK's
// files by path relative to the SDK's "go" directory (paved/app.go, …).
func Generate(schemaJSON []byte) (map[string][]byte, error) {
	var spec schema.PackageSpec
	if err := json.Unmarshal(schemaJSON, &spec); err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	pkg, diags, err := schema.BindSpec(spec, noPackages{}, schema.ValidationOptions{})
	if err != nil {
		return nil, fmt.Errorf("bind schema: %w", err)
	}
	if diags.HasErrors() {
		return nil, fmt.Errorf("bind schema: %s", diags.Error())
	}
	return gogen.GeneratePackage(Tool, pkg, nil)
}

// noPackages is the loader for a schema that refers to no other package.
type noPackages struct{}

func (noPackages) LoadPackage(pkg string, _ *semver.Version) (*schema.Package, error) {
	return nil, fmt.Errorf("the paved schema refers to package %q: only self-contained schemas are supported", pkg)
}

func (l noPackages) LoadPackageV2(_ context.Context, d *schema.PackageDescriptor) (*schema.Package, error) {
	return l.LoadPackage(d.Name, d.Version)
}

// Write replaces dir's contents with files.
func Write(dir string, files map[string][]byte) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, name := range Names(files) {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Names lists the files' paths in order.
func Names(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
