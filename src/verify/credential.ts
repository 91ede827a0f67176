// Where the credential of a request is: `Authorization: Bearer <token>`, or
// (only when the application enables it) a query parameter. Anything
// ambiguous — several Authorization values, a header and a query token, a
// value with extra parts — is refused rather than guessed.

/** Header values are capped before any parsing. */
export const MAX_AUTHORIZATION_LENGTH = 1024;

/** The credential found in a request. */
export type Credential =
  | { kind: "none" }
  | { kind: "ambiguous" }
  | { kind: "token"; token: string };

/**
 * `Bearer <token>` (RFC 6750 §2.1; scheme case-insensitive, RFC 9110
 * §11.1): one token of visible ASCII without a comma, so that several
 * values joined with ", " or extra parts do not match.
 */
const BEARER = /^bearer +[\x21-\x2b\x2d-\x7e]+ *$/i;

/** The token of `Bearer <token>`, or null when the value is anything else. */
function bearerToken(value: string): string | null {
  // Tested, then cut out between the spaces: no match array per request.
  if (!BEARER.test(value)) return null;
  let start = 6;
  while (value.charCodeAt(start) === 32) start++;
  let end = value.length;
  while (value.charCodeAt(end - 1) === 32) end--;
  return value.slice(start, end);
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
