package registryapp

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func schema(params ...string) json.RawMessage {
	props := map[string]any{}
	for _, p := range params {
		props[p] = map[string]any{"type": "string"}
	}
	b, _ := json.Marshal(map[string]any{"type": "object", "properties": props})
	return b
}

func searchFixture() []*Server {
	return []*Server{
		{Path: "/weather", Name: "Weather Service", Enabled: true, Tags: []string{"weather"}, Tools: []Tool{
			{Name: "get_forecast", Description: "Get the weather forecast for a city.", InputSchema: schema("city", "days")},
			{Name: "get_alerts", Description: "Severe weather alerts for a US state.", InputSchema: schema("state")},
		}},
		{Path: "/geo", Name: "Geo", Enabled: true, Tools: []Tool{
			{Name: "geocode", Description: "Turns an address into coordinates.", InputSchema: schema("address")},
			{Name: "reverse", Description: "Finds the address at a point.", InputSchema: schema("latitude", "longitude")},
			{Name: "forecast_archive", Description: "Old forecasts.", InputSchema: schema()},
		}},
		{Path: "/fin", Name: "Financial Info", Enabled: true, Tags: []string{"finance"}, Tools: []Tool{
			{Name: "quote", Description: "Latest price of a stock.", InputSchema: schema("symbol")},
			{Name: "forecast", Description: "Revenue forecast of a company.", InputSchema: schema("symbol")},
		}},
		{Path: "/off", Name: "Disabled", Enabled: false, Tools: []Tool{
			{Name: "get_forecast", Description: "A disabled copy.", InputSchema: schema()},
		}},
	}
}

func names(ms []ToolMatch) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Server + " " + m.Name
	}
	return out
}

func TestSearchToolsRanking(t *testing.T) {
	servers := searchFixture()
	for _, tc := range []struct {
		query string
		first string // best match
		has   string // must also be found
	}{
		{"get_forecast", "/weather get_forecast", ""},
		{"GET FORECAST", "/weather get_forecast", ""},
		{"getForecast", "/weather get_forecast", ""},
		{"forecast", "/fin forecast", "/geo forecast_archive"},
		{"latitude", "/geo reverse", ""},
		{"finance", "/fin forecast", "/fin quote"},
		{"what is the weather forecast for a city", "/weather get_forecast", ""},
		{"alerts", "/weather get_alerts", ""},
		{"stocks price", "/fin quote", ""},
	} {
		got := SearchTools(servers, tc.query, 0)
		if len(got) == 0 || names(got)[0] != tc.first {
			t.Errorf("%q: results %v, want %s first", tc.query, names(got), tc.first)
			continue
		}
		if tc.has != "" && !slices.Contains(names(got), tc.has) {
			t.Errorf("%q: results %v lack %s", tc.query, names(got), tc.has)
		}
		if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Score > got[j].Score }) {
			t.Errorf("%q: results not ranked by score: %+v", tc.query, got)
		}
	}
}

func TestSearchToolsFiltersAndLimits(t *testing.T) {
	servers := searchFixture()
	for _, m := range SearchTools(servers, "forecast", 0) {
		if m.Server == "/off" {
			t.Errorf("a tool of a disabled server was found: %+v", m)
		}
	}
	if got := SearchTools(servers, "zebra", 0); len(got) != 0 {
		t.Errorf("unrelated query found %v", names(got))
	}
	all := SearchTools(servers, "  ", 0)
	if len(all) != 7 || all[0].Name != "forecast" || all[0].Score != 0 {
		t.Errorf("empty query = %v, want all 7 enabled tools by name", names(all))
	}
	if got := SearchTools(servers, "", 3); len(got) != 3 {
		t.Errorf("limit 3 gave %d", len(got))
	}
	m := SearchTools(servers, "get_forecast", 1)[0]
	if m.ServerName != "Weather Service" || m.Description == "" || !strings.Contains(string(m.InputSchema), "city") {
		t.Errorf("match lacks fields: %+v", m)
	}
	b, _ := json.Marshal(m)
	for _, k := range []string{`"server":`, `"server_name":`, `"name":`, `"description":`, `"inputSchema":`, `"score":`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON %s lacks %s", b, k)
		}
	}
}

// manyTools returns n servers of 20 tools each, described with a
// vocabulary of about 500 words.
func manyTools(n int) []*Server {
	syllables := []string{"ba", "ke", "lo", "mi", "nu", "ra", "so", "ti", "ve", "zu", "dor", "fen", "gal", "hir", "jun", "kas", "lum", "mor", "nex", "pol"}
	var words []string
	for _, a := range syllables {
		for _, b := range syllables {
			words = append(words, a+b)
		}
	}
	words = append(words, "weather", "stock", "price", "city", "calendar", "user", "translate", "image")
	w := func(i int) string { return words[i%len(words)] }
	servers := make([]*Server, n)
	for i := range servers {
		srv := &Server{Path: fmt.Sprintf("/s%d", i), Name: fmt.Sprintf("Server %d", i), Enabled: true, Tags: []string{w(i * 13)}}
		for j := range 20 {
			k := i*20 + j
			srv.Tools = append(srv.Tools, Tool{
				Name:        fmt.Sprintf("%s_%s", w(k*7), w(k*11)),
				Description: fmt.Sprintf("Does %s things with the %s of a %s and %s, tool %d of server %d.", w(k*3), w(k*5), w(k*17), w(k*19), j, i),
				InputSchema: schema(w(k*23)+"_id", w(k*29), "limit"),
			})
		}
		servers[i] = srv
	}
	return servers
}

// BenchmarkSearchTools10k searches 10,000 tools (500 servers of 20) and
// reports the median time of one search.
func BenchmarkSearchTools10k(b *testing.B) {
	servers := manyTools(500)
	queries := []string{"weather", "stock price", "bake_lomi", "find the calendar of a user", "limit", "zzz", "dorfen"}
	SearchTools(servers, "warm", 10) // builds the index, as the first search after a change does
	var durations []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		SearchTools(servers, queries[i%len(queries)], 20)
		durations = append(durations, time.Since(start))
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds()), "p99-µs")
}
