// A string that keeps no other string alive.

/**
 * `s` as a string of its own. V8 keeps a substring of 13 characters or more
 * as a view of the string it was cut from (other engines do much the same),
 * so a few characters cut from a request's header and kept for long (a
 * remembered nonce, a cache key, a queued usage event) would keep the whole
 * header alive with them. The concatenation is flattened into a new string
 * before it is cut: the result is at most a view of that copy, one
 * character longer than `s`.
 */
export function detach(s: string): string {
  return ` ${s}`.slice(1);
}
