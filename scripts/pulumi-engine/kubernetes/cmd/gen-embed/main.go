// Command gen-embed writes schema-embed.json and terraform-mapping-embed.json
// for ../pulumi-resource-kubernetes from the schema.json and
// terraform-mapping.json files that ship in the provider module
// (github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes).
//
// It does what the provider's release step does: decode the schema into a
// schema.PackageSpec, set its version, re-encode it compactly, and re-encode the
// terraform mapping compactly.
//
// Usage: gen-embed -src <dir with schema.json> -out <dir> -version <semver>
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

func main() {
	src := flag.String("src", "", "directory holding schema.json and terraform-mapping.json")
	out := flag.String("out", "", "directory to write the *-embed.json files to")
	version := flag.String("version", "", "provider version to record in the schema (no leading v)")
	flag.Parse()
	if *src == "" || *out == "" || *version == "" {
		log.Fatal("gen-embed: -src, -out and -version are required")
	}

	raw, err := os.ReadFile(filepath.Join(*src, "schema.json"))
	if err != nil {
		log.Fatal(err)
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		log.Fatalf("gen-embed: cannot decode schema: %v", err)
	}
	spec.Version = *version
	versioned, err := json.Marshal(spec)
	if err != nil {
		log.Fatalf("gen-embed: cannot encode schema: %v", err)
	}
	if err := os.WriteFile(filepath.Join(*out, "schema-embed.json"), versioned, 0o644); err != nil {
		log.Fatal(err)
	}

	raw, err = os.ReadFile(filepath.Join(*src, "terraform-mapping.json"))
	if err != nil {
		log.Fatal(err)
	}
	var mapping any
	if err := json.Unmarshal(raw, &mapping); err != nil {
		log.Fatalf("gen-embed: cannot decode terraform mapping: %v", err)
	}
	compact, err := json.Marshal(mapping)
	if err != nil {
		log.Fatalf("gen-embed: cannot encode terraform mapping: %v", err)
	}
	if err := os.WriteFile(filepath.Join(*out, "terraform-mapping-embed.json"), compact, 0o644); err != nil {
		log.Fatal(err)
	}
}
