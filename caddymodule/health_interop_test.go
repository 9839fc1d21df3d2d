package caddymodule_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	gosdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/caddymcp/gateway/internal/testenv"
)

// goSDKHealthHandler serves an official Go SDK server with the named
// tools over transport; every path answers, as the SDK's handlers do.
func goSDKHealthHandler(transport string, tools ...string) http.Handler {
	s := gosdk.NewServer(&gosdk.Implementation{Name: "go-sdk-health", Version: "1.0.0"}, nil)
	type args struct {
		City string `json:"city" jsonschema:"city name"`
	}
	for _, name := range tools {
		gosdk.AddTool(s, &gosdk.Tool{Name: name, Description: "Tool " + name + "."},
			func(context.Context, *gosdk.CallToolRequest, args) (*gosdk.CallToolResult, any, error) {
				return &gosdk.CallToolResult{Content: []gosdk.Content{&gosdk.TextContent{Text: "ok"}}}, nil, nil
			})
	}
	get := func(*http.Request) *gosdk.Server { return s }
	switch transport {
	case testenv.SSE:
		return gosdk.NewSSEHandler(get, nil)
	case testenv.Stateless:
		return gosdk.NewStreamableHTTPHandler(get, &gosdk.StreamableHTTPOptions{Stateless: true})
	default:
		return gosdk.NewStreamableHTTPHandler(get, nil)
	}
}

func TestHealthOfOfficialGoSDKServers(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: fastHealth})
	for _, transport := range []string{testenv.Streamable, testenv.Stateless, testenv.SSE} {
		t.Run(transport, func(t *testing.T) {
			id := "gosdk-" + transport
			backend := serveOn(t, "127.0.0.1:0", goSDKHealthHandler(transport, "echo"))
			addr := backend.Listener.Addr().String()
			register(t, c, "/"+id, backend.URL, "auto")
			srv := waitHealth(t, c, id, "healthy", 1, 5*time.Second)
			wantTransport := "streamable-http"
			if transport == testenv.SSE {
				wantTransport = "sse"
			}
			if srv.Transport != wantTransport {
				t.Errorf("auto resolved to %q, want %q", srv.Transport, wantTransport)
			}

			backend.Close()
			waitHealth(t, c, id, "unhealthy", 1, 3*time.Second)
			serveOn(t, addr, goSDKHealthHandler(transport, "echo", "forecast"))
			waitHealth(t, c, id, "healthy", 2, 5*time.Second)
		})
	}
}

// startEverything runs the TypeScript server-everything over transport
// ("sse" or "streamableHttp") on port until stopEverything or the test's
// end.
func startEverything(t *testing.T, transport string, port int) *exec.Cmd {
	t.Helper()
	bin, err := filepath.Abs("../tests/interop/node_modules/.bin/mcp-server-everything")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: run scripts/install-test-deps.sh (or `cd tests/interop && npm ci`)", bin)
	}
	cmd := exec.Command(bin, transport)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting server-everything: %v", err)
	}
	t.Cleanup(func() { stopEverything(cmd) })
	waitFor(t, 15*time.Second, func() (bool, string) {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			conn.Close()
		}
		return err == nil, fmt.Sprintf("server-everything %s not listening on %d: %v", transport, port, err)
	})
	return cmd
}

func stopEverything(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

func TestHealthOfTypeScriptServerEverything(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: fastHealth})
	for _, transport := range []string{"streamableHttp", "sse"} {
		t.Run(transport, func(t *testing.T) {
			id := "everything-" + transport
			port := testenv.FreePort(t)
			cmd := startEverything(t, transport, port)
			register(t, c, "/"+id, fmt.Sprintf("http://127.0.0.1:%d", port), "auto")
			srv := waitHealth(t, c, id, "healthy", -1, 10*time.Second)
			waitFor(t, 5*time.Second, func() (bool, string) {
				srv = record(t, c, id)
				return srv.NumTools > 0, "no tools listed yet"
			})
			if !slices.Contains(toolNames(srv), "echo") {
				t.Errorf("tools of server-everything = %v, want echo among them", toolNames(srv))
			}
			want := map[string]string{"streamableHttp": "streamable-http", "sse": "sse"}[transport]
			if srv.Transport != want {
				t.Errorf("auto resolved to %q, want %q", srv.Transport, want)
			}

			stopEverything(cmd)
			waitHealth(t, c, id, "unhealthy", -1, 3*time.Second)
			startEverything(t, transport, port)
			waitHealth(t, c, id, "healthy", srv.NumTools, 10*time.Second)
		})
	}
}
