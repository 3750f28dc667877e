// grafana-check reads Grafana dashboard JSON files and checks each against
// Grafana's own dashboard model (grafana-foundation-sdk): strict decoding
// (unknown fields, wrong types and missing required fields are errors, panel
// options included) and then the model's Validate().
//
// Usage: grafana-check FILE...
// Exit status: 0 every file passes, 1 a file breaks the schema, 2 bad usage
// or an unreadable file.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// version is set by the toolchain build (-ldflags -X).
var version = "dev"

// failed tells a real error from the SDK's empty cog.BuildErrors, which its
// strict decoders return as a non-nil error holding no error at all.
func failed(err error) bool {
	var build cog.BuildErrors
	if errors.As(err, &build) {
		return len(build) > 0
	}
	return err != nil
}

// check decodes one file strictly and validates it; the schemaVersion it
// declares is returned for the report.
func check(raw []byte) (uint16, error) {
	var board dashboard.Dashboard
	if err := board.UnmarshalJSONStrict(raw); failed(err) {
		return 0, fmt.Errorf("does not decode strictly: %w", err)
	}
	if err := board.Validate(); failed(err) {
		return board.SchemaVersion, fmt.Errorf("does not validate: %w", err)
	}
	return board.SchemaVersion, nil
}

func run(paths []string) int {
	status := 0
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "grafana-check: %s: %v\n", path, err)
			return 2
		}
		if !json.Valid(raw) {
			fmt.Fprintf(os.Stderr, "grafana-check: %s: not JSON\n", path)
			return 2
		}
		schema, err := check(raw)
		if err != nil {
			fmt.Printf("%s: FAIL %v\n", path, err)
			status = 1
			continue
		}
		fmt.Printf("%s: ok (schemaVersion %d)\n", path, schema)
	}
	return status
}

func main() {
	args := os.Args[1:]
	if len(args) == 1 && args[0] == "--version" {
		fmt.Printf("grafana-check %s\n", version)
		return
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: grafana-check FILE...")
		os.Exit(2)
	}
	// Panel options and queries decode through the SDK's per-plugin variants.
	plugins.RegisterDefaultPlugins()
	os.Exit(run(args))
}
