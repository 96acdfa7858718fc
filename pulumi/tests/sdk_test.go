package tests

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/pulumi/internal/sdkgen"
)

// TestSDKIsGenerated: schema.json is what the real CLI reads from the
// plugin, and sdk/go is what Pulumi's Go generator makes of it; a change
// of the plugin without `make pulumi-sdk` fails here.
func TestSDKIsGenerated(t *testing.T) {
	cli, plugin := pulumiCLI(t), pluginPath(t)
	root := moduleRoot()
	spec, err := sdkgen.Schema(context.Background(), cli, plugin)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(root, "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(spec, committed) {
		t.Error("schema.json is not the plugin's schema: run make pulumi-sdk and commit the result")
	}
	files, err := sdkgen.Generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	sdk := filepath.Join(root, "sdk", "go")
	for _, name := range sdkgen.Names(files) {
		have, err := os.ReadFile(filepath.Join(sdk, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("sdk/go/%s is missing: run make pulumi-sdk", name)
		} else if !bytes.Equal(have, files[name]) {
			t.Errorf("sdk/go/%s differs from the generated one: run make pulumi-sdk", name)
		}
	}
	filepath.WalkDir(sdk, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(sdk, path)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			t.Errorf("sdk/go/%s is not generated any more: run make pulumi-sdk", rel)
		}
		return nil
	})
	// The SDK names the resources and properties the plugin serves.
	for _, want := range []string{`"paved:index:App"`, `"paved:index:Space"`, `"paved:index:ReplicaSet"`, `"paved:index:Environment"`, `"paved:index:Pipeline"`} {
		if !bytes.Contains(spec, []byte(want)) {
			t.Errorf("the schema lacks %s", want)
		}
	}
}
