// Reference oracle: src/policy/scope.ts as of d907d0b, before the indexed matchers.
// Property tests check that the new matchers decide exactly as this copy does.
// Do not edit: it is the baseline, not live code.
/**
 * Scope parsing and matching for `keyward/policy`.
 *
 * A scope is `resource[/name…]:action`:
 * - each path segment (the resource and every `/name`) is `[A-Za-z0-9_.-]+`
 *   or exactly `*`;
 * - the action is `[a-z0-9_-]+` or exactly `*`;
 * - a scope is at most {@link MAX_SCOPE_LENGTH} characters.
 *
 * `*` is a whole-segment wildcard: it matches exactly one segment and never
 * crosses a `/` or the `:`; `foo*` is not a scope. Actions never imply each
 * other (`write` does not grant `read`). In a *required* scope `*` is literal:
 * only a granted `*` in the same place grants it, so a caller cannot widen a
 * check by asking for `datasets/*:read`.
 *
 * The IEX Cloud-style permissions map onto scopes like this:
 * - `core:read`: core data; every token holds it by default (revocable);
 * - `premium:read`: premium data;
 * - `datasets/<name>:read`, `datasets/<name>:write`, `datasets/<name>:delete`:
 *   per-dataset access;
 * - `datasets/*:read` grants read on every dataset (but not `datasets:read`,
 *   nor `datasets/a/b:read`: the segment counts must agree).
 *
 * Every function here is pure, never throws and runs in time linear in its
 * (capped) input.
 *
 * @module keyward/policy
 */

/** No valid scope is longer: the cap is applied before any parsing. */
export const MAX_SCOPE_LENGTH = 128;

/** A well-formed scope split into its parts. */
export interface ParsedScope {
  /** The resource followed by each `/name`, e.g. `["datasets", "prices"]`; never empty. */
  path: string[];
  /** The action, e.g. `read`, or `*`. */
  action: string;
}

/** Compiled form of a granted-scope list: does it grant `required`? */
export type ScopeMatcher = (required: string) => boolean;

// Linear-time patterns: one character class, no nesting, no alternation under
// a quantifier, so no catastrophic backtracking.
const SEGMENT = /^[A-Za-z0-9_.-]+$/;
const ACTION = /^[a-z0-9_-]+$/;

/**
 * Parses a scope string.
 *
 * @param s any value; only strings of the scope grammar parse
 * @returns the path segments and action, or `null` when `s` is not a valid scope
 * @example
 * ```ts
 * parseScope("datasets/prices:write"); // { path: ["datasets", "prices"], action: "write" }
 * parseScope("datasets/pri*:read");    // null
 * ```
 */
export function parseScope(s: unknown): ParsedScope | null {
  if (typeof s !== "string" || s.length === 0 || s.length > MAX_SCOPE_LENGTH) return null;
  const colon = s.indexOf(":");
  // Exactly one ":" (segments cannot contain one), with text on both sides.
  if (colon <= 0 || s.indexOf(":", colon + 1) !== -1) return null;
  const action = s.slice(colon + 1);
  if (action !== "*" && !ACTION.test(action)) return null;
  const path = s.slice(0, colon).split("/");
  for (const seg of path) {
    if (seg !== "*" && !SEGMENT.test(seg)) return null;
  }
  return { path, action };
}

/**
 * Tells whether `s` is a well-formed scope.
 *
 * @param s any value
 * @returns `true` when {@link parseScope} would accept it
 * @example
 * ```ts
 * isValidScope("premium:read"); // true
 * isValidScope("premium");      // false (no action)
 * ```
 */
export function isValidScope(s: unknown): boolean {
  return parseScope(s) !== null;
}

/**
 * Tells whether a scope's action is anything but `read` (including `*`).
 * Publishable tokens must not hold such scopes. A string that is not a valid
 * scope also answers `true`, so a check built on this fails closed.
 *
 * @param s a scope string
 * @returns `true` for write, delete, `*` or any other non-read action, and for invalid input
 * @example
 * ```ts
 * isWriteOrDeleteScope("datasets/prices:write"); // true
 * isWriteOrDeleteScope("datasets/*:read");       // false
 * isWriteOrDeleteScope("core:*");                // true
 * ```
 */
export function isWriteOrDeleteScope(s: string): boolean {
  const parsed = parseScope(s);
  return parsed === null || parsed.action !== "read";
}

function grantsParsed(g: ParsedScope, r: ParsedScope): boolean {
  if (g.path.length !== r.path.length) return false;
  if (g.action !== "*" && g.action !== r.action) return false;
  for (let i = 0; i < g.path.length; i++) {
    const seg = g.path[i]!;
    if (seg !== "*" && seg !== r.path[i]) return false;
  }
  return true;
}

/**
 * Tells whether holding the scope `granted` allows an operation that needs
 * `required`. Invalid strings never grant and are never granted.
 *
 * @param granted a scope the token holds
 * @param required the scope the operation needs (its `*`, if any, is literal)
 * @returns `true` when `granted` covers `required`
 * @example
 * ```ts
 * scopeGrants("datasets/*:read", "datasets/prices:read");  // true
 * scopeGrants("datasets/*:read", "datasets/prices:write"); // false
 * scopeGrants("datasets/prices:read", "datasets/*:read");  // false
 * ```
 */
export function scopeGrants(granted: string, required: string): boolean {
  const r = parseScope(required);
  if (r === null) return false;
  const g = parseScope(granted);
  return g !== null && grantsParsed(g, r);
}

/**
 * Tells whether any of the `granted` scopes allows `required`.
 *
 * @param granted the scopes the token holds
 * @param required the scope the operation needs
 * @returns `true` when at least one granted scope covers `required`
 * @example
 * ```ts
 * scopesGrant(["core:read", "premium:read"], "premium:read"); // true
 * ```
 */
export function scopesGrant(granted: readonly string[], required: string): boolean {
  if (!Array.isArray(granted)) return false;
  const r = parseScope(required);
  if (r === null) return false;
  for (const s of granted) {
    const g = parseScope(s);
    if (g !== null && grantsParsed(g, r)) return true;
  }
  return false;
}

/**
 * Compiles a granted-scope list into a matcher for the hot path: scopes
 * without `*` go into a `Set` (one lookup, no parsing of the required scope
 * when it matches exactly); wildcard scopes are kept parsed. The matcher
 * caches nothing, so its memory is bounded by the list it was built from.
 * Invalid entries are dropped (they grant nothing).
 *
 * @param granted the scopes a token holds
 * @returns a function answering the same as {@link scopesGrant} for this list
 * @example
 * ```ts
 * const allows = compileScopes(["core:read", "datasets/*:read"]);
 * allows("datasets/prices:read"); // true
 * allows("datasets/prices:write"); // false
 * ```
 */
export function compileScopes(granted: readonly string[]): ScopeMatcher {
  const exact = new Set<string>();
  const wild: ParsedScope[] = [];
  if (Array.isArray(granted)) {
    for (const s of granted) {
      const g = parseScope(s);
      if (g === null) continue;
      if (g.action === "*" || g.path.includes("*")) wild.push(g);
      else exact.add(s as string);
    }
  }
  return (required: string): boolean => {
    if (typeof required !== "string") return false;
    // Only valid scopes are in the set, so an exact hit is a valid scope.
    if (exact.has(required)) return true;
    if (wild.length === 0) return false;
    const r = parseScope(required);
    if (r === null) return false;
    for (const g of wild) if (grantsParsed(g, r)) return true;
    return false;
  };
}
