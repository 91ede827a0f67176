// The @example blocks of keyward/signing's JSDoc, executed.
import { describe, expect, it } from "vitest";
import {
  computeContentDigest,
  setContentDigest,
  signatureBase,
  signatureHeaders,
  signRequest,
  verifyContentDigest,
  verifyRequest,
} from "keyward/signing";
import { ED25519_PUBLIC as publicKey, SHARED_SECRET as secret, ED25519_SEED as seed } from "./helpers.js";

describe("JSDoc examples", () => {
  it("signatureBase", () => {
    const request = new Request("https://example.com/foo?a=1", { method: "POST" });
    const base = signatureBase(request, {
      components: ["@method", "@authority", "@path", '@query-param;name="a"'],
      params: { created: 1618884473, keyid: "tok_123", alg: "ed25519" },
    });
    expect(base).toBe(
      [
        '"@method": POST',
        '"@authority": example.com',
        '"@path": /foo',
        '"@query-param";name="a": 1',
        '"@signature-params": ("@method" "@authority" "@path" "@query-param";name="a");created=1618884473;keyid="tok_123";alg="ed25519"',
      ].join("\n"),
    );
  });

  it("signRequest / verifyRequest", async () => {
    const signed = await signRequest(new Request("https://api.example.com/v1/prices?symbol=X"), {
      keyid: "tok_123",
      key: { alg: "ed25519", privateKey: seed },
      created: 1700000000,
    });
    expect(signed.headers.get("signature-input")).toBe('sig1=("@method" "@target-uri");created=1700000000;keyid="tok_123";alg="ed25519"');
    const result = await verifyRequest(signed, {
      resolveKey: async (keyid) => (keyid === "tok_123" ? { alg: "ed25519", publicKey } : null),
      now: () => 1700000000_000,
    });
    expect(result.ok).toBe(true);
  });

  it("signRequest(url, init, options)", async () => {
    const signed = await signRequest("https://api.example.com/v1/orders", { method: "POST", body: '{"symbol":"X"}' }, {
      keyId: "tok_123",
      key: { alg: "ed25519", privateKey: seed }, // 32-byte Uint8Array
      created: 1700000000, // default: now
    });
    expect(signed.headers.get("signature-input")).toBe(
      'sig1=("@method" "@target-uri" "content-digest");created=1700000000;keyid="tok_123";alg="ed25519"',
    );
    const result = await verifyRequest(signed, { resolveKey: () => ({ alg: "ed25519", publicKey }), now: () => 1700000000_000 });
    expect(result.ok).toBe(true);
  });

  it("signatureHeaders", async () => {
    const url = "https://api.example.com/v1/orders";
    const init = { method: "POST", headers: new Headers({ "content-type": "application/json" }), body: '{"symbol":"X"}' };
    const fields = await signatureHeaders(new Request(url, init), {
      keyid: "tok_123",
      key: { alg: "hmac-sha256", secret }, // Uint8Array, at least 16 bytes
      created: 1700000000, // default: now
    });
    for (const [name, value] of Object.entries(fields)) init.headers.set(name, value);
    expect(fields["content-digest"]).toBe(computeContentDigest('{"symbol":"X"}'));
    const result = await verifyRequest(new Request(url, init), {
      resolveKey: () => ({ alg: "hmac-sha256", secret }),
      now: () => 1700000000_000,
    });
    expect(result.ok).toBe(true);
  });

  it("content digests", async () => {
    expect(computeContentDigest('{"hello": "world"}', ["sha-256"])).toBe("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:");
    const body = new TextEncoder().encode('{"hello": "world"}');
    expect(verifyContentDigest("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", body)).toEqual({ ok: true });
    const req = await setContentDigest(new Request("https://api.example.com/v1", { method: "POST", body: "{}" }));
    expect(req.headers.get("content-digest")).toBe("sha-256=:RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=:");
  });
});
