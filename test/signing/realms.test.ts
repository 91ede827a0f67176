// Signing and verifying where the platform's crypto answers with another realm's
// Promises, as in Vercel's edge-runtime and node:vm sandboxes: keyward/signing and
// keyward/client, bundled as an application ships them, run in a node:vm context
// that is handed this realm's WebCrypto (and no `process`: the webcrypto backend).
import vm from "node:vm";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { signRequest, verifyRequest } from "../../src/signing/index.js";
import { ed25519KeyPair } from "./helpers.js";

const now = () => 1_700_000_000_000;
const hmacKey = { alg: "hmac-sha256", secret: new Uint8Array(32).fill(7) } as const;
const ed = ed25519KeyPair();

interface Sandboxed {
  /** The Signature field of a request signed in the sandbox, and the sandbox's verdict on it. */
  signed(alg: "hmac-sha256" | "ed25519" | "ed25519 CryptoKey", key: unknown): Promise<{ signature: string; input: string; verdict: string }>;
  /** The sandbox's verdict on a request signed here. */
  verdict(signature: string, input: string, key: unknown): Promise<string>;
  /** createSigner's Signature field, in the sandbox. */
  signer(options: unknown): Promise<{ signature: string; input: string }>;
}

let sandbox: Sandboxed;

beforeAll(async () => {
  const code = (
    await build({
      stdin: {
        contents: 'export { signRequest, verifyRequest } from "./src/signing/index.ts"; export { createSigner } from "./src/client/index.ts";',
        resolveDir: new URL("../../", import.meta.url).pathname,
        loader: "ts",
      },
      bundle: true,
      format: "iife",
      globalName: "keyward",
      platform: "browser",
      write: false,
      logLevel: "silent",
    })
  ).outputFiles[0]!.text;
  // The context's own Promise and Uint8Array; this realm's crypto, Request, Headers: what edge-runtime does.
  const context = vm.createContext({ crypto: globalThis.crypto, CryptoKey, Request, Headers, Response, TextEncoder, TextDecoder, URL, URLSearchParams, ReadableStream, AbortSignal, atob, btoa });
  vm.runInContext(code, context);
  sandbox = vm.runInContext(
    `(() => {
      const { signRequest, verifyRequest, createSigner } = keyward;
      const now = () => ${now()};
      const request = () => new Request("https://api.example.com/v1/x?symbol=X");
      // Keys cross as plain data: rebuilt with the sandbox's Uint8Array.
      const own = (key) => Object.fromEntries(Object.entries(key).map(([k, v]) => [k, typeof v === "object" && v !== null && typeof v.length === "number" ? Uint8Array.from(v) : v]));
      const verdict = async (req, key) => (await verifyRequest(req, { resolveKey: () => key, now, maxAgeSec: 1e9 })).code ?? "ok";
      return {
        async signed(alg, key) {
          if (alg === "ed25519 CryptoKey") {
            const pair = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]);
            key = { alg: "ed25519", privateKey: pair.privateKey, publicKey: pair.publicKey };
          } else key = own(key);
          const signed = await signRequest(request(), { keyid: "k1", key, now });
          const verifying = key.alg === "ed25519" ? { alg: "ed25519", publicKey: key.publicKey } : key;
          return { signature: signed.headers.get("signature"), input: signed.headers.get("signature-input"), verdict: await verdict(signed, verifying) };
        },
        verdict(signature, input, key) {
          return verdict(new Request(request(), { headers: { signature, "signature-input": input } }), own(key));
        },
        async signer(options) {
          const signed = await createSigner({ ...options, now }).sign(request());
          return { signature: signed.headers.get("signature"), input: signed.headers.get("signature-input") };
        },
      };
    })()`,
    context,
  ) as Sandboxed;
  // The premise: the context's Promise is not this realm's, and WebCrypto answers with this realm's.
  expect(vm.runInContext("Promise", context)).not.toBe(Promise);
}, 30_000);

const signedHere = async (key: Parameters<typeof signRequest>[1]["key"]) => {
  const signed = await signRequest(new Request("https://api.example.com/v1/x?symbol=X"), { keyid: "k1", key, now });
  return { signature: signed.headers.get("signature")!, input: signed.headers.get("signature-input")! };
};

describe("signing where crypto.subtle answers with another realm's Promises", () => {
  it("hmac-sha256: signs the same bytes as this realm, and verifies its own and this realm's signatures", async () => {
    const here = await signedHere(hmacKey);
    const there = await sandbox.signed("hmac-sha256", hmacKey);
    expect(there.signature).toBe(here.signature);
    expect(there.signature).toMatch(/^sig1=:[A-Za-z0-9+/]{43}=:$/);
    expect(there.verdict).toBe("ok");
    expect(await sandbox.verdict(here.signature, here.input, hmacKey)).toBe("ok");
    // A wrong signature stays refused.
    const other = await signedHere({ alg: "hmac-sha256", secret: new Uint8Array(32).fill(8) });
    expect(await sandbox.verdict(other.signature, here.input, hmacKey)).toBe("SIGNATURE_INVALID");
  });

  it("ed25519: a raw seed and a CryptoKey sign and verify; the signatures are this realm's bytes", async () => {
    const here = await signedHere({ alg: "ed25519", privateKey: ed.seed });
    const there = await sandbox.signed("ed25519", { alg: "ed25519", privateKey: ed.seed, publicKey: ed.publicKey });
    expect(there.signature).toBe(here.signature);
    expect(there.verdict).toBe("ok");
    expect(await sandbox.verdict(here.signature, here.input, { alg: "ed25519", publicKey: ed.publicKey })).toBe("ok");
    expect((await sandbox.signed("ed25519 CryptoKey", null)).verdict).toBe("ok");
  });

  it("createSigner (hmac-sha256 from a token) signs requests that verify here", async () => {
    const token = `acme_sk_test_${"x".repeat(49)}`;
    const { signature, input } = await sandbox.signer({ keyId: "tok_1", alg: "hmac-sha256", token });
    expect(signature).toMatch(/^sig1=:[A-Za-z0-9+/]{43}=:$/);
    const { deriveSigningSecret } = await import("../../src/lib/derive.js");
    const request = new Request("https://api.example.com/v1/x?symbol=X", { headers: { signature, "signature-input": input } });
    const result = await verifyRequest(request, { resolveKey: () => ({ alg: "hmac-sha256", secret: deriveSigningSecret(token) }), now });
    expect(result).toMatchObject({ ok: true, keyid: "tok_1" });
  });
});
