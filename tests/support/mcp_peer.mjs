// MCP peers for tests/mcp.rs, on the MCP TypeScript SDK.
//   node mcp_peer.mjs server            a stateless MCP server with one tool (`add`) on
//                                       127.0.0.1:0; prints "LISTENING <port>"
//   node mcp_peer.mjs client URL TOKEN WRONG_AUD_TOKEN
//                                       the SDK client against URL (cognigate in front
//                                       of the server): its OAuth discovery from the
//                                       401, then tools with TOKEN; prints one JSON report
import http from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js';

const [mode, url, token, wrongAudToken] = process.argv.slice(2);

function mcpServer() {
  const server = new Server({ name: 'cognigate-test-mcp', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [{
      name: 'add',
      description: 'Adds two numbers',
      inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
    }],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const { a, b } = req.params.arguments;
    return { content: [{ type: 'text', text: `sum=${a + b}` }] };
  });
  return server;
}

async function serve() {
  const httpServer = http.createServer(async (req, res) => {
    // What cognigate forwarded: the identity it verified.
    res.setHeader('x-seen-sub', String(req.headers['x-auth-sub'] ?? ''));
    const server = mcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => { transport.close(); server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  });
  httpServer.listen(0, '127.0.0.1', () => {
    console.log(`LISTENING ${httpServer.address().port}`);
  });
}

async function client() {
  const report = {};
  // 1. The SDK's own discovery: a client with an OAuth provider meets the 401, reads
  //    resource_metadata and scope from it, fetches both metadata documents, and
  //    sends the user to the authorization endpoint (recorded here, not followed).
  const redirects = [];
  let verifier;
  const provider = {
    get redirectUrl() { return 'http://127.0.0.1:9/callback'; },
    get clientMetadata() { return { redirect_uris: ['http://127.0.0.1:9/callback'], client_name: 'cognigate-test' }; },
    clientInformation() { return { client_id: 'testclient123' }; },
    tokens() { return undefined; },
    saveTokens() {},
    redirectToAuthorization(u) { redirects.push(u.toString()); },
    saveCodeVerifier(v) { verifier = v; },
    codeVerifier() { return verifier; },
  };
  try {
    const anon = new Client({ name: 'cognigate-test-client', version: '1.0.0' });
    await anon.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
    report.anonymous = 'connected';
  } catch (e) {
    report.anonymous = `${e.constructor.name}: ${e.message}`;
  }
  report.authorization_url = redirects[0] ?? null;

  // 2. The same discovery, step by step, to report what each step saw.
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  report.status = r.status;
  const params = extractWWWAuthenticateParams(r);
  report.resource_metadata = params.resourceMetadataUrl?.toString() ?? null;
  report.scope = params.scope ?? null;
  const prm = await discoverOAuthProtectedResourceMetadata(url, { resourceMetadataUrl: params.resourceMetadataUrl });
  report.protected_resource = prm;
  report.authorization_server = await discoverAuthorizationServerMetadata(prm.authorization_servers[0]);

  // 3. With a token issued for this resource: the MCP session through the proxy.
  const authed = new Client({ name: 'cognigate-test-client', version: '1.0.0' });
  await authed.connect(new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  }));
  report.tools = (await authed.listTools()).tools.map((t) => t.name);
  report.call = (await authed.callTool({ name: 'add', arguments: { a: 2, b: 3 } })).content[0].text;
  await authed.close();

  // 4. A token issued for another resource.
  try {
    const other = new Client({ name: 'cognigate-test-client', version: '1.0.0' });
    await other.connect(new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${wrongAudToken}` } },
    }));
    report.wrong_audience = 'connected';
  } catch (e) {
    report.wrong_audience = `${e.constructor.name}: ${e.message}`;
  }
  console.log(JSON.stringify(report));
}

if (mode === 'server') {
  await serve();
} else if (mode === 'client') {
  await client();
  process.exit(0);
} else {
  console.error('usage: mcp_peer.mjs server | client URL TOKEN WRONG_AUD_TOKEN');
  process.exit(2);
}
