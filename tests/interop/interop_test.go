// Package interop_test runs unmodified official MCP clients and servers
// from npm (versions pinned in package.json) through a real gateway and
// checks that they see the same as when connected directly.
package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	_ "github.com/caddymcp/gateway/caddymodule"
	"github.com/caddymcp/gateway/internal/testenv"
)

// requireNodeModules fails the test if the pinned npm packages are not
// installed.
func requireNodeModules(t *testing.T) {
	t.Helper()
	for _, pkg := range []string{"@modelcontextprotocol/sdk", "@modelcontextprotocol/server-everything"} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("%s is not installed in tests/interop/node_modules: run scripts/install-test-deps.sh (or make -f xcaddy.mk test)", pkg)
		}
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed: run scripts/install-test-deps.sh")
	}
}

// startEverything runs server-everything over transport ("sse" or
// "streamableHttp") on a free loopback port until the test ends.
func startEverything(t *testing.T, transport string) string {
	t.Helper()
	port := testenv.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", "node_modules/@modelcontextprotocol/server-everything/dist/index.js", transport)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting server-everything: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(base + "/")
		if err == nil {
			res.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("server-everything %s did not listen on %s: %v\n%s", transport, base, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clientView is what client.mjs prints.
type clientView struct {
	Tools    []string                   `json:"tools"`
	Calls    map[string]json.RawMessage `json:"calls"`
	Progress []float64                  `json:"progress"`
}

// runClient runs the official TypeScript client against url.
func runClient(t *testing.T, transport, url string) clientView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "client.mjs", transport, url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client against %s: %v\n%s", url, err, stderr.String())
	}
	var v clientView
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	return v
}

func TestOfficialSDKThroughGateway(t *testing.T) {
	requireNodeModules(t)
	c := testenv.StartCaddy(t, testenv.Options{})
	for _, tc := range []struct{ transport, serverArg, endpoint string }{
		{"sse", "sse", "/sse"},
		{"streamable-http", "streamableHttp", "/mcp"},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			backend := startEverything(t, tc.serverArg)
			path := "/everything-" + tc.transport
			res := c.Do("POST", "/api/servers", map[string]any{
				"path": path, "name": "everything " + tc.transport, "proxy_pass_url": backend, "transport": tc.transport,
			})
			if res.Status != http.StatusCreated {
				t.Fatalf("registering: %d %s", res.Status, res.Body)
			}
			direct := runClient(t, tc.transport, backend+tc.endpoint)
			via := runClient(t, tc.transport, c.BaseURL+path+tc.endpoint)
			if len(direct.Tools) == 0 || len(direct.Progress) == 0 {
				t.Fatalf("direct connection saw too little: %+v", direct)
			}
			if !reflect.DeepEqual(direct, via) {
				t.Errorf("through the gateway:\n%+v\ndirectly:\n%+v", via, direct)
			}
		})
	}
}
