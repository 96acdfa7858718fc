// Command terraform-provider-paved is the Terraform/OpenTofu provider for
// paved cells.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/pavedroad/terraform-provider-paved/internal/version"
	"github.com/pavedroad/terraform-provider-paved/provider"
)

func main() {
	var debug, showVersion bool
	flag.BoolVar(&debug, "debug", false, "run with support for debuggers like delve")
	flag.BoolVar(&showVersion, "version", false, "print the version and exit")
	flag.Parse()
	if showVersion {
		fmt.Println("terraform-provider-paved", version.Version)
		return
	}
	err := providerserver.Serve(context.Background(), provider.New(version.Version), providerserver.ServeOpts{
		Address: "registry.terraform.io/pavedroad/paved",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
