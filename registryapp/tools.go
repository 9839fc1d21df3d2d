package registryapp

import (
	"crypto/sha256"
	"encoding/json"
	"slices"
	"time"
)

// toolHash is the hash of a tool's canonical JSON (encoding/json sorts
// object keys), so that a changed description or schema is a change.
func toolHash(t Tool) [32]byte {
	var schema any
	if len(t.InputSchema) > 0 && json.Unmarshal(t.InputSchema, &schema) != nil {
		schema = string(t.InputSchema)
	}
	b, _ := json.Marshal(struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Schema      any    `json:"inputSchema"`
	}{t.Name, t.Description, schema})
	return sha256.Sum256(b)
}

// diffTools compares two tool sets by name and canonical hash; it returns
// nil when they are the same.
func diffTools(before, after []Tool) *ToolChange {
	old := make(map[string][32]byte, len(before))
	for _, t := range before {
		old[t.Name] = toolHash(t)
	}
	c := &ToolChange{At: time.Now().UTC(), Added: []string{}, Removed: []string{}, Changed: []string{}}
	seen := make(map[string]bool, len(after))
	for _, t := range after {
		seen[t.Name] = true
		h, ok := old[t.Name]
		switch {
		case !ok:
			c.Added = append(c.Added, t.Name)
		case toolHash(t) != h:
			c.Changed = append(c.Changed, t.Name)
		}
	}
	for _, t := range before {
		if !seen[t.Name] {
			c.Removed = append(c.Removed, t.Name)
		}
	}
	if len(c.Added)+len(c.Removed)+len(c.Changed) == 0 {
		return nil
	}
	slices.Sort(c.Added)
	slices.Sort(c.Removed)
	slices.Sort(c.Changed)
	return c
}
