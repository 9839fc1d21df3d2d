package registryapp

import (
	"net/http"

	"github.com/caddymcp/gateway/webui"
)

// uiRoutes serves the embedded web UI: the page at / (and /login), its
// assets under /static/.
func (a *App) uiRoutes(mux *http.ServeMux) {
	static := http.FileServerFS(webui.Static())
	page := func(w http.ResponseWriter, r *http.Request) {
		setUIHeaders(w)
		http.ServeFileFS(w, r, webui.Static(), "index.html")
	}
	mux.HandleFunc("GET /{$}", page)
	mux.HandleFunc("GET /login", page)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setUIHeaders(w)
		static.ServeHTTP(w, r)
	})))
}

// setUIHeaders applies a strict Content-Security-Policy: no inline script,
// nothing loaded from elsewhere, no framing.
func setUIHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}
