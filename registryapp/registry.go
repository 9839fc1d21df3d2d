package registryapp

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of registry operations; the API maps them to status codes.
var (
	// ErrNotFound means no server is registered under the given path.
	ErrNotFound = errors.New("server not found")
	// ErrConflict means another server already uses the path.
	ErrConflict = errors.New("a server with this path already exists")
)

// Registry is the one service layer over the registered servers: the REST
// API, the admin API, mcpgw, the health loops and the proxy all go through
// it. It is shared by every config generation of a process that names the
// same database file, so it survives config reloads. Readers use an
// immutable in-memory snapshot; writers commit to bbolt first, then swap
// the snapshot and publish an event.
type Registry struct {
	dbPath string
	store  *store

	writeMu sync.Mutex // serialises writers: commit, swap, publish
	snap    atomic.Pointer[Snapshot]

	subsMu sync.Mutex
	subs   map[uint64]func(Event)
	nextID uint64

	sessions *sessionStore
	requests sync.Map // path -> *atomic.Uint64
}

// Event is one change of the registry.
type Event struct {
	// Type is EventServerUpdated or EventServerRemoved.
	Type string
	// Server is the record after the change (nil when removed).
	Server *Server
	// Path is the path of the changed server.
	Path string
	// ToolChange describes a change of the server's tool set, if any.
	ToolChange *ToolChange
}

// Event types.
const (
	EventServerUpdated = "server_updated"
	EventServerRemoved = "server_removed"
)

// ToolChange is a difference between two tool sets of a server.
type ToolChange struct {
	At      time.Time `json:"at"`
	Added   []string  `json:"added"`
	Removed []string  `json:"removed"`
	Changed []string  `json:"changed"`
}

// Snapshot is an immutable view of all servers at one moment. Its records
// must not be modified.
type Snapshot struct {
	servers []*Server          // sorted by path
	byPath  map[string]*Server // exact path
	byKey   map[string]*Server // case-folded path
}

func newSnapshot(servers []*Server) *Snapshot {
	s := &Snapshot{
		servers: slices.Clone(servers),
		byPath:  make(map[string]*Server, len(servers)),
		byKey:   make(map[string]*Server, len(servers)),
	}
	slices.SortFunc(s.servers, func(a, b *Server) int { return strings.Compare(a.Path, b.Path) })
	for _, srv := range s.servers {
		s.byPath[srv.Path] = srv
		s.byKey[pathKey(srv.Path)] = srv
	}
	return s
}

// Servers returns all records sorted by path.
func (s *Snapshot) Servers() []*Server { return s.servers }

// Route returns the server registered at exactly path, or nil.
func (s *Snapshot) Route(path string) *Server { return s.byPath[path] }

// Lookup returns the server whose path matches idOrPath case-insensitively.
func (s *Snapshot) Lookup(idOrPath string) (*Server, bool) {
	srv, ok := s.byKey[pathKey(NormalizePath(idOrPath))]
	return srv, ok
}

func (s *Snapshot) with(srv *Server, removeKey string) *Snapshot {
	out := make([]*Server, 0, len(s.servers)+1)
	for _, old := range s.servers {
		k := pathKey(old.Path)
		if k == removeKey || (srv != nil && k == pathKey(srv.Path)) {
			continue
		}
		out = append(out, old)
	}
	if srv != nil {
		out = append(out, srv)
	}
	return newSnapshot(out)
}

func openRegistry(dbPath string) (*Registry, error) {
	st, err := openStore(dbPath)
	if err != nil {
		return nil, err
	}
	servers, err := st.loadAll()
	if err != nil {
		st.close()
		return nil, err
	}
	r := &Registry{
		dbPath:   dbPath,
		store:    st,
		subs:     make(map[uint64]func(Event)),
		sessions: newSessionStore(),
	}
	r.snap.Store(newSnapshot(servers))
	return r, nil
}

// Destruct closes the database; the usage pool calls it when the last
// config generation using this file is cleaned up.
func (r *Registry) Destruct() error { return r.store.close() }

// Snapshot returns the current immutable view of all servers.
func (r *Registry) Snapshot() *Snapshot { return r.snap.Load() }

// Subscribe calls fn for every change, in commit order, until the returned
// function is called. fn must not block: it runs while writers wait.
func (r *Registry) Subscribe(fn func(Event)) (unsubscribe func()) {
	r.subsMu.Lock()
	defer r.subsMu.Unlock()
	r.nextID++
	id := r.nextID
	r.subs[id] = fn
	return func() {
		r.subsMu.Lock()
		defer r.subsMu.Unlock()
		delete(r.subs, id)
	}
}

func (r *Registry) publish(ev Event) {
	r.subsMu.Lock()
	defer r.subsMu.Unlock()
	for _, fn := range r.subs {
		fn(ev)
	}
}

// Get returns the server with the given id or path.
func (r *Registry) Get(idOrPath string) (*Server, error) {
	srv, ok := r.Snapshot().Lookup(idOrPath)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, NormalizePath(idOrPath))
	}
	return srv, nil
}

// commit writes srv (nil to only remove) and removes removeKey, swaps the
// snapshot and publishes the event. The caller holds writeMu.
func (r *Registry) commit(srv *Server, removeKey string, ev Event) error {
	var remove []string
	if removeKey != "" {
		remove = []string{removeKey}
	}
	var put []*Server
	if srv != nil {
		put = []*Server{srv}
	}
	if err := r.store.put(put, remove); err != nil {
		return fmt.Errorf("saving registry: %w", err)
	}
	r.snap.Store(r.Snapshot().with(srv, removeKey))
	r.publish(ev)
	return nil
}

// Register validates in and adds a new server.
func (r *Registry) Register(in ServerInput) (*Server, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if existing, ok := r.Snapshot().Lookup(in.Path); ok {
		return nil, fmt.Errorf("%w: %s", ErrConflict, existing.Path)
	}
	now := time.Now().UTC()
	srv := &Server{CreatedAt: now, Enabled: true, Tools: []Tool{}}
	applyInput(srv, in)
	srv.UpdatedAt = now
	srv.Health = Health{Status: initialStatus(srv.Enabled)}
	if err := r.commit(srv, "", Event{Type: EventServerUpdated, Server: srv, Path: srv.Path}); err != nil {
		return nil, err
	}
	return srv, nil
}

// Update replaces the editable fields of the server idOrPath. A changed
// path moves the record (409 if the new path is taken).
func (r *Registry) Update(idOrPath string, in ServerInput) (*Server, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	snap := r.Snapshot()
	old, ok := snap.Lookup(idOrPath)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, NormalizePath(idOrPath))
	}
	if other, taken := snap.Lookup(in.Path); taken && other != old {
		return nil, fmt.Errorf("%w: %s", ErrConflict, other.Path)
	}
	srv := cloneServer(old)
	endpointChanged := srv.ProxyPassURL != in.ProxyPassURL || srv.Transport != in.Transport
	applyInput(srv, in)
	srv.UpdatedAt = time.Now().UTC()
	if endpointChanged || old.Enabled != srv.Enabled {
		srv.Health = Health{Status: initialStatus(srv.Enabled)}
	}
	removeKey := ""
	if old.Path != srv.Path {
		removeKey = pathKey(old.Path)
	}
	if err := r.commit(srv, removeKey, Event{Type: EventServerUpdated, Server: srv, Path: srv.Path}); err != nil {
		return nil, err
	}
	if removeKey != "" {
		r.requests.Delete(old.Path)
		r.publish(Event{Type: EventServerRemoved, Path: old.Path})
	}
	return srv, nil
}

// Delete removes the server idOrPath.
func (r *Registry) Delete(idOrPath string) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	old, ok := r.Snapshot().Lookup(idOrPath)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, NormalizePath(idOrPath))
	}
	r.requests.Delete(old.Path)
	return r.commit(nil, pathKey(old.Path), Event{Type: EventServerRemoved, Path: old.Path})
}

// SetEnabled enables or disables the server idOrPath.
func (r *Registry) SetEnabled(idOrPath string, enabled bool) (*Server, error) {
	return r.modify(idOrPath, func(srv *Server) bool {
		if srv.Enabled == enabled {
			return false
		}
		srv.Enabled = enabled
		srv.Health = Health{Status: initialStatus(enabled)}
		return true
	}, nil)
}

// Toggle flips the enabled state of the server idOrPath in one write, so
// that two concurrent flips give two changes.
func (r *Registry) Toggle(idOrPath string) (*Server, error) {
	return r.modify(idOrPath, func(srv *Server) bool {
		srv.Enabled = !srv.Enabled
		srv.Health = Health{Status: initialStatus(srv.Enabled)}
		return true
	}, nil)
}

// SetHealth records the result of a health check. A check of a server that
// was disabled meanwhile is dropped. A result with the status and error of
// the previous one only refreshes checked_at and latency_ms: it updates the
// snapshot and is published, but is not committed on its own (it is saved
// with the record's next write), so that steady checks of many servers cost
// no fsync each and never hold up the API's writes. A change of status or
// error is committed before it is published.
func (r *Registry) SetHealth(idOrPath string, h Health) (*Server, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	old, ok := r.Snapshot().Lookup(idOrPath)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, NormalizePath(idOrPath))
	}
	if !old.Enabled {
		return old, nil
	}
	srv := cloneServer(old)
	srv.Health = h
	ev := Event{Type: EventServerUpdated, Server: srv, Path: srv.Path}
	if old.Health.Status == h.Status && old.Health.Error == h.Error {
		r.snap.Store(r.Snapshot().with(srv, ""))
		r.publish(ev)
		return srv, nil
	}
	srv.UpdatedAt = time.Now().UTC()
	if err := r.commit(srv, "", ev); err != nil {
		return nil, err
	}
	return srv, nil
}

// SetTransport records the transport that probing found for a server
// registered with "auto".
func (r *Registry) SetTransport(idOrPath, transport string) (*Server, error) {
	return r.modify(idOrPath, func(srv *Server) bool {
		if srv.Transport == transport {
			return false
		}
		srv.Transport = transport
		return true
	}, nil)
}

// SetTools records the tools that discovery found, and returns the change
// against the previous set (nil if none).
func (r *Registry) SetTools(idOrPath string, tools []Tool) (*Server, *ToolChange, error) {
	var change *ToolChange
	srv, err := r.modify(idOrPath, func(srv *Server) bool {
		change = diffTools(srv.Tools, tools)
		if change == nil && srv.NumTools == len(tools) {
			return false
		}
		srv.Tools = tools
		srv.NumTools = len(tools)
		return true
	}, func() *ToolChange { return change })
	return srv, change, err
}

// modify applies fn to a copy of the record and commits it if fn reports a
// change. toolChange, if set, supplies the event's tool change.
func (r *Registry) modify(idOrPath string, fn func(*Server) bool, toolChange func() *ToolChange) (*Server, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	old, ok := r.Snapshot().Lookup(idOrPath)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, NormalizePath(idOrPath))
	}
	srv := cloneServer(old)
	if !fn(srv) {
		return old, nil
	}
	srv.UpdatedAt = time.Now().UTC()
	ev := Event{Type: EventServerUpdated, Server: srv, Path: srv.Path}
	if toolChange != nil {
		ev.ToolChange = toolChange()
	}
	if err := r.commit(srv, "", ev); err != nil {
		return nil, err
	}
	return srv, nil
}

// ImportResult reports what an import did (or would do, in a dry run).
type ImportResult struct {
	DryRun   bool           `json:"dry_run"`
	Added    []string       `json:"added"`
	Skipped  []ImportSkip   `json:"skipped"`
	Failed   []ImportFailed `json:"failed"`
	Existing []string       `json:"existing"`
	Toggled  []string       `json:"toggled"`
}

// ImportSkip names a record that was not imported and why, such as a
// reserved path.
type ImportSkip struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// ImportFailed names a record that failed validation.
type ImportFailed struct {
	Index int    `json:"index"`
	Path  string `json:"path"`
	Field string `json:"field"`
	Error string `json:"error"`
}

// ImportRecord is one server to import: its editable fields plus the
// tools it is known to offer.
type ImportRecord struct {
	Input ServerInput
	Tools []Tool
	// StateOnly marks an entry of the original's server_state.json: only
	// the enabled state of an existing server is set.
	StateOnly bool
}

// Import adds the records whose paths are free, in one transaction. Paths
// already registered are listed as existing and left unchanged; reserved
// paths are skipped; invalid records are reported. With dryRun nothing is
// written.
func (r *Registry) Import(records []ImportRecord, dryRun bool) (*ImportResult, error) {
	res := &ImportResult{DryRun: dryRun, Added: []string{}, Skipped: []ImportSkip{}, Failed: []ImportFailed{}, Existing: []string{}, Toggled: []string{}}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	snap := r.Snapshot()
	seen := map[string]bool{}
	var add []*Server
	now := time.Now().UTC()
	for i, rec := range records {
		in := rec.Input
		if rec.StateOnly {
			srv, ok := snap.Lookup(in.Path)
			switch {
			case !ok:
				res.Skipped = append(res.Skipped, ImportSkip{Path: in.Path, Reason: "not registered"})
			case srv.Enabled != *in.Enabled:
				c := cloneServer(srv)
				c.Enabled = *in.Enabled
				c.Health = Health{Status: initialStatus(c.Enabled)}
				c.UpdatedAt = now
				add = append(add, c)
				res.Toggled = append(res.Toggled, srv.Path)
			}
			continue
		}
		if p := strings.TrimSpace(in.Path); pathPattern.MatchString(p) && IsReservedPath(p) {
			res.Skipped = append(res.Skipped, ImportSkip{Path: p, Reason: "reserved path: the gateway serves it itself"})
			continue
		}
		if err := in.Validate(); err != nil {
			f := ImportFailed{Index: i, Path: in.Path, Error: err.Error()}
			var fe *FieldError
			if errors.As(err, &fe) {
				f.Field = fe.Field
			}
			res.Failed = append(res.Failed, f)
			continue
		}
		if _, ok := snap.Lookup(in.Path); ok || seen[pathKey(in.Path)] {
			res.Existing = append(res.Existing, in.Path)
			continue
		}
		seen[pathKey(in.Path)] = true
		srv := &Server{CreatedAt: now, UpdatedAt: now, Enabled: true, Tools: []Tool{}}
		applyInput(srv, in)
		srv.Health = Health{Status: initialStatus(srv.Enabled)}
		if rec.Tools != nil {
			srv.Tools = rec.Tools
			srv.NumTools = len(rec.Tools)
		}
		add = append(add, srv)
		res.Added = append(res.Added, srv.Path)
	}
	if dryRun || len(add) == 0 {
		return res, nil
	}
	if err := r.store.put(add, nil); err != nil {
		return nil, fmt.Errorf("saving registry: %w", err)
	}
	next := snap
	for _, srv := range add {
		next = next.with(srv, "")
	}
	r.snap.Store(next)
	for _, srv := range add {
		r.publish(Event{Type: EventServerUpdated, Server: srv, Path: srv.Path})
	}
	return res, nil
}

// Backup writes a consistent copy of the database file to w.
func (r *Registry) Backup(w io.Writer) (int64, error) { return r.store.backup(w) }

// RequestCounter returns the counter of proxied requests of a server path,
// creating it on first use.
func (r *Registry) RequestCounter(path string) *atomic.Uint64 {
	if c, ok := r.requests.Load(path); ok {
		return c.(*atomic.Uint64)
	}
	c, _ := r.requests.LoadOrStore(path, new(atomic.Uint64))
	return c.(*atomic.Uint64)
}

// Stats counts servers by state and tools, with proxied request counts.
type Stats struct {
	Total     int               `json:"total"`
	Enabled   int               `json:"enabled"`
	Disabled  int               `json:"disabled"`
	Healthy   int               `json:"healthy"`
	Unhealthy int               `json:"unhealthy"`
	Unknown   int               `json:"unknown"`
	Tools     int               `json:"tools"`
	Requests  map[string]uint64 `json:"requests"`
}

// Stats computes the current statistics.
func (r *Registry) Stats() Stats {
	st := Stats{Requests: map[string]uint64{}}
	for _, srv := range r.Snapshot().Servers() {
		st.Total++
		if srv.Enabled {
			st.Enabled++
		} else {
			st.Disabled++
		}
		switch srv.Health.Status {
		case StatusHealthy:
			st.Healthy++
		case StatusUnhealthy:
			st.Unhealthy++
		case StatusUnknown:
			st.Unknown++
		}
		st.Tools += srv.NumTools
		var n uint64
		if c, ok := r.requests.Load(srv.Path); ok {
			n = c.(*atomic.Uint64).Load()
		}
		st.Requests[srv.Path] = n
	}
	return st
}

func initialStatus(enabled bool) string {
	if enabled {
		return StatusUnknown
	}
	return StatusDisabled
}

func applyInput(srv *Server, in ServerInput) {
	srv.Path = in.Path
	srv.Name = in.Name
	srv.ProxyPassURL = in.ProxyPassURL
	srv.Transport = in.Transport
	srv.Description = in.Description
	srv.Tags = in.Tags
	if in.Enabled != nil {
		srv.Enabled = *in.Enabled
	}
	if in.Legacy != nil {
		l := *in.Legacy
		srv.Extra = &l
	}
}

func cloneServer(s *Server) *Server {
	c := *s
	c.Tags = slices.Clone(s.Tags)
	c.Tools = slices.Clone(s.Tools)
	if s.Extra != nil {
		e := *s.Extra
		c.Extra = &e
	}
	return &c
}
