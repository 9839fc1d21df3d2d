package registryapp

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTestRegistry(t *testing.T, path string) *Registry {
	t.Helper()
	r, err := openRegistry(path)
	if err != nil {
		t.Fatalf("openRegistry: %v", err)
	}
	return r
}

func TestRegistryPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	r := openTestRegistry(t, path)
	if _, err := r.Register(validInput()); err != nil {
		t.Fatal(err)
	}
	in := validInput()
	in.Path, in.Name = "/fin", "Fin"
	if _, err := r.Register(in); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetEnabled("fin", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.SetTools("weather", []Tool{{Name: "get_forecast"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Destruct(); err != nil {
		t.Fatal(err)
	}

	r = openTestRegistry(t, path)
	defer r.Destruct()
	w, err := r.Get("/weather")
	if err != nil {
		t.Fatal(err)
	}
	if w.NumTools != 1 || w.Tools[0].Name != "get_forecast" {
		t.Errorf("tools not persisted: %+v", w.Tools)
	}
	f, err := r.Get("fin")
	if err != nil {
		t.Fatal(err)
	}
	if f.Enabled || f.Health.Status != StatusDisabled {
		t.Errorf("disabled state not persisted: enabled=%v status=%s", f.Enabled, f.Health.Status)
	}
}

func TestRegistryConflictsAreCaseInsensitive(t *testing.T) {
	r := openTestRegistry(t, filepath.Join(t.TempDir(), "r.db"))
	defer r.Destruct()
	if _, err := r.Register(validInput()); err != nil {
		t.Fatal(err)
	}
	in := validInput()
	in.Path = "/Weather"
	if _, err := r.Register(in); !errors.Is(err, ErrConflict) {
		t.Fatalf("Register(/Weather) = %v, want ErrConflict", err)
	}
	if got := len(r.Snapshot().Servers()); got != 1 {
		t.Fatalf("%d servers after conflict, want 1", got)
	}
}

func TestRegistryUpdateRenamesAndChecksConflicts(t *testing.T) {
	r := openTestRegistry(t, filepath.Join(t.TempDir(), "r.db"))
	defer r.Destruct()
	var events []Event
	unsub := r.Subscribe(func(ev Event) { events = append(events, ev) })
	defer unsub()
	if _, err := r.Register(validInput()); err != nil {
		t.Fatal(err)
	}
	other := validInput()
	other.Path = "/other"
	if _, err := r.Register(other); err != nil {
		t.Fatal(err)
	}
	moved := validInput()
	moved.Path = "/other"
	if _, err := r.Update("weather", moved); !errors.Is(err, ErrConflict) {
		t.Fatalf("rename onto a taken path = %v, want ErrConflict", err)
	}
	moved.Path = "/forecast"
	srv, err := r.Update("weather", moved)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Path != "/forecast" {
		t.Fatalf("path = %s", srv.Path)
	}
	if _, err := r.Get("weather"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old path still found: %v", err)
	}
	last := events[len(events)-1]
	if last.Type != EventServerRemoved || last.Path != "/weather" {
		t.Errorf("last event = %+v, want server_removed /weather", last)
	}
	if _, err := r.Update("missing", moved); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of missing = %v, want ErrNotFound", err)
	}
}

func TestRegistryConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	r := openTestRegistry(t, path)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := validInput()
			in.Path = fmt.Sprintf("/s%d", i)
			if _, err := r.Register(in); err != nil {
				errs <- err
				return
			}
			if _, err := r.SetEnabled(in.Path, i%2 == 0); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(r.Snapshot().Servers()); got != n {
		t.Fatalf("snapshot has %d servers, want %d", got, n)
	}
	r.Destruct()
	r = openTestRegistry(t, path)
	defer r.Destruct()
	if got := r.Stats(); got.Total != n || got.Enabled != n/2 {
		t.Fatalf("after reopen: %+v, want %d total, %d enabled", got, n, n/2)
	}
}

func TestStoreLockedByAnotherHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	r := openTestRegistry(t, path)
	defer r.Destruct()
	_, err := openStore(path)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open = %v, want a locked error", err)
	}
}

func TestStoreRejectsUnknownSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucketIfNotExists(bucketMeta)
		return b.Put(keySchemaVersion, []byte("99"))
	})
	db.Close()
	if _, err := openStore(path); err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Fatalf("open = %v, want schema version error", err)
	}
}

func TestImportReportsAddsSkipsAndFailures(t *testing.T) {
	r := openTestRegistry(t, filepath.Join(t.TempDir(), "r.db"))
	defer r.Destruct()
	if _, err := r.Register(validInput()); err != nil {
		t.Fatal(err)
	}
	records := []ImportRecord{
		{Input: ServerInput{Path: "/new", Name: "New", ProxyPassURL: "http://h:1/"}, Tools: []Tool{{Name: "t"}}},
		{Input: ServerInput{Path: "/WEATHER", Name: "Dup", ProxyPassURL: "http://h:1/"}},
		{Input: ServerInput{Path: "/mcpgw", Name: "Gw", ProxyPassURL: "http://h:1/"}},
		{Input: ServerInput{Path: "/bad", Name: "Bad", ProxyPassURL: "ftp://h/"}},
	}
	dry, err := r.Import(records, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(dry.Added) != 1 || len(r.Snapshot().Servers()) != 1 {
		t.Fatalf("dry run wrote or misreported: %+v", dry)
	}
	res, err := r.Import(records, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Added, ",") != "/new" || strings.Join(res.Existing, ",") != "/WEATHER" ||
		len(res.Skipped) != 1 || res.Skipped[0].Path != "/mcpgw" || len(res.Failed) != 1 || res.Failed[0].Field != "proxy_pass_url" {
		t.Fatalf("import result = %+v", res)
	}
	srv, err := r.Get("new")
	if err != nil || srv.NumTools != 1 {
		t.Fatalf("imported record = %+v, %v", srv, err)
	}
}

func TestRegistryConcurrentTogglesAllApply(t *testing.T) {
	r := openTestRegistry(t, filepath.Join(t.TempDir(), "r.db"))
	defer r.Destruct()
	if _, err := r.Register(validInput()); err != nil {
		t.Fatal(err)
	}
	const flips = 21
	var wg sync.WaitGroup
	for range flips {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Toggle("weather"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	srv, _ := r.Get("weather")
	if srv.Enabled {
		t.Fatalf("after %d flips of an enabled server it is enabled: a flip was lost", flips)
	}
}

func TestSetHealthCommitsTransitionsOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	r := openTestRegistry(t, path)
	if _, err := r.Register(validInput()); err != nil {
		t.Fatal(err)
	}
	at := func(sec int) *time.Time { ts := time.Date(2026, 1, 1, 0, 0, sec, 0, time.UTC); return &ts }
	if _, err := r.SetHealth("weather", Health{Status: StatusHealthy, CheckedAt: at(1), LatencyMS: 5}); err != nil {
		t.Fatal(err)
	}
	var events int
	unsub := r.Subscribe(func(Event) { events++ })
	srv, err := r.SetHealth("weather", Health{Status: StatusHealthy, CheckedAt: at(2), LatencyMS: 7})
	unsub()
	if err != nil || srv.Health.LatencyMS != 7 || events != 1 {
		t.Fatalf("steady check: %+v, %v, %d events; want latency 7 in the snapshot and one event", srv, err, events)
	}
	if got, _ := r.Get("weather"); got.Health.LatencyMS != 7 {
		t.Fatalf("snapshot latency %d, want 7", got.Health.LatencyMS)
	}
	r.Destruct()

	r = openTestRegistry(t, path)
	got, _ := r.Get("weather")
	if got.Health.Status != StatusHealthy || got.Health.LatencyMS != 5 {
		t.Fatalf("after reopen: %+v; want the committed transition (healthy, 5 ms)", got.Health)
	}
	if _, err := r.SetHealth("weather", Health{Status: StatusUnhealthy, CheckedAt: at(3), Error: "refused"}); err != nil {
		t.Fatal(err)
	}
	r.Destruct()
	r = openTestRegistry(t, path)
	defer r.Destruct()
	if got, _ := r.Get("weather"); got.Health.Status != StatusUnhealthy || got.Health.Error != "refused" {
		t.Fatalf("transition to unhealthy not committed: %+v", got.Health)
	}
}
