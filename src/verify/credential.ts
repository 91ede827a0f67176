// Where the credential of a request is: `Authorization: Bearer <token>`, or
// (only when the application enables it) a query parameter. Anything
// ambiguous — several Authorization values, a header and a query token, a
// value with extra parts — is refused rather than guessed.

/** Header values are capped before any parsing. */
export const MAX_AUTHORIZATION_LENGTH = 1024;

const BEARER = "bearer";

/** The credential found in a request. */
export type Credential =
  | { kind: "none" }
  | { kind: "ambiguous" }
  | { kind: "token"; token: string };

/**
 * The token of `Bearer <token>` (RFC 6750 §2.1; scheme case-insensitive,
 * RFC 9110 §11.1), or null when the value is anything else: another scheme,
 * several values joined with ", ", or extra parts. A hand-written scan: this
 * runs on every request.
 */
function bearerToken(value: string): string | null {
  if (value.length < 8) return null;
  // "bearer" in any case, without building a lowered copy: setting bit 0x20
  // lowers an ASCII letter, and maps no other byte onto "bearer"'s letters.
  for (let k = 0; k < 6; k++) if ((value.charCodeAt(k) | 0x20) !== BEARER.charCodeAt(k)) return null;
  let i = 6;
  while (i < value.length && value.charCodeAt(i) === 32) i++;
  if (i === 6) return null;
  const start = i;
  while (i < value.length) {
    const c = value.charCodeAt(i);
    if (c <= 32 || c === 44 /* , */ || c >= 127) break;
    i++;
  }
  const end = i;
  while (i < value.length && value.charCodeAt(i) === 32) i++;
  return end > start && i === value.length ? value.slice(start, end) : null;
}

/**
 * Reads the bearer token of a request.
 *
 * @param authorization the Authorization header (a Fetch `Headers` joins repeated ones with ", ")
 * @param queryToken the query parameter's values when the application enables query tokens
 */
export function findCredential(authorization: string | null, queryToken: readonly string[] | null): Credential {
  let token: string | null = null;
  if (authorization !== null) {
    if (authorization.length > MAX_AUTHORIZATION_LENGTH) return { kind: "ambiguous" };
    token = bearerToken(authorization);
    // A non-Bearer scheme, or several values joined with ", ", is not ours to guess at.
    if (token === null) return { kind: "ambiguous" };
  }
  if (queryToken !== null && queryToken.length > 0) {
    if (token !== null || queryToken.length > 1) return { kind: "ambiguous" };
    token = queryToken[0]!;
    if (token.length > MAX_AUTHORIZATION_LENGTH) return { kind: "ambiguous" };
  }
  return token === null ? { kind: "none" } : { kind: "token", token };
}
