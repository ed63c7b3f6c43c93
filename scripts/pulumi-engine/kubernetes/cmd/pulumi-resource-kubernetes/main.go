// Command pulumi-resource-kubernetes is the Pulumi Kubernetes resource provider,
// built from the published github.com/pulumi/pulumi-kubernetes/provider/v4 module.
//
// Upstream's own main package embeds schema-embed.json and
// terraform-mapping-embed.json, which its release pipeline generates from the
// module's committed schema.json / terraform-mapping.json. Those generated files
// are not part of the published module, so scripts/install-pulumi-engine copies
// this module to a build directory outside the repository, writes the two files
// next to this main.go with ./cmd/gen-embed, and then builds. They are never
// committed (see .gitignore in this directory).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	// version.Version is set with -ldflags "-X .../pkg/version.Version=...".
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
