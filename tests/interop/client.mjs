// Connects the official MCP TypeScript SDK client to an MCP server and
// prints, as one JSON line, what it saw: the server's tools, the results
// of a few tool calls and the progress notifications of a long-running one.
// Usage: node client.mjs <sse|streamable-http> <url>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [transportName, url] = process.argv.slice(2);
if (!transportName || !url) {
	console.error("usage: node client.mjs <sse|streamable-http> <url>");
	process.exit(2);
}
const transport = transportName === "sse"
	? new SSEClientTransport(new URL(url))
	: new StreamableHTTPClientTransport(new URL(url));
const client = new Client({ name: "interop-test", version: "1.0.0" });
const timer = setTimeout(() => {
	console.error("timed out");
	process.exit(3);
}, 20000);

await client.connect(transport);
const { tools } = await client.listTools();
const calls = {};
calls.echo = (await client.callTool({ name: "echo", arguments: { message: "through the gateway" } })).content;
calls["get-sum"] = (await client.callTool({ name: "get-sum", arguments: { a: 2, b: 40 } })).content;
const progress = [];
const longRun = await client.callTool(
	{ name: "trigger-long-running-operation", arguments: { duration: 1, steps: 3 } },
	undefined,
	{ onprogress: (p) => progress.push(p.progress) },
);
calls["trigger-long-running-operation"] = longRun.content;
await client.close();
clearTimeout(timer);
console.log(JSON.stringify({
	tools: tools.map((t) => t.name).sort(),
	calls,
	progress,
}));
