package registryapp

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestDiscoveryOptionErrors(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"mcp_registry {\n\tdiscovery_max_pages 0\n}", "discovery_max_pages must be a positive whole number"},
		{"mcp_registry {\n\tdiscovery_max_bytes lots\n}", "discovery_max_bytes must be a positive whole number"},
		{"mcp_registry {\n\tdiscovery_max_pages\n}", "wrong argument count"},
		{"mcp_registry {\n\tdiscovery_timeout 0s\n}", "must be positive"},
	} {
		err := new(App).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.input, err, tc.want)
		}
	}
}
