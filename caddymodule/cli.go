package caddymodule

import (
	// Registers the `caddy mcp-registry` command, so that a binary built
	// with this package manages its registry from the shell.
	_ "github.com/caddymcp/gateway/internal/cmdline"
)
