// resolveKey may return several candidate keys (the current one, then keys
// of a grace period): tried in order against one signature base, built once.
import { describe, expect, it } from "vitest";
import { signRequest, type VerifyingKey, verifyRequest } from "../../src/signing/index.js";
import { work } from "../../src/signing/work.js";
import { BACKENDS, ED25519_PUBLIC, ed25519KeyPair, frozen, SHARED_SECRET, smallOrderForgery, withBackend } from "./helpers.js";

const T = 1_700_000_000;
const OLD = { alg: "hmac-sha256", secret: SHARED_SECRET } as const;
const NEW = { alg: "hmac-sha256", secret: new Uint8Array(32).fill(9) } as const;
const OTHER = { alg: "hmac-sha256", secret: new Uint8Array(32).fill(1) } as const;
const URL_ = "https://api.example.com/v1/items?id=7";
const components = ["@method", "@target-uri", '@query-param;name="id"'];

const signedWith = (key: typeof OLD | typeof NEW) => signRequest(new Request(URL_), { keyid: "k", key, created: T, components });

async function verifyWith(request: Request, keys: unknown) {
  const before = work.parses;
  const result = await verifyRequest(request, { resolveKey: () => keys as VerifyingKey[], now: frozen(T) });
  return { result, parses: work.parses - before };
}

describe("verifyRequest: several candidate keys", () => {
  it("a signature by a grace-period key verifies, with the key's index, and the base is built once", async () => {
    const { result, parses } = await verifyWith(await signedWith(OLD), [NEW, OTHER, OLD]);
    expect(result).toMatchObject({ ok: true, alg: "hmac-sha256", keyIndex: 2 });
    // Signature-Input, Signature, and the query for the base: not once per key.
    expect(parses).toBe(3);
    expect((await verifyWith(await signedWith(NEW), [NEW, OLD])).result).toMatchObject({ ok: true, keyIndex: 0 });
  });

  it("no key verifies -> SIGNATURE_INVALID; none usable -> KEY_UNKNOWN; none of the stated alg -> ALG_MISMATCH", async () => {
    const signed = await signedWith(OLD);
    expect((await verifyWith(signed.clone(), [NEW, OTHER])).result).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
    expect((await verifyWith(signed.clone(), [])).result).toMatchObject({ ok: false, code: "KEY_UNKNOWN" });
    expect((await verifyWith(signed.clone(), [null, { alg: "hmac-sha256", secret: new Uint8Array(3) }])).result).toMatchObject({
      ok: false,
      code: "KEY_UNKNOWN",
    });
    // A CryptoKey's length is checked too (in bits): 3 bytes are as unusable as a CryptoKey as raw.
    const shortKey = await crypto.subtle.importKey("raw", new Uint8Array(3), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    expect((await verifyWith(signed.clone(), [{ alg: "hmac-sha256", secret: shortKey }])).result).toMatchObject({ ok: false, code: "KEY_UNKNOWN" });
    const ed = { alg: "ed25519", publicKey: ED25519_PUBLIC };
    expect((await verifyWith(signed.clone(), [ed])).result).toMatchObject({ ok: false, code: "ALG_MISMATCH" });
    // Unusable and other-alg keys are skipped; the index is the place in what resolveKey returned.
    expect((await verifyWith(signed.clone(), [null, ed, OLD])).result).toMatchObject({ ok: true, keyIndex: 2 });
  });

  it("without an alg parameter, keys of both algorithms are tried; asynchronous keys too", async () => {
    const { seed, publicKey } = ed25519KeyPair();
    const signed = await signRequest(new Request(URL_), {
      keyid: "k",
      key: { alg: "ed25519", privateKey: seed },
      created: T,
      params: ["created", "keyid"],
    });
    const webKey = await crypto.subtle.importKey("raw", new Uint8Array(publicKey), "Ed25519", false, ["verify"]);
    expect((await verifyWith(signed.clone(), [OLD, { alg: "ed25519", publicKey: webKey }])).result).toMatchObject({
      ok: true,
      alg: "ed25519",
      keyIndex: 1,
    });
    expect((await verifyWith(signed.clone(), Promise.resolve([OLD, { alg: "ed25519", publicKey }]))).result).toMatchObject({
      ok: true,
      keyIndex: 1,
    });
  });
});

describe("verifyRequest: a small-order Ed25519 key", () => {
  it("verifies no forged request, on any backend, given as bytes or as a CryptoKey", async () => {
    const publicKey = new Uint8Array(32);
    const webKey = await crypto.subtle.importKey("raw", publicKey, "Ed25519", true, ["verify"]);
    for (const key of [publicKey, webKey]) {
      for (const backend of BACKENDS) {
        const result = await withBackend(backend, () =>
          verifyRequest(smallOrderForgery(publicKey, "tok_victim", T), { resolveKey: () => ({ alg: "ed25519", publicKey: key }), now: frozen(T) }),
        );
        expect(result, `${backend}, ${key === webKey ? "CryptoKey" : "bytes"}`).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
      }
    }
  });
});
