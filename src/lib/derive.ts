// The HMAC signing secret of a token (DESIGN.md "Signed requests"): both the
// client and the server derive it from the token, so the token itself never
// has to travel once requests are signed.
import { utf8 } from "./bytes.js";
import { hmacSha256 } from "./crypto.js";

const SIGNING_LABEL = utf8("keyward/v1/signing");

/**
 * Derives the hmac-sha256 signing secret of a token:
 * `HMAC-SHA256(key = token, message = "keyward/v1/signing")`.
 *
 * @param token the token string
 * @returns the 32-byte signing secret
 * @example
 * ```ts
 * const secret = deriveSigningSecret(process.env.ACME_TOKEN!);
 * ```
 */
export function deriveSigningSecret(token: string): Uint8Array {
  return hmacSha256(utf8(token), SIGNING_LABEL);
}
