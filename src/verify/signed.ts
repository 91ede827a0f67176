// Signed requests on the request path (RFC 9421): the signature's keyid is a
// token's public id; the token's stored signing settings give the key (an
// ed25519 public key, or the HMAC secret unsealed with the application's
// sealing key); nonces are remembered in the store.
import type { Keyring } from "../lib/seal.js";
import { fromBase64 } from "../lib/bytes.js";
import type { StoredToken } from "../model/types.js";
import type { DenyCode } from "../policy/decision.js";
import type { SignatureFailureCode, VerifyingKey } from "../signing/types.js";

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
  LIMIT_EXCEEDED: "SIGNATURE_INVALID",
};

// Keys derived from a cached record are kept with it: unsealing runs once per
// cache entry, not once per request. Weakly held: gone with the entry.
const currentKeys = new WeakMap<StoredToken, Promise<VerifyingKey | null>>();

/**
 * The verifying key of a token's current secret, or null when the token does
 * not sign (or its sealed key cannot be opened: a missing sealing key).
 */
export function currentKey(token: StoredToken, keyring: Keyring): Promise<VerifyingKey | null> {
  let key = currentKeys.get(token);
  if (!key) {
    key = keyOf(token.signing, token.id, keyring);
    currentKeys.set(token, key);
  }
  return key;
}

/** Verifying keys of previous secrets still in their grace period at `now` (HMAC only: ed25519 keys do not rotate with the secret). */
export function graceKeys(token: StoredToken, keyring: Keyring, now: number): Promise<VerifyingKey | null>[] {
  return token.previous
    .filter((p) => p.expiresAt > now && p.sealed !== undefined)
    .map((p) => keyOf({ alg: "hmac-sha256", sealed: p.sealed! }, token.id, keyring));
}

async function keyOf(signing: StoredToken["signing"], tokenId: string, keyring: Keyring): Promise<VerifyingKey | null> {
  if (signing === null) return null;
  if (signing.alg === "ed25519") {
    const publicKey = fromBase64(signing.publicKey);
    return publicKey && publicKey.length === 32 ? { alg: "ed25519", publicKey } : null;
  }
  try {
    return { alg: "hmac-sha256", secret: await keyring.open(signing.sealed, tokenId) };
  } catch {
    return null;
  }
}
