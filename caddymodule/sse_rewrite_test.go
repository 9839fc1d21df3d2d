package caddymodule

import (
	"io"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
)

func TestEndpointMapper(t *testing.T) {
	upstream, _ := url.Parse("http://127.0.0.1:8001/base/sse")
	m := endpointMapper{prefix: "/weather", basePath: "/base", upstream: upstream}
	for in, want := range map[string]string{
		"/base/messages?sessionId=abc":                        "/weather/messages?sessionId=abc",
		"messages?sessionId=abc":                              "/weather/messages?sessionId=abc",
		"http://127.0.0.1:8001/base/messages?sessionId=abc":   "/weather/messages?sessionId=abc",
		"/messages?sessionId=abc":                             "/weather/messages?sessionId=abc",
		"/weather/messages?sessionId=abc":                     "/weather/messages?sessionId=abc",
		"https://gw.example.com/weather/messages?sessionId=a": "https://gw.example.com/weather/messages?sessionId=a",
		"/weatherman/messages":                                "/weather/weatherman/messages",
	} {
		if got := m.mapEndpoint(in); got != want {
			t.Errorf("mapEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEndpointRewriterStreams(t *testing.T) {
	upstream, _ := url.Parse("http://127.0.0.1:8001/sse")
	m := endpointMapper{prefix: "/w", upstream: upstream}
	long := strings.Repeat("x", 10000) // longer than the line buffer
	huge := strings.Repeat("y", maxPendingEvent+10)
	cases := []struct{ in, want string }{
		{": hi\n\nevent: endpoint\ndata: /messages?sessionId=1\n\nevent: endpoint\ndata: /messages\n\n",
			": hi\n\nevent: endpoint\ndata: /w/messages?sessionId=1\n\nevent: endpoint\ndata: /messages\n\n"},
		{"data:/m?s=1\r\nevent:endpoint\r\n\r\n", "data:/w/m?s=1\r\nevent:endpoint\r\n\r\n"},
		{"event: message\ndata: " + long + "\n\nevent: endpoint\ndata: /x\n\n", "event: message\ndata: " + long + "\n\nevent: endpoint\ndata: /x\n\n"},
		{"data: " + huge + "\n\nevent: endpoint\ndata: /x\n\n", "data: " + huge + "\n\nevent: endpoint\ndata: /x\n\n"},
		{": comment " + long + "\n\nevent: endpoint\ndata: /x\n\n", ": comment " + long + "\n\nevent: endpoint\ndata: /w/x\n\n"},
		{"event: endpoint\ndata: /x", "event: endpoint\ndata: /x"}, // cut off before its end
	}
	for i, tc := range cases {
		r := newEndpointRewriter(io.NopCloser(iotest.OneByteReader(strings.NewReader(tc.in))), m)
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if string(got) != tc.want {
			t.Errorf("case %d: got %.200q, want %.200q", i, got, tc.want)
		}
	}
}

// TestEndpointRewriterHandsOnEachEvent checks that an event is readable
// as soon as its blank line arrived, before any later byte exists.
func TestEndpointRewriterHandsOnEachEvent(t *testing.T) {
	pr, pw := io.Pipe()
	upstream, _ := url.Parse("http://127.0.0.1:8001/sse")
	r := newEndpointRewriter(pr, endpointMapper{prefix: "/w", upstream: upstream})
	go func() {
		_, _ = io.WriteString(pw, "event: endpoint\ndata: /m\n\n")
	}()
	buf := make([]byte, 4096)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "event: endpoint\ndata: /w/m\n\n" {
		t.Fatalf("first read %q, %v", buf[:n], err)
	}
	go func() {
		_, _ = io.WriteString(pw, "event: message\ndata: {}\n\n")
	}()
	n, err = r.Read(buf)
	if err != nil || string(buf[:n]) != "event: message\ndata: {}\n\n" {
		t.Fatalf("second read %q, %v", buf[:n], err)
	}
	pw.Close()
	if _, err := r.Read(buf); err != io.EOF {
		t.Fatalf("after the end: %v", err)
	}
}
