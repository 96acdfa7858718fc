// Command pulumi-resource-paved is paved's Pulumi resource provider plugin.
// The Pulumi engine starts it; put it on PATH (or install it with
// `pulumi plugin install resource paved VERSION --file …`).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pavedroad/terraform-provider-paved/pulumi/provider"
)

func main() {
	if err := provider.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
