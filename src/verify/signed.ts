// Signed requests on the request path (RFC 9421): the signature's keyid is a
// token's public id; the token's stored signing settings give the key (an
// ed25519 public key, or the HMAC secret unsealed with the application's
// sealing key); nonces are remembered in the store.
import type { Keyring } from "../lib/seal.js";
import { fromBase64 } from "../lib/bytes.js";
import type { StoredToken } from "../model/types.js";
import type { DenyCode } from "../policy/decision.js";
import type { SignatureFailureCode, VerifyingKey } from "../signing/types.js";
import type { ResolvedKeys } from "../signing/verify.js";

/** How each signature failure is reported by the verifier. */
export const SIGNATURE_DENY_CODE: Record<SignatureFailureCode, DenyCode> = {
  SIGNATURE_MISSING: "SIGNATURE_INVALID",
  SIGNATURE_MALFORMED: "SIGNATURE_INVALID",
  SIGNATURE_INVALID: "SIGNATURE_INVALID",
  SIGNATURE_FUTURE: "SIGNATURE_INVALID",
  COMPONENT_MISSING: "SIGNATURE_INVALID",
  ALG_MISMATCH: "SIGNATURE_INVALID",
  // An unknown keyid is a credential failure like an unknown token.
  KEY_UNKNOWN: "TOKEN_UNKNOWN",
  SIGNATURE_EXPIRED: "SIGNATURE_EXPIRED",
  REPLAYED: "REPLAYED",
  DIGEST_MISMATCH: "DIGEST_MISMATCH",
  DIGEST_MISSING: "DIGEST_MISMATCH",
  BODY_TOO_LARGE: "BODY_TOO_LARGE",
  BODY_TIMEOUT: "BODY_TIMEOUT",
  BODY_ALREADY_READ: "BODY_ALREADY_READ",
  LIMIT_EXCEEDED: "SIGNATURE_INVALID",
};

/**
 * The fields by which method-override middleware (Express's
 * `method-override`, Hono's `methodOverride`, and most others) serves a
 * request as another method than the one it came with.
 */
const METHOD_OVERRIDE_FIELDS = ["x-http-method-override", "x-http-method", "x-method-override"] as const;

/**
 * Whether a verified request names, in a method-override field its
 * signature does not cover, a method other than the one verified
 * (`@method`): a server that applies the override after keyward's guard
 * would serve a method the client never signed (a GET signed for reading,
 * served as a DELETE by whoever added the field on the way). An override
 * applied before the guard shows the verifier the method it names.
 *
 * @param covered the signature's covered components, in readable form
 */
export function overridesSignedMethod(request: Pick<Request, "method" | "headers">, covered: readonly string[]): boolean {
  for (const name of METHOD_OVERRIDE_FIELDS) {
    const value = request.headers.get(name);
    if (value === null || value.trim().toUpperCase() === request.method.toUpperCase()) continue;
    // Covered as it is, or serialized (`;sf`) or wrapped (`;bs`): the signature holds its whole value.
    if (!covered.some((c) => c === name || c === `${name};sf` || c === `${name};bs`)) return true;
  }
  return false;
}

// Keys derived from a cached record are kept with it: the current key with
// the record, each grace-period key with its entry of `previous`. Unsealing
// runs once per cache entry, not once per request (a forged signature with a
// known keyid would otherwise cost one AES-GCM decryption per grace key).
// Weakly held: gone with the entry.
const openedKeys = new WeakMap<object, Promise<VerifyingKey | null>>();

function opened(holder: object, open: () => Promise<VerifyingKey | null>): Promise<VerifyingKey | null> {
  let key = openedKeys.get(holder);
  if (!key) {
    key = open();
    openedKeys.set(holder, key);
  }
  return key;
}

/**
 * The keys a signature of this token may be made with at `now`: the current
 * secret's, then those of previous secrets still in their grace period
 * (HMAC only: ed25519 keys do not rotate with the secret). Rejects with a
 * SealingKeyError when an HMAC key cannot be opened (sealed under a
 * sealing key not configured, or corrupt): a fault of the server, not of
 * the caller.
 */
export function signingKeys(token: StoredToken, keyring: Keyring, now: number): Promise<ResolvedKeys> {
  const current = opened(token, () => keyOf(token.signing, token.id, keyring));
  const grace = token.previous.filter((p) => p.expiresAt > now && p.sealed !== undefined);
  if (grace.length === 0) return current;
  const all = [current, ...grace.map((p) => opened(p, () => keyOf({ alg: "hmac-sha256", sealed: p.sealed! }, token.id, keyring)))];
  return Promise.all(all).then((keys) => keys.filter((k): k is VerifyingKey => k !== null));
}

async function keyOf(signing: StoredToken["signing"], tokenId: string, keyring: Keyring): Promise<VerifyingKey | null> {
  if (signing === null) return null;
  if (signing.alg === "ed25519") {
    const publicKey = fromBase64(signing.publicKey);
    return publicKey && publicKey.length === 32 ? { alg: "ed25519", publicKey } : null;
  }
  return { alg: "hmac-sha256", secret: await keyring.open(signing.sealed, tokenId) };
}
