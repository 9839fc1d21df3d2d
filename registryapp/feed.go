package registryapp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/zap"
)

// Tuning of the live feed.
const (
	// feedEventBuffer is how many registry events may wait for the hub;
	// past it the hub sends every client a fresh snapshot instead.
	feedEventBuffer = 4096
	// feedClientBuffer is how many messages may wait for one client; a
	// client that falls further behind is dropped.
	feedClientBuffer = 256
	// feedWriteTimeout bounds one write to a client.
	feedWriteTimeout = 5 * time.Second
	// feedStatsDelay is the least time between two stats messages.
	feedStatsDelay = 500 * time.Millisecond
	// feedStatsPoll is how often request counts are looked at for a stats
	// message when nothing else changed.
	feedStatsPoll = 5 * time.Second
	// feedPingInterval keeps idle connections alive through proxies.
	feedPingInterval = 30 * time.Second
)

// Feed message types (SPEC §8).
const (
	feedSnapshot = "snapshot"
	feedStats    = "stats"
)

// feedMessage is a message of the WebSocket feed other than the snapshot.
// Server updates carry the tool change that caused them, if any.
type feedMessage struct {
	Type       string      `json:"type"`
	Server     *Server     `json:"server,omitempty"`
	Path       string      `json:"path,omitempty"`
	Stats      *Stats      `json:"stats,omitempty"`
	ToolChange *ToolChange `json:"tool_change,omitempty"`
}

// feedHub fans registry events out to the WebSocket clients of one app
// instance. The registry's subscriber only queues the event; the hub
// goroutine encodes each message once and hands it to every client
// without blocking. A client whose queue is full is dropped.
type feedHub struct {
	app    *App
	logger *zap.Logger

	events chan Event
	// overflow is set when events were lost; the hub then resyncs every
	// client with a snapshot.
	overflow chan struct{}
	joins    chan *feedClient
	leaves   chan *feedClient

	ctx    context.Context
	cancel context.CancelFunc
	unsub  func()

	mu      sync.Mutex // guards stopped and wg.Add
	stopped bool
	wg      sync.WaitGroup // the hub goroutine and every connection
}

// feedClient is one WebSocket connection.
type feedClient struct {
	send   chan []byte
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func newFeedHub(a *App) *feedHub {
	ctx, cancel := context.WithCancel(context.Background())
	return &feedHub{
		app:      a,
		logger:   a.logger.Named("feed"),
		events:   make(chan Event, feedEventBuffer),
		overflow: make(chan struct{}, 1),
		joins:    make(chan *feedClient),
		leaves:   make(chan *feedClient),
		ctx:      ctx,
		cancel:   cancel,
	}
}

// start subscribes to the registry and runs the hub.
func (h *feedHub) start() {
	h.unsub = h.app.registry.Subscribe(h.onEvent)
	h.wg.Add(1)
	go h.run()
}

// stop unsubscribes, closes every connection and waits for their
// goroutines: server shutdown does not close hijacked connections.
func (h *feedHub) stop() {
	if h.unsub != nil {
		h.unsub()
	}
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// onEvent runs under the registry's writer lock and never blocks.
func (h *feedHub) onEvent(ev Event) {
	select {
	case h.events <- ev:
	default:
		select {
		case h.overflow <- struct{}{}:
		default:
		}
	}
}

func (h *feedHub) run() {
	defer h.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			h.logger.Error("feed hub panicked", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
	}()
	clients := map[*feedClient]bool{}
	var lastStats []byte
	statsTimer := time.NewTimer(feedStatsDelay)
	statsTimer.Stop()
	statsArmed := false
	poll := time.NewTicker(feedStatsPoll)
	defer poll.Stop()
	armStats := func() {
		if !statsArmed {
			statsArmed = true
			statsTimer.Reset(feedStatsDelay)
		}
	}
	broadcast := func(msg []byte) {
		for c := range clients {
			select {
			case c.send <- msg:
			default:
				h.logger.Warn("dropping a slow feed client")
				c.cancel(errSlowClient)
				delete(clients, c)
			}
		}
	}
	sendStats := func() {
		st := h.app.registry.Stats()
		msg := encodeFeed(feedMessage{Type: feedStats, Stats: &st})
		if !bytes.Equal(msg, lastStats) {
			lastStats = msg
			broadcast(msg)
		}
	}
	for {
		select {
		case <-h.ctx.Done():
			for c := range clients {
				c.cancel(errShutdown)
			}
			return
		case c := <-h.joins:
			// The snapshot is taken here, in event order: events queued
			// before it may repeat what it shows, none is missed.
			c.send <- h.snapshotMessage()
			clients[c] = true
			st := h.app.registry.Stats()
			c.send <- encodeFeed(feedMessage{Type: feedStats, Stats: &st})
		case c := <-h.leaves:
			delete(clients, c)
		case ev := <-h.events:
			msg := feedMessage{Type: ev.Type, Path: ev.Path, ToolChange: ev.ToolChange}
			if ev.Type == EventServerUpdated {
				msg.Server, msg.Path = ev.Server, ""
			}
			broadcast(encodeFeed(msg))
			armStats()
		case <-h.overflow:
			h.logger.Warn("feed fell behind the registry; sending clients a new snapshot")
			for len(h.events) > 0 {
				<-h.events
			}
			broadcast(h.snapshotMessage())
			armStats()
		case <-statsTimer.C:
			statsArmed = false
			sendStats()
		case <-poll.C:
			if len(clients) > 0 {
				sendStats()
			}
		}
	}
}

// snapshotMessage encodes the current records; "servers" is an array
// even when no server is registered.
func (h *feedHub) snapshotMessage() []byte {
	servers := h.app.registry.Snapshot().Servers()
	if servers == nil {
		servers = []*Server{}
	}
	return encodeFeed(struct {
		Type    string    `json:"type"`
		Servers []*Server `json:"servers"`
	}{feedSnapshot, servers})
}

// Reasons a connection is closed by the hub.
var (
	errSlowClient = &closeReason{websocket.StatusPolicyViolation, "client too slow"}
	errShutdown   = &closeReason{websocket.StatusGoingAway, "server shutting down or reloading"}
)

// closeReason is the WebSocket close status sent to a dropped client.
type closeReason struct {
	code websocket.StatusCode
	text string
}

func (e *closeReason) Error() string { return e.text }

func encodeFeed(m any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(m)
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// handleFeed serves GET /ws: it checks the Origin, upgrades, and writes
// the hub's messages until the client leaves, falls behind, or the app
// stops. Authentication is the API's (requireAuth).
func (a *App) handleFeed(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !a.originAllowed(origin, r.Host) {
		writeError(w, http.StatusForbidden, "", "origin %s is not allowed to open the feed", origin)
		return
	}
	h := a.feed
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "", "the registry is shutting down")
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The Origin was checked above, against the configured list too.
		InsecureSkipVerify: true,
	})
	if err != nil {
		h.logger.Debug("websocket upgrade failed", zap.Error(err))
		return
	}

	ctx, cancel := context.WithCancelCause(h.ctx)
	defer cancel(nil)
	c := &feedClient{send: make(chan []byte, feedClientBuffer), ctx: ctx, cancel: cancel}
	// The feed only sends; CloseRead answers pings and notices the
	// client's close. Its context is not ours, so that its reader does not
	// cut the connection before the close frame below is sent.
	readCtx := conn.CloseRead(context.Background())
	select {
	case h.joins <- c:
	case <-ctx.Done():
		closeConn(conn, errShutdown)
		return
	}
	defer func() {
		select {
		case h.leaves <- c:
		case <-h.ctx.Done():
		}
	}()
	ping := time.NewTicker(feedPingInterval)
	defer ping.Stop()
	for {
		select {
		case msg := <-c.send:
			if err := writeWithTimeout(ctx, conn, msg); err != nil {
				conn.CloseNow()
				return
			}
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, feedWriteTimeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				conn.CloseNow()
				return
			}
		case <-readCtx.Done():
			conn.CloseNow()
			return
		case <-ctx.Done():
			reason, ok := context.Cause(ctx).(*closeReason)
			if !ok {
				reason = errShutdown
			}
			closeConn(conn, reason)
			return
		}
	}
}

func writeWithTimeout(ctx context.Context, conn *websocket.Conn, msg []byte) error {
	wctx, cancel := context.WithTimeout(ctx, feedWriteTimeout)
	defer cancel()
	return conn.Write(wctx, websocket.MessageText, msg)
}

// closeConn sends the close frame of reason without waiting long for the
// client's answer.
func closeConn(conn *websocket.Conn, reason *closeReason) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn.Close(reason.code, reason.text)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		conn.CloseNow()
		<-done
	}
}

// originAllowed reports whether a browser at origin may open the feed:
// the site's own host, or one of AllowedOrigins ("*" allows any).
func (a *App) originAllowed(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	origin = strings.TrimRight(origin, "/")
	for _, o := range a.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	return false
}

// Interface guards
var _ error = (*closeReason)(nil)
