package cmdline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// instance is a `caddy run` process of the built binary.
type instance struct {
	t      *testing.T
	binary string
	admin  string
	dir    string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// caddyBinary is the binary that `make -f xcaddy.mk test` builds and names
// in CADDY_BINARY, or ./caddy at the repository root.
func caddyBinary(t *testing.T) string {
	if b := os.Getenv("CADDY_BINARY"); b != "" {
		return b
	}
	b, err := filepath.Abs("../../caddy")
	if err == nil {
		if _, err = os.Stat(b); err == nil {
			return b
		}
	}
	t.Skip("no caddy binary: run make -f xcaddy.mk build, or set CADDY_BINARY")
	return ""
}

// startInstance runs the built binary with a Caddyfile on free loopback
// ports (the admin endpoint on a unix socket if unixAdmin) and a fresh
// registry file, and stops it when the test ends.
func startInstance(t *testing.T, unixAdmin bool) *instance {
	t.Helper()
	in := &instance{t: t, binary: caddyBinary(t), dir: t.TempDir()}
	in.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if unixAdmin {
		in.admin = "unix/" + filepath.Join(in.dir, "admin.sock")
	}
	caddyfile := fmt.Sprintf(`{
	admin %s
	persist_config off
	mcp_registry {
		storage %s
		admin_user admin
		admin_password cli-test-password
	}
}
http://:%d {
	bind 127.0.0.1
	mcp_registry
	mcp_gateway
}
`, in.admin, filepath.Join(in.dir, "registry.db"), freePort(t))
	cfgPath := filepath.Join(in.dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(in.binary, "run", "--config", cfgPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+in.dir, "XDG_CONFIG_HOME="+in.dir, "HOME="+in.dir)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", in.binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("caddy did not stop within 10s of SIGINT")
		}
		if t.Failed() {
			t.Logf("caddy log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, _, code := in.run("list"); code == 0 {
			return in
		}
		select {
		case err := <-exited:
			t.Fatalf("caddy exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy's admin endpoint did not answer within 15s\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run runs `caddy mcp-registry args... --address <admin>`.
func (in *instance) run(args ...string) (stdout, stderr string, code int) {
	in.t.Helper()
	return in.runAt(in.admin, args...)
}

// runAt runs `caddy mcp-registry args... --address address`.
func (in *instance) runAt(address string, args ...string) (stdout, stderr string, code int) {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, in.binary, append(append([]string{"mcp-registry"}, args...), "--address", address)...)
	cmd.Dir = in.dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		in.t.Fatalf("running mcp-registry %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// ok runs a command that must succeed.
func (in *instance) ok(args ...string) string {
	in.t.Helper()
	out, errOut, code := in.run(args...)
	if code != 0 {
		in.t.Fatalf("mcp-registry %v exited %d: %s", args, code, errOut)
	}
	return out
}

// fails runs a command that must exit non-zero with a one-line reason
// containing want.
func (in *instance) fails(want string, args ...string) {
	in.t.Helper()
	out, errOut, code := in.run(args...)
	if code == 0 {
		in.t.Fatalf("mcp-registry %v succeeded, want failure: %s", args, out)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
		in.t.Fatalf("mcp-registry %v: stderr %q is not one line saying %q", args, errOut, want)
	}
}

// TestCommandLine runs every subcommand of the built binary against a
// running instance: tables, --json, failures and a checked backup.
func TestCommandLine(t *testing.T) {
	in := startInstance(t, false)

	if out := in.ok("list"); !strings.HasPrefix(out, "PATH") || strings.Count(out, "\n") != 1 {
		t.Fatalf("list of an empty registry = %q", out)
	}
	if out := in.ok("register", "--name", "Weather", "--path", "/weather", "--url", "http://127.0.0.1:9/mcp",
		"--tag", "weather", "--tag", "forecast", "--description", "Forecasts"); !strings.Contains(out, "registered /weather") {
		t.Fatalf("register printed %q", out)
	}
	in.fails("already exists", "register", "--name", "Again", "--path", "weather", "--url", "http://127.0.0.1:9")
	in.fails("proxy_pass_url", "register", "--name", "Bad", "--path", "/bad", "--url", "ftp://example.com")
	in.fails("--url is required", "register", "--name", "Bad", "--path", "/bad")
	in.fails("reserved", "register", "--name", "Bad", "--path", "/api", "--url", "http://127.0.0.1:9")

	out := in.ok("list")
	if !strings.Contains(out, "/weather") || !strings.Contains(out, "Weather") || !strings.Contains(out, "http://127.0.0.1:9/mcp") {
		t.Fatalf("list lacks the server:\n%s", out)
	}
	var list struct {
		Servers []struct {
			Path    string   `json:"path"`
			Tags    []string `json:"tags"`
			Enabled bool     `json:"enabled"`
		} `json:"servers"`
	}
	if err := json.Unmarshal([]byte(in.ok("list", "--json")), &list); err != nil || len(list.Servers) != 1 ||
		list.Servers[0].Path != "/weather" || strings.Join(list.Servers[0].Tags, ",") != "weather,forecast" {
		t.Fatalf("list --json: %v %+v", err, list)
	}
	if out := in.ok("show", "weather"); !strings.Contains(out, "Path:") || !strings.Contains(out, "Forecasts") {
		t.Fatalf("show printed:\n%s", out)
	}
	in.fails("not found", "show", "/nope")

	if out := in.ok("disable", "/weather"); out != "disabled /weather\n" {
		t.Fatalf("disable printed %q", out)
	}
	var rec struct {
		Enabled bool `json:"enabled"`
		Health  struct {
			Status string `json:"status"`
		} `json:"health"`
	}
	if err := json.Unmarshal([]byte(in.ok("show", "/weather", "--json")), &rec); err != nil || rec.Enabled || rec.Health.Status != "disabled" {
		t.Fatalf("show --json after disable: %v %+v", err, rec)
	}
	if err := json.Unmarshal([]byte(in.ok("enable", "/weather", "--json")), &rec); err != nil || !rec.Enabled {
		t.Fatalf("enable --json: %v %+v", err, rec)
	}

	var export []map[string]any
	exported := in.ok("export")
	if err := json.Unmarshal([]byte(exported), &export); err != nil || len(export) != 1 || export[0]["path"] != "/weather" {
		t.Fatalf("export: %v\n%s", err, exported)
	}

	// Import this registry's export and one of the original's server files.
	exportFile := filepath.Join(in.dir, "export.json")
	legacyFile := filepath.Join(in.dir, "fininfo.json")
	mustWrite(t, exportFile, exported)
	mustWrite(t, legacyFile, `{"server_name": "Financial Info", "description": "Stock data", "path": "/fininfo",
		"proxy_pass_url": "http://127.0.0.1:9", "tags": ["finance"], "num_tools": 1, "num_stars": 4, "is_python": true,
		"license": "MIT", "tool_list": [{"name": "get_stock", "parsed_description": {"main": "Stock quote."}, "schema": {"type": "object"}}]}`)
	if out := in.ok("import", "--dry-run", exportFile, legacyFile); !strings.Contains(out, "would add") || !strings.Contains(out, "exists") {
		t.Fatalf("import --dry-run printed:\n%s", out)
	}
	var results []struct {
		File     string   `json:"file"`
		Added    []string `json:"added"`
		Existing []string `json:"existing"`
	}
	if err := json.Unmarshal([]byte(in.ok("import", "--json", exportFile, legacyFile)), &results); err != nil || len(results) != 2 ||
		strings.Join(results[0].Existing, ",") != "/weather" || strings.Join(results[1].Added, ",") != "/fininfo" {
		t.Fatalf("import --json: %v %+v", err, results)
	}
	if out := in.ok("show", "fininfo"); !strings.Contains(out, "TOOL") || !strings.Contains(out, "get_stock") || !strings.Contains(out, "Stock quote.") {
		t.Fatalf("show of an imported server lacks its tools:\n%s", out)
	}
	badFile := filepath.Join(in.dir, "bad.json")
	mustWrite(t, badFile, `[{"path": "/bad", "name": "Bad", "proxy_pass_url": "ftp://x"}]`)
	in.fails("1 record(s) failed validation", "import", badFile)
	in.fails("no such file", "import", filepath.Join(in.dir, "missing.json"))

	backup := filepath.Join(in.dir, "backup.db")
	if out := in.ok("backup", backup); !strings.Contains(out, "2 servers") {
		t.Fatalf("backup printed %q", out)
	}
	db, err := bolt.Open(backup, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("opening the backup: %v", err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		b := tx.Bucket([]byte("servers"))
		if b == nil || b.Stats().KeyN != 2 {
			return errors.New("the servers bucket does not hold 2 records")
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatalf("backup check: %v", err)
	}
	in.fails("creating backup file", "backup", filepath.Join(in.dir, "no-such-dir", "b.db"))

	if out := in.ok("remove", "fininfo"); out != "removed /fininfo\n" {
		t.Fatalf("remove printed %q", out)
	}
	in.fails("not found", "remove", "/fininfo")

	in.fails("unknown subcommand", "frobnicate")
	in.fails("accepts 1 arg(s), received 0", "show")
	in.fails("accepts 1 arg(s), received 2", "show", "a", "b")
	in.fails("requires at least 1 arg(s)", "import")
	in.fails("accepts 1 arg(s), received 0", "backup")
	in.fails("unknown flag: --bogus", "list", "--bogus")

	unused := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, errOut, code := in.runAt(unused, "list")
	if code == 0 || !strings.Contains(errOut, "cannot reach Caddy's admin endpoint") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("list against a closed port: exit %d, stderr %q", code, errOut)
	}
}

// TestCommandLineUnixSocket reaches an admin endpoint on a unix socket,
// named by --address or by CADDY_ADMIN as for Caddy's own commands.
func TestCommandLineUnixSocket(t *testing.T) {
	in := startInstance(t, true)
	in.ok("register", "--name", "Unix", "--path", "/unix", "--url", "http://127.0.0.1:9")
	cmd := exec.Command(in.binary, "mcp-registry", "list")
	cmd.Env = append(os.Environ(), "CADDY_ADMIN="+in.admin)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/unix") {
		t.Fatalf("list with CADDY_ADMIN=%s: %v\n%s", in.admin, err, out)
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
