package webui_test

import (
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/caddymcp/gateway/internal/testenv"
	"github.com/caddymcp/gateway/webui"
)

// TestUIRoutes checks the page routes' redirects by session state and the
// security headers of the page and its assets.
func TestUIRoutes(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, auth bool) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, c.BaseURL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.SetBasicAuth(testenv.User, testenv.Password)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	for _, tc := range []struct {
		path     string
		auth     bool
		status   int
		location string
		ctype    string
	}{
		{"/", false, http.StatusSeeOther, "/login", ""},
		{"/login", false, http.StatusOK, "", "text/html"},
		{"/", true, http.StatusOK, "", "text/html"},
		{"/login", true, http.StatusSeeOther, "/", ""},
		{"/static/app.js", false, http.StatusOK, "", "text/javascript"},
		{"/static/app.css", false, http.StatusOK, "", "text/css"},
		{"/static/favicon.svg", false, http.StatusOK, "", "image/svg+xml"},
	} {
		resp := get(tc.path, tc.auth)
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s (auth %v) = %d, want %d", tc.path, tc.auth, resp.StatusCode, tc.status)
			continue
		}
		if got := resp.Header.Get("Location"); got != tc.location {
			t.Errorf("GET %s (auth %v): Location %q, want %q", tc.path, tc.auth, got, tc.location)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.ctype)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", tc.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q allows inline code", tc.path, csp)
		}
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("GET %s: X-Frame-Options %q", tc.path, got)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", tc.path, got)
		}
	}
}

// TestStaticFilesObeyCSP checks the embedded files for what the
// Content-Security-Policy would block: inline scripts, inline event
// handlers, style attributes and anything loaded from another origin.
func TestStaticFilesObeyCSP(t *testing.T) {
	forbidden := map[string]*regexp.Regexp{
		"inline script":         regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`),
		"inline event handler":  regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`),
		"style attribute":       regexp.MustCompile(`(?i)<[^>]*\sstyle\s*=`),
		"style element":         regexp.MustCompile(`(?i)<style[\s>]`),
		"remote resource":       regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']?(?:https?:)?//`),
		"javascript: URL":       regexp.MustCompile(`(?i)javascript:`),
		"innerHTML in the code": regexp.MustCompile(`\.(?:innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write`),
		"eval in the code":      regexp.MustCompile(`\beval\(|new Function\(`),
	}
	files := 0
	err := fs.WalkDir(webui.Static(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		data, err := fs.ReadFile(webui.Static(), path)
		if err != nil {
			return err
		}
		for what, re := range forbidden {
			if loc := re.FindIndex(data); loc != nil {
				t.Errorf("%s: %s at %q", path, what, data[loc[0]:min(loc[1]+40, len(data))])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 4 {
		t.Fatalf("only %d embedded files", files)
	}
}
