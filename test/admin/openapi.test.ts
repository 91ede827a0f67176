// GET /openapi.json: an OpenAPI 3.1 document generated from the zod schemas
// that validate the input, checked with a JSON Schema 2020-12 validator
// (Ajv) against real requests and answers of a running server.
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AdminOperation } from "../../src/admin/index.js";
import { type AdminServer, startAdminServer } from "./server.js";

let srv: AdminServer;
let doc: {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, { operationId?: string }>>;
  components: { schemas: Record<string, object> };
};
let ajv: Ajv2020;
let session: string;

const validate = (name: string, value: unknown) => {
  const ok = ajv.validate({ $ref: `openapi#/components/schemas/${name}` }, value);
  return ok ? [] : (ajv.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
};

beforeAll(async () => {
  srv = await startAdminServer();
  session = srv.session("acct_doc");
  const res = await fetch(`${srv.url}/openapi.json`);
  expect(res.headers.get("content-type")).toBe("application/json");
  doc = await res.json();
  ajv = new Ajv2020({ strict: false, validateFormats: false });
  ajv.addSchema(doc, "openapi");
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
});
