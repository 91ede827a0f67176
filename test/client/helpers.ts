// Keys and verification helpers shared by the client tests (Node-only: node:crypto).
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { fromBase64 } from "../../src/lib/bytes.js";
import { deriveSigningSecret } from "../../src/lib/derive.js";
import { type VerifyRequestOptions, type VerifyRequestResult, verifyRequest } from "../../src/signing/index.js";

/** A fresh Ed25519 key pair as raw bytes: 32-byte seed and 32-byte public key. */
export function ed25519KeyPair(): { seed: Uint8Array; publicKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    seed: fromBase64(privateKey.export({ format: "jwk" }).d!)!,
    publicKey: fromBase64(publicKey.export({ format: "jwk" }).x!)!,
  };
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const base62 = (n: number) => Array.from(randomBytes(n), (b) => BASE62[b % 62]).join("");

/** A random string shaped like a keyward secret token (checksum not valid; the client does not check it). */
export const fakeToken = () => `acme_sk_test_${base62(49)}`;
/** A random public token id. */
export const fakeTokenId = () => `tok_${base62(22)}`;

/** Every parameter keyward's client sets, required by the verifier. */
export const REQUIRED_ALL = ["@method", "@target-uri", "created", "expires", "nonce", "keyid", "alg"];

export interface Keyring {
  ed: { keyId: string; seed: Uint8Array; publicKey: Uint8Array };
  hmac: { keyId: string; token: string; secret: Uint8Array };
  resolveKey: VerifyRequestOptions["resolveKey"];
}

/** One ed25519 key and one hmac token, and a resolver that knows both (as a server would). */
export function keyring(): Keyring {
  const ed = { keyId: fakeTokenId(), ...ed25519KeyPair() };
  const token = fakeToken();
  const hmac = { keyId: fakeTokenId(), token, secret: deriveSigningSecret(token) };
  return {
    ed,
    hmac,
    resolveKey: (keyid) =>
      keyid === ed.keyId
        ? { alg: "ed25519", publicKey: ed.publicKey }
        : keyid === hmac.keyId
          ? { alg: "hmac-sha256", secret: hmac.secret }
          : null,
  };
}

/** verifyRequest with the client's full coverage required. */
export function verifyAll(
  request: Request,
  resolveKey: VerifyRequestOptions["resolveKey"],
  extra: Partial<VerifyRequestOptions> = {},
): Promise<VerifyRequestResult> {
  const body = request.body !== null;
  return verifyRequest(request, {
    resolveKey,
    required: body ? [...REQUIRED_ALL, "content-digest"] : REQUIRED_ALL,
    requireNonce: true,
    ...extra,
  });
}

export const bytesOf = async (r: Request) => new Uint8Array(await r.arrayBuffer());

/** keyward/client bundled for browsers as an ESM module, in memory (esbuild), as an application would ship it. */
export function bundleClient({ minify = false }: { minify?: boolean } = {}) {
  return build({
    absWorkingDir: fileURLToPath(new URL("../../", import.meta.url)),
    entryPoints: ["src/client/index.ts"],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
}
