-- wrk script: POSTs one MCP tools/call (JSON-RPC, Streamable HTTP) per
-- request and prints a machine-readable summary line at the end.
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Mcp-Protocol-Version"] = "2025-06-18"

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT %.1f %.1f %.1f %d %d\n",
		summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99),
		e.connect + e.read + e.write + e.status + e.timeout,
		summary.requests))
end
