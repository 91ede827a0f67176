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

const BEARER = /^bearer +([^\s,]+) *$/i;

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
    const m = BEARER.exec(authorization);
    // A non-Bearer scheme, or several values joined with ", ", is not ours to guess at.
    if (!m) return { kind: "ambiguous" };
    token = m[1]!;
  }
  if (queryToken !== null && queryToken.length > 0) {
    if (token !== null || queryToken.length > 1) return { kind: "ambiguous" };
    token = queryToken[0]!;
    if (token.length > MAX_AUTHORIZATION_LENGTH) return { kind: "ambiguous" };
  }
  return token === null ? { kind: "none" } : { kind: "token", token };
}
