package caddymodule

import "testing"

func TestSplitRoute(t *testing.T) {
	cases := []struct{ in, prefix, rest string }{
		{"/weather", "/weather", ""},
		{"/weather/", "/weather", "/"},
		{"/weather/mcp", "/weather", "/mcp"},
		{"//weather/a/../mcp", "/weather", "/mcp"},
		{"/x/../weather/mcp/", "/weather", "/mcp/"},
		{"/weather/%2E%2E/%2e%2e/api", "/api", ""},
		{"/weather%2Fecho/x", "/weather/echo", "/x"},
		{"/weather/a%2Fb/c", "/weather", "/a%2Fb/c"},
		{"/weath%65r/mcp", "/weather", "/mcp"},
		{"/", "/", ""},
		{"/..", "/", ""},
	}
	for _, tc := range cases {
		prefix, rest, ok := splitRoute(tc.in)
		if !ok || prefix != tc.prefix || rest != tc.rest {
			t.Errorf("splitRoute(%q) = %q, %q, %v; want %q, %q", tc.in, prefix, rest, ok, tc.prefix, tc.rest)
		}
	}
	if _, _, ok := splitRoute("/bad%zz"); ok {
		t.Error("an invalid escape was accepted")
	}
}
