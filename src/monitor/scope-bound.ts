// A bound on the usage rows one token adds per minute. A row is kept per
// token, UTC minute, scope and code, and the scope is the route's: the
// application's text, but one that an application may build from what the
// client sends (`datasets/${name}:read`). Past `usage.maxScopesPerMinute`
// distinct scopes of a token in a minute, its requests are recorded under
// one scope, OTHER_SCOPES, so a token holder adds a bounded number of rows
// whatever they send.
import { detach } from "../lib/detach.js";
import { MAX_USAGE_SCOPE_LENGTH, MINUTE_MS } from "../store/kit/usage-analytics.js";
import { OUT_OF_ORDER_MS } from "./events.js";

/**
 * The scope under which a token's requests are recorded past its bound of the minute. No route's scope
 * reads so (a scope starts with a letter, a digit or one of `_.-`), so it never mixes with one.
 */
export const OTHER_SCOPES = "(other)";

/** @internal The distinct scopes of each token in the latest minute, per instance. */
export class ScopeBound {
  readonly #max: number;
  /**
   * The UTC minute counted: the latest seen. An earlier event within {@link OUT_OF_ORDER_MS} (a request
   * decided then, slow to end: a client may make it so) counts in it; one earlier still (a clock stepped
   * back) starts a minute afresh, or the scopes of a minute ahead would hold its tokens' bound until the
   * clock caught up.
   */
  #minute = Number.NEGATIVE_INFINITY;
  /**
   * Per token, the scopes (as a row keeps them) it was recorded under this minute: at most `max` each; the
   * one scope of a token that called one (most tokens) as it is, a Set only from its second.
   */
  #scopes = new Map<string, string | Set<string>>();
  /** Whether a token went past the bound this minute (the application is told once a minute). */
  #told = false;

  constructor(max: number) {
    this.#max = max;
  }

  /**
   * The scope `tokenId`'s request at `at` is recorded under: its own (`scope`), or
   * {@link OTHER_SCOPES} once the token has `max` others this minute. `capped` is told of the first
   * token past its bound in each minute.
   */
  scopeOf(tokenId: string, at: number, scope: string | null, capped: (tokenId: string) => void): string | null {
    // Within the minute counted (most events), nothing to compute: a remainder of a time (a
    // floating-point one, past 2^31) costs as much as the rest of this call. Only from 1970 on: before,
    // the remainder is negative, and a minute counted, M, holds the times in (M - 1 minute, M], not
    // [M, M + 1 minute).
    if (!(this.#minute >= 0 && at >= this.#minute && at < this.#minute + MINUTE_MS)) {
      const minute = at - (at % MINUTE_MS);
      if (minute > this.#minute || minute < this.#minute - OUT_OF_ORDER_MS) {
        this.#minute = minute;
        this.#scopes = new Map();
        this.#told = false;
      }
    }
    // The row's identity: a scope is kept by its first MAX_USAGE_SCOPE_LENGTH characters (a copy of them:
    // a view would keep the whole text alive for the minute).
    const key = scope === null ? "" : scope.length > MAX_USAGE_SCOPE_LENGTH ? detach(scope.slice(0, MAX_USAGE_SCOPE_LENGTH)) : scope;
    const seen = this.#scopes.get(tokenId);
    if (seen === undefined) {
      this.#scopes.set(tokenId, key);
      return scope;
    }
    if (typeof seen === "string") {
      if (seen === key) return scope;
      if (this.#max > 1) {
        this.#scopes.set(tokenId, new Set([seen, key]));
        return scope;
      }
    } else {
      if (seen.has(key)) return scope;
      if (seen.size < this.#max) {
        seen.add(key);
        return scope;
      }
    }
    if (!this.#told) {
      this.#told = true;
      capped(tokenId);
    }
    return OTHER_SCOPES;
  }
}
