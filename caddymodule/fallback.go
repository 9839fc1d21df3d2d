package caddymodule

import (
	"encoding/json"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// nextOrNotFound passes the request to the rest of the site's chain and,
// if nothing there wrote a response, answers 404 in JSON: Caddy's own end
// of the chain answers an empty 200, which baffles MCP clients.
func nextOrNotFound(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	tw := &writeTracker{ResponseWriter: w}
	if err := next.ServeHTTP(tw, r); err != nil {
		return err
	}
	if !tw.wrote {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "no MCP server is registered at " + r.URL.Path})
	}
	return nil
}

// writeTracker records whether a response was started.
type writeTracker struct {
	http.ResponseWriter
	wrote bool
}

func (w *writeTracker) WriteHeader(status int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *writeTracker) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *writeTracker) Unwrap() http.ResponseWriter { return w.ResponseWriter }
