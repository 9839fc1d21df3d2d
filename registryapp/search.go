package registryapp

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// Limits of GET /api/tools.
const (
	defaultSearchLimit = 20
	maxSearchLimit     = 1000
)

// ToolMatch is one result of a tool search: a tool, the server that offers
// it and how well it matches the query.
type ToolMatch struct {
	// Server is the path of the server that offers the tool.
	Server string `json:"server"`
	// ServerName is the human-readable name of that server.
	ServerName string `json:"server_name"`
	// Name is the tool's name.
	Name string `json:"name"`
	// Description says what the tool does.
	Description string `json:"description"`
	// InputSchema is the JSON schema of the tool's arguments.
	InputSchema json.RawMessage `json:"inputSchema"`
	// Score ranks the match; higher is better.
	Score float64 `json:"score"`
}

// Weights of the ranking. The whole query equal to a tool's name beats
// everything; then a name that starts with or contains the query; then
// each query word found in the name, the parameter names, the
// description, the server's tags and the server's name, in that order.
const (
	weightExactName     = 100
	weightNamePrefix    = 30
	weightNameContains  = 20
	weightPhraseInDesc  = 10
	weightNameWord      = 8
	weightNameSubstr    = 5
	weightParamWord     = 4
	weightParamSubstr   = 2
	weightDescWord      = 3
	weightDescSubstr    = 1
	weightTagWord       = 3
	weightTagSubstr     = 1.5
	weightServerWord    = 1
	weightServerSubstr  = 0.5
	minStemmedWordRunes = 4
)

// stopWords are left out of multi-word queries, so that "find the weather
// for a city" ranks on weather and city.
var stopWords = map[string]bool{
	"a": true, "an": true, "and": true, "any": true, "are": true, "can": true, "do": true,
	"find": true, "for": true, "from": true, "how": true, "i": true, "in": true,
	"is": true, "it": true, "me": true, "my": true, "of": true, "on": true, "or": true,
	"please": true, "show": true, "that": true, "the": true, "to": true, "tool": true,
	"tools": true, "what": true, "which": true, "with": true, "want": true, "need": true,
}

// SearchTools ranks the tools of the enabled servers against query and
// returns at most limit matches (all if limit <= 0), best first; ties are
// ordered by tool name, then server path. Tools of disabled servers are
// left out: the gateway does not route to them. An empty query lists
// every tool in that order with score 0.
//
// A tool matches when at least one query word occurs in its name, its
// parameter names, its description, or its server's tags or name; the
// score adds weighted hits and is scaled by the share of query words
// found, so that tools matching every word come first.
func SearchTools(servers []*Server, query string, limit int) []ToolMatch {
	q := newSearchQuery(query)
	enabled := make([]*Server, 0, len(servers))
	for _, srv := range servers {
		if srv.Enabled {
			enabled = append(enabled, srv)
		}
	}
	corp := corpusOf(enabled)
	type hit struct {
		score float64
		srv   *Server
		tool  int
	}
	var hits []hit
	if q.text == "" {
		for _, ref := range corp.refs {
			hits = append(hits, hit{0, enabled[ref.srv], ref.tool})
		}
	}
	for _, k := range corp.candidates(q) {
		ref := corp.refs[k]
		idx := corp.indexes[ref.srv]
		if score := idx.tools[ref.tool].score(idx, q); score > 0 {
			hits = append(hits, hit{score, enabled[ref.srv], ref.tool})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		if c := strings.Compare(a.srv.Tools[a.tool].Name, b.srv.Tools[b.tool].Name); c != 0 {
			return c
		}
		return strings.Compare(a.srv.Path, b.srv.Path)
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]ToolMatch, len(hits))
	for i, h := range hits {
		t := h.srv.Tools[h.tool]
		out[i] = ToolMatch{
			Server: h.srv.Path, ServerName: h.srv.Name, Name: t.Name,
			Description: t.Description, InputSchema: t.InputSchema, Score: h.score,
		}
	}
	return out
}

// searchQuery is a query prepared for scoring.
type searchQuery struct {
	text   string      // lower-cased, trimmed
	joined string      // its words joined by spaces: "get forecast" for get_forecast
	words  []queryWord // its words without stop words (all if only stop words)
}

// queryWord is a word of a query with its singular and plural forms.
type queryWord struct {
	word, stem, plural string
}

func newQueryWord(w string) queryWord {
	qw := queryWord{word: w, stem: w, plural: w + "s"}
	if len(w) >= minStemmedWordRunes && strings.HasSuffix(w, "s") {
		qw.stem = strings.TrimSuffix(w, "s")
	}
	return qw
}

// equals reports whether a word of a field is this word, singular or
// plural.
func (qw queryWord) equals(fw string) bool {
	return fw == qw.word || fw == qw.stem || fw == qw.plural
}

func newSearchQuery(query string) searchQuery {
	q := searchQuery{text: strings.ToLower(strings.TrimSpace(query))}
	all := splitWords(query)
	q.joined = strings.Join(all, " ")
	for _, w := range all {
		if !stopWords[w] {
			q.words = append(q.words, newQueryWord(w))
		}
	}
	if len(q.words) == 0 {
		for _, w := range all {
			q.words = append(q.words, newQueryWord(w))
		}
	}
	return q
}

// splitWords splits s at every rune that is not a letter or digit, and at
// lower-to-upper case changes (getForecast is get, forecast); words are
// lower-cased.
func splitWords(s string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	var prev rune
	for _, r := range s {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = r
	}
	flush()
	return words
}

// serverIndex holds the lower-cased search fields of one immutable server
// record, so that a search does not parse schemas again.
type serverIndex struct {
	tags      []string
	nameWords []string
	name      string
	tools     []toolIndex
}

// toolIndex holds the lower-cased search fields of one tool.
type toolIndex struct {
	name       string
	nameWords  []string
	nameJoined string
	desc       string
	descWords  []string
	params     []string
	paramWords []string
	// all is every searched text of the tool and its server, to skip
	// tools that contain no query word at all.
	all string
}

// corpus is the search index of one list of servers: the index of each
// server and the searched text of every tool, end to end, so that a query
// word is looked for in one pass over all tools.
type corpus struct {
	servers []*Server
	indexes []*serverIndex
	text    string    // every tool's all field, each followed by a NUL
	starts  []int     // offset in text of each tool's field
	refs    []toolRef // the tool at each offset
}

// toolRef names a tool by the positions of its server and of the tool.
type toolRef struct{ srv, tool int }

// searchCache is the corpus of the last search. Records are immutable, so
// it serves as long as the same records are searched.
var searchCache struct {
	sync.Mutex
	last *corpus
}

// corpusOf returns the corpus of servers, reusing the last one when the
// list is the same and the indexes of the servers it knows.
func corpusOf(servers []*Server) *corpus {
	searchCache.Lock()
	defer searchCache.Unlock()
	last := searchCache.last
	if last != nil && slices.Equal(last.servers, servers) {
		return last
	}
	known := map[*Server]*serverIndex{}
	if last != nil {
		for i, srv := range last.servers {
			known[srv] = last.indexes[i]
		}
	}
	c := &corpus{servers: slices.Clone(servers), indexes: make([]*serverIndex, len(servers))}
	var text strings.Builder
	for i, srv := range servers {
		idx, ok := known[srv]
		if !ok {
			idx = buildIndex(srv)
		}
		c.indexes[i] = idx
		for j := range idx.tools {
			c.starts = append(c.starts, text.Len())
			c.refs = append(c.refs, toolRef{i, j})
			text.WriteString(idx.tools[j].all)
			text.WriteByte(0)
		}
	}
	c.text = text.String()
	searchCache.last = c
	return c
}

// candidates returns, in order, the positions in refs of the tools whose
// text contains the singular form of a query word: every match, whole or
// part, does.
func (c *corpus) candidates(q searchQuery) []int {
	if q.text == "" {
		return nil
	}
	seen := make([]bool, len(c.refs))
	for _, w := range q.words {
		for off := 0; off < len(c.text); {
			i := strings.Index(c.text[off:], w.stem)
			if i < 0 {
				break
			}
			k := sort.SearchInts(c.starts, off+i+1) - 1
			seen[k] = true
			if k+1 == len(c.starts) {
				break
			}
			off = c.starts[k+1] // one hit per tool is enough
		}
	}
	var out []int
	for k, ok := range seen {
		if ok {
			out = append(out, k)
		}
	}
	return out
}

func buildIndex(srv *Server) *serverIndex {
	idx := &serverIndex{
		name:      strings.ToLower(srv.Name + " " + srv.Path),
		nameWords: splitWords(srv.Name + " " + srv.Path),
		tools:     make([]toolIndex, len(srv.Tools)),
	}
	for _, t := range srv.Tags {
		idx.tags = append(idx.tags, strings.ToLower(t))
	}
	for i, t := range srv.Tools {
		ti := toolIndex{
			name:      strings.ToLower(t.Name),
			nameWords: splitWords(t.Name),
			desc:      strings.ToLower(t.Description),
			descWords: splitWords(t.Description),
		}
		for _, p := range schemaParams(t.InputSchema) {
			ti.params = append(ti.params, strings.ToLower(p))
			ti.paramWords = append(ti.paramWords, splitWords(p)...)
		}
		ti.nameJoined = strings.Join(ti.nameWords, " ")
		ti.all = strings.Join(append([]string{ti.name, ti.desc, idx.name, strings.Join(ti.params, " ")}, idx.tags...), " ")
		idx.tools[i] = ti
	}
	return idx
}

// schemaParams returns the property names of a tool's input schema.
func schemaParams(schema json.RawMessage) []string {
	if len(schema) == 0 {
		return nil
	}
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return nil
	}
	names := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// score ranks one tool of srv against q.
func (t *toolIndex) score(srv *serverIndex, q searchQuery) float64 {
	score := 0.0
	switch {
	case t.name == q.text || (q.joined != "" && t.nameJoined == q.joined):
		score += weightExactName
	case strings.HasPrefix(t.name, q.text):
		score += weightNamePrefix
	case strings.Contains(t.name, q.text):
		score += weightNameContains
	}
	if len(q.words) > 1 && strings.Contains(t.desc, q.text) {
		score += weightPhraseInDesc
	}
	found := 0
	for _, w := range q.words {
		// Every match of w, whole or part, contains its singular form.
		if !strings.Contains(t.all, w.stem) {
			continue
		}
		hit := fieldScore(w, t.nameWords, weightNameWord, weightNameSubstr, t.name) +
			fieldScore(w, t.paramWords, weightParamWord, weightParamSubstr, t.params...) +
			fieldScore(w, t.descWords, weightDescWord, weightDescSubstr, t.desc) +
			fieldScore(w, srv.tags, weightTagWord, weightTagSubstr, srv.tags...) +
			fieldScore(w, srv.nameWords, weightServerWord, weightServerSubstr, srv.name)
		if hit > 0 {
			found++
			score += hit
		}
	}
	if found == 0 {
		return 0
	}
	return score * float64(found) / float64(len(q.words))
}

// fieldScore scores word against a field: whole when one of the field's
// words equals it (or equals it without a plural s), substr when one of
// the texts contains it.
func fieldScore(w queryWord, fieldWords []string, whole, substr float64, texts ...string) float64 {
	for _, fw := range fieldWords {
		if w.equals(fw) {
			return whole
		}
	}
	for _, t := range texts {
		if strings.Contains(t, w.word) {
			return substr
		}
	}
	return 0
}

// handleSearchTools answers GET /api/tools?q=&limit= with the ranked
// matches of SearchTools.
func (a *App) handleSearchTools(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultSearchLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit", "limit must be a positive whole number")
			return
		}
		limit = min(n, maxSearchLimit)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tools": SearchTools(a.registry.Snapshot().Servers(), q.Get("q"), limit),
	})
}
