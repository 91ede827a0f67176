// A nonce is remembered only for a request that passed everything that does
// not depend on the nonce: a live token, a valid signature, a policy that
// allows it. Refused requests store nothing.
import * as ed from "@noble/ed25519";
import { Keyward, MemoryStore } from "keyward";
import { signRequest } from "keyward/signing";
import { describe, expect, it } from "vitest";
import { ed25519KeyPair } from "../client/helpers.js";
import { liveStrings, SNAPSHOT_TEST_TIMEOUT_MS } from "../support/heap.js";

async function setup(settings: Record<string, unknown> = {}) {
  const store = new MemoryStore();
  const kw = new Keyward({ store, prefix: "acme" });
  const { seed, publicKey } = ed25519KeyPair();
  const { record } = await kw.tokens.create({
    owner: "o",
    kind: "secret",
    scopes: ["core:read"],
    signing: { alg: "ed25519", publicKey },
    ...settings,
  });
  const sign = (nonce: string, url = "https://api.test/v1/prices") =>
    signRequest(new Request(url), {
      keyid: record.id,
      created: Math.floor(Date.now() / 1000),
      nonce,
      components: ["@method", "@target-uri"],
      key: { alg: "ed25519", privateKey: seed },
    });
  return { store, kw, record, sign };
}

describe("nonces", () => {
  it("a revoked token's signed requests store no nonce (the issue's 1 000 requests)", async () => {
    const { store, kw, record, sign } = await setup({ rateLimit: { limit: 1, windowMs: 60_000 } });
    await kw.tokens.revoke(record.id);
    for (let i = 0; i < 1_000; i++) {
      expect((await kw.verify(await sign(`n${i}-${"x".repeat(100)}`))).code).toBe("TOKEN_REVOKED");
    }
    expect(store.stats().nonces).toBe(0);
  });

  it("an 8 KB nonce is refused before any lookup, and stored nowhere", async () => {
    const { store, kw, sign } = await setup();
    expect((await kw.verify(await sign("n".repeat(8 * 1024)))).code).toBe("SIGNATURE_INVALID");
    expect(store.stats().nonces).toBe(0);
  });

  it("a request the policy refuses stores no nonce; the same nonce then works for an allowed request", async () => {
    const { store, kw, sign } = await setup();
    expect((await kw.verify(await sign("once"), { scope: "premium:read" })).code).toBe("SCOPE_DENIED");
    expect(store.stats().nonces).toBe(0);
    expect((await kw.verify(await sign("once"), { scope: "core:read" })).ok).toBe(true);
    expect(store.stats().nonces).toBe(1);
    const replay = await kw.verify(await sign("once"), { scope: "core:read" });
    expect(replay).toMatchObject({ ok: false, code: "REPLAYED", tokenId: null });
  });

  it("a replay is charged nothing: no credit spent, no rate-limit capacity used", async () => {
    const { kw, sign } = await setup({ credits: { limit: 2 }, rateLimit: { limit: 2, windowMs: 60_000 } });
    const first = await sign("a");
    expect((await kw.verify(first.clone())).remaining).toBe(1);
    expect((await kw.verify(first.clone())).code).toBe("REPLAYED");
    const second = await kw.verify(await sign("b"));
    expect(second).toMatchObject({ ok: true, remaining: 0 });
  });

  it("a remembered nonce, and a cached key id, keep nothing else of the request alive", async () => {
    // The parser hands out slices of the Signature-Input value, and V8 keeps a slice as a view of the
    // whole string: a remembered nonce (and the key id cached for the lookup) would each hold the whole
    // field, up to 8 KB, for the signature's lifetime instead of its few characters.
    const { store, kw, sign } = await setup();
    const tag = `pad${Math.random().toString(36).slice(2, 10)}`;
    // A function of its own, so that the test's frame holds none of the requests.
    const verifyPadded = async (i: number) => {
      const signed = await sign(`nonce-${tag}-${i}`);
      const headers = new Headers(signed.headers);
      // Another member of the Dictionary: parsed with the signature's, covered by no signature.
      headers.set("signature-input", `${headers.get("signature-input")}, pad=();p="${tag}-${i}-${"x".repeat(2000)}"`);
      return (await kw.verify(new Request(signed.url, { headers }))).ok;
    };
    for (let i = 0; i < 20; i++) expect(await verifyPadded(i)).toBe(true);
    expect(store.stats().nonces).toBe(20);
    // The count sees a string this test holds (its control), and no Signature-Input value.
    const held = [tag, "held", "x".repeat(2000)].join("-"); // joined: one flat string
    expect(await liveStrings(`${tag}-`, 2_000)).toBe(1);
    expect(held).toContain(tag);
  }, SNAPSHOT_TEST_TIMEOUT_MS);

  it("verifies against the current and the grace-period HMAC keys with one lookup", async () => {
    const { createSigner } = await import("keyward/client");
    let lookups = 0;
    class CountingStore extends MemoryStore {
      override async get(id: string) {
        lookups++;
        return super.get(id);
      }
    }
    const kw = new Keyward({ store: new CountingStore(), prefix: "acme", sealingKey: Buffer.alloc(32, 7).toString("base64") });
    const old = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
    const next = await kw.tokens.regenerate(old.record.id, { graceMs: 60_000 });
    for (const token of [old.token, next.token]) {
      const signer = createSigner({ keyId: old.record.id, alg: "hmac-sha256", token });
      const signed = await signer.sign(new Request("https://api.test/x"));
      lookups = 0;
      expect((await kw.verify(signed)).ok).toBe(true);
      expect(lookups).toBeLessThanOrEqual(1);
    }
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
