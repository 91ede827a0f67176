// Cross-site request forgery when a browser sends no Fetch Metadata (an older
// browser, or a proxy that strips Sec-Fetch-Site): its Origin, which a
// browser puts on every change it sends, decides. Real node:http servers on
// 127.0.0.1, called with undici's fetch carrying the Origin a forging page
// would have; nothing is changed by any request refused.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminHandler, toNodeHandler } from "../../src/admin/index.js";
import type { TokenRecord } from "../../src/index.js";
import { type AdminServer, noConsoleErrors, startAdminServer } from "./server.js";

const OWNER = "acct_csrf";
let srv: AdminServer;
let session: string;
let record: TokenRecord;

beforeAll(async () => {
  srv = await startAdminServer();
  session = srv.session(OWNER);
  ({ record } = await srv.kw.tokens.create({ owner: OWNER, kind: "secret", name: "kept" }));
  await srv.kw.accounts.set(OWNER, {});
  await srv.kw.accounts.members.set(OWNER, `user:${OWNER}`, "owner");
});
afterAll(() => srv?.close());
noConsoleErrors();

/** A request as a browser would send it without Sec-Fetch-Site: the session, and `origin` if given. */
const call = (base: string, method: string, path: string, origin: string | null, json?: unknown) =>
  fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${session}`, ...(origin !== null && { origin }), ...(json !== undefined && { "content-type": "application/json" }) },
    body: json === undefined ? null : JSON.stringify(json),
  });

/** Every change the API takes, each of which a forged request would make. */
const changes = (): [string, string, unknown?][] => [
  ["POST", "/tokens", { kind: "secret", name: "forged" }],
  ["PATCH", `/tokens/${record.id}`, { expectedRevision: record.revision, patch: { name: "forged" } }],
  ["POST", `/tokens/${record.id}/regenerate`, {}],
  ["POST", `/tokens/${record.id}/revoke`, {}],
  ["POST", `/tokens/${record.id}/disable`, {}],
  ["DELETE", `/tokens/${record.id}`],
  ["PUT", "/members/user%3Amallory", { role: "owner" }],
  ["DELETE", `/members/user%3A${OWNER}`],
];

describe("a change without Sec-Fetch-Site: its Origin decides", () => {
  it("another origin, the null origin, or this host on another scheme or port: 403 CROSS_SITE_REQUEST, nothing changed", async () => {
    const { port } = new URL(srv.origin);
    const foreign = ["https://evil.example", "null", `https://127.0.0.1:${port}`, `http://127.0.0.1:${Number(port) + 1}`, `http://localhost:${port}`, `${srv.origin}.evil.example`];
    for (const origin of foreign) {
      for (const [method, path, json] of changes()) {
        const res = await call(srv.url, method, path, origin, json);
        const body = (await res.json()) as { code: string };
        expect([origin, method, path, res.status, body.code]).toEqual([origin, method, path, 403, "CROSS_SITE_REQUEST"]);
      }
    }
    expect((await srv.kw.tokens.list(OWNER)).items.map((t) => [t.id, t.name, t.revision, t.revokedAt, t.disabledAt])).toEqual([[record.id, "kept", record.revision, null, null]]);
    expect((await srv.kw.accounts.members.list(OWNER)).map((m) => [m.id, m.role])).toEqual([[`user:${OWNER}`, "owner"]]);
    // A read changes nothing: it is answered whatever its Origin.
    expect((await call(srv.url, "GET", "/tokens", "https://evil.example")).status).toBe(200);
  });

  it("this origin, or no Origin at all (a client that is no browser: curl, a server), is served as before", async () => {
    for (const origin of [srv.origin, null]) {
      const res = await call(srv.url, "POST", "/tokens", origin, { kind: "publishable", name: `from ${origin}` });
      expect([origin, res.status]).toEqual([origin, 201]);
    }
    // Fetch Metadata, when sent, is what decides: a same-origin request is served, a cross-site one refused, whatever the Origin.
    const same = await fetch(`${srv.url}/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${session}`, "sec-fetch-site": "same-origin", origin: "https://proxy-rewritten.example", "content-type": "application/json" },
      body: '{"kind":"publishable"}',
    });
    expect(same.status).toBe(201);
    const cross = await fetch(`${srv.url}/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${session}`, "sec-fetch-site": "cross-site", origin: srv.origin, "content-type": "application/json" },
      body: '{"kind":"publishable"}',
    });
    expect(cross.status).toBe(403);
  });

  it("behind a proxy: the origin the browser sees (toNodeHandler's publicOrigin, or allowedOrigins) is this origin", async () => {
    expect(() => createAdminHandler({ keyward: srv.kw, authorize: () => OWNER, allowedOrigins: ["https://example.com/path"] })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG", field: "allowedOrigins[0]" }),
    );
    expect(() => createAdminHandler({ keyward: srv.kw, authorize: () => OWNER, allowedOrigins: "https://example.com" as never })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG", field: "allowedOrigins" }),
    );
    const handler = createAdminHandler({ keyward: srv.kw, basePath: "/t", authorize: () => "acct_proxy", allowedOrigins: ["https://WWW.Example.com:443"] });
    const server = createServer(toNodeHandler(handler, { publicOrigin: "https://example.com" }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/t`;
      const status = async (origin: string) => (await call(base, "POST", "/tokens", origin, { kind: "publishable" })).status;
      expect(await status("https://example.com")).toBe(201);
      expect(await status("https://www.example.com")).toBe(201);
      // The address the proxy forwards to is not what any browser's page is at.
      expect(await status(base.slice(0, -2))).toBe(403);
      expect(await status("http://example.com")).toBe(403);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("a method override (X-HTTP-Method-Override, X-Method-Override, ?_method=) is not honoured: a GET stays a read, a POST to a token is 405", async () => {
    const override = { "x-http-method-override": "DELETE", "x-method-override": "DELETE", "x-http-method": "DELETE" };
    const read = await fetch(`${srv.url}/tokens/${record.id}?_method=DELETE`, { headers: { authorization: `Bearer ${session}`, ...override } });
    expect(read.status).toBe(200);
    const post = await fetch(`${srv.url}/tokens/${record.id}?_method=DELETE`, { method: "POST", headers: { authorization: `Bearer ${session}`, "content-type": "application/json", ...override }, body: "{}" });
    expect([post.status, post.headers.get("allow")]).toEqual([405, "GET, HEAD, PATCH, DELETE"]);
    expect(await srv.kw.tokens.get(record.id)).toMatchObject({ id: record.id, revokedAt: null });
  });
});
