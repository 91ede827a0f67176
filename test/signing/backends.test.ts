// The node, webcrypto and noble backends give identical bytes and verdicts.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  cryptoBackend,
  digest,
  ed25519Sign,
  ed25519Verify,
  hmacSign,
  hmacVerify,
  setCryptoBackend,
} from "../../src/signing/algorithms.js";
import { computeContentDigest, signRequest, verifyRequest } from "../../src/signing/index.js";
import { BACKENDS, ed25519KeyPair, frozen, withBackend } from "./helpers.js";

async function onEach<T>(fn: () => Promise<T> | T): Promise<T[]> {
  const out: T[] = [];
  for (const b of BACKENDS) out.push(await withBackend(b, fn));
  return out;
}

const allEqual = <T>(xs: T[]) => xs.every((x) => JSON.stringify(x) === JSON.stringify(xs[0]));

describe("crypto backends", () => {
  it("auto resolves to node here; forcing works and can be undone", () => {
    expect(cryptoBackend()).toBe("node");
    setCryptoBackend("noble");
    expect(cryptoBackend()).toBe("noble");
    setCryptoBackend("auto");
    expect(cryptoBackend()).toBe("node");
    expect(() => setCryptoBackend("openssl" as "node")).toThrow(RangeError);
  });

  it("Ed25519 signatures and verdicts are identical", async () => {
    const keys = Array.from({ length: 4 }, ed25519KeyPair);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 3 }), fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 63 }), async (k, message, flip) => {
        const { seed, publicKey } = keys[k]!;
        const sigs = await onEach(() => ed25519Sign(seed, message));
        expect(allEqual(sigs.map((s) => [...s]))).toBe(true);
        const good = await onEach(() => ed25519Verify(publicKey, message, sigs[0]!));
        expect(good).toEqual([true, true, true]);
        const bad = sigs[0]!.slice();
        bad[flip]! ^= 0x01;
        expect(await onEach(() => ed25519Verify(publicKey, message, bad))).toEqual([false, false, false]);
      }),
      { numRuns: 60 },
    );
  });

  it("HMAC-SHA256 agrees with the RFC 4231 vectors and across backends for long keys and messages", async () => {
    // RFC 4231 §4.7 (131-byte key, hashed first) and node's createHmac as a reference for the rest.
    const { createHmac } = await import("node:crypto");
    const key = new Uint8Array(131).fill(0xaa);
    const text = new TextEncoder().encode("Test Using Larger Than Block-Size Key - Hash Key First");
    expect(Buffer.from(await hmacSign(key, text)).toString("hex")).toBe(
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    );
    for (const secretLength of [16, 63, 64, 65, 200]) {
      for (const messageLength of [0, 1, 4095, 4096, 4097, 20000]) {
        const secret = Uint8Array.from({ length: secretLength }, (_, i) => (i * 7 + 3) & 0xff);
        const message = Uint8Array.from({ length: messageLength }, (_, i) => (i * 13) & 0xff);
        const expected = [...createHmac("sha256", secret).update(message).digest()];
        expect(await onEach(async () => [...(await hmacSign(secret, message))])).toEqual([expected, expected, expected]);
        expect(await onEach(() => hmacVerify(secret, message, Uint8Array.from(expected)))).toEqual([true, true, true]);
      }
    }
  });

  it("HMAC signatures over long signature bases are identical and verify on every backend", async () => {
    const secret = new Uint8Array(32).fill(9);
    const key = { alg: "hmac-sha256" as const, secret };
    for (const size of [10, 1400, 4100, 9000]) {
      const request = new Request("https://e.com/", { headers: { "x-long": "v".repeat(size) } });
      const options = { keyid: "k", key, components: ["@method", "x-long"], now: frozen(1_700_000_000_000) };
      const signed = await onEach(() => signRequest(request, options));
      const values = signed.map((r) => r.headers.get("signature"));
      expect(allEqual(values)).toBe(true);
      const verdicts = await onEach(() =>
        // maxCoveredFieldBytes raised for the 9 000-character field (the default is 8 192).
        verifyRequest(signed[0]!, { resolveKey: () => key, required: ["x-long"], now: frozen(1_700_000_000_000), maxCoveredFieldBytes: 9000 }),
      );
      expect(verdicts.map((v) => v.ok)).toEqual([true, true, true]);
    }
  });

  it("Ed25519 verification of malformed keys and signatures is false everywhere", async () => {
    const { seed } = ed25519KeyPair();
    const sig = await ed25519Sign(seed, new Uint8Array(3));
    const badKeys = [new Uint8Array(32), new Uint8Array(32).fill(0xff), new Uint8Array(31), new Uint8Array(33)];
    for (const key of badKeys) {
      expect(await onEach(() => ed25519Verify(key, new Uint8Array(3), sig))).toEqual([false, false, false]);
    }
    const { publicKey } = ed25519KeyPair();
    for (const s of [new Uint8Array(0), new Uint8Array(63), new Uint8Array(64), new Uint8Array(64).fill(0xff)]) {
      expect(await onEach(() => ed25519Verify(publicKey, new Uint8Array(3), s))).toEqual([false, false, false]);
    }
  });

  it("HMAC-SHA256 and SHA-2 digests are identical", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 16, maxLength: 100 }), fc.uint8Array({ maxLength: 2000 }), async (secret, message) => {
        const macs = await onEach(async () => [...(await hmacSign(secret, message))]);
        expect(allEqual(macs)).toBe(true);
        expect(await onEach(() => hmacVerify(secret, message, Uint8Array.from(macs[0]!)))).toEqual([true, true, true]);
        expect(await onEach(() => hmacVerify(secret, message, Uint8Array.from(macs[0]!).subarray(1)))).toEqual([false, false, false]);
        const digests = await onEach(() => [digest("sha-256", message), digest("sha-512", message)].map((d) => [...d]));
        expect(allEqual(digests)).toBe(true);
        expect(allEqual(await onEach(() => computeContentDigest(message, ["sha-256", "sha-512"])))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("a request signed on any backend verifies on every backend", async () => {
    const { seed, publicKey } = ed25519KeyPair();
    const T = 1_700_000_000;
    for (const signer of BACKENDS) {
      const signed = await withBackend(signer, () =>
        signRequest(new Request("https://e.com/p?q=1", { method: "POST", body: "x" }), {
          keyid: "k",
          key: { alg: "ed25519", privateKey: seed },
          created: T,
        }),
      );
      const results = await onEach(async () =>
        (await verifyRequest(signed.clone(), { resolveKey: () => ({ alg: "ed25519", publicKey }), now: frozen(T) })).ok,
      );
      expect(results).toEqual([true, true, true]);
    }
  });

  it("changed HMAC secret and public key arrays are not served from the key caches", async () => {
    const message = new Uint8Array([1, 2, 3]);
    for (const backend of BACKENDS) {
      await withBackend(backend, async () => {
        const secret = new Uint8Array(32).fill(1);
        const first = await hmacSign(secret, message);
        expect(await hmacVerify(secret, message, first)).toBe(true);
        secret.fill(2);
        const second = await hmacSign(secret, message);
        expect([...second]).not.toEqual([...first]);
        expect(await hmacVerify(secret, message, first)).toBe(false);
        expect([...second]).toEqual([...(await withBackend("noble", () => hmacSign(new Uint8Array(32).fill(2), message)))]);

        const a = ed25519KeyPair();
        const b = ed25519KeyPair();
        const publicKey = a.publicKey.slice();
        const sigA = await ed25519Sign(a.seed, message);
        expect(await ed25519Verify(publicKey, message, sigA)).toBe(true);
        publicKey.set(b.publicKey);
        expect(await ed25519Verify(publicKey, message, sigA)).toBe(false);
        expect(await ed25519Verify(publicKey, message, await ed25519Sign(b.seed, message))).toBe(true);
      });
    }
  });

  it("a zeroed key array is not served from the key cache", async () => {
    const { seed } = ed25519KeyPair();
    const key = seed.slice();
    const first = await ed25519Sign(key, new Uint8Array(1));
    key.fill(0);
    const second = await ed25519Sign(key, new Uint8Array(1));
    expect([...second]).not.toEqual([...first]);
    expect([...second]).toEqual([...(await withBackend("noble", () => ed25519Sign(new Uint8Array(32), new Uint8Array(1))))]);
  });
});
