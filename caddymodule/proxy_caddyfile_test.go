package caddymodule

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestGatewayCaddyfile(t *testing.T) {
	var g Gateway
	d := caddyfile.NewTestDispenser(`mcp_gateway {
		response_header_timeout 45s
		dial_timeout 2s
		max_request_body 1MiB
		max_idle_conns_per_host 64
	}`)
	if err := g.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Gateway{
		ResponseHeaderTimeout: caddy.Duration(45 * time.Second),
		DialTimeout:           caddy.Duration(2 * time.Second),
		MaxRequestBody:        1 << 20,
		MaxIdleConnsPerHost:   64,
	}
	if g.ResponseHeaderTimeout != want.ResponseHeaderTimeout || g.DialTimeout != want.DialTimeout ||
		g.MaxRequestBody != want.MaxRequestBody || g.MaxIdleConnsPerHost != want.MaxIdleConnsPerHost {
		t.Errorf("parsed %+v", g)
	}

	for _, bad := range []string{
		"mcp_gateway extra",
		"mcp_gateway {\n\tunknown 1\n}",
		"mcp_gateway {\n\tresponse_header_timeout\n}",
		"mcp_gateway {\n\tresponse_header_timeout soon\n}",
		"mcp_gateway {\n\tmax_request_body lots\n}",
		"mcp_gateway {\n\tmax_idle_conns_per_host -1\n}",
		"mcp_gateway {\n\tdial_timeout 1s 2s\n}",
	} {
		var g Gateway
		if err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
