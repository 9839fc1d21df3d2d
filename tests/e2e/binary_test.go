// Package e2e tests the built caddy binary as operators run it: a real
// process, killed and restarted, with its bbolt file on disk.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddymcp/gateway/internal/testenv"
)

// instance is a running ./caddy process.
type instance struct {
	cmd     *exec.Cmd
	baseURL string
	output  *syncBuffer
	done    chan struct{} // closed when the process has exited
	err     error         // its exit error, once done is closed
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func caddyBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("CADDY_BINARY")
	if bin == "" {
		t.Skip("CADDY_BINARY is not set: build with `make -f xcaddy.mk build` (the test target sets it)")
	}
	return bin
}

func writeCaddyfile(t *testing.T, dir, db, password string, httpPort, adminPort int) string {
	t.Helper()
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	mcp_registry {
		storage %s
		admin_user admin
		admin_password %s
	}
}
http://:%d {
	bind 127.0.0.1
	mcp_registry
	mcp_gateway
}
`, adminPort, db, password, httpPort)
	path := filepath.Join(dir, fmt.Sprintf("Caddyfile-%d", httpPort))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// start runs the binary with a Caddyfile on free ports, the given registry
// file and the admin password "secret"; it does not wait for readiness.
func start(t *testing.T, dir, db string) *instance {
	t.Helper()
	return startWithPassword(t, dir, db, "secret")
}

// startWithPassword is start with another admin password; "" leaves the
// option without a value, as an unset {$ADMIN_PASSWORD} does.
func startWithPassword(t *testing.T, dir, db, password string) *instance {
	t.Helper()
	httpPort, adminPort := testenv.FreePort(t), testenv.FreePort(t)
	cfg := writeCaddyfile(t, dir, db, password, httpPort, adminPort)
	return launch(t, cfg, fmt.Sprintf("http://127.0.0.1:%d", httpPort), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
}

// launch runs the binary with a Caddyfile and extra environment, serving
// at baseURL, and kills it when the test ends; it does not wait for
// readiness.
func launch(t *testing.T, caddyfile, baseURL string, env ...string) *instance {
	t.Helper()
	cmd := exec.Command(caddyBinary(t), "run", "--config", caddyfile, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), env...)
	in := &instance{cmd: cmd, baseURL: baseURL, output: new(syncBuffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = in.output, in.output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		in.err = cmd.Wait()
		close(in.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-in.done
	})
	return in
}

func (in *instance) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(in.baseURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-in.done:
			t.Fatalf("caddy exited: %v\n%s", in.err, in.output)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("caddy did not become ready\n%s", in.output)
}

func (in *instance) request(method, path string, body any) (int, []byte, error) {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, in.baseURL+path, rd)
	req.SetBasicAuth("admin", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes(), err
}

// TestAcceptedWritesSurviveKill registers 200 servers concurrently, kills
// the process with SIGKILL right after the last answer, and finds all 200
// after a restart.
func TestAcceptedWritesSurviveKill(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "registry.db")
	first := start(t, dir, db)
	first.waitReady(t)

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			status, body, err := first.request("POST", "/api/servers", map[string]any{
				"path": fmt.Sprintf("/srv-%03d", i), "name": fmt.Sprintf("Server %d", i),
				"proxy_pass_url": fmt.Sprintf("http://127.0.0.1:%d/mcp", 20000+i),
			})
			if err != nil || status != http.StatusCreated {
				errs <- fmt.Errorf("register %d: %d %s %v", i, status, body, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done

	second := start(t, dir, db)
	second.waitReady(t)
	status, body, err := second.request("GET", "/api/servers", nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("list after restart: %d %v", status, err)
	}
	var list struct{ Servers []struct{ Path string } }
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Servers) != n {
		t.Fatalf("%d servers after SIGKILL and restart, want %d", len(list.Servers), n)
	}
	seen := map[string]bool{}
	for _, s := range list.Servers {
		seen[s.Path] = true
	}
	for i := range n {
		if p := fmt.Sprintf("/srv-%03d", i); !seen[p] {
			t.Errorf("%s lost", p)
		}
	}
}

// TestSecondProcessOnSameFileFailsFast starts a second process on the
// registry file of a running one: it must exit soon with the lock message.
func TestSecondProcessOnSameFileFailsFast(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "registry.db")
	first := start(t, dir, db)
	first.waitReady(t)

	began := time.Now()
	second := start(t, dir, db)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	select {
	case <-second.done:
		if second.err == nil {
			t.Fatalf("second process exited 0\n%s", second.output)
		}
	case <-ctx.Done():
		t.Fatalf("second process still running after %v\n%s", time.Since(began), second.output)
	}
	if !strings.Contains(second.output.String(), "locked by another process") {
		t.Fatalf("second process output lacks the lock message:\n%s", second.output)
	}
	if status, _, err := first.request("GET", "/api/servers", nil); err != nil || status != http.StatusOK {
		t.Fatalf("first process harmed: %d %v", status, err)
	}
}

// TestGeneratedPasswordIsLoggedOnce starts without an admin password: the
// log carries a generated one, once, and it is the one that works.
func TestGeneratedPasswordIsLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	in := startWithPassword(t, dir, filepath.Join(dir, "registry.db"), "")
	in.waitReady(t)
	m := regexp.MustCompile(`"admin_password":"([^"]+)"`).FindAllStringSubmatch(in.output.String(), -1)
	if len(m) != 1 {
		t.Fatalf("generated password logged %d times, want once:\n%s", len(m), in.output)
	}
	for password, want := range map[string]int{m[0][1]: http.StatusOK, "secret": http.StatusUnauthorized} {
		req, _ := http.NewRequest("GET", in.baseURL+"/api/servers", nil)
		req.SetBasicAuth("admin", password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("password %q: %d, want %d", password, resp.StatusCode, want)
		}
	}
}

// TestRepositoryCaddyfile runs the Caddyfile that `make -f xcaddy.mk run`
// uses: it answers whatever host name the client used, on loopback.
func TestRepositoryCaddyfile(t *testing.T) {
	dir := t.TempDir()
	port, admin := testenv.FreePort(t), testenv.FreePort(t)
	in := launch(t, "../../Caddyfile", fmt.Sprintf("http://127.0.0.1:%d", port),
		"XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "ADMIN_PASSWORD=secret",
		"MCP_REGISTRY_STORAGE="+filepath.Join(dir, "registry.db"), fmt.Sprintf("MCP_PORT=%d", port),
		fmt.Sprintf("CADDY_ADMIN=127.0.0.1:%d", admin), "MCP_BIND=127.0.0.1")
	in.waitReady(t)
	for _, host := range []string{"localhost", "127.0.0.1", "gateway.internal"} {
		req, _ := http.NewRequest("GET", in.baseURL+"/api/stats", nil)
		req.Host = fmt.Sprintf("%s:%d", host, port)
		req.SetBasicAuth("admin", "secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("Host %s: %d %s, want the API's 200 JSON", host, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
