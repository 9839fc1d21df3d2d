package caddymodule_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddymcp/gateway/caddymodule"
	"github.com/caddymcp/gateway/registryapp"
)

// TestCaddyfileAdapt compares the JSON of every testdata/caddyfile_adapt
// file (a Caddyfile, a line of dashes, the expected JSON).
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, expected, ok := strings.Cut(string(data), "----------")
			if !ok {
				t.Fatalf("%s has no line of dashes", file)
			}
			if !caddytest.CompareAdapt(t, file, strings.TrimSpace(input)+"\n", "caddyfile", strings.TrimSpace(expected)) {
				t.Errorf("adapting %s gave other JSON", file)
			}
		})
	}
}

func TestCaddyfileErrors(t *testing.T) {
	cases := []struct {
		name, input, want string
		unmarshal         func(*caddyfile.Dispenser) error
	}{
		{"gateway argument", "mcp_gateway extra", "wrong argument count", new(caddymodule.Gateway).UnmarshalCaddyfile},
		{"registry subdirective", "mcp_registry {\n\tbogus\n}", "unrecognized mcp_registry subdirective", new(caddymodule.RegistryHandler).UnmarshalCaddyfile},
		{"global unknown option", "mcp_registry {\n\tbogus 1\n}", "unrecognized mcp_registry option 'bogus'", new(registryapp.App).UnmarshalCaddyfile},
		{"global bad duration", "mcp_registry {\n\thealth_interval soon\n}", "health_interval", new(registryapp.App).UnmarshalCaddyfile},
		{"global negative duration", "mcp_registry {\n\thealth_timeout -1s\n}", "must be positive", new(registryapp.App).UnmarshalCaddyfile},
		{"global bad concurrency", "mcp_registry {\n\thealth_concurrency 0\n}", "health_concurrency", new(registryapp.App).UnmarshalCaddyfile},
		{"global storage without path", "mcp_registry {\n\tstorage\n}", "wrong argument count", new(registryapp.App).UnmarshalCaddyfile},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.unmarshal(caddyfile.NewTestDispenser(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
