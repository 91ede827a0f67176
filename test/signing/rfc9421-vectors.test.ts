// RFC 9421 §2 and Appendix B vectors, byte for byte, on every crypto backend.
import { describe, expect, it } from "vitest";
import { nodeCrypto } from "../../src/lib/crypto.js";
import { computeContentDigest, signatureBase, signRequest, verifyRequest } from "../../src/signing/index.js";
import { BACKENDS, b64, ED25519_PUBLIC, ED25519_SEED, SHARED_SECRET, testRequest, utf8, withBackend } from "./helpers.js";
import {
  B2_CASES,
  TEST_KEY_ECC_P256_PUBLIC,
  TEST_KEY_RSA_PSS_PUBLIC,
  TEST_RESPONSE,
  TEST_RESPONSE_PRINTED_DIGEST,
} from "./vectors/rfc9421-b2.js";
import { COMPONENT_VECTORS, SECTION_2_5_EXAMPLE, SIGNATURE_PARAMS_EXAMPLE } from "./vectors/rfc9421-section2.js";

const c = nodeCrypto!;

function testResponse(): Response {
  return new Response(TEST_RESPONSE.body, { status: TEST_RESPONSE.status, headers: TEST_RESPONSE.headers });
}

/** The RFC's own signatures, checked with node:crypto over the base we build (RSA-PSS, ECDSA). */
function verifyWithNode(alg: string, base: string, signature: Uint8Array): boolean {
  const data = utf8(base);
  if (alg === "rsa-pss-sha512") {
    const key = c.createPublicKey(TEST_KEY_RSA_PSS_PUBLIC);
    return c.verify("sha512", data, { key, padding: c.constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, signature);
  }
  if (alg === "ecdsa-p256-sha256") {
    const key = c.createPublicKey(TEST_KEY_ECC_P256_PUBLIC);
    return c.verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature);
  }
  throw new Error(alg);
}

function signatureBytes(field: string): Uint8Array {
  return b64(field.slice(field.indexOf("=:") + 2, -1));
}

describe("RFC 9421 §2 component values", () => {
  for (const v of COMPONENT_VECTORS) {
    it(`${v.section} ${v.component}`, () => {
      const request = new Request(v.url, { method: v.method ?? "GET", headers: v.headers ?? [] });
      const base = signatureBase(request, { components: [v.component], params: {} });
      expect(base.split("\n")[0]).toBe(v.line);
    });
  }

  it("§2.3 serialises parameters in the order given", () => {
    const e = SIGNATURE_PARAMS_EXAMPLE;
    const base = signatureBase(new Request(e.url, { headers: e.headers }), {
      components: e.components,
      params: e.params,
      order: e.order,
    });
    expect(base.split("\n").at(-1)).toBe(`"@signature-params": ${e.value}`);
  });

  it("§2.5 example base, and the §3.1 RSA-PSS signature verifies over it", () => {
    const e = SECTION_2_5_EXAMPLE;
    const base = signatureBase(testRequest(), { components: e.components, params: e.params });
    expect(base).toBe(e.base);
    expect(verifyWithNode("rsa-pss-sha512", base, b64(e.signature))).toBe(true);
  });
});

describe("RFC 9421 Appendix B.2 signature bases", () => {
  for (const v of B2_CASES) {
    it(`${v.section} (${v.alg})`, () => {
      const message = v.message === "request" ? testRequest() : testResponse();
      const base = signatureBase(message, { components: v.components, params: v.params, order: v.order });
      expect(base).toBe(v.base);
      expect(`${v.label}=${base.slice(base.lastIndexOf('"@signature-params": ') + 21)}`).toBe(v.signatureInput);
      if (v.alg === "rsa-pss-sha512" || v.alg === "ecdsa-p256-sha256") {
        // The RFC's (non-deterministic) signatures verify over our bases.
        expect(verifyWithNode(v.alg, base, signatureBytes(v.signature))).toBe(true);
      }
    });
  }

  it("B.2.4: the test-response Content-Digest erratum (the base holds the correct SHA-512)", () => {
    const correct = computeContentDigest(TEST_RESPONSE.body, ["sha-512"]);
    expect(TEST_RESPONSE.headers).toContainEqual(["Content-Digest", correct]);
    expect(correct).not.toBe(TEST_RESPONSE_PRINTED_DIGEST);
  });
});

const SYMMETRIC = B2_CASES.filter((v) => v.alg === "hmac-sha256" || v.alg === "ed25519");

describe.each(BACKENDS)("RFC 9421 B.2.5 / B.2.6 signatures (%s backend)", (backend) => {
  for (const v of SYMMETRIC) {
    const key =
      v.alg === "ed25519"
        ? ({ alg: "ed25519", privateKey: ED25519_SEED } as const)
        : ({ alg: "hmac-sha256", secret: SHARED_SECRET } as const);
    const verifyingKey =
      v.alg === "ed25519" ? ({ alg: "ed25519", publicKey: ED25519_PUBLIC } as const) : ({ alg: "hmac-sha256", secret: SHARED_SECRET } as const);

    it(`${v.section}: signRequest reproduces Signature-Input and Signature exactly`, async () => {
      await withBackend(backend, async () => {
        const signed = await signRequest(testRequest(), {
          label: v.label,
          keyid: v.params.keyid,
          created: v.params.created,
          components: v.components,
          params: ["created", "keyid"],
          key,
        });
        expect(signed.headers.get("signature-input")).toBe(v.signatureInput);
        expect(signed.headers.get("signature")).toBe(v.signature);
      });
    });

    it(`${v.section}: verifyRequest accepts the RFC's signature`, async () => {
      await withBackend(backend, async () => {
        const request = testRequest();
        request.headers.set("signature-input", v.signatureInput);
        request.headers.set("signature", v.signature);
        const result = await verifyRequest(request, {
          resolveKey: (keyid) => (keyid === v.params.keyid ? verifyingKey : null),
          required: ["@authority", "content-type", "date", "created"],
          // The RFC's examples sign a POST without covering its body.
          unsafeAllowUncoveredBody: true,
          now: () => (v.params.created + 10) * 1000,
        });
        expect(result).toEqual({
          ok: true,
          keyid: v.params.keyid,
          label: v.label,
          alg: v.alg,
          keyIndex: 0,
          params: v.params,
          components: v.components,
        });
      });
    });

    it(`${v.section}: a changed covered field breaks it`, async () => {
      await withBackend(backend, async () => {
        const request = testRequest();
        request.headers.set("date", "Tue, 20 Apr 2021 02:07:56 GMT");
        request.headers.set("signature-input", v.signatureInput);
        request.headers.set("signature", v.signature);
        const result = await verifyRequest(request, {
          resolveKey: () => verifyingKey,
          required: ["date"],
          unsafeAllowUncoveredBody: true,
          now: () => (v.params.created + 10) * 1000,
        });
        expect(result).toMatchObject({ ok: false, code: "SIGNATURE_INVALID", label: v.label });
      });
    });
  }
});
