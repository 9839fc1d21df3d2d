package registryapp

import (
	"net/http"

	"github.com/caddymcp/gateway/webui"
)

// uiRoutes serves the embedded web UI: the dashboard at /, the login page
// at /login, their assets under /static/. The page routes redirect by
// session state (/ to /login without credentials, /login to / with them),
// so the page learns whether it is signed in without an API 401, which
// would make browsers show their Basic-auth prompt.
func (a *App) uiRoutes(mux *http.ServeMux) {
	static := http.FileServerFS(webui.Static())
	page := func(signedIn bool, other string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			setUIHeaders(w)
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Vary", "Cookie, Authorization")
			if a.auth.authenticated(r) != signedIn {
				http.Redirect(w, r, other, http.StatusSeeOther)
				return
			}
			http.ServeFileFS(w, r, webui.Static(), "index.html")
		}
	}
	mux.HandleFunc("GET /{$}", page(true, "/login"))
	mux.HandleFunc("GET /login", page(false, "/"))
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setUIHeaders(w)
		w.Header().Set("Cache-Control", "no-cache")
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
