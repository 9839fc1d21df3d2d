package caddymodule_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "github.com/caddymcp/gateway/caddymodule"
	"github.com/caddymcp/gateway/internal/testenv"
)

func weather() map[string]any {
	return map[string]any{
		"path": "/weather", "name": "Weather Service", "proxy_pass_url": "http://127.0.0.1:9/base",
		"transport": "streamable-http", "description": "Forecasts", "tags": []string{"weather"},
	}
}

func wantStatus(t *testing.T, what string, r testenv.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, status, r.Body)
	}
}

// wantError checks an error answer: the status, a JSON body with an error
// message and, if field is set, the field it names.
func wantError(t *testing.T, what string, r testenv.Response, status int, field string) {
	t.Helper()
	wantStatus(t, what, r, status)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q, want JSON", what, ct)
	}
	m := r.Map(t)
	if msg, _ := m["error"].(string); msg == "" {
		t.Fatalf("%s: no error message in %s", what, r.Body)
	}
	if field != "" && m["field"] != field {
		t.Fatalf("%s: field %v, want %q (%s)", what, m["field"], field, r.Body)
	}
}

func TestAPIServerLifecycle(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})

	r := c.Do("POST", "/api/servers", weather())
	wantStatus(t, "register", r, http.StatusCreated)
	created := r.Map(t)
	if created["path"] != "/weather" || created["enabled"] != true || created["transport"] != "streamable-http" {
		t.Fatalf("created record = %s", r.Body)
	}
	if h := created["health"].(map[string]any); h["status"] != "unknown" {
		t.Fatalf("new server health = %v, want unknown", h)
	}

	wantError(t, "duplicate", c.Do("POST", "/api/servers", weather()), http.StatusConflict, "path")
	dup := weather()
	dup["path"] = "/WEATHER"
	wantError(t, "case-insensitive duplicate", c.Do("POST", "/api/servers", dup), http.StatusConflict, "path")

	other := weather()
	other["path"], other["name"], other["tags"] = "/fininfo", "Financial Info", []string{"finance"}
	wantStatus(t, "register second", c.Do("POST", "/api/servers", other), http.StatusCreated)

	var list struct{ Servers []map[string]any }
	c.Do("GET", "/api/servers", nil).JSON(t, &list)
	if len(list.Servers) != 2 || list.Servers[0]["path"] != "/fininfo" {
		t.Fatalf("list = %+v", list.Servers)
	}
	c.Do("GET", "/api/servers?tag=finance", nil).JSON(t, &list)
	if len(list.Servers) != 1 || list.Servers[0]["path"] != "/fininfo" {
		t.Fatalf("tag filter = %+v", list.Servers)
	}
	c.Do("GET", "/api/servers?q=weather+service", nil).JSON(t, &list)
	if len(list.Servers) != 1 || list.Servers[0]["path"] != "/weather" {
		t.Fatalf("text filter = %+v", list.Servers)
	}
	wantError(t, "bad status filter", c.Do("GET", "/api/servers?status=sideways", nil), http.StatusBadRequest, "status")

	wantStatus(t, "disable", c.Do("POST", "/api/servers/fininfo/disable", nil), http.StatusOK)
	c.Do("GET", "/api/servers?status=disabled", nil).JSON(t, &list)
	if len(list.Servers) != 1 || list.Servers[0]["path"] != "/fininfo" || list.Servers[0]["health"].(map[string]any)["status"] != "disabled" {
		t.Fatalf("disabled filter = %+v", list.Servers)
	}
	c.Do("GET", "/api/servers?status=enabled", nil).JSON(t, &list)
	if len(list.Servers) != 1 || list.Servers[0]["path"] != "/weather" {
		t.Fatalf("enabled filter = %+v", list.Servers)
	}
	r = c.Do("POST", "/api/servers/fininfo/enable", nil)
	wantStatus(t, "enable", r, http.StatusOK)
	if r.Map(t)["enabled"] != true {
		t.Fatalf("enable answered %s", r.Body)
	}

	update := weather()
	update["description"] = "Forecasts, updated"
	update["tags"] = []string{"weather", "forecast"}
	r = c.Do("PUT", "/api/servers/weather", update)
	wantStatus(t, "update", r, http.StatusOK)
	if got := c.Do("GET", "/api/servers/weather", nil).Map(t); got["description"] != "Forecasts, updated" || len(got["tags"].([]any)) != 2 {
		t.Fatalf("after update: %v", got)
	}
	update["path"] = "/fininfo"
	wantError(t, "rename onto taken path", c.Do("PUT", "/api/servers/weather", update), http.StatusConflict, "path")
	update["path"] = "/weather"
	update["proxy_pass_url"] = "gopher://x"
	wantError(t, "update with bad url", c.Do("PUT", "/api/servers/weather", update), http.StatusBadRequest, "proxy_pass_url")

	tools := c.Do("GET", "/api/servers/weather/tools", nil)
	wantStatus(t, "tools", tools, http.StatusOK)
	if _, ok := tools.Map(t)["tools"].([]any); !ok {
		t.Fatalf("tools answer %s", tools.Body)
	}

	stats := c.Do("GET", "/api/stats", nil).Map(t)
	if stats["total"] != 2.0 || stats["enabled"] != 2.0 || stats["disabled"] != 0.0 {
		t.Fatalf("stats = %v", stats)
	}
	if _, ok := stats["requests"].(map[string]any)["/weather"]; !ok {
		t.Fatalf("stats has no request count of /weather: %v", stats)
	}

	wantStatus(t, "delete", c.Do("DELETE", "/api/servers/weather", nil), http.StatusOK)
	wantError(t, "get deleted", c.Do("GET", "/api/servers/weather", nil), http.StatusNotFound, "")
	wantError(t, "delete missing", c.Do("DELETE", "/api/servers/weather", nil), http.StatusNotFound, "")
	wantError(t, "enable missing", c.Do("POST", "/api/servers/weather/enable", nil), http.StatusNotFound, "")
}

func TestAPIErrors(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})

	anon := c.DoAnon("GET", "/api/servers", nil)
	wantError(t, "no credentials", anon, http.StatusUnauthorized, "")
	if anon.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 to a script carries no Basic challenge")
	}
	fetch, _ := http.NewRequest("GET", c.BaseURL+"/api/servers", nil)
	fetch.Header.Set("Sec-Fetch-Mode", "cors")
	fetchResp, err := http.DefaultClient.Do(fetch)
	if err != nil {
		t.Fatal(err)
	}
	fetchResp.Body.Close()
	if fetchResp.StatusCode != http.StatusUnauthorized || fetchResp.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("401 to a browser fetch: %d with challenge %q, want none (it would prompt)", fetchResp.StatusCode, fetchResp.Header.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest("GET", c.BaseURL+"/api/servers", nil)
	req.SetBasicAuth("admin", "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}

	wantError(t, "malformed JSON", c.Do("POST", "/api/servers", "{"), http.StatusBadRequest, "body")
	wantError(t, "wrong type", c.Do("POST", "/api/servers", `{"path": 7}`), http.StatusBadRequest, "path")
	wantError(t, "tags not a list", c.Do("POST", "/api/servers", `{"path":"/a","name":"a","proxy_pass_url":"http://h/","tags":"x"}`), http.StatusBadRequest, "tags")
	for field, value := range map[string]any{
		"path": "/api", "name": "", "proxy_pass_url": "http://user:pw@host/", "transport": "carrier-pigeon",
		"description": "bidi \u202e trick",
	} {
		body := weather()
		body[field] = value
		wantError(t, "invalid "+field, c.Do("POST", "/api/servers", body), http.StatusBadRequest, field)
	}
	wantError(t, "oversized body", c.Do("POST", "/api/servers", strings.Repeat(" ", 5<<20)), http.StatusRequestEntityTooLarge, "")
	wantError(t, "wrong method", c.Do("PATCH", "/api/servers", nil), http.StatusMethodNotAllowed, "")
	onItem := c.Do("POST", "/api/servers/x", nil)
	wantError(t, "wrong method on item", onItem, http.StatusMethodNotAllowed, "")
	if allow := onItem.Header.Get("Allow"); allow != "GET, PUT, DELETE" {
		t.Errorf("Allow = %q, want GET, PUT, DELETE", allow)
	}
	wantError(t, "unknown endpoint", c.Do("GET", "/api/nothing", nil), http.StatusNotFound, "")
	if n := len(c.Do("GET", "/api/servers", nil).Map(t)["servers"].([]any)); n != 0 {
		t.Fatalf("%d servers after only bad writes, want 0", n)
	}
}

func TestAPILoginSession(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})

	wantError(t, "bad login", c.DoAnon("POST", "/api/login", map[string]string{"username": "admin", "password": "nope"}), http.StatusUnauthorized, "")
	wantError(t, "login without username", c.DoAnon("POST", "/api/login", map[string]string{"password": "x"}), http.StatusBadRequest, "username")
	r := c.DoAnon("POST", "/api/login", map[string]string{"username": testenv.User, "password": testenv.Password})
	wantStatus(t, "login", r, http.StatusOK)
	cookie := (&http.Response{Header: r.Header}).Cookies()
	if len(cookie) != 1 || !cookie[0].HttpOnly || cookie[0].SameSite != http.SameSiteStrictMode || cookie[0].Secure {
		t.Fatalf("session cookie = %+v, want one HttpOnly SameSite=Strict cookie (not Secure over HTTP)", cookie)
	}
	second := c.DoAnon("POST", "/api/login", map[string]string{"username": testenv.User, "password": testenv.Password})
	if c2 := (&http.Response{Header: second.Header}).Cookies(); c2[0].Value == cookie[0].Value {
		t.Fatal("a second login reused the session id")
	}

	get := func() int {
		req, _ := http.NewRequest("GET", c.BaseURL+"/api/servers", nil)
		req.AddCookie(cookie[0])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != http.StatusOK {
		t.Fatalf("with session cookie: %d", s)
	}
	req, _ := http.NewRequest("POST", c.BaseURL+"/api/logout", nil)
	req.AddCookie(cookie[0])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := get(); s != http.StatusUnauthorized {
		t.Fatalf("after logout the old cookie still works: %d", s)
	}
}

func TestAPIBearerToken(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{Registry: "api_token tok-123"})
	for token, want := range map[string]int{"tok-123": http.StatusOK, "tok-999": http.StatusUnauthorized} {
		req, _ := http.NewRequest("GET", c.BaseURL+"/api/stats", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %s: %d, want %d", token, resp.StatusCode, want)
		}
	}
}

func TestAPIExportImport(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	originals, err := filepath.Glob("../../shared/compat/original-servers/*.json")
	if err != nil || len(originals) == 0 {
		t.Fatalf("original server files not found beside the repository: %v", err)
	}
	var parts []string
	for _, f := range originals {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(data))
	}
	body := "[" + strings.Join(parts, ",") + "]"

	dry := c.Do("POST", "/api/import?dry_run=1", body)
	wantStatus(t, "dry run", dry, http.StatusOK)
	if got := dry.Map(t); len(got["added"].([]any)) != 2 || len(got["skipped"].([]any)) != 1 {
		t.Fatalf("dry run = %s, want 2 added and /mcpgw skipped", dry.Body)
	}
	if n := len(c.Do("GET", "/api/servers", nil).Map(t)["servers"].([]any)); n != 0 {
		t.Fatalf("dry run wrote %d servers", n)
	}
	res := c.Do("POST", "/api/import", body)
	wantStatus(t, "import", res, http.StatusOK)
	fin := c.Do("GET", "/api/servers/fininfo", nil).Map(t)
	if fin["name"] != "Financial Info Proxy" || fin["num_tools"] != 2.0 || len(fin["tools"].([]any)) != 2 {
		t.Fatalf("imported fininfo = %v", fin)
	}
	for i, f := range originals {
		var original map[string]any
		if err := json.Unmarshal([]byte(parts[i]), &original); err != nil {
			t.Fatal(err)
		}
		if original["path"] == "/mcpgw" {
			continue
		}
		got := c.Do("GET", "/api/server_details"+original["path"].(string), nil).Map(t)
		if !reflect.DeepEqual(got, original) {
			t.Errorf("server_details of imported %s differs from the file:\n got %v\nwant %v", filepath.Base(f), got, original)
		}
	}
	single := c.Do("POST", "/api/import", parts[0])
	wantStatus(t, "import of one original file", single, http.StatusOK)
	if got := single.Map(t); len(got["existing"].([]any)) != 1 {
		t.Fatalf("re-import = %s, want existing", single.Body)
	}
	state := c.Do("POST", "/api/import", `{"/fininfo": false, "/nothere": true}`)
	wantStatus(t, "server_state.json import", state, http.StatusOK)
	if got := c.Do("GET", "/api/servers/fininfo", nil).Map(t); got["enabled"] != false {
		t.Fatalf("state import did not disable fininfo: %v", got["enabled"])
	}

	export := c.Do("GET", "/api/export", nil)
	wantStatus(t, "export", export, http.StatusOK)
	var exported []map[string]any
	export.JSON(t, &exported)
	if len(exported) != 2 {
		t.Fatalf("export has %d records", len(exported))
	}
	c.Do("DELETE", "/api/servers/fininfo", nil)
	c.Do("DELETE", "/api/servers/currenttime", nil)
	wantStatus(t, "re-import export", c.Do("POST", "/api/import", export.Body), http.StatusOK)
	back := c.Do("GET", "/api/servers/fininfo", nil).Map(t)
	if back["enabled"] != false || back["num_tools"] != 2.0 {
		t.Fatalf("round trip lost state: %v", back)
	}
	wantError(t, "import garbage", c.Do("POST", "/api/import", "42"), http.StatusBadRequest, "")
}

func form(c *testenv.Caddy, t *testing.T, path string, values url.Values, cookie *http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", c.BaseURL+path, strings.NewReader(values.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestCompatibilityEndpoints(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})

	bad := form(c, t, "/login", url.Values{"username": {"admin"}, "password": {"x"}}, nil)
	if bad.StatusCode != http.StatusSeeOther || !strings.HasPrefix(bad.Header.Get("Location"), "/login?error=") {
		t.Fatalf("bad form login: %d %s", bad.StatusCode, bad.Header.Get("Location"))
	}
	login := form(c, t, "/login", url.Values{"username": {testenv.User}, "password": {testenv.Password}}, nil)
	if login.StatusCode != http.StatusSeeOther || login.Header.Get("Location") != "/" || len(login.Cookies()) != 1 {
		t.Fatalf("form login: %d %s %v", login.StatusCode, login.Header.Get("Location"), login.Cookies())
	}
	cookie := login.Cookies()[0]

	reg := url.Values{"name": {"Current Time"}, "description": {"time"}, "path": {"/currenttime"},
		"proxy_pass_url": {"http://127.0.0.1:8001/"}, "tags": {"time, utility"}, "num_tools": {"1"},
		"num_stars": {"5"}, "is_python": {"true"}, "license": {"MIT"}}
	if r := form(c, t, "/register", reg, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("register without session: %d", r.StatusCode)
	}
	if r := form(c, t, "/register", reg, cookie); r.StatusCode != http.StatusCreated {
		t.Fatalf("form register: %d", r.StatusCode)
	}
	if r := form(c, t, "/register", reg, cookie); r.StatusCode != http.StatusConflict {
		t.Fatalf("duplicate form register: %d", r.StatusCode)
	}
	details := c.Do("GET", "/api/server_details/currenttime", nil)
	wantStatus(t, "server_details", details, http.StatusOK)
	d := details.Map(t)
	if d["server_name"] != "Current Time" || d["num_stars"] != 5.0 || d["is_python"] != true || d["license"] != "MIT" ||
		len(d["tags"].([]any)) != 2 {
		t.Fatalf("server_details = %s", details.Body)
	}
	for _, key := range []string{"server_name", "description", "path", "proxy_pass_url", "tags", "num_tools", "num_stars", "is_python", "license", "tool_list"} {
		if _, ok := d[key]; !ok {
			t.Errorf("server_details lacks %q", key)
		}
	}

	if r := form(c, t, "/toggle/currenttime", url.Values{}, cookie); r.StatusCode != http.StatusOK {
		t.Fatalf("toggle off: %d", r.StatusCode)
	}
	if got := c.Do("GET", "/api/servers/currenttime", nil).Map(t); got["enabled"] != false {
		t.Fatal("toggle without enabled=on did not disable")
	}
	if r := form(c, t, "/toggle/currenttime", url.Values{"enabled": {"on"}}, cookie); r.StatusCode != http.StatusOK {
		t.Fatalf("toggle on: %d", r.StatusCode)
	}
	if got := c.Do("GET", "/api/servers/currenttime", nil).Map(t); got["enabled"] != true {
		t.Fatal("toggle with enabled=on did not enable")
	}

	reg.Set("description", "edited")
	if r := form(c, t, "/edit/currenttime", reg, cookie); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", r.StatusCode)
	}
	if got := c.Do("GET", "/api/server_details/currenttime", nil).Map(t); got["description"] != "edited" {
		t.Fatalf("edit not applied: %v", got["description"])
	}
	reg.Set("proxy_pass_url", "not a url")
	if r := form(c, t, "/edit/currenttime", reg, cookie); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("edit with bad url: %d", r.StatusCode)
	}

	all := c.Do("GET", "/api/server_details/all", nil).Map(t)
	if _, ok := all["/currenttime"]; !ok || len(all) != 1 {
		t.Fatalf("server_details/all = %v", all)
	}
	tools := c.Do("GET", "/api/tools/currenttime", nil)
	wantStatus(t, "legacy tools", tools, http.StatusOK)
	if m := tools.Map(t); m["service_path"] != "/currenttime" {
		t.Fatalf("legacy tools = %s", tools.Body)
	}
	wantError(t, "legacy tools of missing", c.Do("GET", "/api/tools/nothere", nil), http.StatusNotFound, "")

	logout := form(c, t, "/logout", url.Values{}, cookie)
	if logout.StatusCode != http.StatusSeeOther {
		t.Fatalf("form logout: %d", logout.StatusCode)
	}
	if r := form(c, t, "/toggle/currenttime", url.Values{}, cookie); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("toggle after logout: %d", r.StatusCode)
	}
}

func TestAdminAPI(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	wantStatus(t, "admin register", c.Admin("POST", "/mcp-registry/servers", weather()), http.StatusCreated)
	wantError(t, "admin duplicate", c.Admin("POST", "/mcp-registry/servers", weather()), http.StatusConflict, "path")
	wantError(t, "admin invalid", c.Admin("POST", "/mcp-registry/servers", map[string]string{"path": "/x"}), http.StatusBadRequest, "name")
	if got := c.Admin("GET", "/mcp-registry/servers", nil).Map(t); len(got["servers"].([]any)) != 1 {
		t.Fatalf("admin list = %v", got)
	}
	wantStatus(t, "admin disable", c.Admin("POST", "/mcp-registry/servers/weather/disable", nil), http.StatusOK)
	if got := c.Do("GET", "/api/servers/weather", nil).Map(t); got["enabled"] != false {
		t.Fatal("admin disable not visible in the REST API")
	}
	wantStatus(t, "admin enable", c.Admin("POST", "/mcp-registry/servers/weather/enable", nil), http.StatusOK)
	upd := weather()
	upd["name"] = "Renamed"
	wantStatus(t, "admin update", c.Admin("PUT", "/mcp-registry/servers/weather", upd), http.StatusOK)
	if got := c.Admin("GET", "/mcp-registry/servers/weather", nil).Map(t); got["name"] != "Renamed" {
		t.Fatalf("admin get after update = %v", got)
	}
	wantError(t, "admin wrong method", c.Admin("PATCH", "/mcp-registry/servers/weather", nil), http.StatusMethodNotAllowed, "")
	backup := c.Admin("GET", "/mcp-registry/backup", nil)
	wantStatus(t, "admin backup", backup, http.StatusOK)
	if len(backup.Body) < 4096 {
		t.Fatalf("backup is %d bytes", len(backup.Body))
	}
	wantStatus(t, "admin delete", c.Admin("DELETE", "/mcp-registry/servers/weather", nil), http.StatusOK)
	wantError(t, "admin get deleted", c.Admin("GET", "/mcp-registry/servers/weather", nil), http.StatusNotFound, "")
}

func TestUnknownPathIs404(t *testing.T) {
	c := testenv.StartCaddy(t, testenv.Options{})
	r := c.DoAnon("GET", "/nothing/here", nil)
	wantError(t, "unknown path", r, http.StatusNotFound, "")
	r = c.DoAnon("GET", "/healthz", nil)
	wantStatus(t, "healthz", r, http.StatusOK)
}
