// The Idempotency-Key of POST /tokens, over real HTTP (undici's fetch against the admin handler behind
// node:http on 127.0.0.1), for any store: idempotency-key.test.ts runs it on MemoryStore and SQLite,
// test/postgres/admin-idempotency-key.test.ts on PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issuedTokenSchema, replayedTokenSchema } from "../../src/admin/schemas.js";
import type { TokenRecord } from "../../src/index.js";
import type { AdminServer } from "./server.js";

/** POST /tokens as `session`, with the body as given (text) and an Idempotency-Key when one is given. */
export function poster(srv: AdminServer, session: string) {
  return (body: unknown, key?: string) =>
    fetch(`${srv.url}/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${session}`, "content-type": "application/json", ...(key === undefined ? {} : { "idempotency-key": key }) },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
}

/** The problem+json code of an answer, checked to have `status`. */
export async function codeOf(res: Response, status: number): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  return ((await res.json()) as { code: string }).code;
}

/** The ids of the owner's tokens, through the API. */
export async function idsOf(srv: AdminServer, session: string): Promise<string[]> {
  const page = (await (await fetch(`${srv.url}/tokens`, { headers: { authorization: `Bearer ${session}` } })).json()) as { items: TokenRecord[] };
  return page.items.map((t) => t.id);
}

let n = 0;
/** A key no other test uses. */
export const newKey = () => `8e03978e-40d5-43e8-bc93-${String(++n).padStart(12, "0")}`;

/** Registers the cases on the server `start` makes (closed after them). */
export function idempotencyKeyCases(name: string, start: () => Promise<AdminServer>): void {
  describe(`Idempotency-Key on POST /tokens (${name})`, () => {
    let srv: AdminServer;
    beforeAll(async () => {
      srv = await start();
    });
    afterAll(() => srv?.close());

    it("the same request again answers 200 Idempotent-Replayed with the token made the first time, never its secret; one token, one audit entry", async () => {
      const alice = srv.session("acct_idem_same");
      const post = poster(srv, alice);
      const key = newKey();
      const first = await post({ kind: "secret", name: "ci", scopes: ["core:read"], metadata: { team: "a", env: "prod" } }, key);
      expect(first.status).toBe(201);
      expect(first.headers.get("idempotent-replayed")).toBeNull();
      const issued = issuedTokenSchema.parse(await first.json());
      // Sent again: the same JSON, other key order and spacing, the key as a structured-field string.
      const again = await post(`{ "metadata": {"env":"prod","team":"a"}, "scopes": ["core:read"], "name": "ci", "kind": "secret" }`, `"${key}"`);
      expect(again.status).toBe(200);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(again.headers.get("location")).toBe(first.headers.get("location"));
      expect(again.headers.get("cache-control")).toBe("no-store");
      const text = await again.text();
      expect(text).not.toContain(issued.token);
      const replayed = replayedTokenSchema.parse(JSON.parse(text));
      expect(replayed).toEqual({ token: null, replayed: true, record: issued.record });
      expect(await idsOf(srv, alice)).toEqual([issued.record.id]);
      const audit = (await (await fetch(`${srv.url}/audit`, { headers: { authorization: `Bearer ${alice}` } })).json()) as { items: { action: string }[] };
      expect(audit.items.map((e) => e.action)).toEqual(["create"]);
      // The replay is the token as it is now: revoked since, it says so (and the client knows to create another).
      await fetch(`${srv.url}/tokens/${issued.record.id}/revoke`, { method: "POST", headers: { authorization: `Bearer ${alice}`, "content-type": "application/json" }, body: "{}" });
      const afterRevoke = replayedTokenSchema.parse(await (await post({ kind: "secret", name: "ci", scopes: ["core:read"], metadata: { team: "a", env: "prod" } }, key)).json());
      expect(afterRevoke.record.id).toBe(issued.record.id);
      expect(afterRevoke.record.revokedAt).not.toBeNull();
    });

    it("another request under the key is 422 IDEMPOTENCY_KEY_REUSED, and makes nothing", async () => {
      const alice = srv.session("acct_idem_other");
      const post = poster(srv, alice);
      const key = newKey();
      expect((await post({ kind: "secret", name: "a" }, key)).status).toBe(201);
      const before = await idsOf(srv, alice);
      expect(await codeOf(await post({ kind: "secret", name: "b" }, key), 422)).toBe("IDEMPOTENCY_KEY_REUSED");
      expect(await codeOf(await post({ kind: "publishable", name: "a" }, key), 422)).toBe("IDEMPOTENCY_KEY_REUSED");
      expect(await idsOf(srv, alice)).toEqual(before);
      // A new key makes a new token.
      expect((await post({ kind: "secret", name: "b" }, newKey())).status).toBe(201);
      expect(await idsOf(srv, alice)).toHaveLength(2);
    });

    it("keys are the caller's own: another owner's same key and body makes their own token, and sees nothing of the first", async () => {
      const alice = srv.session("acct_idem_alice");
      const bob = srv.session("acct_idem_bob");
      const key = newKey();
      const body = { kind: "secret", name: "shared" };
      const a = issuedTokenSchema.parse(await (await poster(srv, alice)(body, key)).json());
      const res = await poster(srv, bob)(body, key);
      expect(res.status).toBe(201);
      const b = issuedTokenSchema.parse(await res.json());
      expect(b.record.id).not.toBe(a.record.id);
      expect(b.record.owner).toBe("acct_idem_bob");
      // Bob's other body under the same key is his own business: no 422 from Alice's use of it either.
      expect(await codeOf(await poster(srv, bob)({ kind: "secret", name: "other" }, key), 422)).toBe("IDEMPOTENCY_KEY_REUSED");
      expect(await idsOf(srv, alice)).toEqual([a.record.id]);
      expect(await idsOf(srv, bob)).toEqual([b.record.id]);
    });

    it("a malformed key is 400 INVALID_IDEMPOTENCY_KEY naming the field, before anything is made", async () => {
      const alice = srv.session("acct_idem_bad");
      const post = poster(srv, alice);
      for (const bad of ["", "x".repeat(256), '"unterminated', '"a"b"', '"a", "b"', "caf\u00e9"]) {
        const res = await post({ kind: "secret" }, bad);
        expect(res.status, JSON.stringify(bad)).toBe(400);
        expect(await res.json()).toMatchObject({ code: "INVALID_IDEMPOTENCY_KEY", field: "Idempotency-Key" });
      }
      expect(await idsOf(srv, alice)).toEqual([]);
      // 255 characters, and one as a structured-field string with its escapes, are keys.
      expect((await post({ kind: "secret" }, "k".repeat(255))).status).toBe(201);
      expect((await post({ kind: "secret" }, '"say \\"hi\\" \\\\ bye"')).status).toBe(201);
      expect((await post({ kind: "secret" }, 'say "hi" \\ bye')).status).toBe(200);
    });

    it("simultaneous POSTs with one key make exactly one token: the others are replays or 409 IDEMPOTENCY_KEY_IN_FLIGHT", async () => {
      const alice = srv.session("acct_idem_race");
      const post = poster(srv, alice);
      const key = newKey();
      const answers = await Promise.all(Array.from({ length: 8 }, () => post({ kind: "secret", name: "race" }, key)));
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.every((s) => s === 201 || s === 200 || s === 409)).toBe(true);
      for (const r of answers.filter((a) => a.status === 409)) {
        expect(r.headers.get("retry-after")).toBe("1");
        expect(((await r.json()) as { code: string }).code).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
      }
      const ids = await idsOf(srv, alice);
      expect(ids).toHaveLength(1);
      // Once it is over, the key answers the token.
      const after = replayedTokenSchema.parse(await (await post({ kind: "secret", name: "race" }, key)).json());
      expect(after.record.id).toBe(ids[0]);
    });
  });
}
