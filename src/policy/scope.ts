/**
 * Scope parsing and matching for `keyward/policy`.
 *
 * A scope is `resource[/name…]:action`:
 * - each path segment (the resource and every `/name`) is `[A-Za-z0-9_.-]+`
 *   or exactly `*`, but never `.` or `..`: those are the dot segments of
 *   RFC 3986 §3.3, which path resolution (§5.2.4) collapses, so
 *   `datasets/foo/../bar:read` would name another resource to any code that
 *   maps scopes onto paths or URLs;
 * - the action is `[a-z0-9_-]+` or exactly `*`;
 * - a scope is at most {@link MAX_SCOPE_LENGTH} characters.
 *
 * `*` is a whole-segment wildcard (`foo*` is not a scope) in a *granted*
 * scope:
 * - as the action it matches every action;
 * - as the last path segment it matches one or more segments, so
 *   `datasets/*:read` grants `datasets/prices:read` and
 *   `datasets/prices/2024:read` (but not `datasets:read`), and `*:*` grants
 *   every scope at every depth;
 * - anywhere else in the path it matches exactly one segment
 *   (a middle wildcard never crosses a `/`).
 *
 * Actions never imply each other (`write` does not grant `read`). In a
 * *required* scope `*` is literal: only a granted `*` in the same place
 * grants it, so a caller cannot widen a check by asking for `datasets/*:read`.
 * The grammar, with a table of examples, is in docs/scopes.md.
 *
 * The IEX Cloud-style permissions map onto scopes like this:
 * - `core:read`: core data; every token holds it by default (revocable);
 * - `premium:read`: premium data;
 * - `datasets/<name>:read`, `datasets/<name>:write`, `datasets/<name>:delete`:
 *   per-dataset access;
 * - `datasets/*:read` grants read on every dataset and everything under
 *   one (but not `datasets:read`).
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
 * parseScope("datasets/..:read");      // null (dot segment)
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
    if (seg !== "*" && (!SEGMENT.test(seg) || seg === "." || seg === "..")) return null;
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
  const last = g.path.length - 1;
  // A trailing `*` stands for one or more segments; otherwise the counts agree.
  if (g.path[last] === "*" ? r.path.length < g.path.length : r.path.length !== g.path.length) return false;
  if (g.action !== "*" && g.action !== r.action) return false;
  for (let i = 0; i < last; i++) {
    const seg = g.path[i]!;
    if (seg !== "*" && seg !== r.path[i]) return false;
  }
  return g.path[last] === "*" || g.path[last] === r.path[last];
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

/** A node of the wildcard index: one level per path segment; its parts are created on first use. */
interface ScopeNode {
  /** Children by literal segment. */
  next: Map<string, ScopeNode> | null;
  /** The child for a granted `*` segment. */
  any: ScopeNode | null;
  /** Actions granted by the scopes whose path ends here (`*` included). */
  actions: Set<string> | null;
  /** Actions granted by the scopes whose path ends here with `*`: they cover one or more further segments. */
  rest: Set<string> | null;
}

const scopeNode = (): ScopeNode => ({ next: null, any: null, actions: null, rest: null });

/** The child of `node` for a literal segment, created on first use. */
function literalChild(node: ScopeNode, seg: string): ScopeNode {
  node.next ??= new Map();
  let child = node.next.get(seg);
  if (!child) {
    child = scopeNode();
    node.next.set(seg, child);
  }
  return child;
}

function insertScope(root: ScopeNode, g: ParsedScope): void {
  let node = root;
  const last = g.path.length - 1;
  for (let i = 0; i < last; i++) {
    const seg = g.path[i]!;
    if (seg === "*") {
      node.any ??= scopeNode();
      node = node.any;
    } else node = literalChild(node, seg);
  }
  const tail = g.path[last]!;
  // A trailing `*` covers one or more segments: kept at its parent, not as a child.
  if (tail === "*") {
    node.rest ??= new Set();
    node.rest.add(g.action);
    return;
  }
  const leaf = literalChild(node, tail);
  leaf.actions ??= new Set();
  leaf.actions.add(g.action);
}

const hasAction = (set: Set<string> | null, action: string): boolean => set !== null && (set.has(action) || set.has("*"));

/**
 * Does any scope of the index grant `r`? Walks the literal and the `*` child
 * at each depth; a trailing `*` (`rest`) grants as soon as at least one
 * segment remains. Each index node is reached by at most one sequence of
 * choices (each level either `r.path[i]` or `*`), so a lookup visits each
 * node at most once: bounded by the index, and in practice by the few
 * nodes along `r.path`.
 */
function indexGrants(node: ScopeNode, r: ParsedScope, depth: number): boolean {
  if (depth === r.path.length) return hasAction(node.actions, r.action);
  if (hasAction(node.rest, r.action)) return true;
  const literal = node.next?.get(r.path[depth]!);
  if (literal && indexGrants(literal, r, depth + 1)) return true;
  return node.any !== null && indexGrants(node.any, r, depth + 1);
}

/**
 * Compiles a granted-scope list into a matcher for the hot path: scopes
 * without `*` go into a `Set` (one lookup, no parsing of the required scope
 * when it matches exactly); wildcard scopes go into an index by path segment
 * (a trie with a `*` branch), so a check follows the required scope's
 * segments instead of scanning every wildcard. The matcher caches nothing,
 * so its memory is bounded by the list it was built from. Invalid entries
 * are dropped (they grant nothing).
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
  const wild = scopeNode();
  let wildcards = 0;
  if (Array.isArray(granted)) {
    for (const s of granted) {
      const g = parseScope(s);
      if (g === null) continue;
      if (g.action === "*" || g.path.includes("*")) {
        insertScope(wild, g);
        wildcards++;
      } else exact.add(s as string);
    }
  }
  return (required: string): boolean => {
    if (typeof required !== "string") return false;
    // Only valid scopes are in the set, so an exact hit is a valid scope.
    if (exact.has(required)) return true;
    if (wildcards === 0) return false;
    const r = parseScope(required);
    return r !== null && indexGrants(wild, r, 0);
  };
}

/**
 * What a route requires: one scope, every scope of a list (`allOf`, also the
 * meaning of a plain array), or at least one of a list (`anyOf`).
 */
export type RequiredScopes = string | readonly string[] | { readonly anyOf: readonly string[] } | { readonly allOf: readonly string[] };

/**
 * Finds the scope a requirement misses. For `anyOf`, when none is held, the
 * first listed scope is named: any one would do (RFC 6750 §3.1
 * `insufficient_scope`). A requirement of another shape, or an empty list,
 * is never met (its name is `""`), so a malformed check fails closed.
 *
 * @param required the route's requirement
 * @param holds whether the token holds one scope
 * @returns the missing scope, or `undefined` when the requirement is met
 * @example
 * ```ts
 * const holds = compileScopes(["core:read"]);
 * missingScope({ anyOf: ["premium:read", "core:read"] }, holds); // undefined
 * missingScope({ allOf: ["premium:read", "core:read"] }, holds); // "premium:read"
 * ```
 */
export function missingScope(required: RequiredScopes, holds: (scope: string) => boolean): string | undefined {
  if (typeof required === "string") return holds(required) ? undefined : required;
  const anyOf = !Array.isArray(required) && typeof required === "object" && required !== null && "anyOf" in required;
  const list: unknown = Array.isArray(required) ? required : anyOf ? required.anyOf : (required as { allOf?: unknown } | null)?.allOf;
  if (!Array.isArray(list) || list.length === 0) return "";
  // Never String() an entry: a malformed one may throw from its own toString.
  const named = (s: unknown) => (typeof s === "string" ? s : "");
  if (anyOf) return list.some((s) => typeof s === "string" && holds(s)) ? undefined : named(list[0]);
  for (const s of list) if (typeof s !== "string" || !holds(s)) return named(s);
  return undefined;
}

/** Why a route's requirement is malformed: where (`""`, `[1]`, `.anyOf`, `.anyOf[1]`) and the rule. */
export interface RequiredScopesProblem {
  path: string;
  message: string;
}

const SCOPE_RULE = "must be a valid scope (resource[/name…]:action), e.g. core:read";

/**
 * Validates a route's requirement, the application's own input: a malformed
 * scope, an empty list or an unknown shape is a programming error, never an
 * allow (checked at setup or on the API, not on untrusted input).
 *
 * @param required anything
 * @returns `null` when `required` is a well-formed {@link RequiredScopes}, else the first problem
 */
export function requiredScopesProblem(required: unknown): RequiredScopesProblem | null {
  if (typeof required === "string") return parseScope(required) === null ? { path: "", message: SCOPE_RULE } : null;
  let list: unknown = required;
  let path = "";
  if (!Array.isArray(required)) {
    const keys = typeof required === "object" && required !== null ? Object.keys(required) : [];
    if (keys.length !== 1 || (keys[0] !== "anyOf" && keys[0] !== "allOf")) {
      return { path: "", message: "must be a scope, a non-empty array of scopes, { anyOf: [...] } or { allOf: [...] }" };
    }
    path = `.${keys[0]}`;
    list = (required as Record<string, unknown>)[keys[0]];
    if (!Array.isArray(list)) return { path, message: "must be a non-empty array of scopes" };
  }
  const items = list as unknown[];
  if (items.length === 0) return { path, message: "must not be an empty list (omit scope for no scope check)" };
  for (let i = 0; i < items.length; i++) {
    if (parseScope(items[i]) === null) return { path: `${path}[${i}]`, message: SCOPE_RULE };
  }
  return null;
}
