// The pure policy evaluator: given a stored token, what the request shows and
// an explicit `now`, allow or deny with a stable reason. No I/O, no clock.
// Counters (credits, rate limits) need the store and are applied by the
// verifier after this says yes.
import { policyAt } from "../model/record.js";
import type { StoredToken, TokenPolicy } from "../model/types.js";
import type { TokenEnv } from "../token/format.js";
import { allow, type DenyCode, deny, type PolicyDecision } from "./decision.js";
import { compileDomains, type DomainMatcher } from "./domain.js";
import { compileIpAllowlist, type IpMatcher } from "./ip.js";
import type { Transport } from "./transport.js";
import { compileScopes, isWriteOrDeleteScope, missingScope, type RequiredScopes, type ScopeMatcher } from "./scope.js";

/** The parts of a token the evaluator reads. */
export type EvaluableToken = Pick<StoredToken, "kind" | "env" | "revokedAt" | "disabledAt" | "policy" | "scheduled">;

/** The outcome of checking a request's signature, when it carries one. */
export type SignatureOutcome =
  | { ok: true }
  | { ok: false; code: Extract<DenyCode, "SIGNATURE_INVALID" | "SIGNATURE_EXPIRED" | "DIGEST_MISMATCH" | "REPLAYED"> };

/** What the request shows and what the route needs. */
export interface EvaluationContext {
  /** Scope(s) the route needs: a string or array (all of them), `{ allOf }` or `{ anyOf }`. Omit for no scope check. */
  scope?: RequiredScopes | undefined;
  /** The client IP (already resolved through trusted proxies). */
  ip?: string | null | undefined;
  /** The `Origin` request header. */
  origin?: string | null | undefined;
  /** The `Referer` request header (used when there is no Origin). */
  referer?: string | null | undefined;
  /** The `Sec-Fetch-Site` request header. */
  secFetchSite?: string | null | undefined;
  /**
   * @deprecated Ignored: `Sec-Fetch-Mode` is not a browser signal (Node's own
   * `fetch`, undici, sends `sec-fetch-mode: cors` on every request). A
   * browser is recognised by `origin` or `secFetchSite` alone.
   */
  secFetchMode?: string | null | undefined;
  /** The signature check's outcome; null or absent when the request is not signed. */
  signature?: SignatureOutcome | null | undefined;
  /** The environment this server accepts; absent = any. */
  env?: TokenEnv | undefined;
  /** Allow secret tokens from browser contexts (default false: `SECRET_IN_BROWSER`). */
  allowSecretInBrowser?: boolean | undefined;
  /**
   * Let publishable tokens pass checks of scopes other than `…:read`
   * (default false: such a check is `SCOPE_DENIED` whatever scopes the token
   * holds, e.g. one created on an instance that allowed publishable writes).
   */
  allowPublishableWrites?: boolean | undefined;
  /** Which tokens must arrive over TLS (default false: none); see {@link Transport}. */
  requireHttps?: RequireHttps | undefined;
  /** How the request arrived; absent = unknown, and `requireHttps` is not applied. */
  transport?: Transport | undefined;
}

/** Which tokens must arrive over TLS: secret ones, every one, or none. */
export type RequireHttps = "secret" | "all" | false;

/** @internal The matchers of a policy's lists. */
export interface CompiledPolicy {
  scopes: ScopeMatcher;
  /** Null without a rule: the request's headers and address are then never read. */
  domains: DomainMatcher | null;
  ips: IpMatcher | null;
}

/** The matchers of a policy's scope, domain and IP lists. */
function compile(policy: TokenPolicy): CompiledPolicy {
  const rule = (list: readonly string[]) => !Array.isArray(list) || list.length > 0;
  return {
    scopes: compileScopes(policy.scopes),
    domains: rule(policy.domains) ? compileDomains(policy.domains) : null,
    ips: rule(policy.ips) ? compileIpAllowlist(policy.ips) : null,
  };
}

// Compiled once per policy object that never changes: the verifier's records
// (never mutated once kept) and frozen policies. Invisible to callers (same
// answers with or without it).
const compiled = new WeakMap<TokenPolicy, CompiledPolicy>();

/**
 * The matchers of a policy that never changes, compiled on first use: the
 * verifier reads them once per request and hands them to
 * {@link evaluatePolicy} and {@link evaluateScope}.
 *
 * @internal
 */
export function compiledOnce(policy: TokenPolicy): CompiledPolicy {
  let c = compiled.get(policy);
  if (!c) {
    c = compile(policy);
    compiled.set(policy, c);
  }
  return c;
}

/** Whether what {@link compile} reads can no longer change: the policy and its three lists are frozen. */
function unchangeable(policy: TokenPolicy): boolean {
  return Object.isFrozen(policy) && Object.isFrozen(policy.scopes) && Object.isFrozen(policy.domains) && Object.isFrozen(policy.ips);
}

/**
 * True when the request comes from a browser context: an `Origin` header
 * (browsers send it on every cross-origin request and on same-origin ones
 * other than GET / HEAD, RFC 6454 §7, Fetch §3.1) or a `Sec-Fetch-Site`
 * header (Fetch Metadata §2.1: sent with every request to a potentially
 * trustworthy URL by Chromium, Firefox and Safari, together with
 * `Sec-Fetch-Mode` and `Sec-Fetch-Dest`). `Sec-Fetch-Mode` alone is not a
 * signal: Node's `fetch` (undici, Node 20 to 24) sends `sec-fetch-mode: cors`
 * and neither of the two others, and server-to-server calls must pass.
 */
function fromBrowser(ctx: EvaluationContext): boolean {
  return !!ctx.origin || !!ctx.secFetchSite;
}

/**
 * Decides a request against a token's policy in force at `now`. Checks, in
 * order: revocation, disabled, environment, expiry, HTTPS, kind (secret tokens from browsers),
 * signature, IP, domain, scope. Never throws on untrusted context values.
 * The matchers of a frozen policy (the policy and its `scopes`, `domains`
 * and `ips` arrays) are compiled once and kept; any other policy's on each
 * call, so a policy edited in place is decided as it is at that call.
 *
 * @param token the stored token (kind, env, revokedAt, disabledAt, policy, scheduled)
 * @param context what the request shows and needs
 * @param now epoch ms
 * @returns allow, or deny with a reason code, HTTP status and headers
 * @example
 * ```ts
 * const d = evaluate(stored, { scope: "core:read", ip: "203.0.113.7" }, Date.now());
 * if (!d.ok) console.log(d.code, d.status);
 * ```
 */
export function evaluate(token: EvaluableToken, context: EvaluationContext, now: number): PolicyDecision {
  const policy = policyAt(token, now);
  // The caller's policy may be edited in place between calls: compiled per
  // call, unless frozen (then once).
  const m = unchangeable(policy) ? compiledOnce(policy) : compile(policy);
  const checked = evaluatePolicy(token, policy, context, now, m);
  const d = checked.ok ? evaluateScope(token, policy, context, null, m.scopes) : checked;
  // The caller's own object: the request path shares one frozen allow.
  return d.ok ? allow({}) : d;
}

/**
 * {@link evaluate}'s checks but the scope's, with the policy in force already
 * known (the verifier computes it once per request and meters with it too).
 * The verifier checks the scope afterwards, with {@link evaluateScope}, once
 * it knows the account's plan ceiling. `m`: the policy's matchers, by
 * default compiled once per policy object (the verifier's records never
 * change).
 *
 * @internal
 */
export function evaluatePolicy(
  token: Pick<EvaluableToken, "kind" | "env" | "revokedAt" | "disabledAt">,
  policy: TokenPolicy,
  context: EvaluationContext,
  now: number,
  m: CompiledPolicy = compiledOnce(policy),
): PolicyDecision {
  // Revocation is final whatever the clocks say: a revoked token is refused
  // even by a server whose clock is behind the one that revoked it.
  if (token.revokedAt !== null) return deny("TOKEN_REVOKED");
  if (token.disabledAt != null) return deny("TOKEN_DISABLED");
  if (context.env !== undefined && token.env !== context.env) return deny("TOKEN_WRONG_ENV");
  if (policy.expiresAt !== null && policy.expiresAt <= now) return deny("TOKEN_EXPIRED");
  const https = context.requireHttps;
  if (https && (https === "all" || token.kind === "secret") && context.transport === "http") return deny("INSECURE_TRANSPORT");
  if (token.kind === "secret" && !context.allowSecretInBrowser && fromBrowser(context)) return deny("SECRET_IN_BROWSER");
  const sig = context.signature;
  if (sig && !sig.ok) return deny(sig.code);
  if (policy.requireSignedRequests && !sig) return deny("SIGNATURE_REQUIRED");
  if (m.ips && !m.ips(context.ip)) return deny("IP_DENIED");
  if (m.domains) {
    // Referer is read only when there is no Origin: the matcher would not look at it.
    const origin = context.origin;
    if (!m.domains(origin, typeof origin === "string" ? null : context.referer)) return deny("DOMAIN_DENIED");
  }
  return allow();
}

/**
 * The scope check, the last of {@link evaluate}'s. Each required scope is
 * tested once for everything that must hold of it together: the token holds
 * it, its kind may use it (a publishable token only `…:read` scopes, unless
 * `allowPublishableWrites`) and, under an account's plan ceiling, the
 * ceiling covers it. So `anyOf` needs one scope that passes all three, never
 * one scope for each; `allOf` needs every scope to pass all three.
 *
 * @param token the token's kind
 * @param policy the token's policy in force
 * @param context the route's requirement and `allowPublishableWrites`
 * @param ceiling the account's compiled plan ceiling; null without one
 * @param held the token's scopes, by default compiled once per policy object
 * @returns allow, or `SCOPE_DENIED` naming the scope missed
 * @internal
 */
export function evaluateScope(
  token: Pick<EvaluableToken, "kind">,
  policy: TokenPolicy,
  context: Pick<EvaluationContext, "scope" | "allowPublishableWrites">,
  ceiling: ScopeMatcher | null,
  held?: ScopeMatcher,
): PolicyDecision {
  const need = context.scope;
  if (need === undefined) return allow();
  const scopes = held ?? compiledOnce(policy).scopes;
  const readOnly = token.kind === "publishable" && !context.allowPublishableWrites;
  // One required scope (the common route) is checked without building a closure.
  const missing =
    typeof need === "string"
      ? usable(scopes, readOnly, ceiling, need)
        ? undefined
        : need
      : missingScope(need, (scope) => usable(scopes, readOnly, ceiling, scope));
  return missing === undefined ? allow() : deny("SCOPE_DENIED", { scope: missing.slice(0, 128) });
}

/** The one test of a required scope: held, allowed for the token's kind (`readOnly`: no write or delete scope), within the ceiling if any. */
function usable(held: ScopeMatcher, readOnly: boolean, ceiling: ScopeMatcher | null, scope: string): boolean {
  return held(scope) && !(readOnly && isWriteOrDeleteScope(scope)) && (ceiling === null || ceiling(scope));
}
