// Where the credential of a request is: `Authorization: Bearer <token>`, or
// (only when the application enables it) a query parameter. Anything
// ambiguous — several Authorization values, a header and a query token, a
// value with extra parts — is refused rather than guessed. An empty value or
// one other scheme's credential (`Basic …`) is no bearer credential: the
// answer is that of a request without one (RFC 6750 §3.1: "attempted using
// an unsupported authentication method").

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

/** A Bearer credential anywhere in the value (one of several joined with ", " too). */
const BEARER_SCHEME = /(?:^|,)[ \t]*bearer(?:[ \t,]|$)/i;

/**
 * Reads the bearer token of a request.
 *
 * @param authorization the Authorization header (a Fetch `Headers` joins repeated ones with ", ")
 * @param query the query parameter, when the application enables query tokens: its decoded value,
 *   null when it occurs more than once, undefined when it is absent or query tokens are off
 *   (`QueryIndex.get`'s answer)
 */
export function findCredential(authorization: string | null, query: string | null | undefined): Credential {
  let token: string | null = null;
  const queried = query !== undefined;
  if (authorization !== null) {
    if (authorization.length > MAX_AUTHORIZATION_LENGTH) return { kind: "ambiguous" };
    token = bearerToken(authorization);
    if (token === null) {
      // A Bearer value we cannot read (alone or among others), or another
      // scheme next to a query token: not ours to guess at.
      if (queried || BEARER_SCHEME.test(authorization)) return { kind: "ambiguous" };
      return { kind: "none" };
    }
  }
  if (queried) {
    if (token !== null || query === null || query.length > MAX_AUTHORIZATION_LENGTH) return { kind: "ambiguous" };
    token = query;
  }
  return token === null ? { kind: "none" } : { kind: "token", token };
}
