// kw.tokens.create with an idempotencyKey: the same request answers the token made the first time
// (never its secret), another one is refused, and the key is checked like every option.
import { IdempotencyKeyInFlightError, IdempotencyKeyReusedError, IssuedToken, Keyward, MemoryStore } from "keyward";
import { describe, expect, it } from "vitest";
import { holdable } from "../admin/server.js";

const kwOn = (store = new MemoryStore()) => new Keyward({ store, prefix: "acme" });

describe("kw.tokens.create with an idempotencyKey", () => {
  it("the same request (its fields in any order) answers { token: null, replayed: true, record }: the record now, no secret", async () => {
    const kw = kwOn();
    const first = await kw.tokens.create({ owner: "acct_1", kind: "secret", name: "ci", metadata: { a: 1, b: [1, 2] } }, { idempotencyKey: "order-42", actor: "user:1" });
    expect(first).toBeInstanceOf(IssuedToken);
    const again = await kw.tokens.create({ metadata: { b: [1, 2], a: 1 }, name: "ci", kind: "secret", owner: "acct_1" }, { actor: "user:1", idempotencyKey: "order-42" });
    expect(again).toEqual({ token: null, replayed: true, record: first.record });
    expect(JSON.stringify(again)).not.toContain((first as IssuedToken).token);
    expect((await kw.tokens.list("acct_1")).items).toHaveLength(1);
    // Another actor's key, or the default actor's, is another key.
    expect((await kw.tokens.create({ owner: "acct_1", kind: "secret", name: "ci", metadata: { a: 1, b: [1, 2] } }, { idempotencyKey: "order-42" })).token).not.toBeNull();
  });

  it("another request under the key throws IDEMPOTENCY_KEY_REUSED, writing nothing", async () => {
    const kw = kwOn();
    await kw.tokens.create({ owner: "acct_1", kind: "secret" }, { idempotencyKey: "k" });
    const err = await kw.tokens.create({ owner: "acct_1", kind: "secret", name: "other" }, { idempotencyKey: "k" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdempotencyKeyReusedError);
    expect(err).toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED" });
    expect((await kw.tokens.list("acct_1")).items).toHaveLength(1);
  });

  it("a second create with the key while the first runs throws IDEMPOTENCY_KEY_IN_FLIGHT", async () => {
    const held = holdable(new MemoryStore());
    const kw = kwOn(held.store);
    const hold = held.hold("getAccount");
    const first = kw.tokens.create({ owner: "acct_1", kind: "secret" }, { idempotencyKey: "k" });
    await hold.reached;
    await expect(kw.tokens.create({ owner: "acct_1", kind: "secret" }, { idempotencyKey: "k" })).rejects.toBeInstanceOf(IdempotencyKeyInFlightError);
    hold.release();
    expect((await first).token).not.toBeNull();
    expect((await kw.tokens.create({ owner: "acct_1", kind: "secret" }, { idempotencyKey: "k" })).token).toBeNull();
  });

  it("refuses a malformed key (INVALID_INPUT on idempotencyKey), and a misspelt option, before anything is made", async () => {
    const kw = kwOn();
    for (const key of ["", "x".repeat(256), "a\u0000b", "a\nb", "a\u202eb"]) {
      await expect(kw.tokens.create({ owner: "acct_1", kind: "secret" }, { idempotencyKey: key })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "idempotencyKey" });
    }
    await expect(kw.tokens.create({ owner: "acct_1", kind: "secret" }, { idempotencyKy: "k" } as never)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect((await kw.tokens.list("acct_1")).items).toEqual([]);
  });
});
