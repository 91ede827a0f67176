// The Idempotency-Key of POST /tokens over real HTTP on MemoryStore and SQLite (the cases of
// idempotency-cases.ts), and what needs one process's store: a request held in flight, a store
// without the capability, a key's retention.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replayedTokenSchema } from "../../src/admin/schemas.js";
import { MemoryStore, type StoreCapabilities } from "../../src/index.js";
import { codeOf, idempotencyKeyCases, idsOf, newKey, poster } from "./idempotency-cases.js";
import { type AdminServer, startAdminServer } from "./server.js";

idempotencyKeyCases("SQLite", () => startAdminServer());
idempotencyKeyCases("MemoryStore", () => startAdminServer({ keyward: { store: new MemoryStore() } }));

/** A store written before idempotency keys: every other part as MemoryStore's. */
class WithoutIdempotentCreate extends MemoryStore {
  override readonly capabilities: StoreCapabilities = { ...new MemoryStore().capabilities, idempotentCreate: false };
}

describe("Idempotency-Key on POST /tokens, in one process", () => {
  let srv: AdminServer;
  beforeAll(async () => {
    srv = await startAdminServer();
  });
  afterAll(() => srv?.close());

  it("a retry while the first request is still being made is 409 IDEMPOTENCY_KEY_IN_FLIGHT; once it is made, a replay", async () => {
    const alice = srv.session("acct_idem_flight");
    const post = poster(srv, alice);
    const key = newKey();
    // The first request's create holds on its account read (the handler's own read is the first).
    const held = srv.hold("getAccount", 2);
    const first = post({ kind: "secret", name: "slow" }, key);
    await held.reached;
    const retry = await post({ kind: "secret", name: "slow" }, key);
    expect(await codeOf(retry, 409)).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
    expect(retry.headers.get("retry-after")).toBe("1");
    held.release();
    expect((await first).status).toBe(201);
    const replay = await post({ kind: "secret", name: "slow" }, key);
    expect(replay.status).toBe(200);
    expect(replayedTokenSchema.parse(await replay.json()).record.id).toBe((await idsOf(srv, alice))[0]);
    expect(await idsOf(srv, alice)).toHaveLength(1);
  });

  it("a store without capabilities.idempotentCreate answers a keyed create 501 STORE_UNSUPPORTED and makes nothing; unkeyed creates work", async () => {
    const own = await startAdminServer({ keyward: { store: new WithoutIdempotentCreate() }, onError: () => {} });
    try {
      const alice = own.session("acct_idem_unsupported");
      const post = poster(own, alice);
      const res = await post({ kind: "secret" }, newKey());
      expect(res.status).toBe(501);
      expect(await res.json()).toMatchObject({ code: "STORE_UNSUPPORTED", detail: "the store does not support idempotentCreate" });
      expect(await idsOf(own, alice)).toEqual([]);
      expect((await post({ kind: "secret" })).status).toBe(201);
    } finally {
      await own.close();
    }
  });

  it("a key is kept for tokens.idempotencyKeyRetentionMs: the same request after it makes a new token", async () => {
    let now = Date.UTC(2026, 0, 1);
    const own = await startAdminServer({ keyward: { store: new MemoryStore(), now: () => now, tokens: { idempotencyKeyRetentionMs: 60_000 } } });
    try {
      const alice = own.session("acct_idem_retention");
      const post = poster(own, alice);
      const key = newKey();
      expect((await post({ kind: "secret" }, key)).status).toBe(201);
      now += 59_999;
      expect((await post({ kind: "secret" }, key)).status).toBe(200);
      now += 1;
      expect((await post({ kind: "secret" }, key)).status).toBe(201);
      expect(await idsOf(own, alice)).toHaveLength(2);
    } finally {
      await own.close();
    }
  });

  it("the OpenAPI document's Idempotency-Key takes every key the server takes: 255 characters, each escaped in a quoted string (512 in all)", async () => {
    const doc = (await (await fetch(`${srv.url}/openapi.json`)).json()) as { paths: Record<string, { post?: { parameters?: { name: string; schema: { minLength: number; maxLength: number } }[] } }> };
    const header = doc.paths["/tokens"]!.post!.parameters!.find((p) => p.name === "Idempotency-Key")!;
    const longest = `"${'\\"'.repeat(85)}${"\\\\".repeat(170)}"`;
    expect(longest).toHaveLength(512);
    const post = poster(srv, srv.session("acct_idem_openapi"));
    expect((await post({ kind: "secret" }, longest)).status).toBe(201);
    expect(longest.length).toBeLessThanOrEqual(header.schema.maxLength);
    expect(header.schema.minLength).toBe(1);
  });

  it("the header is read on POST /tokens only: another operation ignores it", async () => {
    const alice = srv.session("acct_idem_elsewhere");
    const post = poster(srv, alice);
    const { record } = (await (await post({ kind: "secret" })).json()) as { record: { id: string } };
    const res = await fetch(`${srv.url}/tokens/${record.id}/revoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${alice}`, "content-type": "application/json", "idempotency-key": '"unterminated' },
      body: "{}",
    });
    expect(res.status).toBe(200);
  });
});
