package registryapp

import (
	"errors"
	"strings"
	"testing"
)

func validInput() ServerInput {
	return ServerInput{Path: "/weather", Name: "Weather", ProxyPassURL: "http://127.0.0.1:8001/base"}
}

func TestValidateAcceptsAndNormalizes(t *testing.T) {
	in := validInput()
	in.Tags = []string{" weather ", "Weather", "", "forecast"}
	in.ProxyPassURL = " http://0.0.0.0:8001/ "
	if err := in.Validate(); err != nil {
		t.Fatalf("valid input rejected: %v", err)
	}
	if in.Transport != TransportAuto {
		t.Errorf("transport default = %q, want auto", in.Transport)
	}
	if strings.Join(in.Tags, ",") != "weather,forecast" {
		t.Errorf("tags = %q, want trimmed, deduplicated case-insensitively", in.Tags)
	}
	if in.ProxyPassURL != "http://0.0.0.0:8001/" {
		t.Errorf("proxy_pass_url = %q", in.ProxyPassURL)
	}
}

func TestValidateRejects(t *testing.T) {
	long := strings.Repeat("a", 65)
	cases := []struct {
		name  string
		edit  func(*ServerInput)
		field string
	}{
		{"empty path", func(in *ServerInput) { in.Path = "" }, "path"},
		{"no slash", func(in *ServerInput) { in.Path = "weather" }, "path"},
		{"two segments", func(in *ServerInput) { in.Path = "/a/b" }, "path"},
		{"leading dot", func(in *ServerInput) { in.Path = "/.hidden" }, "path"},
		{"too long", func(in *ServerInput) { in.Path = "/" + long }, "path"},
		{"space", func(in *ServerInput) { in.Path = "/a b" }, "path"},
		{"reserved api", func(in *ServerInput) { in.Path = "/api" }, "path"},
		{"reserved case-insensitive", func(in *ServerInput) { in.Path = "/MCPGW" }, "path"},
		{"reserved ws", func(in *ServerInput) { in.Path = "/ws" }, "path"},
		{"reserved healthz", func(in *ServerInput) { in.Path = "/healthz" }, "path"},
		{"missing name", func(in *ServerInput) { in.Name = "  " }, "name"},
		{"control char in name", func(in *ServerInput) { in.Name = "a\x00b" }, "name"},
		{"newline in name", func(in *ServerInput) { in.Name = "a\nb" }, "name"},
		{"bidi override in name", func(in *ServerInput) { in.Name = "abc\u202Edef" }, "name"},
		{"bidi isolate in description", func(in *ServerInput) { in.Description = "x\u2066y" }, "description"},
		{"invalid utf8", func(in *ServerInput) { in.Description = "\xff" }, "description"},
		{"long description", func(in *ServerInput) { in.Description = strings.Repeat("d", maxDescriptionLen+1) }, "description"},
		{"missing url", func(in *ServerInput) { in.ProxyPassURL = "" }, "proxy_pass_url"},
		{"relative url", func(in *ServerInput) { in.ProxyPassURL = "/mcp" }, "proxy_pass_url"},
		{"ftp url", func(in *ServerInput) { in.ProxyPassURL = "ftp://host/x" }, "proxy_pass_url"},
		{"no host", func(in *ServerInput) { in.ProxyPassURL = "http:///x" }, "proxy_pass_url"},
		{"userinfo", func(in *ServerInput) { in.ProxyPassURL = "http://u:p@host/x" }, "proxy_pass_url"},
		{"bad port", func(in *ServerInput) { in.ProxyPassURL = "http://host:99999/" }, "proxy_pass_url"},
		{"fragment", func(in *ServerInput) { in.ProxyPassURL = "http://host/#x" }, "proxy_pass_url"},
		{"bad transport", func(in *ServerInput) { in.Transport = "websocket" }, "transport"},
		{"control in tag", func(in *ServerInput) { in.Tags = []string{"a\tb"} }, "tags"},
		{"long tag", func(in *ServerInput) { in.Tags = []string{long} }, "tags"},
		{"too many tags", func(in *ServerInput) {
			in.Tags = nil
			for i := range maxTags + 1 {
				in.Tags = append(in.Tags, "t"+strings.Repeat("x", i))
			}
		}, "tags"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := validInput()
			tc.edit(&in)
			err := in.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tc.field, err)
			}
		})
	}
}

func TestValidateAllowsMultilineDescription(t *testing.T) {
	in := validInput()
	in.Description = "line one\nline two\tindented"
	if err := in.Validate(); err != nil {
		t.Fatalf("multiline description rejected: %v", err)
	}
}

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{"weather": "/weather", "/weather": "/weather", "/weather/": "/weather", " weather ": "/weather"} {
		if got := NormalizePath(in); got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDiffTools(t *testing.T) {
	a := []Tool{{Name: "x", Description: "d", InputSchema: []byte(`{"type":"object","properties":{"a":{}}}`)}, {Name: "y"}}
	same := []Tool{{Name: "y"}, {Name: "x", Description: "d", InputSchema: []byte(`{"properties":{"a":{}},"type":"object"}`)}}
	if c := diffTools(a, same); c != nil {
		t.Fatalf("same tools in another order and key order reported as change: %+v", c)
	}
	b := []Tool{{Name: "x", Description: "changed", InputSchema: a[0].InputSchema}, {Name: "z"}}
	c := diffTools(a, b)
	if c == nil || strings.Join(c.Added, ",") != "z" || strings.Join(c.Removed, ",") != "y" || strings.Join(c.Changed, ",") != "x" {
		t.Fatalf("diff = %+v, want added z, removed y, changed x", c)
	}
}
