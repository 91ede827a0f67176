// GET /openapi.json: an OpenAPI 3.1 document generated from the zod schemas
// that validate the input, checked with a JSON Schema 2020-12 validator
// (Ajv) against real requests and answers of a running server.
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdirSync } from "node:fs";
import type { AdminOperation } from "../../src/admin/index.js";
import { answerOf } from "../../src/admin/problem.js";
import { type ErrorCode, KeywardError } from "../../src/errors.js";
import { codeUnions, readRepoFile } from "../support/code-unions.js";
import { type AdminServer, startAdminServer } from "./server.js";

interface Operation {
  operationId?: string;
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: { $ref: string } }> }>;
}
let srv: AdminServer;
let doc: {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object>; responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }> };
};
let ajv: Ajv2020;
/** The same document, every object closed to properties it does not name: an answer's undocumented field fails. */
let closed: Ajv2020;
let session: string;

const validate = (name: string, value: unknown) => {
  const ok = ajv.validate({ $ref: `openapi#/components/schemas/${name}` }, value);
  return ok ? [] : (ajv.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
};

/** A copy of a JSON Schema where every object schema that lists its properties allows no other. */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (typeof schema !== "object" || schema === null) return schema;
  const out = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, closeObjects(v)]));
  if ("properties" in out && !("additionalProperties" in out)) out.additionalProperties = false;
  return out;
}

beforeAll(async () => {
  srv = await startAdminServer();
  session = srv.session("acct_doc");
  const res = await fetch(`${srv.url}/openapi.json`);
  expect(res.headers.get("content-type")).toBe("application/json");
  doc = await res.json();
  ajv = new Ajv2020({ strict: false, validateFormats: false });
  ajv.addSchema(doc, "openapi");
  closed = new Ajv2020({ strict: false, validateFormats: false });
  closed.addSchema(closeObjects(doc) as object, "openapi");
});
afterAll(() => srv?.close());

describe("OpenAPI 3.1 document", () => {
  it("names every operation once, at the mounted base path", () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.servers).toEqual([{ url: "/account/tokens" }]);
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p).flatMap((o) => (o.operationId ? [o.operationId] : [])));
    const all: AdminOperation[] = [
      "config",
      "tokens.list",
      "tokens.create",
      "tokens.get",
      "tokens.update",
      "tokens.regenerate",
      "tokens.revoke",
      "tokens.disable",
      "tokens.enable",
      "tokens.delete",
      "tokens.usage",
      "tokens.audit",
      "audit",
      "members.list",
      "members.set",
      "members.remove",
    ];
    expect(ops.sort()).toEqual(all.sort());
  });

  it("request bodies: what the handler accepts validates, what it refuses does not", () => {
    expect(validate("CreateTokenBody", { kind: "publishable", name: "web", domains: ["example.com"], credits: { limit: 10 }, expiresAt: "2030-01-01T00:00:00Z" })).toEqual([]);
    expect(validate("CreateTokenBody", { kind: "secret", signing: { alg: "ed25519", publicKey: "AAAA" } })).toEqual([]);
    expect(validate("CreateTokenBody", { kind: "secret", owner: "acct_other" })).not.toEqual([]);
    expect(validate("CreateTokenBody", { kind: "secret", rateLimit: { limit: 1, windowMs: 1000 } })).not.toEqual([]);
    expect(validate("CreateTokenBody", { kind: "root" })).not.toEqual([]);
    expect(validate("UpdateTokenBody", { expectedRevision: 3, effectiveAt: 1_900_000_000_000, patch: { ips: ["203.0.113.0/24"] } })).toEqual([]);
    expect(validate("UpdateTokenBody", { patch: {} })).not.toEqual([]);
    expect(validate("RegenerateTokenBody", { graceMs: 3_600_000 })).toEqual([]);
    expect(validate("RegenerateTokenBody", { graceMs: -1 })).not.toEqual([]);
  });

  it("a time is epoch milliseconds or a string, as the handler takes it: any other value is refused by both", async () => {
    const headers = { authorization: `Bearer ${session}`, "content-type": "application/json" };
    for (const expiresAt of [true, {}, [1_900_000_000_000], { iso: "2030-01-01T00:00:00Z" }]) {
      const res = await fetch(`${srv.url}/tokens`, { method: "POST", headers, body: JSON.stringify({ kind: "publishable", expiresAt }) });
      expect([expiresAt, res.status, (await res.json()).field]).toEqual([expiresAt, 400, "expiresAt"]);
      expect(validate("CreateTokenBody", { kind: "publishable", expiresAt }), JSON.stringify(expiresAt)).not.toEqual([]);
      expect(validate("UpdateTokenBody", { expectedRevision: 1, effectiveAt: expiresAt, patch: { name: "x" } }), JSON.stringify(expiresAt)).not.toEqual([]);
    }
    expect(validate("CreateTokenBody", { kind: "publishable", expiresAt: 1_900_000_000_000 })).toEqual([]);
    expect(validate("UpdateTokenBody", { expectedRevision: 1, effectiveAt: "2030-01-01T00:00:00Z", patch: { name: "x" } })).toEqual([]);
  });

  it("real answers validate against their schemas", async () => {
    const headers = { authorization: `Bearer ${session}`, "content-type": "application/json" };
    const created = await (await fetch(`${srv.url}/tokens`, { method: "POST", headers, body: '{"kind":"secret","metadata":{"a":[1]}}' })).json();
    expect(validate("IssuedToken", created)).toEqual([]);
    const id = created.record.id;
    await srv.kw.check({ token: created.token, scope: "core:read" });
    await srv.kw.flush();
    const answers: [string, string][] = [
      ["TokenPage", "/tokens"],
      ["TokenRecord", `/tokens/${id}`],
      ["Usage", `/tokens/${id}/usage`],
      ["AuditPage", `/tokens/${id}/audit`],
      ["AuditPage", "/audit"],
      ["ConsoleConfig", "/config"],
      ["Problem", "/tokens/tok_0000000000000000000000"],
    ];
    for (const [schema, path] of answers) expect([path, validate(schema, await (await fetch(srv.url + path, { headers })).json())]).toEqual([path, []]);
  });

  it("every route's real answers, errors included, have a documented status and validate, with no undocumented field", async () => {
    const owner = "acct_every";
    const who = srv.session(owner);
    const seen = new Set<string>();
    /** Calls an operation of the document and checks its answer against it; returns the body. */
    const call = async (method: string, template: string, params: Record<string, string> = {}, init: { json?: unknown; auth?: boolean; raw?: boolean } = {}) => {
      const operation = doc.paths[template]?.[method.toLowerCase()];
      expect(operation, `${method} ${template}`).toBeDefined();
      // `raw`: the parameters as they are, not percent-encoded (to send a malformed encoding).
      const path = template.replace(/\{(\w+)\}/g, (_, name: string) => (init.raw ? params[name]! : encodeURIComponent(params[name]!)));
      const headers: Record<string, string> = init.auth === false ? {} : { authorization: `Bearer ${who}` };
      if (init.json !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(srv.url + path, { method, headers, body: init.json === undefined ? null : JSON.stringify(init.json) });
      const body = await res.json();
      const label = `${method} ${template} → ${res.status} ${body.code ?? ""}`;
      const documented = operation!.responses[String(res.status)];
      expect(documented, `${label}: status not documented`).toBeDefined();
      const media = documented!.$ref ? doc.components.responses[documented!.$ref.split("/").at(-1)!]!.content : documented!.content!;
      const [type, { schema }] = Object.entries(media)[0]!;
      expect(res.headers.get("content-type"), label).toBe(type);
      const ok = closed.validate({ $ref: `openapi${schema.$ref}` }, body);
      expect(ok ? [] : (closed.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`), label).toEqual([]);
      seen.add(operation!.operationId!);
      return body;
    };

    await call("GET", "/config");
    const created = await call("POST", "/tokens", {}, { json: { kind: "secret", name: "all", metadata: { team: "web" }, credits: { limit: 100, reset: "month" }, pools: { search: { limit: 5 } } } });
    const id: string = created.record.id;
    await call("GET", "/tokens");
    await call("GET", "/tokens/{id}", { id });
    await call("PATCH", "/tokens/{id}", { id }, { json: { expectedRevision: 1, effectiveAt: Date.now() + 3_600_000, patch: { ips: ["203.0.113.0/24"], name: "later" } } });
    await call("PATCH", "/tokens/{id}", { id }, { json: { expectedRevision: 1, patch: { name: "stale" } } });
    const regenerated = await call("POST", "/tokens/{id}/regenerate", { id }, { json: { expectedRevision: 2, graceMs: 60_000 } });
    await call("POST", "/tokens/{id}/disable", { id }, { json: {} });
    await call("POST", "/tokens/{id}/enable", { id }, { json: {} });
    await srv.kw.check({ token: regenerated.token, scope: "core:read" });
    await srv.kw.flush();
    await call("GET", "/tokens/{id}/usage", { id });
    await call("GET", "/tokens/{id}/audit", { id });
    // Account-wide entries, on the account's audit log.
    await srv.kw.accounts.set(owner, { rateLimit: { limit: 100, windowMs: 1000 } }, { effectiveAt: Date.now() });
    await srv.kw.credits.topUp({ tokenId: id }, 10);
    await srv.kw.tokens.reportLeak(regenerated.token, { source: "test", action: "flag" });
    await call("PUT", "/members/{member}", { member: `user:${owner}` }, { json: { role: "owner" } });
    await call("PUT", "/members/{member}", { member: "user:2" }, { json: { role: "viewer" } });
    await call("PUT", "/members/{member}", { member: "user:3" }, { json: { role: "root" } });
    // Not valid percent-encoding: nothing at this path.
    expect((await call("PUT", "/members/{member}", { member: "%E0%A4%A" }, { json: { role: "viewer" }, raw: true })).code).toBe("NOT_FOUND");
    expect((await call("DELETE", "/members/{member}", { member: "%E0%A4%A" }, { raw: true })).code).toBe("NOT_FOUND");
    await call("GET", "/members");
    await call("DELETE", "/members/{member}", { member: `user:${owner}` });
    await call("DELETE", "/members/{member}", { member: "user:2" });
    await call("POST", "/tokens/{id}/revoke", { id }, { json: {} });
    await call("PATCH", "/tokens/{id}", { id }, { json: { expectedRevision: 9, patch: { name: "x" } } });
    await call("DELETE", "/tokens/{id}", { id });
    await call("GET", "/tokens/{id}", { id });
    const audit = await call("GET", "/audit");
    expect(new Set((audit.items as { action: string }[]).map((e) => e.action))).toEqual(
      new Set(["create", "update", "regenerate", "disable", "enable", "account", "credits", "leak", "members", "revoke", "delete"]),
    );
    await call("POST", "/tokens", {}, { json: { kind: "secret", scopes: ["internal:admin"] } });
    await call("POST", "/tokens", {}, { json: { kind: "secret", owner: "acct_other" } });
    await call("GET", "/tokens", {}, { auth: false });
    const every = Object.values(doc.paths).flatMap((p) => Object.values(p).flatMap((o) => (o.operationId ? [o.operationId] : [])));
    expect([...seen].sort()).toEqual(every.sort());
  });

  it("Problem.code is an enum of exactly the codes the admin answers: its own (every AdminAnswer in src/admin) and every KeywardError's as it passes it on", () => {
    const { enum: listed } = (doc.components.schemas.Problem as { properties: { code: { enum?: string[] } } }).properties.code;
    expect(Array.isArray(listed)).toBe(true);
    const own = readdirSync(new URL("../../src/admin/", import.meta.url), { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .flatMap((f) => [...readRepoFile(`src/admin/${f}`).matchAll(/new AdminAnswer\(\s*\d+,\s*"([A-Z_]+)"/g)].map((m) => m[1]!));
    expect(own).toContain("CROSS_SITE_REQUEST");
    const unions = codeUnions("src");
    const errorCodes = [...unions.get("src/errors.ts#ErrorCode")!, ...unions.get("src/errors.ts#InputErrorCode")!] as ErrorCode[];
    const passedOn = errorCodes.map((code) => answerOf(new KeywardError(code, "m")).code);
    expect(passedOn).toContain("ACCOUNT_NOT_FOUND");
    expect([...new Set(listed)].sort()).toEqual([...new Set([...own, ...passedOn])].sort());
  });

  it("every path answers a method it does not list with the documented 405, whose Allow names exactly the methods it lists, and HEAD with GET", async () => {
    const headers = { authorization: `Bearer ${session}`, "content-type": "application/json" };
    const problem405 = doc.components.responses.Problem405 as unknown as { headers: Record<string, unknown>; content: Record<string, { schema: { $ref: string } }> };
    expect(Object.keys(problem405.headers)).toEqual(["Allow"]);
    const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    for (const [template, item] of Object.entries(doc.paths)) {
      expect(String((item as { description?: string }).description), template).toContain("#/components/responses/Problem405");
      const listed = METHODS.filter((m) => m.toLowerCase() in item);
      const path = template.replace("{id}", "tok_0000000000000000000000").replace("{member}", "user%3A9");
      for (const method of METHODS.filter((m) => !listed.includes(m))) {
        const res = await fetch(srv.url + path, { method, headers, body: method === "GET" || method === "OPTIONS" ? null : "{}" });
        const label = `${method} ${template}`;
        expect(res.status, label).toBe(405);
        // HEAD wherever GET is: answered as GET (RFC 9110 §9.3.2), and no operation of its own in the document.
        expect(res.headers.get("allow")?.split(", ").sort(), label).toEqual([...listed, ...(listed.includes("GET") ? ["HEAD"] : [])].sort());
        expect(res.headers.get("content-type"), label).toBe(Object.keys(problem405.content)[0]);
        const ok = closed.validate({ $ref: `openapi${problem405.content["application/problem+json"]!.schema.$ref}` }, await res.json());
        expect(ok, label).toBe(true);
      }
    }
  });
});
