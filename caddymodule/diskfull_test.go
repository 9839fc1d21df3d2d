package caddymodule_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddymcp/gateway/internal/testenv"
)

// TestDiskFull keeps the registry on a 1 MiB tmpfs and fills it: the write
// that does not fit is answered 507 and leaves nothing behind, every
// accepted write is there when the file is opened again, and writes work
// again once space is freed.
func TestDiskFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mounting a small tmpfs needs root (make -f xcaddy.mk test runs as root in CI): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount: %v %s", err, out)
		}
	})
	// Registered after the unmount above, so it runs first: Caddy stops
	// before its file system goes away.
	opts := testenv.Options{DBPath: filepath.Join(dir, "registry.db")}
	c := testenv.StartCaddy(t, opts)
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 512<<10), 0o600); err != nil {
		t.Fatal(err)
	}

	register := func(i int) testenv.Response {
		return c.Do("POST", "/api/servers", map[string]any{
			"path": fmt.Sprintf("/s%d", i), "name": fmt.Sprintf("Server %d", i),
			"proxy_pass_url": "http://127.0.0.1:9/", "description": strings.Repeat("d", 4000),
		})
	}
	accepted, failed := 0, -1
	for i := range 400 {
		r := register(i)
		if r.Status == http.StatusCreated {
			accepted++
			continue
		}
		wantError(t, "write on a full disk", r, http.StatusInsufficientStorage, "")
		failed = i
		break
	}
	if failed < 0 {
		t.Fatalf("400 registrations of 4 KB fit on a 1 MiB disk holding a 512 KiB file")
	}
	wantError(t, "the refused server", c.Do("GET", fmt.Sprintf("/api/servers/s%d", failed), nil), http.StatusNotFound, "")

	t.Logf("%d registrations accepted before the disk was full", accepted)

	// Point the config elsewhere and back: the file is closed and opened
	// again, so what follows is read from disk.
	if err := c.Load(testenv.Options{DBPath: filepath.Join(t.TempDir(), "other.db")}); err != nil {
		t.Fatalf("switching to another file: %v", err)
	}
	if err := c.Load(opts); err != nil {
		t.Fatalf("reopening the full disk's registry: %v", err)
	}
	var list struct{ Servers []map[string]any }
	c.Do("GET", "/api/servers", nil).JSON(t, &list)
	if len(list.Servers) != accepted {
		t.Fatalf("%d servers after the reload, want the %d accepted", len(list.Servers), accepted)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "register after space was freed", register(failed), http.StatusCreated)
}
