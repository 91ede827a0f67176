
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tokenPageSchema, tokenRecordSchema } from "../../src/admin/schemas.js";
import { combineStores, MemoryStore, type TokenRecord } from "../../src/index.js";
import { statusLine } from "../support/slow-clients.js";
import { type AdminServer, errorsSeen, noConsoleErrors, startAdminServer } from "./server.js";

let srv: AdminServer;
let alice: string;
let bob: string;

const api = (session: string, path: string, init: RequestInit & { json?: unknown } = {}) => {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${session}`);
  if (init.json !== undefined) headers.set("content-type", "application/json");
  const body = init.json !== undefined ? JSON.stringify(init.json) : init.body;
  return fetch(`${srv.url}${path}`, { ...init, headers, body: body ?? null });
};

/** The body of a problem+json answer, checked to be one. */
async function problem(res: Response, status: number): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("cross-origin-resource-policy")).toBe("same-origin");
  const body = (await res.json()) as Record<string, unknown>;
  expect(body.status).toBe(status);
  expect(body.type).toBe(`urn:keyward:problem:${String(body.code).toLowerCase().replace(/_/g, "-")}`);
  return body;
}

/** Calls a server of its own (not `srv`) as `session`, with a JSON body when one is given. */
const caller = (server: AdminServer, session: string) => (method: string, path: string, json?: unknown) =>
  fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${session}`, ...(json === undefined ? {} : { "content-type": "application/json" }) },
    body: json === undefined ? null : JSON.stringify(json),
  });

const create = async (session: string, json: unknown) => {
  const res = await api(session, "/tokens", { method: "POST", json });
  expect(res.status).toBe(201);
  return (await res.json()) as { token: string; record: TokenRecord };
};

beforeAll(async () => {
  srv = await startAdminServer();
  alice = srv.session("acct_alice");
  bob = srv.session("acct_bob");
});
afterAll(() => srv?.close());
noConsoleErrors();

describe("keyward/admin API", () => {
  it("creates a publishable token: the token once, in the answer; then only records", async () => {
    const res = await api(alice, "/tokens", { method: "POST", json: { kind: "publishable", name: "website", domains: ["example.com"] } });
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("cross-origin-resource-policy")).toBe("same-origin");
    const { token, record } = (await res.json()) as { token: string; record: TokenRecord };
    expect(token).toMatch(/^acme_pk_live_/);
    expect(res.headers.get("location")).toBe(`/account/tokens/tokens/${record.id}`);
    expect(record).toMatchObject({ owner: "acct_alice", kind: "publishable", name: "website", revision: 1 });
    expect(record.policy.scopes).toEqual(["core:read"]);
    for (const path of ["/tokens", `/tokens/${record.id}`, `/tokens/${record.id}/audit`, "/audit"]) {
      const text = await (await api(alice, path)).text();
      expect(text).toContain(record.id);
      expect(text).not.toContain(token);
    }
    const audit = (await (await api(alice, `/tokens/${record.id}/audit`)).json()) as { items: { action: string; actor: string }[] };
    expect(audit.items).toMatchObject([{ action: "create", actor: "user:acct_alice" }]);
  });

  it("lists oldest first, page by page; the answers match their schemas", async () => {
    const owner = srv.session("acct_pages");
    const ids = [];
    for (const name of ["a", "b", "c"]) ids.push((await create(owner, { kind: "secret", name })).record.id);
    const first = tokenPageSchema.parse(await (await api(owner, "/tokens?limit=2")).json());
    expect(first.items.map((t) => t.id)).toEqual(ids.slice(0, 2));
    const second = tokenPageSchema.parse(await (await api(owner, `/tokens?limit=2&cursor=${encodeURIComponent(first.nextCursor!)}`)).json());
    expect(second.items.map((t) => t.id)).toEqual(ids.slice(2));
    expect(second.nextCursor).toBeNull();
    expect((await problem(await api(owner, "/tokens?limit=x"), 400)).field).toBe("limit");
    expect((await problem(await api(owner, "/tokens?cursor=%%%"), 400)).field).toBe("cursor");
  });

  it("an update is effective-dated and compare-and-set: a stale revision gets 409 and changes nothing", async () => {
    const { record } = await create(alice, { kind: "publishable", name: "edit me" });
    const effectiveAt = Date.now() + 5_000;
    const res = await api(alice, `/tokens/${record.id}`, {
      method: "PATCH",
      json: { expectedRevision: 1, effectiveAt, patch: { domains: ["shop.example.com"], credits: { limit: 500 } } },
    });
    const updated = tokenRecordSchema.parse(await res.json());
    expect(updated.revision).toBe(2);
    expect(updated.policy.domains).toEqual([]);
    expect(updated.scheduled).toEqual([{ effectiveAt, policy: expect.objectContaining({ domains: ["shop.example.com"], credits: { limit: 500, refill: null } }) }]);
    // The same form submitted twice: the second names revision 1 again.
    const stale = await api(alice, `/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision: 1, patch: { name: "other" } } });
    expect((await problem(stale, 409)).code).toBe("REVISION_CONFLICT");
    const now = (await (await api(alice, `/tokens/${record.id}`)).json()) as TokenRecord;
    expect(now).toMatchObject({ revision: 2, name: "edit me" });
    // A name applies at once, without effectiveAt.
    const renamed = (await (await api(alice, `/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision: 2, patch: { name: "renamed" } } })).json()) as TokenRecord;
    expect(renamed).toMatchObject({ name: "renamed", revision: 3 });
    const missing = await api(alice, `/tokens/${record.id}`, { method: "PATCH", json: { patch: { name: "x" } } });
    expect((await problem(missing, 400)).field).toBe("expectedRevision");
  });

  it("regenerates with a grace period: the old token keeps working until it ends; a double submit gets 409", async () => {
    const { token: old, record } = await create(alice, { kind: "secret", name: "server" });
    const res = await api(alice, `/tokens/${record.id}/regenerate`, { method: "POST", json: { expectedRevision: 1, graceMs: 60_000 } });
    expect(res.status).toBe(200);
    const { token, record: after } = (await res.json()) as { token: string; record: TokenRecord };
    expect(token).not.toBe(old);
    expect(after.graceUntil).toBeGreaterThan(Date.now());
    expect((await srv.kw.check({ token: old, scope: "core:read" })).ok).toBe(true);
    expect((await srv.kw.check({ token, scope: "core:read" })).ok).toBe(true);
    const again = await api(alice, `/tokens/${record.id}/regenerate`, { method: "POST", json: { expectedRevision: 1, graceMs: 60_000 } });
    expect((await problem(again, 409)).code).toBe("REVISION_CONFLICT");
    expect((await srv.kw.check({ token, scope: "core:read" })).ok).toBe(true);
  });

  it("two regenerations for the same revision: one succeeds, the other is 409 and issues no token", async () => {
    const { record } = await create(alice, { kind: "secret" });
    const regenerate = () => api(alice, `/tokens/${record.id}/regenerate`, { method: "POST", json: { expectedRevision: 1 } });
    // The first request has checked the token is alice's; the second runs to its end before the first goes on.
    const hold = srv.hold("get");
    const first = regenerate();
    await hold.reached;
    const second = await regenerate();
    hold.release();
    const issued = (await second.json()) as { token: string; record: TokenRecord };
    expect(second.status).toBe(200);
    expect((await problem(await first, 409)).code).toBe("REVISION_CONFLICT");
    expect((await srv.kw.check({ token: issued.token, scope: "core:read" })).ok).toBe(true);
    expect(((await (await api(alice, `/tokens/${record.id}`)).json()) as TokenRecord).revision).toBe(2);
  });

  it("revokes at once, once; a revoked token cannot be changed", async () => {
    const { token, record } = await create(alice, { kind: "secret" });
    const revoke = () => api(alice, `/tokens/${record.id}/revoke`, { method: "POST", json: {} });
    const answers = await Promise.all([revoke(), revoke(), revoke()]);
    const again = await revoke();
    const records = (await Promise.all([...answers, again].map((r) => r.json()))) as TokenRecord[];
    expect([...answers, again].map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(records.map((r) => r.revokedAt)).size).toBe(1);
    expect(records[0]!.revokedAt).not.toBeNull();
    const audit = (await (await api(alice, `/tokens/${record.id}/audit`)).json()) as { items: { action: string }[] };
    expect(audit.items.map((e) => e.action)).toEqual(["create", "revoke"]);
    expect((await srv.kw.check({ token, scope: "core:read" })).code).toBe("TOKEN_REVOKED");
    const edit = await api(alice, `/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision: 2, patch: { name: "x" } } });
    expect((await problem(edit, 409)).code).toBe("TOKEN_REVOKED");
  });

  it("usage per token from kw.usage", async () => {
    const { token, record } = await create(alice, { kind: "secret", credits: { limit: 10 } });
    for (let i = 0; i < 3; i++) await srv.kw.check({ token, scope: "core:read", cost: 2 });
    await srv.kw.check({ token, scope: "premium:read" });
    await srv.kw.flush();
    const usage = (await (await api(alice, `/tokens/${record.id}/usage`)).json()) as { granularity: string; buckets: { allowed: number; denied: number; credits: number }[] };
    expect(usage.granularity).toBe("hour");
    const sum = (k: "allowed" | "denied" | "credits") => usage.buckets.reduce((n, b) => n + b[k], 0);
    expect([sum("allowed"), sum("denied"), sum("credits")]).toEqual([3, 1, 6]);
    const days = await api(alice, `/tokens/${record.id}/usage?granularity=day&from=${new Date(Date.now() - 7 * 86_400_000).toISOString()}`);
    expect(days.status).toBe(200);
    expect((await problem(await api(alice, `/tokens/${record.id}/usage?granularity=week`), 400)).field).toBe("granularity");
    expect((await problem(await api(alice, `/tokens/${record.id}/usage?from=1700000`), 400)).code).toBe("TIME_IN_SECONDS");
  });
});

describe("one customer never reaches another's tokens", () => {
  it("another owner's token id is answered exactly like an unknown id, and nothing changes", async () => {
    const { record } = await create(alice, { kind: "secret", name: "alice's" });
    const unknown = "tok_0000000000000000000000";
    const attempts: [string, RequestInit & { json?: unknown }][] = [
      ["", {}],
      ["", { method: "PATCH", json: { expectedRevision: 1, patch: { name: "mine now" } } }],
      ["/regenerate", { method: "POST", json: {} }],
      ["/revoke", { method: "POST", json: {} }],
      ["/usage", {}],
      ["/audit", {}],
    ];
    for (const [sub, init] of attempts) {
      const theirs = await problem(await api(bob, `/tokens/${record.id}${sub}`, init), 404);
      const none = await problem(await api(bob, `/tokens/${unknown}${sub}`, init), 404);
      const malformed = await problem(await api(bob, `/tokens/not-an-id${sub}`, init), 404);
      expect(theirs).toEqual(none);
      expect(malformed).toEqual(none);
    }
    const list = (await (await api(bob, "/tokens")).json()) as { items: TokenRecord[] };
    expect(list.items.map((t) => t.owner).filter((o) => o !== "acct_bob")).toEqual([]);
    expect(await srv.kw.tokens.get(record.id)).toMatchObject({ revision: 1, revokedAt: null, name: "alice's" });
  });

  it("no session, a forged one, or a denied one: 401 / 403, nothing done", async () => {
    const before = (await srv.kw.tokens.list("acct_alice")).items.length;
    const none = await fetch(`${srv.url}/tokens`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"kind":"secret"}' });
    expect((await problem(none, 401)).code).toBe("UNAUTHORIZED");
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="keyward-admin"');
    const forged = await fetch(`${srv.url}/tokens`, { headers: { cookie: "session=s_acct_alice_99" } });
    await problem(forged, 401);
    expect((await srv.kw.tokens.list("acct_alice")).items.length).toBe(before);
  });
});

describe("bad input", () => {
  it("mutations need application/json: forms and text are refused (415), and GET never changes state", async () => {
    const before = (await srv.kw.tokens.list("acct_alice")).items.length;
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const res = await api(alice, "/tokens", { method: "POST", headers: { "content-type": type }, body: '{"kind":"secret"}' });
      expect((await problem(res, 415)).code).toBe("UNSUPPORTED_MEDIA_TYPE");
    }
    const { record } = await create(alice, { kind: "secret" });
    const get = await api(alice, `/tokens/${record.id}/revoke`);
    expect((await problem(get, 405)).code).toBe("METHOD_NOT_ALLOWED");
    expect(get.headers.get("allow")).toBe("POST");
    const put = await api(alice, "/tokens", { method: "PUT", json: {} });
    expect((await problem(put, 405)).code).toBe("METHOD_NOT_ALLOWED");
    expect(put.headers.get("allow")).toBe("GET, HEAD, POST");
    // A method named like an Object.prototype member (Node's parser refuses it; other runtimes may not).
    const { createAdminHandler } = await import("../../src/admin/index.js");
    const direct = createAdminHandler({ keyward: srv.kw, authorize: () => "acct_alice" });
    await problem(await direct(new Request("http://x/tokens", { method: "constructor" })), 405);
    expect((await srv.kw.tokens.get(record.id))!.revokedAt).toBeNull();
    expect((await srv.kw.tokens.list("acct_alice")).items.length).toBe(before + 1);
  });

  it("a compressed body (any Content-Encoding but identity) is refused, 415 with Accept-Encoding: identity, not read as JSON it is not", async () => {
    const { gzipSync } = await import("node:zlib");
    const before = (await srv.kw.tokens.list("acct_alice")).items.length;
    const json = '{"kind":"secret","name":"zipped"}';
    for (const [coding, body] of [["gzip", gzipSync(json)], ["gzip", json], ["br", json], ["identity, gzip", json]] as const) {
      const res = await api(alice, "/tokens", { method: "POST", headers: { "content-type": "application/json", "content-encoding": coding }, body });
      const answer = await problem(res, 415);
      expect([coding, answer.code, answer.detail, res.headers.get("accept-encoding")]).toEqual([
        coding,
        "UNSUPPORTED_MEDIA_TYPE",
        "Send the request body uncompressed: no Content-Encoding.",
        "identity",
      ]);
    }
    expect((await srv.kw.tokens.list("acct_alice")).items.length).toBe(before);
    const identity = await api(alice, "/tokens", { method: "POST", headers: { "content-type": "application/json", "content-encoding": "Identity" }, body: json });
    expect(identity.status).toBe(201);
  });

  it("a browser's cross-site or same-site request cannot change anything (Fetch Metadata)", async () => {
    for (const site of ["cross-site", "same-site"]) {
      const res = await api(alice, "/tokens", { method: "POST", headers: { "sec-fetch-site": site }, json: { kind: "secret" } });
      expect((await problem(res, 403)).code).toBe("CROSS_SITE_REQUEST");
    }
    const same = await api(alice, "/tokens", { method: "POST", headers: { "sec-fetch-site": "same-origin" }, json: { kind: "secret" } });
    expect(same.status).toBe(201);
  });

  it("malformed JSON, bad UTF-8, unknown fields, owner and rateLimit in the body: 400 naming the field", async () => {
    const raw = (body: BodyInit) => api(alice, "/tokens", { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body });
    expect((await problem(await raw('{"kind":'), 400)).code).toBe("MALFORMED_JSON");
    expect((await problem(await raw(new Uint8Array([0x7b, 0xff, 0x7d])), 400)).code).toBe("MALFORMED_JSON");
    expect((await problem(await raw("[]"), 400)).code).toBe("INVALID_INPUT");
    for (const field of ["owner", "rateLimit", "<script>alert(1)</script>", "__proto__"]) {
      const body = `{"kind":"secret",${JSON.stringify(field)}:${field === "rateLimit" ? '{"limit":1,"windowMs":1000}' : '"acct_bob"'}}`;
      const p = await problem(await raw(body), 400);
      expect(p).toMatchObject({ code: "INVALID_INPUT", field });
    }
    const bad = await create(alice, { kind: "secret" }).then((t) => t.record);
    const unknownPatch = await api(alice, `/tokens/${bad.id}`, { method: "PATCH", json: { expectedRevision: 1, patch: { owner: "acct_bob" } } });
    expect((await problem(unknownPatch, 400)).field).toBe("patch.owner");
    expect((await srv.kw.tokens.get(bad.id))!.owner).toBe("acct_alice");
  });

  it("named pools and calendar resets may be set; rateLimits stay the operator's; a bad pool is 400 naming it", async () => {
    const { record } = await create(alice, { kind: "secret", credits: { limit: 100, reset: "month" }, pools: { premium: { limit: 5, reset: "day" } } });
    expect(record.policy).toMatchObject({ credits: { limit: 100, reset: "month" }, pools: { premium: { limit: 5, refill: null, reset: "day" } } });
    expect(tokenRecordSchema.safeParse(record).success).toBe(true);
    const limits = await api(alice, "/tokens", { method: "POST", json: { kind: "secret", rateLimits: [{ limit: 1, windowMs: 1000 }] } });
    expect((await problem(limits, 400)).field).toBe("rateLimits");
    const badPool = await api(alice, "/tokens", { method: "POST", json: { kind: "secret", pools: { default: { limit: 1 } } } });
    expect(await problem(badPool, 400)).toMatchObject({ code: "INVALID_INPUT", field: "pools.default" });
    const negative = await api(alice, `/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision: 1, patch: { pools: { premium: { limit: -1 } } } } });
    expect((await problem(negative, 400)).field).toBe("patch.pools.premium.limit");
    // A pool named __proto__ (an own key of the parsed JSON): refused, never read as "no pools".
    const proto = await api(alice, "/tokens", { method: "POST", headers: { "content-type": "application/json" }, body: '{"kind":"secret","pools":{"__proto__":{"limit":5}}}' });
    expect(await problem(proto, 400)).toMatchObject({ code: "INVALID_INPUT", field: "pools.__proto__" });
    const wipe = await api(alice, `/tokens/${record.id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: '{"expectedRevision":1,"patch":{"pools":{"__proto__":{"limit":5}}}}',
    });
    expect(await problem(wipe, 400)).toMatchObject({ code: "INVALID_INPUT", field: "patch.pools.__proto__" });
    expect((await srv.kw.tokens.get(record.id))!.revision).toBe(1);
    expect((await srv.kw.tokens.get(record.id))!.policy.pools).toEqual({ premium: { limit: 5, refill: null, reset: "day" } });
  });

  it("a scope the application does not let customers grant: 403; a write scope on a publishable token: 400", async () => {
    const res = await api(alice, "/tokens", { method: "POST", json: { kind: "secret", scopes: ["core:read", "admin:write"] } });
    expect(await problem(res, 403)).toMatchObject({ code: "SCOPE_NOT_GRANTABLE", field: "scopes.1" });
    const pk = await api(alice, "/tokens", { method: "POST", json: { kind: "publishable", scopes: ["datasets/prices:write"] } });
    // Said to the customer, who cannot change the server's options (allowPublishableWrites), naming the scope refused.
    expect(await problem(pk, 400)).toMatchObject({
      code: "SCOPE_NOT_ALLOWED",
      detail: "This token may not hold datasets/prices:write: a publishable token holds read scopes only, and no token holds a scope beyond your account's plan.",
    });
    const ok = await create(alice, { kind: "secret", scopes: ["core:read", "premium:read", "datasets/news:delete"] });
    expect(ok.record.policy.scopes).toEqual(["core:read", "premium:read", "datasets/news:delete"]);
    // A scope beyond the account's plan (the operator's ceiling): the same answer, naming it.
    const planned = srv.session("acct_planned");
    await srv.kw.accounts.set("acct_planned", { ceiling: ["core:read"] }, { actor: "billing" });
    const beyond = await api(planned, "/tokens", { method: "POST", json: { kind: "secret", scopes: ["core:read", "premium:read"] } });
    expect(await problem(beyond, 400)).toMatchObject({
      code: "SCOPE_NOT_ALLOWED",
      detail: "This token may not hold premium:read: a publishable token holds read scopes only, and no token holds a scope beyond your account's plan.",
    });
  });

  it("a token created without scopes gets the defaults only if customers may grant them all: else 403, and nothing is created", async () => {
    const other = await startAdminServer({ keyward: { defaultScopes: ["core:read", "internal:admin"] }, grantableScopes: ["core:read", "premium:read"] });
    try {
      const carol = other.session("acct_carol");
      const call = (json: unknown) =>
        fetch(`${other.url}/tokens`, { method: "POST", headers: { authorization: `Bearer ${carol}`, "content-type": "application/json" }, body: JSON.stringify(json) });
      expect(await problem(await call({ kind: "secret" }), 403)).toMatchObject({ code: "SCOPE_NOT_GRANTABLE", field: "scopes" });
      expect((await other.kw.tokens.list("acct_carol")).items).toEqual([]);
      const named = await call({ kind: "secret", scopes: ["premium:read"] });
      expect(named.status).toBe(201);
      expect(((await named.json()) as { record: TokenRecord }).record.policy.scopes).toEqual(["premium:read"]);
    } finally {
      await other.close();
    }
    // Defaults that are grantable (core:read here) are the new token's scopes, as without the admin API.
    expect((await create(alice, { kind: "secret" })).record.policy.scopes).toEqual(["core:read"]);
  });

  it("a scope the operator granted may be kept by an update, never added, nor kept past its scheduled removal", async () => {
    const { record } = await srv.kw.tokens.create({ owner: "acct_alice", kind: "secret", scopes: ["core:read", "internal:admin"] });
    const patch = (expectedRevision: number, scopes: string[], effectiveAt?: number) =>
      api(alice, `/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision, ...(effectiveAt && { effectiveAt }), patch: { scopes } } });
    const kept = await patch(1, ["internal:admin", "core:read", "premium:read"]);
    expect(kept.status).toBe(200);
    expect(((await kept.json()) as TokenRecord).policy.scopes).toEqual(["internal:admin", "core:read", "premium:read"]);
    const added = await patch(2, ["internal:admin", "internal:billing"]);
    expect(await problem(added, 403)).toMatchObject({ code: "SCOPE_NOT_GRANTABLE", field: "patch.scopes.1" });
    // Judged on the revision the change applies to: a stale one is a conflict, not a grant.
    expect((await problem(await patch(1, ["internal:admin"]), 409)).code).toBe("REVISION_CONFLICT");
    // The operator schedules its removal: the customer cannot keep it beyond.
    await srv.kw.tokens.update(record.id, { scopes: ["core:read"] }, { effectiveAt: Date.now() + 3_600_000 });
    expect(await problem(await patch(3, ["internal:admin", "core:read"]), 403)).toMatchObject({ code: "SCOPE_NOT_GRANTABLE", field: "patch.scopes.0" });
    const after = (await srv.kw.tokens.get(record.id))!;
    expect([after.revision, after.policy.scopes, after.scheduled[0]?.policy.scopes]).toEqual([3, ["internal:admin", "core:read", "premium:read"], ["core:read"]]);
    // Removing it, as ever, is the customer's right.
    expect((await patch(3, ["core:read"])).status).toBe(200);
  });

  it("a live token pasted into allowed domains, bare or as a label, is refused (400 naming it) and never echoed; nothing is stored", async () => {
    const { token } = await srv.kw.tokens.create({ owner: "acct_alice", kind: "secret", name: "the real one" });
    const { record } = await create(alice, { kind: "publishable", name: "site", domains: ["example.com"] });
    const before = JSON.stringify(await srv.kw.tokens.list("acct_alice", { limit: 1000 }));
    const attempts: [string, RequestInit & { json?: unknown }, string][] = [
      ["/tokens", { method: "POST", json: { kind: "publishable", domains: [token] } }, "domains.0"],
      ["/tokens", { method: "POST", json: { kind: "publishable", domains: ["example.com", `${token}.example.com`] } }, "domains.1"],
      [`/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision: 1, patch: { domains: [`https://${token}.example.com`] } } }, "patch.domains.0"],
    ];
    for (const [path, init, field] of attempts) {
      const res = await api(alice, path, init);
      const text = await res.clone().text();
      expect(await problem(res, 400)).toMatchObject({ code: "INVALID_INPUT", field });
      expect(text).toContain("looks like a token");
      expect(text).not.toContain(token);
    }
    expect(JSON.stringify(await srv.kw.tokens.list("acct_alice", { limit: 1000 }))).toBe(before);
  });

  it("script in names and metadata is stored and answered as JSON text, never as markup", async () => {
    const name = '<img src=x onerror="alert(1)">';
    const { record } = await create(alice, { kind: "secret", name, metadata: { note: "<script>alert(1)</script>" } });
    const res = await api(alice, `/tokens/${record.id}`);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await res.json()).toMatchObject({ name, metadata: { note: "<script>alert(1)</script>" } });
  });

  it("a body over maxBodyBytes: 413 from Content-Length before reading, or after at most one chunk more", async () => {
    const big = JSON.stringify({ kind: "secret", metadata: { pad: "x".repeat(200_000) } });
    expect((await problem(await api(alice, "/tokens", { method: "POST", headers: { "content-type": "application/json" }, body: big }), 413)).code).toBe("BODY_TOO_LARGE");
    // Chunked, no Content-Length: the handler stops pulling once past the limit (counted here in bytes pulled).
    const { createAdminHandler } = await import("../../src/admin/index.js");
    const handler = createAdminHandler({ keyward: srv.kw, authorize: () => "acct_count", maxBodyBytes: 1000 });
    let pulled = 0;
    const chunk = new Uint8Array(100).fill(0x20);
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled += chunk.byteLength;
        c.enqueue(chunk);
      },
    });
    const res = await handler(new Request("http://x/tokens", { method: "POST", headers: { "content-type": "application/json" }, body, duplex: "half" } as RequestInit));
    await problem(res, 413);
    expect(pulled).toBeLessThanOrEqual(1000 + 2 * chunk.byteLength);
    expect((await srv.kw.tokens.list("acct_count")).items).toEqual([]);
  });

  it("a method no Fetch Request has (TRACE, which Node hands on): 405 problem+json naming the allowed methods, not an empty 500 (real server)", async () => {
    const { port, hostname } = new URL(srv.origin);
    const answer = await new Promise<{ status: number; allow: string | undefined; type: string | undefined; json: { code?: string } }>((resolve, reject) => {
      const req = request({ hostname, port, method: "TRACE", path: new URL(`${srv.url}/tokens`).pathname, headers: { authorization: `Bearer ${alice}` } }, (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d) => (text += d)).on("end", () =>
          resolve({ status: res.statusCode!, allow: res.headers.allow, type: res.headers["content-type"], json: text ? JSON.parse(text) : {} }),
        );
      });
      req.on("error", reject).end();
    });
    expect(answer).toMatchObject({ status: 405, type: "application/problem+json", json: { code: "METHOD_NOT_ALLOWED" } });
    expect(answer.allow).toMatch(/GET/);
  });

  it("a Host that makes no URL, or one a Fetch Request refuses (userinfo, in Host or an absolute-form target): answered as any request (served at invalid.invalid), not an empty 500 (real server)", async () => {
    const { port, hostname } = new URL(srv.origin);
    const tokens = new URL(`${srv.url}/tokens`).pathname;
    const ask = (host: string, headers: Record<string, string>, path = tokens) =>
      new Promise<{ status: number; type: string | undefined; json: { code?: string; items?: unknown[] } }>((resolve, reject) => {
        const req = request({ hostname, port, path, headers: { host, ...headers } }, (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (d) => (text += d)).on("end", () => resolve({ status: res.statusCode!, type: res.headers["content-type"], json: text ? JSON.parse(text) : {} }));
        });
        req.on("error", reject).end();
      });
    for (const host of ["a b", "example.com:99999", "[::1", "u@example.com", "u:p@example.com"]) {
      expect(await ask(host, {})).toMatchObject({ status: 401, type: "application/problem+json", json: { code: "UNAUTHORIZED" } });
      expect(await ask(host, { authorization: `Bearer ${alice}` })).toMatchObject({ status: 200, json: { items: expect.any(Array) } });
    }
    const absolute = `http://u@example.com${tokens}`;
    expect(await ask("example.com", {}, absolute)).toMatchObject({ status: 401, type: "application/problem+json", json: { code: "UNAUTHORIZED" } });
    expect(await ask("example.com", { authorization: `Bearer ${alice}` }, absolute)).toMatchObject({ status: 200, json: { items: expect.any(Array) } });
  });

  it("an option of another name is refused: a misspelt grantableScopes would let customers grant the default scopes, a misspelt console serve the page", async () => {
    const { createAdminHandler } = await import("../../src/admin/index.js");
    for (const misspelt of ["grantableScope", "consol", "basepath"]) {
      expect(() => createAdminHandler({ keyward: srv.kw, authorize: () => "x", [misspelt]: ["core:read"] } as never)).toThrow(
        expect.objectContaining({ code: "INVALID_CONFIG", field: misspelt }),
      );
    }
  });

  it("a signed-in caller's body that never ends: 408 BODY_TIMEOUT at bodyTimeoutMs, every request answered, nothing stored (real server)", async () => {
    const { createAdminHandler } = await import("../../src/admin/index.js");
    expect(() => createAdminHandler({ keyward: srv.kw, authorize: () => "x", bodyTimeoutMs: 0 })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "bodyTimeoutMs" }));
    expect(() => createAdminHandler({ keyward: srv.kw, authorize: () => "x", storeTimeoutMs: 1.5 })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "storeTimeoutMs" }));
    // Past the longest timer (2^31 - 1 ms), a timer fires at once: every request would be answered 503, every body 408.
    for (const field of ["bodyTimeoutMs", "storeTimeoutMs"]) {
      expect(() => createAdminHandler({ keyward: srv.kw, authorize: () => "x", [field]: 2 ** 31 })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field }));
      expect(() => createAdminHandler({ keyward: srv.kw, authorize: () => "x", [field]: 2 ** 31 - 1 })).not.toThrow();
    }
    const slow = await startAdminServer({ bodyTimeoutMs: 200 });
    const session = slow.session("acct_slow");
    const { port } = new URL(slow.origin);
    /** POST /tokens whose chunked body sends a byte now and then, never ending: the status line, if one comes within 3 s. */
    const endless = () =>
      statusLine(Number(port), [
        `POST /account/tokens/tokens HTTP/1.1\r\nhost: ${slow.origin.slice(7)}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nauthorization: Bearer ${session}\r\n\r\n1\r\n{\r\n`,
      ], { drip: "1\r\n \r\n", waitMs: 3000 });
    try {
      expect(await Promise.all(Array.from({ length: 10 }, endless))).toEqual(Array(10).fill("HTTP/1.1 408 Request Timeout"));
      expect((await slow.kw.tokens.list("acct_slow")).items).toEqual([]);
    } finally {
      await slow.close();
    }
  });

  it("over HTTP/2 (node:http2, as under Fastify({ http2: true })): every answer as over HTTP/1, and a body refused unread ends its stream", async () => {
    const http2 = await import("node:http2");
    const { createAdminHandler, toNodeHandler } = await import("../../src/admin/index.js");
    const handler = createAdminHandler({ keyward: srv.kw, authorize: (r) => (r.headers.get("authorization") === "Bearer h2" ? "acct_h2" : null), maxBodyBytes: 1000 });
    const server = http2.createServer(toNodeHandler(handler));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    /** One request: its status, JSON body and whether its stream closed; `body` sent, or (null) a body begun and never ended. */
    const ask = (headers: Record<string, string>, body?: string | null) =>
      new Promise<{ status: number; json: { code?: string }; closed: boolean }>((resolve) => {
        const stream = client.request({ authorization: "Bearer h2", ...headers });
        let status = 0;
        let text = "";
        stream.on("response", (h) => (status = Number(h[":status"])));
        stream.on("data", (d: Buffer) => (text += d));
        const done = (closed: boolean) => resolve({ status, json: text ? JSON.parse(text) : {}, closed });
        const timer = setTimeout(() => done(false), 3000);
        stream.on("close", () => {
          clearTimeout(timer);
          done(true);
        });
        if (body === null) stream.write("x".repeat(2000));
        else stream.end(body);
      });
    try {
      expect(await ask({ ":path": "/tokens" })).toMatchObject({ status: 200, json: { items: [] } });
      expect((await ask({ ":path": "/tokens", ":method": "POST", "content-type": "application/json" }, '{"kind":"publishable"}')).status).toBe(201);
      expect((await ask({ ":path": "/tokens", ":method": "POST", "content-type": "text/plain" }, "{}")).json.code).toBe("UNSUPPORTED_MEDIA_TYPE");
      expect(await ask({ ":path": "/tokens", ":method": "POST", "content-type": "application/json" }, null)).toMatchObject({ status: 413, json: { code: "BODY_TOO_LARGE" }, closed: true });
      expect(await ask({ ":path": "/tokens", ":method": "POST", "content-type": "application/json", "content-length": "5000" }, null)).toMatchObject({ status: 413, closed: true });
      expect((await ask({ ":path": "/tokens" }, undefined)).json).toMatchObject({ items: [expect.objectContaining({ owner: "acct_h2" })] });
    } finally {
      client.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("authorize decides: false is 403, a Response is sent as it is, a throw is a 500 that says nothing", async () => {
    const { createAdminHandler } = await import("../../src/admin/index.js");
    const req = (auth: string) => new Request("http://x/tokens", { headers: { authorization: auth } });
    const { onError, seen } = errorsSeen();
    const handler = createAdminHandler({
      keyward: srv.kw,
      onError,
      authorize: (request, { operation }) => {
        const auth = request.headers.get("authorization");
        if (auth === "readonly") return operation === "tokens.list" ? "acct_ro" : false;
        if (auth === "login") return Response.redirect("http://x/login", 303);
        if (auth === "long") return "o".repeat(257);
        if (auth === "forged") return { owner: "acct_1", actor: "ann\n2026-01-01 revoke by admin" };
        // Owners that name no one, the actor then being the owner: answered as any owner keyward refuses, reads included.
        if (auth === "spaces") return "   ";
        if (auth === "filler") return { owner: "\u3164" };
        if (auth === "blank actor") return { owner: "acct_1", actor: "\u2800" };
        throw new Error("session store down: secret detail");
      },
    });
    // An owner or actor keyward refuses is the application's bug: a 500, not a 400 about a field the client never sent.
    for (const auth of ["long", "forged", "spaces", "filler", "blank actor"]) {
      expect((await problem(await handler(req(auth)), 500)).code).toBe("INTERNAL_ERROR");
      const post = new Request("http://x/tokens", { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body: '{"kind":"secret"}' });
      expect((await problem(await handler(post), 500)).code).toBe("INTERNAL_ERROR");
    }
    for (const owner of ["   ", "\u3164"]) expect((await srv.kw.tokens.list(owner)).items).toEqual([]);
    expect((await handler(req("readonly"))).status).toBe(200);
    expect((await problem(await handler(new Request("http://x/tokens", { method: "POST", headers: { authorization: "readonly", "content-type": "application/json" }, body: "{}" })), 403)).code).toBe("FORBIDDEN");
    expect((await handler(req("login"))).status).toBe(303);
    const boom = await handler(req("x"));
    expect(await problem(boom, 500)).toMatchObject({ code: "INTERNAL_ERROR", detail: "The request could not be completed." });
    // The operator is told each 500's cause: the principal keyward refused (a TypeError), then what authorize threw.
    const refused = (operation: string, method: string) => ["TypeError", { operation, method, status: 500, code: "INTERNAL_ERROR" }];
    expect(seen).toEqual([
      ...Array.from({ length: 5 }, () => [refused("tokens.list", "GET"), refused("tokens.create", "POST")]).flat(),
      ["Error", { operation: "tokens.list", method: "GET", status: 500, code: "INTERNAL_ERROR" }],
    ]);
  });

  it("HMAC signing on a server without a sealing key: a 400 that tells the customer what to choose, not the server's configuration", async () => {
    const { createAdminHandler } = await import("../../src/admin/index.js");
    const { Keyward } = await import("../../src/index.js");
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const handler = createAdminHandler({ keyward: kw, authorize: () => "acct_1" });
    const json = JSON.stringify({ kind: "secret", requireSignedRequests: true, signing: { alg: "hmac-sha256" } });
    const res = await handler(new Request("http://x/tokens", { method: "POST", headers: { "content-type": "application/json" }, body: json }));
    expect(await problem(res, 400)).toMatchObject({
      code: "SEALING_KEY_REQUIRED",
      detail: "This server does not offer HMAC-SHA256 signing: sign with Ed25519.",
    });
  });

  it("a private key sent where the public key goes (a JWK with d, a PKCS #8 PEM) is refused, named as what it is; nothing stored", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const privateJwk = privateKey.export({ format: "jwk" });
    const privatePem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    const owner = srv.session("acct_keys");
    const { record } = await create(owner, { kind: "secret", name: "signed" });
    for (const key of [privateJwk, privatePem]) {
      const created = await api(owner, "/tokens", { method: "POST", json: { kind: "secret", signing: { alg: "ed25519", publicKey: key } } });
      const patched = await api(owner, `/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision: 1, patch: { signing: { alg: "ed25519", publicKey: key } } } });
      for (const [res, field] of [[created, "signing.publicKey"], [patched, "patch.signing.publicKey"]] as const) {
        const body = await problem(res, 400);
        expect(body).toMatchObject({ code: "INVALID_INPUT", field });
        expect(body.detail).toBe(`${field}: is a private key, which never leaves its holder (hint: send its public key only, and replace this key pair)`);
      }
    }
    expect((await srv.kw.tokens.list("acct_keys")).items.map((t) => [t.id, t.revision, t.signing])).toEqual([[record.id, 1, null]]);
    // The public half, in any of its forms, is taken.
    const publicJwk = publicKey.export({ format: "jwk" });
    expect((await api(owner, `/tokens/${record.id}`, { method: "PATCH", json: { expectedRevision: 1, patch: { signing: { alg: "ed25519", publicKey: publicJwk } } } })).status).toBe(200);
    expect((await api(owner, "/tokens", { method: "POST", json: { kind: "secret", signing: { alg: "ed25519", publicKey: publicKey.export({ format: "pem", type: "spki" }) } } })).status).toBe(201);
  });

  it("unknown paths are 404; paths outside basePath too", async () => {
    expect((await problem(await api(alice, "/nope"), 404)).code).toBe("NOT_FOUND");
    expect((await problem(await api(alice, "/tokens/tok_0000000000000000000000/secret"), 404)).code).toBe("NOT_FOUND");
    expect((await problem(await fetch(`${srv.origin}/elsewhere`), 404)).code).toBe("NOT_FOUND");
  });
});

describe("a store without a feature", () => {
  it("answers 501 STORE_UNSUPPORTED naming the feature, a status the OpenAPI document gives the operation; nothing changes", async () => {
    // Separate parts: no hardDelete, no accounts (so no members).
    const counters = new MemoryStore();
    const store = combineStores({ records: new MemoryStore(), counters, usage: counters });
    const { onError, seen } = errorsSeen();
    const bare = await startAdminServer({ keyward: { store }, onError });
    try {
      const call = caller(bare, bare.session("acct_bare"));
      const { record } = await bare.kw.tokens.create({ owner: "acct_bare", kind: "secret" });
      const doc = (await (await fetch(`${bare.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { responses: object }>> };
      const cases: [string, string, string, string, unknown?][] = [
        ["DELETE", `/tokens/${record.id}`, "/tokens/{id}", "delete"],
        ["GET", "/members", "/members", "get"],
        ["PUT", "/members/bob", "/members/{member}", "put", { role: "viewer" }],
        ["DELETE", "/members/bob", "/members/{member}", "delete"],
      ];
      for (const [method, path, template, op, json] of cases) {
        const body = await problem(await call(method, path, json), 501);
        expect(body).toMatchObject({ code: "STORE_UNSUPPORTED", title: "Not supported" });
        expect(body.detail).toMatch(/^the store does not support (delete|accounts)$/);
        expect(Object.keys(doc.paths[template]![op]!.responses)).toContain("501");
      }
      expect(await bare.kw.tokens.get(record.id)).toMatchObject({ id: record.id, revokedAt: null });
      const unsupported = (operation: string, method: string) => ["StoreUnsupportedError", { operation, method, status: 501, code: "STORE_UNSUPPORTED" }];
      expect(seen).toEqual([unsupported("tokens.delete", "DELETE"), unsupported("members.list", "GET"), unsupported("members.set", "PUT"), unsupported("members.remove", "DELETE")]);
    } finally {
      await bare.close();
    }
  });
});

describe("a store that does not answer", () => {
  it("is answered 503 STORE_UNAVAILABLE after storeTimeoutMs, not never; for a change, the answer says it may still be made, and it is", async () => {
    const { onError, seen } = errorsSeen();
    const late = await startAdminServer({ storeTimeoutMs: 300, onError });
    try {
      const call = caller(late, late.session("acct_late"));
      const { record } = await late.kw.tokens.create({ owner: "acct_late", kind: "secret", name: "before" });
      // A read: the account's answer held (every request reads it first).
      const readHold = late.hold("getAccount");
      let started = performance.now();
      const read = await call("GET", "/tokens");
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(read.headers.get("retry-after")).toBe("1");
      expect(await problem(read, 503)).toMatchObject({ code: "STORE_UNAVAILABLE", detail: "The token store did not answer in time; retry later." });
      readHold.release();
      // A change: the store wrote it, its answer came after the handler's.
      const writeHold = late.hold("update");
      started = performance.now();
      const change = await call("PATCH", `/tokens/${record.id}`, { expectedRevision: 1, patch: { name: "after" } });
      expect(performance.now() - started).toBeLessThan(5_000);
      expect((await problem(change, 503)).detail).toMatch(/may still be made: reload before you try it again/);
      writeHold.release();
      expect(((await (await call("GET", `/tokens/${record.id}`)).json()) as TokenRecord).name).toBe("after");
      const unavailable = (operation: string, method: string) => ["StoreUnavailableError", { operation, method, status: 503, code: "STORE_UNAVAILABLE" }];
      expect(seen).toEqual([unavailable("tokens.list", "GET"), unavailable("tokens.update", "PATCH")]);
    } finally {
      await late.close();
    }
  });
});
