package caddymodule

import (
	"bufio"
	"bytes"
	"io"
	"net/url"
	"strings"
)

// maxPendingEvent bounds how much of one SSE event the rewriter holds
// while it waits for the event's end; a larger event is passed on as is.
const maxPendingEvent = 64 << 10

// endpointMapper maps the message endpoint that a legacy SSE backend
// announces to the same endpoint through the gateway.
type endpointMapper struct {
	prefix   string   // the server's gateway path, such as "/weather"
	basePath string   // the escaped base path of proxy_pass_url
	upstream *url.URL // the URL of the SSE request sent to the backend
}

// mapEndpoint rewrites v, a relative or absolute URL of the backend, to a
// path under the gateway prefix: "/messages?sessionId=abc" becomes
// "/weather/messages?sessionId=abc". An endpoint already under the prefix
// (servers written for the original nginx gateway know their prefix) is
// kept as it is, and so is anything that does not parse as a URL.
func (m endpointMapper) mapEndpoint(v string) string {
	u, err := url.Parse(v)
	if err != nil || hasPathPrefix(u.EscapedPath(), m.prefix) {
		return v
	}
	abs := m.upstream.ResolveReference(u)
	p := abs.EscapedPath()
	if base := strings.TrimSuffix(m.basePath, "/"); base != "" && hasPathPrefix(p, base) {
		p = p[len(base):]
	}
	out := m.prefix + p
	if abs.RawQuery != "" {
		out += "?" + abs.RawQuery
	}
	return out
}

// hasPathPrefix reports whether p is prefix or lies below it.
func hasPathPrefix(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// endpointRewriter streams a legacy SSE response and rewrites the data of
// its `endpoint` event with an endpointMapper. It reads the stream line by
// line and hands on every event as soon as its blank line arrives, so
// every event is flushed as it comes; all other bytes pass unchanged. A
// legacy server announces its endpoint in its first event (comments
// aside), so after the first event with data the rewriter steps aside and
// copies the rest of the stream directly: Streamable HTTP GET streams pay
// for one event only.
type endpointRewriter struct {
	body        io.ReadCloser
	src         *bufio.Reader // nil once the endpoint event was rewritten
	mapper      endpointMapper
	event       []byte // lines of the event being read
	out         []byte // bytes ready for the client
	off         int    // read position in out
	err         error  // error of the source, returned once out is drained
	midLine     bool   // the last read ended inside a long line
	passthrough bool   // the current event outgrew maxPendingEvent
}

func newEndpointRewriter(body io.ReadCloser, m endpointMapper) *endpointRewriter {
	return &endpointRewriter{body: body, src: bufio.NewReaderSize(body, 4096), mapper: m}
}

// Read hands on whole events; it blocks only while an event is incomplete.
func (r *endpointRewriter) Read(p []byte) (int, error) {
	for r.off >= len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		if r.src == nil {
			return r.body.Read(p)
		}
		r.out, r.off = r.out[:0], 0
		r.fill()
	}
	n := copy(p, r.out[r.off:])
	r.off += n
	if r.off >= len(r.out) && r.src != nil && r.done() {
		r.stepAside()
	}
	return n, nil
}

// Close closes the backend's body.
func (r *endpointRewriter) Close() error { return r.body.Close() }

// done reports whether the first event with data was handed on (src then
// only holds bytes to copy).
func (r *endpointRewriter) done() bool { return r.event == nil }

// stepAside queues what the buffered reader still holds and drops it, so
// that later reads go straight to the body.
func (r *endpointRewriter) stepAside() {
	if n := r.src.Buffered(); n > 0 {
		rest, _ := r.src.Peek(n)
		r.out = append(r.out[:0], rest...)
		r.off = 0
	}
	r.src = nil
}

// fill reads lines until at least one complete event (or a passthrough
// line) is queued in out, or the source fails.
func (r *endpointRewriter) fill() {
	if r.event == nil {
		r.event = make([]byte, 0, 256)
	}
	for len(r.out) == 0 {
		line, err := r.src.ReadSlice('\n')
		blank := !r.midLine && (string(line) == "\n" || string(line) == "\r\n")
		r.midLine = err == bufio.ErrBufferFull
		switch {
		case r.passthrough:
			r.out = append(r.out, line...)
			if blank {
				// An event this large announces no endpoint: the stream
				// is not a legacy one, so step aside.
				r.passthrough = false
				r.event = nil
				return
			}
		case blank:
			r.event = append(r.event, line...)
			r.out = r.appendEvent(r.out, r.event)
			finished := hasData(r.event)
			r.event = r.event[:0]
			if finished {
				r.event = nil
				return
			}
		default:
			r.event = append(r.event, line...)
			if len(r.event) > maxPendingEvent {
				r.out = append(r.out, r.event...)
				r.event = r.event[:0]
				r.passthrough = true
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			r.out = append(r.out, r.event...)
			r.event = r.event[:0]
			r.err = err
			return
		}
	}
}

// appendEvent appends ev to out, with its data rewritten if it is an
// endpoint event.
func (r *endpointRewriter) appendEvent(out, ev []byte) []byte {
	if !isEndpointEvent(ev) {
		return append(out, ev...)
	}
	for len(ev) > 0 {
		i := bytes.IndexByte(ev, '\n')
		line := ev[:i+1]
		ev = ev[i+1:]
		value, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			out = append(out, line...)
			continue
		}
		eol := "\n"
		value = value[:len(value)-1]
		if v, crlf := bytes.CutSuffix(value, []byte("\r")); crlf {
			value, eol = v, "\r\n"
		}
		space := ""
		if v, sp := bytes.CutPrefix(value, []byte(" ")); sp {
			value, space = v, " "
		}
		out = append(out, "data:"+space...)
		out = append(out, r.mapper.mapEndpoint(string(value))...)
		out = append(out, eol...)
	}
	return out
}

// hasData reports whether the complete event ev has a data field.
func hasData(ev []byte) bool {
	return bytes.HasPrefix(ev, []byte("data:")) || bytes.Contains(ev, []byte("\ndata:"))
}

// isEndpointEvent reports whether the complete event ev (lines ending in
// "\n") has the event type "endpoint".
func isEndpointEvent(ev []byte) bool {
	for len(ev) > 0 {
		i := bytes.IndexByte(ev, '\n')
		line := bytes.TrimSuffix(ev[:i], []byte("\r"))
		ev = ev[i+1:]
		if v, ok := bytes.CutPrefix(line, []byte("event:")); ok {
			return string(bytes.TrimPrefix(v, []byte(" "))) == "endpoint"
		}
	}
	return false
}
