// Package cmdline adds the `caddy mcp-registry` command: it manages the
// registry of a running Caddy through the admin endpoint's /mcp-registry/
// routes, printing tables for people and JSON with --json.
package cmdline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	bolt "go.etcd.io/bbolt"

	"github.com/caddymcp/gateway/registryapp"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "mcp-registry",
		Usage: "<list|show|register|enable|disable|remove|import|export|backup> [--address <admin>] [--json]",
		Short: "Manages the MCP servers registered with a running gateway",
		Long: `
Manages the registry of MCP servers of a running Caddy with the mcp_registry
app, through its admin endpoint (--address, default the value of CADDY_ADMIN
or localhost:2019). Output is a table for people, or JSON with --json. On
failure the command prints a one-line reason and exits with status 1.

  caddy mcp-registry list
  caddy mcp-registry show /weather
  caddy mcp-registry register --name Weather --path /weather --url http://127.0.0.1:8001 --tag weather
  caddy mcp-registry enable /weather
  caddy mcp-registry disable /weather
  caddy mcp-registry remove /weather
  caddy mcp-registry import export.json registry/servers/*.json
  caddy mcp-registry export > export.json
  caddy mcp-registry backup /backups/mcp-registry.db
`,
		CobraFunc: setup,
	})
}

// setup adds the flags and subcommands of mcp-registry.
func setup(cmd *cobra.Command) {
	cmd.PersistentFlags().String("address", "", "Admin endpoint of the running Caddy (default: CADDY_ADMIN or "+caddy.DefaultAdminListen+")")
	cmd.PersistentFlags().Bool("json", false, "Print JSON instead of tables")

	register := &cobra.Command{
		Use:   "register --name <name> --path <path> --url <proxy_pass_url> [--tag <tag>]...",
		Short: "Registers a new MCP server",
		Args:  cobra.NoArgs,
		RunE:  run(cmdRegister),
	}
	register.Flags().String("name", "", "Human-readable name of the server (required)")
	register.Flags().String("path", "", "Gateway path of the server, such as /weather (required)")
	register.Flags().String("url", "", "URL of the MCP server that the path proxies to (required)")
	register.Flags().StringArray("tag", nil, "A tag (repeatable)")
	register.Flags().String("description", "", "What the server is for")
	register.Flags().String("transport", "", "streamable-http, sse or auto (default auto)")

	imp := &cobra.Command{
		Use:   "import <file>...",
		Short: "Adds servers from export files or the original registry's server JSON files",
		Args:  cobra.MinimumNArgs(1),
		RunE:  run(cmdImport),
	}
	imp.Flags().Bool("dry-run", false, "Report what would change without writing")

	cmd.AddCommand(
		&cobra.Command{Use: "list", Short: "Lists the registered servers", Args: cobra.NoArgs, RunE: run(cmdList)},
		&cobra.Command{Use: "show <path>", Short: "Shows one server with its tools", Args: cobra.ExactArgs(1), RunE: run(cmdShow)},
		register,
		&cobra.Command{Use: "enable <path>", Short: "Enables a server", Args: cobra.ExactArgs(1), RunE: run(cmdToggle("enable"))},
		&cobra.Command{Use: "disable <path>", Short: "Disables a server", Args: cobra.ExactArgs(1), RunE: run(cmdToggle("disable"))},
		&cobra.Command{Use: "remove <path>", Short: "Removes a server", Args: cobra.ExactArgs(1), RunE: run(cmdRemove)},
		imp,
		&cobra.Command{Use: "export", Short: "Prints every record as a JSON array", Args: cobra.NoArgs, RunE: run(cmdExport)},
		&cobra.Command{Use: "backup <file>", Short: "Writes a consistent copy of the registry database", Args: cobra.ExactArgs(1), RunE: run(cmdBackup)},
	)
	// Without a subcommand: help; with an unknown one: a one-line failure.
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return reportFailure(cmd, fmt.Errorf("unknown subcommand %q; run caddy mcp-registry --help", args[0]))
	}
	for _, c := range append(cmd.Commands(), cmd) {
		// Every failure, bad usage included, is printed once, as one line.
		c.SilenceUsage = true
		c.SilenceErrors = true
		if validate := c.Args; validate != nil {
			c.Args = func(c *cobra.Command, args []string) error {
				if err := validate(c, args); err != nil {
					return reportFailure(c, fmt.Errorf("%w; run caddy mcp-registry %s --help", err, c.Name()))
				}
				return nil
			}
		}
		c.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return reportFailure(c, err) })
	}
}

// reportFailure prints err as one line on stderr, prefixed with the
// command, and returns it.
func reportFailure(cmd *cobra.Command, err error) error {
	prefix := "caddy mcp-registry"
	if cmd.HasParent() && cmd.Name() != "mcp-registry" {
		prefix += " " + cmd.Name()
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", prefix, oneLine(err.Error()))
	return err
}

// invocation is what a subcommand works with.
type invocation struct {
	cmd    *cobra.Command
	args   []string
	client *client
	json   bool
	out    io.Writer
}

// run adapts a subcommand: it sets up the admin client and prints a failure
// as one line on stderr.
func run(fn func(inv *invocation) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		address, _ := cmd.Flags().GetString("address")
		asJSON, _ := cmd.Flags().GetBool("json")
		if address == "" {
			address = caddy.DefaultAdminListen
		}
		c, err := newClient(address)
		if err == nil {
			err = fn(&invocation{cmd: cmd, args: args, client: c, json: asJSON, out: cmd.OutOrStdout()})
		}
		if err != nil {
			return reportFailure(cmd, err)
		}
		return nil
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// serverURI is the admin URI of a server given by path or id.
func serverURI(pathOrID string, suffix string) string {
	return "/mcp-registry/servers/" + url.PathEscape(registryapp.ServerID(registryapp.NormalizePath(pathOrID))) + suffix
}

func cmdList(inv *invocation) error {
	var resp struct {
		Servers []registryapp.Server `json:"servers"`
	}
	raw, err := inv.client.do(http.MethodGet, "/mcp-registry/servers", nil, &resp)
	if err != nil {
		return err
	}
	if inv.json {
		return writeIndented(inv.out, raw)
	}
	tw := tabwriter.NewWriter(inv.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tNAME\tENABLED\tHEALTH\tTOOLS\tURL")
	for _, s := range resp.Servers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", s.Path, s.Name, yesNo(s.Enabled), s.Health.Status, s.NumTools, s.ProxyPassURL)
	}
	return tw.Flush()
}

func cmdShow(inv *invocation) error {
	var s registryapp.Server
	raw, err := inv.client.do(http.MethodGet, serverURI(inv.args[0], ""), nil, &s)
	if err != nil {
		return err
	}
	if inv.json {
		return writeIndented(inv.out, raw)
	}
	return printServer(inv.out, &s)
}

func printServer(w io.Writer, s *registryapp.Server) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	checked := "never"
	if s.Health.CheckedAt != nil {
		checked = fmt.Sprintf("%s (%d ms)", s.Health.CheckedAt.Format(time.RFC3339), s.Health.LatencyMS)
	}
	rows := [][2]string{
		{"Path", s.Path}, {"Name", s.Name}, {"URL", s.ProxyPassURL}, {"Transport", s.Transport},
		{"Description", s.Description}, {"Tags", strings.Join(s.Tags, ", ")}, {"Enabled", yesNo(s.Enabled)},
		{"Health", s.Health.Status}, {"Checked", checked},
	}
	if s.Health.Error != "" {
		rows = append(rows, [2]string{"Error", s.Health.Error})
	}
	rows = append(rows, [2]string{"Tools", fmt.Sprint(s.NumTools)})
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], oneLine(r[1]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Tools) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tDESCRIPTION")
	for _, t := range s.Tools {
		fmt.Fprintf(tw, "%s\t%s\n", t.Name, truncate(oneLine(t.Description), 100))
	}
	return tw.Flush()
}

func cmdRegister(inv *invocation) error {
	flags := inv.cmd.Flags()
	in := registryapp.ServerInput{}
	in.Name, _ = flags.GetString("name")
	in.Path, _ = flags.GetString("path")
	in.ProxyPassURL, _ = flags.GetString("url")
	in.Tags, _ = flags.GetStringArray("tag")
	in.Description, _ = flags.GetString("description")
	in.Transport, _ = flags.GetString("transport")
	for _, req := range []struct{ flag, val string }{{"name", in.Name}, {"path", in.Path}, {"url", in.ProxyPassURL}} {
		if strings.TrimSpace(req.val) == "" {
			return fmt.Errorf("--%s is required", req.flag)
		}
	}
	if !strings.HasPrefix(in.Path, "/") {
		in.Path = "/" + in.Path
	}
	var s registryapp.Server
	raw, err := inv.client.do(http.MethodPost, "/mcp-registry/servers", in, &s)
	if err != nil {
		return err
	}
	if inv.json {
		return writeIndented(inv.out, raw)
	}
	_, err = fmt.Fprintf(inv.out, "registered %s -> %s\n", s.Path, s.ProxyPassURL)
	return err
}

func cmdToggle(action string) func(inv *invocation) error {
	return func(inv *invocation) error {
		var s registryapp.Server
		raw, err := inv.client.do(http.MethodPost, serverURI(inv.args[0], "/"+action), nil, &s)
		if err != nil {
			return err
		}
		if inv.json {
			return writeIndented(inv.out, raw)
		}
		_, err = fmt.Fprintf(inv.out, "%sd %s\n", action, s.Path)
		return err
	}
}

func cmdRemove(inv *invocation) error {
	raw, err := inv.client.do(http.MethodDelete, serverURI(inv.args[0], ""), nil, nil)
	if err != nil {
		return err
	}
	if inv.json {
		return writeIndented(inv.out, raw)
	}
	_, err = fmt.Fprintf(inv.out, "removed %s\n", registryapp.NormalizePath(inv.args[0]))
	return err
}

// cmdImport sends each file to the import endpoint, which accepts this
// registry's export and the original registry's server files as they are.
func cmdImport(inv *invocation) error {
	dry, _ := inv.cmd.Flags().GetBool("dry-run")
	uri := "/mcp-registry/import"
	if dry {
		uri += "?dry_run=1"
	}
	type fileResult struct {
		File string `json:"file"`
		*registryapp.ImportResult
	}
	var results []fileResult
	failed := 0
	for _, file := range inv.args {
		body, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("reading %s: %w", file, err)
		}
		res := &registryapp.ImportResult{}
		if _, err := inv.client.do(http.MethodPost, uri, json.RawMessage(body), res); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		failed += len(res.Failed)
		results = append(results, fileResult{File: file, ImportResult: res})
	}
	if inv.json {
		if err := writeValue(inv.out, results); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(inv.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tRESULT\tPATH\tDETAIL")
		for _, r := range results {
			for _, p := range r.Added {
				fmt.Fprintf(tw, "%s\t%s\t%s\t\n", r.File, addedWord(dry), p)
			}
			for _, p := range r.Toggled {
				fmt.Fprintf(tw, "%s\ttoggled\t%s\t\n", r.File, p)
			}
			for _, p := range r.Existing {
				fmt.Fprintf(tw, "%s\texists\t%s\tleft unchanged\n", r.File, p)
			}
			for _, s := range r.Skipped {
				fmt.Fprintf(tw, "%s\tskipped\t%s\t%s\n", r.File, s.Path, s.Reason)
			}
			for _, f := range r.Failed {
				fmt.Fprintf(tw, "%s\tfailed\t%s\t%s\n", r.File, f.Path, oneLine(f.Error))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d record(s) failed validation", failed)
	}
	return nil
}

func addedWord(dry bool) string {
	if dry {
		return "would add"
	}
	return "added"
}

func cmdExport(inv *invocation) error {
	raw, err := inv.client.do(http.MethodGet, "/mcp-registry/export", nil, nil)
	if err != nil {
		return err
	}
	return writeIndented(inv.out, raw)
}

// cmdBackup streams a hot copy of the database into a temporary file next
// to the target, checks that it opens and passes bbolt's consistency
// check, and only then renames it into place.
func cmdBackup(inv *invocation) error {
	target := inv.args[0]
	tmp, err := os.CreateTemp(filepath.Dir(target), filepath.Base(target)+".*.tmp")
	if err != nil {
		return fmt.Errorf("creating backup file: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := inv.client.stream(http.MethodGet, "/mcp-registry/backup", tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing backup: %w", err)
	}
	servers, err := verifyBackup(tmp.Name())
	if err != nil {
		return fmt.Errorf("backup failed verification: %w", err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("moving backup into place: %w", err)
	}
	if inv.json {
		return writeValue(inv.out, map[string]any{"file": target, "bytes": n, "servers": servers})
	}
	_, err = fmt.Fprintf(inv.out, "backup written to %s (%d bytes, %d servers, bbolt check passed)\n", target, n, servers)
	return err
}

// verifyBackup opens a backup read-only, runs bbolt's consistency check
// and counts the keys of its servers bucket.
func verifyBackup(path string) (servers int, err error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("opening copy: %w", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return cerr
		}
		if b := tx.Bucket([]byte("servers")); b != nil {
			servers = b.Stats().KeyN
		}
		return nil
	})
	return servers, err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func writeIndented(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("the admin endpoint answered invalid JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func writeValue(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// client talks to Caddy's admin endpoint, which may listen on TCP or a
// unix socket, the way Caddy's own commands do.
type client struct {
	address string
	origin  string
	// sendOrigin is false on unix sockets and fds, where Caddy's admin
	// endpoint refuses an Origin header, as Caddy's own commands send none.
	sendOrigin bool
	http       *http.Client
}

func newClient(address string) (*client, error) {
	addr, err := caddy.ParseNetworkAddress(address)
	if err != nil || addr.PortRangeSize() > 1 {
		return nil, fmt.Errorf("invalid admin address %q", address)
	}
	origin := "http://" + addr.JoinHostPort(0)
	if addr.IsUnixNetwork() || addr.IsFdNetwork() {
		origin = "http://127.0.0.1"
	}
	network, dialAddr := addr.Network, addr.JoinHostPort(0)
	if addr.IsUnixNetwork() {
		dialAddr, _, _ = strings.Cut(addr.Host, "|") // drop socket permission bits
	}
	return &client{
		address:    address,
		origin:     origin,
		sendOrigin: !addr.IsUnixNetwork() && !addr.IsFdNetwork(),
		http: &http.Client{
			Timeout: 5 * time.Minute,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, dialAddr)
				},
			},
		},
	}, nil
}

// do sends a request with an optional JSON body, decodes a 2xx answer into
// out (if not nil) and returns its raw body. Error answers become an error
// with the API's message.
func (c *client) do(method, uri string, body, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.send(method, uri, rd)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the admin endpoint answered invalid JSON: %w", err)
		}
	}
	return raw, nil
}

// stream copies a 2xx answer's body to w.
func (c *client) stream(method, uri string, w io.Writer) (int64, error) {
	resp, err := c.send(method, uri, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}

func (c *client) send(method, uri string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, c.origin+uri, body)
	if err != nil {
		return nil, err
	}
	if c.sendOrigin {
		req.Header.Set("Origin", c.origin)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Caddy's admin endpoint at %s (is caddy running? set --address): %w", c.address, unwrapURLError(err))
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var apiErr struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &apiErr) == nil && apiErr.Error != "" {
			msg = apiErr.Error
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return nil, fmt.Errorf("%s (HTTP %d)", msg, resp.StatusCode)
	}
	return resp, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
