import * as ed from "@noble/ed25519";
import { describe, expect, it, vi } from "vitest";
import { deriveSigningSecret, Keyward, type KeywardOptions, MemoryStore } from "keyward";
import { type SigningKey, signRequest } from "keyward/signing";
import { toBase64Url } from "../../src/lib/bytes.js";
import { smallOrderForgery } from "../signing/helpers.js";

const T0 = Date.UTC(2026, 0, 1);
const SEALING_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

function setup(options: Partial<KeywardOptions> = {}) {
  const clock = { now: T0 };
  const store = new MemoryStore();
  const kw = new Keyward({ store, prefix: "acme", sealingKey: SEALING_KEY, now: () => clock.now, ...options });
  return { kw, store, clock };
}

async function ed25519Token(kw: Keyward, extra: Record<string, unknown> = {}) {
  const privateKey = ed.utils.randomSecretKey();
  const publicKey = await ed.getPublicKeyAsync(privateKey);
  const issued = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "ed25519", publicKey }, ...extra });
  return { token: issued.token, record: issued.record, key: { alg: "ed25519", privateKey } as SigningKey };
}

const sign = (request: Request, keyid: string, key: SigningKey, now: number, extra: Partial<Parameters<typeof signRequest>[1]> = {}) =>
  signRequest(request, {
    keyid,
    key,
    nonce: true,
    params: ["created", "expires", "nonce", "keyid", "alg"],
    created: Math.floor(now / 1000),
    expires: Math.floor(now / 1000) + 300,
    now: () => now,
    ...extra,
  });

const post = (body = '{"symbol":"X"}') =>
  new Request("https://api.example.com/v1/prices?symbol=X", { method: "POST", body, headers: { "content-type": "application/json" } });

describe("verify: signed requests", () => {
  it("a stored small-order key (written without tokens.create) verifies no forged request", async () => {
    const { kw, store, clock } = setup();
    const { record } = await ed25519Token(kw, { requireSignedRequests: true });
    const stored = (await store.get(record.id))!;
    const placeholder = new Uint8Array(32); // y = 0, a point of order 4
    await store.update({ ...stored, signing: { alg: "ed25519", publicKey: toBase64Url(placeholder) } }, stored.revision);
    const forged = smallOrderForgery(placeholder, record.id, Math.floor(clock.now / 1000));
    expect(await kw.verify(forged)).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
  });

  it("accepts an ed25519-signed request without any secret on the wire", async () => {
    const { kw, clock } = setup();
    const { record, token, key } = await ed25519Token(kw, { requireSignedRequests: true });
    const signed = await sign(post(), record.id, key, clock.now);
    expect(signed.headers.get("authorization")).toBeNull();
    const d = await kw.verify(signed, { scope: "core:read" });
    expect(d).toMatchObject({ ok: true, tokenId: record.id });
    // The same token used as a bearer is refused: this token requires signatures.
    const bearer = new Request("https://api.example.com/v1/prices", { headers: { authorization: `Bearer ${token}` } });
    expect((await kw.verify(bearer)).code).toBe("SIGNATURE_REQUIRED");
  });

  it("Accept-Signature asks for what the instance requires: signatures.required, and content-digest for a body", async () => {
    const required = ["@method", "@target-uri", "content-type", "created"];
    const { kw, clock } = setup({ signatures: { required } });
    const { record, token, key } = await ed25519Token(kw, { requireSignedRequests: true });
    const asBearer = (headers: Record<string, string>) =>
      new Request("https://api.example.com/v1/prices?symbol=X", { method: "POST", headers: { authorization: `Bearer ${token}`, ...headers } });
    const json = { "content-type": "application/json" };
    const noBody = (await kw.verify(asBearer(json))).headers["accept-signature"];
    expect(noBody).toBe(`sig1=("@method" "@target-uri" "content-type");created;expires;nonce;keyid="${record.id}";alg="ed25519"`);
    const withBody = (await kw.verify(asBearer({ ...json, "content-length": "14" }))).headers["accept-signature"];
    expect(withBody).toBe(`sig1=("@method" "@target-uri" "content-type" "content-digest");created;expires;nonce;keyid="${record.id}";alg="ed25519"`);
    // A body without Content-Length (a stream, or HTTP/2): the body the verifier would require a digest of.
    const streamed = new Request("https://api.example.com/v1/prices?symbol=X", { method: "POST", headers: { authorization: `Bearer ${token}`, ...json }, body: "{}" });
    expect(streamed.headers.get("content-length")).toBeNull();
    expect((await kw.verify(streamed)).headers["accept-signature"]).toBe(withBody);
    // A client that covers exactly what the header lists is allowed; the default list would not be.
    const components = ["@method", "@target-uri", "content-type", "content-digest"];
    expect((await kw.verify(await sign(post(), record.id, key, clock.now, { components }))).ok).toBe(true);
    const defaults = ["@method", "@target-uri", "content-digest"];
    expect((await kw.verify(await sign(post(), record.id, key, clock.now, { components: defaults }))).code).toBe("SIGNATURE_INVALID");
  });

  it("accepts an hmac-sha256 signature made with the key derived from the token", async () => {
    const { kw, clock } = setup();
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
    const key: SigningKey = { alg: "hmac-sha256", secret: deriveSigningSecret(token) };
    expect((await kw.verify(await sign(post(), record.id, key, clock.now))).ok).toBe(true);
    // A wrong secret fails.
    const wrong: SigningKey = { alg: "hmac-sha256", secret: deriveSigningSecret(`${token}x`) };
    expect((await kw.verify(await sign(post(), record.id, wrong, clock.now))).code).toBe("SIGNATURE_INVALID");
  });

  it("refuses replays, tampering, stale signatures and algorithm confusion with their codes", async () => {
    const { kw, clock } = setup();
    const { record, key } = await ed25519Token(kw);
    const signed = await sign(post(), record.id, key, clock.now);
    expect((await kw.verify(signed.clone())).ok).toBe(true);
    expect((await kw.verify(signed.clone())).code).toBe("REPLAYED");

    const a = await sign(post(), record.id, key, clock.now);
    const tamperedBody = new Request(a.url, { method: "POST", headers: a.headers, body: '{"symbol":"Y"}' });
    expect((await kw.verify(tamperedBody)).code).toBe("DIGEST_MISMATCH");
    const b = await sign(post(), record.id, key, clock.now);
    const tamperedUrl = new Request("https://api.example.com/v1/prices?symbol=Y", { method: "POST", headers: b.headers, body: '{"symbol":"X"}' });
    expect((await kw.verify(tamperedUrl)).code).toBe("SIGNATURE_INVALID");

    const old = await sign(post(), record.id, key, clock.now - 400_000);
    expect((await kw.verify(old)).code).toBe("SIGNATURE_EXPIRED");

    const hmacClaim = await sign(post(), record.id, { alg: "hmac-sha256", secret: new Uint8Array(32) }, clock.now);
    expect((await kw.verify(hmacClaim)).code).toBe("SIGNATURE_INVALID");

    const noNonce = await sign(post(), record.id, key, clock.now, { nonce: undefined, params: ["created", "keyid", "alg"] });
    expect((await kw.verify(noNonce)).code).toBe("SIGNATURE_INVALID");
  });

  it("answers an unknown keyid like an unknown token", async () => {
    const { kw, clock } = setup();
    const { key } = await ed25519Token(kw);
    for (const keyid of ["tok_0000000000000000000000", "not-an-id", "x".repeat(5000)]) {
      const d = await kw.verify(await sign(post(), keyid, key, clock.now));
      expect(d).toMatchObject({ ok: false, code: "TOKEN_UNKNOWN", status: 401, tokenId: null });
      expect(d.headers).toEqual({ "www-authenticate": 'Bearer realm="api", error="invalid_token"' });
    }
  });

  it("still applies the token's policy: revoked, scopes, IPs", async () => {
    const { kw, clock } = setup();
    const { record, key } = await ed25519Token(kw, { ips: ["203.0.113.0/24"] });
    expect((await kw.verify(await sign(post(), record.id, key, clock.now), { ip: "203.0.113.1" })).ok).toBe(true);
    expect((await kw.verify(await sign(post(), record.id, key, clock.now), { ip: "198.51.100.1" })).code).toBe("IP_DENIED");
    expect((await kw.verify(await sign(post(), record.id, key, clock.now), { ip: "203.0.113.1", scope: "premium:read" })).code).toBe(
      "SCOPE_DENIED",
    );
    await kw.tokens.revoke(record.id);
    expect((await kw.verify(await sign(post(), record.id, key, clock.now), { ip: "203.0.113.1" })).code).toBe("TOKEN_REVOKED");
  });

  it("requires a bearer sent along to be the same token", async () => {
    const { kw, clock } = setup();
    const { record, key, token } = await ed25519Token(kw);
    const other = await kw.tokens.create({ owner: "o", kind: "secret" });
    const withBearer = (t: string) => {
      const r = post();
      r.headers.set("authorization", `Bearer ${t}`);
      return sign(r, record.id, key, clock.now);
    };
    expect((await kw.verify(await withBearer(token))).ok).toBe(true);
    expect((await kw.verify(await withBearer(other.token))).code).toBe("TOKEN_MALFORMED");
  });

  it("keeps the old HMAC key valid during a regeneration grace period", async () => {
    const { kw, clock } = setup();
    const first = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
    const oldKey: SigningKey = { alg: "hmac-sha256", secret: deriveSigningSecret(first.token) };
    const second = await kw.tokens.regenerate(first.record.id, { graceMs: 60_000 });
    const newKey: SigningKey = { alg: "hmac-sha256", secret: deriveSigningSecret(second.token) };
    expect((await kw.verify(await sign(post(), first.record.id, newKey, clock.now))).ok).toBe(true);
    expect((await kw.verify(await sign(post(), first.record.id, oldKey, clock.now))).ok).toBe(true);
    clock.now += 60_000;
    expect((await kw.verify(await sign(post(), first.record.id, oldKey, clock.now))).code).toBe("SIGNATURE_INVALID");
    expect((await kw.verify(await sign(post(), first.record.id, newKey, clock.now))).ok).toBe(true);
  });

  it("opens each grace-period key once per cached record, not once per request", async () => {
    const { kw, clock } = setup();
    const first = await kw.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
    let latest = first;
    for (let i = 0; i < 4; i++) latest = await kw.tokens.regenerate(first.record.id, { graceMs: 60_000 });
    const key: SigningKey = { alg: "hmac-sha256", secret: deriveSigningSecret(latest.token) };
    const forged: SigningKey = { alg: "hmac-sha256", secret: new Uint8Array(32).fill(1) };
    const decrypt = vi.spyOn(globalThis.crypto.subtle, "decrypt");
    try {
      expect((await kw.verify(await sign(post(), first.record.id, key, clock.now))).ok).toBe(true);
      const opens = decrypt.mock.calls.length;
      expect(opens).toBe(5); // the current key and four grace keys
      for (let i = 0; i < 20; i++) expect((await kw.verify(await sign(post(), first.record.id, forged, clock.now))).code).toBe("SIGNATURE_INVALID");
      expect(decrypt.mock.calls.length).toBe(opens);
    } finally {
      decrypt.mockRestore();
    }
  });

  it("keeps HMAC tokens working across a sealing-key rotation", async () => {
    const store = new MemoryStore();
    const clock = { now: T0 };
    const before = new Keyward({ store, prefix: "acme", sealingKey: SEALING_KEY, now: () => clock.now });
    const { token, record } = await before.tokens.create({ owner: "o", kind: "secret", signing: { alg: "hmac-sha256" } });
    const newKey = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";
    const after = new Keyward({ store, prefix: "acme", sealingKey: [newKey, SEALING_KEY], now: () => clock.now });
    const key: SigningKey = { alg: "hmac-sha256", secret: deriveSigningSecret(token) };
    expect((await after.verify(await sign(post(), record.id, key, clock.now))).ok).toBe(true);
    const without = new Keyward({ store, prefix: "acme", sealingKey: newKey, now: () => clock.now });
    expect((await without.verify(await sign(post(), record.id, key, clock.now))).ok).toBe(false);
  });

  it("fails closed, with a coded denial, when the nonce store or (after the nonce was spent) the meter fails", async () => {
    class FlakyNonces extends MemoryStore {
      override async rememberNonce(): Promise<boolean> {
        throw new Error("connection reset");
      }
    }
    class FlakyMeter extends MemoryStore {
      override async meter(): Promise<never> {
        throw new Error("connection reset");
      }
    }
    for (const store of [new FlakyNonces(), new FlakyMeter()]) {
      const clock = { now: T0 };
      const kw = new Keyward({ store, prefix: "acme", now: () => clock.now });
      const { record, key } = await ed25519Token(kw, { credits: { limit: 10 } });
      const d = await kw.verify(await sign(post(), record.id, key, clock.now));
      expect(d, store.constructor.name).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
    }
  });

  it("abandons a hung nonce store or (after the nonce was spent) a hung meter at lookupTimeoutMs", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    try {
      class HungNonces extends MemoryStore {
        override rememberNonce(): Promise<boolean> {
          return new Promise(() => {});
        }
      }
      class HungMeter extends MemoryStore {
        override meter(): Promise<never> {
          return new Promise(() => {});
        }
      }
      for (const store of [new HungNonces(), new HungMeter()]) {
        const clock = { now: T0 };
        const kw = new Keyward({ store, prefix: "acme", now: () => clock.now, lookupTimeoutMs: 500 });
        const { record, key } = await ed25519Token(kw, { credits: { limit: 10 } });
        let answer: unknown;
        void kw.verify(await sign(post(), record.id, key, clock.now)).then((d) => {
          answer = d;
        });
        await vi.advanceTimersByTimeAsync(499);
        expect(answer, store.constructor.name).toBeUndefined();
        await vi.advanceTimersByTimeAsync(1);
        expect(answer, store.constructor.name).toMatchObject({ ok: false, code: "STORE_UNAVAILABLE", status: 503 });
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it("refuses bodies over the cap with 413", async () => {
    const { kw, clock } = setup({ signatures: { maxBodyBytes: 10 } });
    const { record, key } = await ed25519Token(kw);
    const d = await kw.verify(await sign(post("x".repeat(100)), record.id, key, clock.now));
    expect(d).toMatchObject({ ok: false, code: "BODY_TOO_LARGE", status: 413 });
  });
});

describe("verify: a body the application already read", () => {
  it("is checked against Content-Digest instead of a clone of the stream", async () => {
    const { kw, clock } = setup();
    const { record, key } = await ed25519Token(kw);
    const body = new TextEncoder().encode('{"symbol":"X"}');
    expect((await kw.verify(await sign(post(), record.id, key, clock.now), { body })).ok).toBe(true);
    const other = new TextEncoder().encode('{"symbol":"Y"}');
    expect((await kw.verify(await sign(post(), record.id, key, clock.now), { body: other })).code).toBe("DIGEST_MISMATCH");
    await expect(kw.verify(post(), { body: "x" as never })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });
});

describe("verify: forged signatures and required components", () => {
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

describe("verify: a method-override field (X-HTTP-Method-Override) on a signed request", () => {
  const get = (headers: Record<string, string> = {}) => new Request("https://api.example.com/v1/items/1", { headers });

  it("naming another method than the one signed, uncovered, is SIGNATURE_INVALID: a server applying it after the guard would serve a method nobody signed", async () => {
    const { kw, clock } = setup();
    const { record, key } = await ed25519Token(kw);
    for (const name of ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"]) {
      // Added on the way, after the client signed its GET (the nonce is fresh: the GET never arrived).
      const signed = await sign(get(), record.id, key, clock.now);
      signed.headers.set(name, "DELETE");
      expect((await kw.verify(signed)).code).toBe("SIGNATURE_INVALID");
    }
    const post = await sign(new Request("https://api.example.com/v1/items/1", { method: "POST" }), record.id, key, clock.now);
    post.headers.set("x-http-method-override", "delete");
    expect((await kw.verify(post)).code).toBe("SIGNATURE_INVALID");
  });

  it("covered by the signature, or naming the method verified (an override applied before the guard), it stands", async () => {
    const { kw, clock } = setup();
    const { record, key } = await ed25519Token(kw);
    const components = ["@method", "@target-uri", "x-http-method-override"];
    const covered = await sign(get({ "x-http-method-override": "DELETE" }), record.id, key, clock.now, { components });
    expect(await kw.verify(covered)).toMatchObject({ ok: true, tokenId: record.id });
    // The field covered, then changed: the signature fails as for any covered field.
    const changed = await sign(get({ "x-http-method-override": "PATCH" }), record.id, key, clock.now, { components });
    changed.headers.set("x-http-method-override", "DELETE");
    expect((await kw.verify(changed)).code).toBe("SIGNATURE_INVALID");
    // The request as served after the override (its method is the one named), signed so by the client.
    const served = await sign(new Request("https://api.example.com/v1/items/1", { method: "DELETE", headers: { "x-http-method-override": "delete" } }), record.id, key, clock.now);
    expect((await kw.verify(served)).ok).toBe(true);
  });
});
