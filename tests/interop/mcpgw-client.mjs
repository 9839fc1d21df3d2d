// Manages the gateway through mcpgw with the official TypeScript SDK client,
// over Streamable HTTP and SSE: every tool, bad input and no credentials.
//
//   GATEWAY_URL=http://127.0.0.1:8080 ADMIN_USER=admin ADMIN_PASSWORD=... \
//   BACKEND_URL=http://127.0.0.1:8001 node mcpgw-client.mjs
//
// BACKEND_URL is a running Streamable HTTP MCP server (endpoint /mcp) with a
// get_forecast tool. Exits non-zero on the first failed check.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";

const base = process.env.GATEWAY_URL;
const user = process.env.ADMIN_USER ?? "admin";
const password = process.env.ADMIN_PASSWORD;
const backend = process.env.BACKEND_URL;
if (!base || !password || !backend) {
  console.error("set GATEWAY_URL, ADMIN_PASSWORD and BACKEND_URL");
  process.exit(2);
}
const basic = { Authorization: "Basic " + Buffer.from(`${user}:${password}`).toString("base64") };

function transport(kind, headers) {
  const init = { requestInit: { headers } };
  if (kind === "sse") {
    return new SSEClientTransport(new URL("/mcpgw/sse", base), {
      ...init,
      eventSourceInit: { fetch: (url, i) => fetch(url, { ...i, headers: { ...i?.headers, ...headers } }) },
    });
  }
  return new StreamableHTTPClientTransport(new URL("/mcpgw/mcp", base), init);
}

async function connect(kind, headers = {}) {
  const client = new Client({ name: "mcpgw-interop", version: "1.0.0" });
  await client.connect(transport(kind, headers));
  return client;
}

async function call(client, name, args = {}) {
  const res = await client.callTool({ name, arguments: args });
  assert.equal(res.content.length, 1, `${name}: one content item`);
  assert.equal(res.content[0].type, "text", `${name}: text content`);
  return { text: res.content[0].text, isError: res.isError === true };
}

async function ok(client, name, args) {
  const { text, isError } = await call(client, name, args);
  assert.ok(!isError, `${name}(${JSON.stringify(args)}) failed: ${text}`);
  return JSON.parse(text);
}

async function fails(client, name, args, want) {
  const { text, isError } = await call(client, name, args);
  assert.ok(isError, `${name}(${JSON.stringify(args)}) succeeded, want a tool error: ${text}`);
  assert.ok(text.includes(want), `${name} error "${text}" does not say "${want}"`);
}

async function until(what, fn, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const last = await fn();
    if (last === true) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function manage(kind) {
  const client = await connect(kind, basic);
  const path = `/ts-${kind}`;
  try {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    assert.deepEqual(names, ["get_server_details", "get_service_tools", "healthcheck", "intelligent_tool_finder",
      "refresh_service", "register_service", "toggle_service"]);
    for (const t of tools) assert.ok(t.description && t.inputSchema.type === "object", `${t.name} described`);

    const reg = await ok(client, "register_service", {
      server_name: "TS Weather", path, proxy_pass_url: backend, description: "Forecasts",
      tags: ["weather", "ts"], transport: "streamable-http",
    });
    assert.equal(reg.service.path, path);
    assert.deepEqual(reg.service.tags, ["weather", "ts"]);
    await fails(client, "register_service", { server_name: "Again", path, proxy_pass_url: backend }, "already exists");
    await fails(client, "register_service", { server_name: "Bad", path: path + "-x", proxy_pass_url: "not a url" }, "proxy_pass_url");
    await fails(client, "toggle_service", { service_path: "/no-such-server" }, "not found");
    await fails(client, "get_server_details", { service_path: "/no-such-server" }, "not found");

    await until("a healthy server with tools", async () => {
      const health = await ok(client, "healthcheck", {});
      const { tools } = await ok(client, "get_service_tools", { service_path: path });
      return (health[path]?.status === "healthy" && tools.some((t) => t.name === "get_forecast")) || { health: health[path], tools };
    });
    const refreshed = await ok(client, "refresh_service", { service_path: path });
    assert.equal(refreshed.status, "healthy");

    const details = await ok(client, "get_server_details", { service_path: "all" });
    assert.equal(details[path].server_name, "TS Weather");
    const all = await ok(client, "get_service_tools", { service_path: "/all" });
    assert.ok(all.tools.some((t) => t.name === "get_forecast" && t.service_path === path));
    const found = await ok(client, "intelligent_tool_finder", { natural_language_query: "weather forecast for a city", top_k_services: 5, top_n_tools: 3 });
    assert.ok(found.length >= 1 && found[0].tool_name === "get_forecast", JSON.stringify(found));

    const off = await ok(client, "toggle_service", { service_path: path });
    assert.equal(off.new_enabled_state, false);
    const on = await ok(client, "toggle_service", { service_path: path, enabled: true });
    assert.equal(on.new_enabled_state, true);
  } finally {
    await client.close();
  }

  const anon = await connect(kind);
  try {
    const { tools } = await anon.listTools();
    assert.equal(tools.length, 7, "anonymous tools/list");
    await fails(anon, "healthcheck", {}, "authentication required");
    await fails(anon, "toggle_service", { service_path: path }, "authentication required");
    const health = await ok(anon, "healthcheck", { username: user, password });
    assert.ok(path in health);
    await fails(anon, "healthcheck", { username: user, password: "wrong" }, "wrong");
  } finally {
    await anon.close();
  }
  console.log(`ok ${kind}: every tool, bad input and no credentials`);
}

try {
  await manage("streamable-http");
  await manage("sse");
} catch (err) {
  console.error(`FAIL: ${err.stack ?? err}`);
  process.exit(1);
}
