// Slow and hung store lookups, forged signatures, route options, and replays at the freshness boundary.
import * as ed from "@noble/ed25519";
import { describe, expect, it } from "vitest";
import { isKeywardError, Keyward, MemoryStore, type StoredToken } from "keyward";
import { signRequest } from "keyward/signing";

/** A real MemoryStore whose lookups by hash wait until released, like a slow database. */
class SlowStore extends MemoryStore {
  gate: Promise<void> | null = null;
  override async findByHash(hash: string): Promise<StoredToken | null> {
    const found = await super.findByHash(hash);
    if (this.gate) await this.gate;
    return found;
  }
}

describe("store lookups, forged signatures and route options", () => {
  it("a request arriving after a revocation does not join a lookup that started before it", async () => {
    const store = new SlowStore();
    const kw = new Keyward({ store, prefix: "acme" });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    let release = () => {};
    store.gate = new Promise((r) => {
      release = r;
    });
    const before = kw.check({ token });
    await kw.tokens.revoke(record.id);
    const after = kw.check({ token });
    release();
    expect((await after).code).toBe("TOKEN_REVOKED");
    await before;
  });

  it("a hung store lookup is abandoned after lookupTimeoutMs and denied", async () => {
    const store = new SlowStore();
    const kw = new Keyward({ store, prefix: "acme", lookupTimeoutMs: 50 });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    store.gate = new Promise(() => {}); // never settles
    const d = await kw.check({ token });
    expect(d).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    store.gate = null;
    expect((await kw.check({ token })).ok).toBe(true);
  });

  it("a forged signature naming a real token id reveals nothing and charges nothing to it", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const publicKey = await ed.getPublicKeyAsync(ed.utils.randomSecretKey());
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey } });
    const forged = await signRequest(new Request("https://api.test/x"), {
      keyid: record.id,
      key: { alg: "ed25519", privateKey: ed.utils.randomSecretKey() },
      nonce: true,
    });
    const d = await kw.verify(forged);
    expect(d).toMatchObject({ ok: false, code: "SIGNATURE_INVALID", tokenId: null, token: null });
    await kw.flush();
    expect(await kw.usage.get(record.id)).toEqual([]);
  });

  it("a scope list with a non-string entry is the application's mistake: a coded rejection", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    await kw.check({ token }); // warm the cache: the check must still reject, not throw synchronously
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = kw.check({ token, scope: [Object.create(null)] });
    }).not.toThrow();
    const err = await promise!.catch((e: unknown) => e);
    expect(isKeywardError(err, "INVALID_INPUT")).toBe(true);
  });

  it("refuses signature requirements it cannot verify, at construction", () => {
    const store = new MemoryStore();
    for (const required of [[], ["x;;"], ["é"], ["@method;bad="], ["@nonsense"]]) {
      expect(() => new Keyward({ store, prefix: "acme", signatures: { required } }), JSON.stringify(required)).toThrow(
        expect.objectContaining({ code: "INVALID_CONFIG" }),
      );
    }
    expect(() => new Keyward({ store, prefix: "acme", signatures: { required: ["@method", "@authority", "@path", "content-digest", "created"] } })).not.toThrow();
  });
});

describe("replay at the freshness boundary", () => {
  it("a nonce is remembered for as long as its signature is fresh, to the millisecond", async () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", now: () => clock.now });
    const privateKey = ed.utils.randomSecretKey();
    const publicKey = await ed.getPublicKeyAsync(privateKey);
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey } });
    const created = Math.floor(clock.now / 1000);
    const signed = await signRequest(new Request("https://api.test/x"), {
      keyid: record.id,
      key: { alg: "ed25519", privateKey },
      nonce: true,
      created,
    });
    clock.now = (created + 300 + 30) * 1000; // the last instant the signature is fresh
    expect((await kw.verify(signed.clone())).ok).toBe(true);
    expect((await kw.verify(signed.clone())).code).toBe("REPLAYED");
    clock.now += 1;
    expect((await kw.verify(signed.clone())).code).toBe("SIGNATURE_EXPIRED");
  });
});
