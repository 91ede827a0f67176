// The request side: credential → lookup cache → offline format check → store
// lookup by hash → pure policy evaluation → rate limit → credits → usage.
// Never throws on untrusted input and never allows by mistake: anything
// unexpected is a denial with a code.
//
// The warm path is synchronous up to the returned promise: no await unless a
// store call is needed.
import { MAX_FOREIGN_TOKEN_LENGTH, type ResolvedConfig } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { equalStrings } from "../lib/bytes.js";
import { sha256Hex } from "../lib/crypto.js";
import type { AccountPolicy, StoredAccount } from "../model/account.js";
import { auditId } from "../model/audit-id.js";
import { DEFAULT_POOL, isPoolName, poolOf } from "../model/pools.js";
import { isTokenId, policyAt } from "../model/record.js";
import type { StoredToken, TokenPolicy } from "../model/types.js";
import type { AnomalyDetector } from "../monitor/anomalies.js";
import type { DecisionEvent } from "../monitor/events.js";
import { Telemetry } from "../monitor/telemetry.js";
import { UsageQueue, type UsageQueueStats } from "../monitor/usage-queue.js";
import { type ClientIpResolver, createClientIpResolver } from "../policy/client-ip.js";
import { allow, type DenyCode, deny, type PolicyDecision } from "../policy/decision.js";
import { type EvaluationContext, evaluatePolicy, type RequireHttps, type SignatureOutcome } from "../policy/evaluate.js";
import { type VerifyRequestOptions, type VerifyRequestResult, verifyRequest } from "../signing/verify.js";
import { compileScopes, missingScope, type RequiredScopes, requiredScopesProblem, type ScopeMatcher, scopesGrant } from "../policy/scope.js";
import { createTransportResolver, isLoopbackIp, type Transport, type TransportResolver } from "../policy/transport.js";
import type { AccountMeter, MeterRequest, MeterResult } from "../store/types.js";
import { findTokens, MAX_TOKEN_LENGTH, wellFormedPrefixLength } from "../token/format.js";
import { sharedReadsOf } from "../store/shared-reads.js";
import { SharedLookup } from "./cache.js";
import { RecordInterner } from "./intern.js";
import { findCredential } from "./credential.js";
import { type Decision, type DecisionExtras, decision } from "./decision.js";
import { SIGNATURE_DENY_CODE, signingKeys } from "./signed.js";

/** What a route charges: its cost and the pool it draws from. */
type RouteCharge = Pick<CheckOptions, "cost" | "pool">;

/** An account's plan as the meter needs it: its meter for the default pool, and its named pools. */
interface AccountPlanMeter {
  meter: AccountMeter;
  pools: AccountPolicy["pools"];
}

const hasPools = (p: { pools?: Record<string, unknown> | undefined }) => p.pools !== undefined && Object.keys(p.pools).length > 0;

/** Whether nothing of the token or its account is counted. */
function unmetered(policy: TokenPolicy, account: AccountPlanMeter | null): boolean {
  return account === null && policy.rateLimit === null && policy.credits === null && !policy.rateLimits?.length && !hasPools(policy);
}

/** What the route needs, for `kw.check` and `kw.verify`. */
export interface CheckOptions {
  /** Scope(s) the route needs: a string or an array (all of them), `{ allOf: [...] }` or `{ anyOf: [...] }`. */
  scope?: RequiredScopes;
  /** Credits the call costs (default 1 when the token has a credit limit; 0 reads without spending). */
  cost?: number;
  /**
   * The credit pool the route draws from (default `"default"`: the token's
   * and its account's `credits`). A token (or account) holding named pools
   * but not this one is denied with `POOL_UNKNOWN`; one with no pool at all
   * is unmetered, as ever.
   */
  pool?: string;
  /** The client's IP as the server saw it (the socket address). */
  ip?: string | null;
  /**
   * The body of a signed request, when the application has already read it:
   * checked against Content-Digest instead of reading a clone of the stream.
   */
  body?: Uint8Array;
}

/** Input of `kw.check`: a token and what the request shows. */
export interface CheckInput extends CheckOptions {
  token: unknown;
  origin?: string | null;
  referer?: string | null;
  secFetchSite?: string | null;
  secFetchMode?: string | null;
  /**
   * The scheme the request arrived with (`"https"` or `"http"`, e.g. Express's
   * `req.protocol` behind `trust proxy`), for `requireHttps`. Absent: not
   * known, and `requireHttps` is not applied by `check` (`verify` reads the URL).
   */
  protocol?: "http" | "https";
}

/**
 * The evaluation context of a Fetch request. Header-derived values are read
 * on first use, so a token without domain or IP rules costs no Origin,
 * Referer or forwarding-header parsing.
 */
class RequestContext implements EvaluationContext {
  readonly scope: CheckOptions["scope"];
  readonly env: EvaluationContext["env"];
  readonly allowSecretInBrowser: boolean;
  readonly allowPublishableWrites: boolean;
  readonly requireHttps: RequireHttps;
  signature: SignatureOutcome | undefined;
  readonly #get: (name: string) => string | null;
  readonly #resolveIp: () => string | null;
  readonly #resolveTransport: () => Transport;
  #ip: string | null | undefined;
  // Read by the browser check and the domain check: fetched once.
  #origin: string | null | undefined;

  constructor(
    get: (name: string) => string | null,
    resolveIp: () => string | null,
    resolveTransport: () => Transport,
    scope: CheckOptions["scope"],
    cfg: ResolvedConfig,
  ) {
    this.#get = get;
    this.#resolveIp = resolveIp;
    this.#resolveTransport = resolveTransport;
    this.requireHttps = cfg.requireHttps;
    this.scope = scope;
    this.env = cfg.env;
    this.allowSecretInBrowser = cfg.allowSecretInBrowser;
    this.allowPublishableWrites = cfg.allowPublishableWrites;
  }
  get ip(): string | null {
    if (this.#ip === undefined) this.#ip = this.#resolveIp();
    return this.#ip;
  }
  /** Read only when `requireHttps` applies to the token. */
  get transport(): Transport {
    return this.#resolveTransport();
  }
  get origin(): string | null {
    if (this.#origin === undefined) this.#origin = this.#get("origin");
    return this.#origin;
  }
  get referer(): string | null {
    return this.#get("referer");
  }
  get secFetchSite(): string | null {
    return this.#get("sec-fetch-site");
  }
  get secFetchMode(): string | null {
    return this.#get("sec-fetch-mode");
  }
}

/** Longest scope list or Origin kept in a decision event. */
const MAX_EVENT_TEXT = 2048;

/** A verified signature's nonce, spent once the request is allowed. */
interface SignedNonce {
  nonce: string;
  expiresAtMs: number;
}

/** Tokens reported as leaked by this instance, remembered so a repeated request writes nothing more. */
const MAX_LEAK_REPORTS = 1024;
// The hash compared on the unknown-token path, so both paths do the same work.
const DUMMY_HASH = "0".repeat(64);

const denial = (code: DenyCode, at: number, extra?: Parameters<typeof deny>[1]) => decision(deny(code, extra), null, at);

/** @internal The request path of a {@link Keyward}. */
export class Verifier {
  readonly #cfg: ResolvedConfig;
  readonly #byHash: SharedLookup<StoredToken>;
  readonly #byId: SharedLookup<StoredToken>;
  /** Accounts by owner (null when the store has none), cached like tokens: never older than revocationBoundMs. */
  readonly #accounts: SharedLookup<StoredAccount> | null;
  /** Compiled plan ceilings, per policy object. */
  readonly #ceilings = new WeakMap<AccountPolicy, ScopeMatcher>();
  /** What each account policy asks of the meter (null: nothing), built once per policy object. */
  readonly #accountMeters = new WeakMap<AccountPolicy, AccountPlanMeter | null>();
  readonly #clientIp: ClientIpResolver;
  readonly #detector: AnomalyDetector | null;
  readonly #monitor: UsageQueue;
  readonly #telemetry: Telemetry | null;
  #cacheHits = 0;
  #cacheMisses = 0;
  readonly #transport: TransportResolver;
  readonly #leaksReported = new Set<string>();
  /** `<prefix>_` of each accepted prefix: a URL without any holds none of our tokens. */
  readonly #urlMarkers: readonly string[];
  readonly #pendingReports = new Set<Promise<void>>();
  readonly #unsubscribe: (() => void) | undefined;
  /** The instance's options of `verifyRequest`, built once. */
  readonly #signatureOptions: Omit<VerifyRequestOptions, "resolveKey">;

  constructor(config: ResolvedConfig, detector: AnomalyDetector | null = null) {
    this.#cfg = config;
    this.#detector = detector;
    this.#urlMarkers = config.prefixes.map((p) => `${p}_`);
    const bounds = {
      maxEntries: config.cache.maxEntries,
      ttlMs: config.revocationBoundMs,
      negativeTtlMs: Math.min(config.revocationBoundMs, config.cache.negativeTtlMs),
    };
    const store = config.store;
    const { intern, known } = new RecordInterner(config.cache.maxEntries || 1024);
    // A store that keeps frozen records in this process answers at once, without a copy.
    const shared = sharedReadsOf(store.adapter);
    this.#byHash = new SharedLookup(
      bounds,
      shared ? (hash) => intern(shared.findByHash(hash, known), hash) : (hash) => store.findByHash(hash).then((t) => intern(t, hash)),
      config.lookupTimeoutMs,
    );
    this.#byId = new SharedLookup(bounds, shared ? (id) => intern(shared.get(id, known)) : (id) => store.get(id).then(intern), config.lookupTimeoutMs);
    // "No account" is an ordinary answer: cached as long as an account.
    this.#accounts = store.capabilities.accounts
      ? new SharedLookup<StoredAccount>(
          { ...bounds, negativeTtlMs: bounds.ttlMs },
          shared ? (owner) => shared.getAccount(owner) : (owner) => store.getAccount(owner),
          config.lookupTimeoutMs,
        )
      : null;
    const { trustedProxies, forwardedHeader: header, allowCatchAllRanges, onWarning } = config;
    this.#clientIp = createClientIpResolver({ trustedProxies, header, allowCatchAllRanges, onWarning });
    this.#transport = createTransportResolver({ trustedProxies, header });
    const sig = config.signatures;
    this.#signatureOptions = {
      maxAgeSec: sig.maxAgeSec,
      clockSkewSec: sig.clockSkewSec,
      requireNonce: sig.requireNonce,
      maxBodyBytes: sig.maxBodyBytes,
      bodyTimeoutMs: sig.bodyTimeoutMs,
      unsafeAllowNoFreshness: sig.unsafeAllowNoFreshness,
      unsafeAllowUncoveredBody: sig.unsafeAllowUncoveredBody,
      ...(sig.required ? { required: sig.required } : {}),
    };
    const u = config.usage;
    this.#monitor = new UsageQueue({
      batchSize: u.batchSize,
      flushIntervalMs: u.flushIntervalMs,
      maxQueue: u.maxQueue,
      write: u.enabled ? (events) => store.recordUsage(events) : null,
      observers: [u.onDecision, detector && ((e: DecisionEvent) => detector.observe(e))].filter((f) => typeof f === "function"),
      onError: (e) => {
        this.#telemetry?.usageWriteFailed(e.events);
        u.onError?.(e);
      },
    });
    this.#telemetry = config.telemetry
      ? new Telemetry(config.telemetry, {
          cache: () => ({ hits: this.#cacheHits, misses: this.#cacheMisses }),
          usageQueueDepth: () => this.#monitor.stats().queued,
        })
      : null;
    if (store.capabilities.changeFeed && store.subscribe) {
      this.#unsubscribe = store.subscribe((e) => this.invalidate(e.tokenId, e.hashes));
    }
  }

  /** Drops what the cache holds for an account (after this instance changed it). */
  invalidateAccount(owner: string): void {
    this.#accounts?.invalidate([owner]);
  }

  /** Drops what the caches hold for a token (its id and every hash it had). */
  invalidate(tokenId: string, hashes: readonly string[]): void {
    this.#byId.invalidate([tokenId]);
    this.#byHash.invalidate(hashes);
  }

  /**
   * Checks a token presented by any means, with what the request shows.
   * Never throws on untrusted input (the token, IP, origin, headers).
   */
  check(input: CheckInput): Promise<Decision> {
    try {
      checkOptions(input);
      if (input.protocol !== undefined && input.protocol !== "http" && input.protocol !== "https") {
        throw new InvalidInputError("protocol", 'must be "http" or "https"');
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const cfg = this.#cfg;
    const context: EvaluationContext = {
      scope: input.scope,
      ip: input.ip,
      origin: input.origin,
      referer: input.referer,
      secFetchSite: input.secFetchSite,
      secFetchMode: input.secFetchMode,
      env: cfg.env,
      allowSecretInBrowser: cfg.allowSecretInBrowser,
      allowPublishableWrites: cfg.allowPublishableWrites,
      requireHttps: cfg.requireHttps,
      transport: input.protocol === undefined ? undefined : input.protocol === "https" ? "https" : isLoopbackIp(input.ip) ? "loopback" : "http",
    };
    const end = this.#telemetry?.start("keyward.check");
    const observe = (d: Decision) => {
      if (end) end(d);
      return this.#monitor.active ? this.#record(d, input.scope, input.ip ?? null, input.origin ?? null, false) : d;
    };
    const decided = this.#decide(input.token, input, context);
    // The warm path decides synchronously: observed at once, no extra promise step.
    if (decided instanceof Promise) return end || this.#monitor.active ? decided.then(observe) : decided;
    return Promise.resolve(end || this.#monitor.active ? observe(decided) : decided);
  }

  /**
   * Checks a Fetch API request: the bearer token from `Authorization` (or
   * the query, when enabled); Origin, Referer and Sec-Fetch-* from its
   * headers; the client IP from `options.ip`, and from forwarding headers
   * only behind trusted proxies.
   */
  verify(request: Request, options: CheckOptions = {}): Promise<Decision> {
    const end = this.#telemetry?.start("keyward.verify");
    let decided = this.#verify(request, options);
    if (end) decided = decided.then(end);
    if (!this.#monitor.active) return decided;
    return decided.then((d) => {
      let get: (name: string) => string | null = () => null;
      try {
        const headers = request.headers;
        get = (name) => headers.get(name);
      } catch {
        // A request whose headers cannot be read was denied; its event has no IP from them.
      }
      return this.#record(d, options.scope, this.#clientIp(options.ip, { get }), get("origin"), get("signature-input") !== null);
    });
  }

  #verify(request: Request, options: CheckOptions): Promise<Decision> {
    try {
      // The application's mistake, not the client's: say what was expected.
      if (typeof (request as Partial<Request> | null)?.headers?.get !== "function") {
        throw new TypeError("kw.verify expects a Fetch API Request (for Express or Fastify, use keyward/express or keyward/fastify)");
      }
      checkOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const now = this.#cfg.now();
    let headers: Headers;
    let url: string;
    let queryToken: string[] | null = null;
    try {
      headers = request.headers;
      url = request.url;
      const param = this.#cfg.queryParam;
      if (param !== null) queryToken = new URL(url).searchParams.getAll(param);
    } catch {
      return Promise.resolve(denial("TOKEN_MALFORMED", now));
    }
    if (queryToken === null && this.#reportTokensInUrl(url, now)) return Promise.resolve(denial("TOKEN_IN_URL", now));
    // Header names here are constants, valid by construction: get() cannot throw.
    const get = (name: string) => headers.get(name);
    const credential = findCredential(get("authorization"), queryToken);
    if (credential.kind === "ambiguous") return Promise.resolve(denial("TOKEN_MALFORMED", now));
    const context = new RequestContext(
      get,
      () => this.#clientIp(options.ip, { get }),
      () => this.#transport(url, options.ip, { get }),
      options.scope,
      this.#cfg,
    );
    // RFC 9421 §4.1: a signed request carries Signature-Input (a lone Signature
    // field signs nothing, and is left to the bearer path to ignore).
    if (get("signature-input") !== null) {
      return this.#verifySigned(request, credential.kind === "token" ? credential.token : null, options, context);
    }
    if (credential.kind === "none") return Promise.resolve(denial("TOKEN_MISSING", now));
    return Promise.resolve(this.#decide(credential.token, options, context));
  }

  #decide(token: unknown, route: RouteCharge, context: EvaluationContext): Decision | Promise<Decision> {
    const cfg = this.#cfg;
    const now = cfg.now();
    const maxLength = cfg.acceptForeignTokens ? MAX_FOREIGN_TOKEN_LENGTH : MAX_TOKEN_LENGTH;
    if (typeof token !== "string" || token.length === 0 || token.length > maxLength) return denial("TOKEN_MALFORMED", now);
    const hash = sha256Hex(token);
    // A cached entry was stored under the hash of a string that passed the
    // format check, so a hit needs no second check.
    const hit = this.#byHash.peek(hash, now);
    if (hit !== undefined) {
      this.#cacheHits++;
      return this.#identified(hit.value, hash, route, context, now);
    }
    this.#cacheMisses++;
    if (!this.#lookupable(token)) return denial("TOKEN_MALFORMED", now);
    const found = this.#byHash.fetch(hash, now);
    if (!(found instanceof Promise)) return this.#identified(found, hash, route, context, now);
    return found.then(
      (stored) => this.#identified(stored, hash, route, context, now),
      () => denial("STORE_UNAVAILABLE", now, { retryAfterMs: 1000 }),
    );
  }

  /**
   * Whether a presented string may be looked up in the store: a well-formed
   * token with one of this application's prefixes, or a legacy key of the
   * configured shape. Anything else is refused without a store access.
   */
  #lookupable(token: string): boolean {
    const length = wellFormedPrefixLength(token);
    if (length >= 0) return this.#cfg.prefixes.some((p) => p.length === length && token.startsWith(p));
    const foreign = this.#cfg.acceptForeignTokens;
    return foreign !== false && token.length >= foreign.minLength && token.startsWith(foreign.prefix);
  }

  /**
   * With query tokens off, a URL that carries one of this application's
   * tokens is refused: the token is now in every access log on the way. A
   * live token found there is reported once, as a `leak` audit entry.
   */
  #reportTokensInUrl(url: string, now: number): boolean {
    const prefixes = this.#cfg.prefixes;
    let marked = false;
    for (const m of this.#urlMarkers) if (url.includes(m)) marked = true;
    if (!marked) return false;
    const found = findTokens(url).filter((t) => prefixes.includes(t.prefix));
    if (found.length === 0) return false;
    for (const { token } of found.slice(0, 4)) {
      const hash = sha256Hex(token);
      if (this.#leaksReported.has(hash)) continue;
      if (this.#leaksReported.size >= MAX_LEAK_REPORTS) this.#leaksReported.clear();
      this.#leaksReported.add(hash);
      const report = this.#reportLeak(hash, now).catch(() => {});
      this.#pendingReports.add(report);
      report.finally(() => this.#pendingReports.delete(report));
    }
    return true;
  }

  async #reportLeak(hash: string, now: number): Promise<void> {
    const stored = await this.#byHash.get(hash, now);
    if (stored === null || stored.hash !== hash || stored.revokedAt !== null) return;
    this.#detector?.leaked(now, stored.id, stored.owner, "url");
    await this.#cfg.store.appendAudit({
      id: auditId(now, this.#cfg.random),
      at: now,
      actor: "keyward:verifier",
      action: "leak",
      tokenId: stored.id,
      owner: stored.owner,
      changes: ["url"],
    });
  }

  #identified(
    stored: StoredToken | null,
    hash: string,
    route: RouteCharge,
    context: EvaluationContext,
    now: number,
    nonce?: SignedNonce,
  ): Decision | Promise<Decision> {
    // What the writer of the record already held for past (a revocation, an
    // expiry set to "now", the end of a grace period, a due revision) stays
    // past here even when this server's clock is behind the writer's: the
    // record's updatedAt is the writer's clock at the write.
    const at = stored === null ? now : Math.max(now, stored.updatedAt);
    // Constant-time comparison of the presented hash with the stored one it
    // was found under; the unknown path compares against a dummy hash.
    if (stored === null || !matchSecret(stored, hash, at)) {
      equalStrings(hash, DUMMY_HASH);
      return denial("TOKEN_UNKNOWN", now);
    }
    const policy = policyAt(stored, at);
    const verdict = evaluatePolicy(stored, policy, context, at);
    if (!verdict.ok) return this.#finish(stored, verdict, now);
    if (this.#accounts === null) return this.#charge(stored, policy, null, verdict, route, now, nonce);
    const hit = this.#accounts.peek(stored.owner, now);
    if (hit !== undefined) return this.#withAccount(stored, policy, hit.value, verdict, context, route, now, at, nonce);
    const found = this.#accounts.fetch(stored.owner, now);
    if (!(found instanceof Promise)) return this.#withAccount(stored, policy, found, verdict, context, route, now, at, nonce);
    return found.then(
      (account) => this.#withAccount(stored, policy, account, verdict, context, route, now, at, nonce),
      () => denial("STORE_UNAVAILABLE", now, { retryAfterMs: 1000 }),
    );
  }

  /**
   * The account's part of the decision: the plan ceiling (a required scope
   * must be within it too: the token's effective scopes are its own within
   * the ceiling), then its limits go to the meter with the token's.
   */
  #withAccount(
    stored: StoredToken,
    policy: TokenPolicy,
    account: StoredAccount | null,
    verdict: PolicyDecision,
    context: EvaluationContext,
    route: RouteCharge,
    now: number,
    at: number,
    nonce: SignedNonce | undefined,
  ): Decision | Promise<Decision> {
    if (account === null) return this.#charge(stored, policy, null, verdict, route, now, nonce);
    const plan = policyAt(account, at);
    const need = context.scope;
    if (plan.ceiling !== null && need !== undefined) {
      let within = this.#ceilings.get(plan);
      if (within === undefined) {
        within = compileScopes(plan.ceiling);
        this.#ceilings.set(plan, within);
      }
      // The token's effective scopes are its own within the ceiling: for anyOf, one scope must be both.
      const ceiling = within;
      const missing = missingScope(need, (scope) => ceiling(scope) && scopesGrant(policy.scopes, scope));
      if (missing !== undefined) return this.#finish(stored, deny("SCOPE_DENIED", { scope: missing.slice(0, 128) }), now);
    }
    let meter = this.#accountMeters.get(plan);
    if (meter === undefined) {
      meter =
        plan.credits === null && plan.rateLimit === null && !hasPools(plan)
          ? null
          : { meter: { owner: account.owner, rateLimit: plan.rateLimit, credits: plan.credits }, pools: plan.pools };
      this.#accountMeters.set(plan, meter);
    }
    return this.#charge(stored, policy, meter, verdict, route, now, nonce);
  }

  /** Nonce (for a signed request), then the meter when anything is limited. */
  #charge(
    stored: StoredToken,
    policy: TokenPolicy,
    account: AccountPlanMeter | null,
    verdict: PolicyDecision,
    route: RouteCharge,
    now: number,
    nonce: SignedNonce | undefined,
  ): Decision | Promise<Decision> {
    if (nonce !== undefined) return this.#spendNonce(stored, policy, account, route, now, nonce);
    if (unmetered(policy, account)) return this.#finish(stored, verdict, now);
    return this.#meter(stored, policy, account, route, now).catch(() => denial("STORE_UNAVAILABLE", now, { retryAfterMs: 1000 }));
  }

  /**
   * A signed request: the signature names the token by its id (`keyid`), so
   * no secret travels. A bearer token sent along must be the same token.
   * The nonce is remembered only once the token is known live and its
   * policy allows the request (see {@link #identified}).
   */
  async #verifySigned(request: Request, bearer: string | null, options: CheckOptions, context: RequestContext): Promise<Decision> {
    const cfg = this.#cfg;
    const now = cfg.now();
    let storeFailed = false;
    // Assigned in resolveKey (a closure: widened so the compiler does not narrow it to null).
    let token = null as StoredToken | null;
    let result: VerifyRequestResult;
    try {
      result = await verifyRequest(request, {
        ...this.#signatureOptions,
        now: () => now,
        ...(options.body ? { body: options.body } : {}),
        resolveKey: async (keyid) => {
          if (!isTokenId(keyid)) return null;
          try {
            token = await this.#byId.get(keyid, now);
          } catch {
            storeFailed = true;
            return null;
          }
          if (token === null || !this.#ownRecord(token)) return null;
          // One signature base, checked against the current key and any grace-period keys.
          return signingKeys(token, cfg.keyring, Math.max(now, token.updatedAt));
        },
      });
    } catch {
      // verifyRequest rejects only on misuse of its options; never let that escape as a throw.
      return denial("SIGNATURE_INVALID", now);
    }
    if (storeFailed) return denial("STORE_UNAVAILABLE", now, { retryAfterMs: 1000 });
    // A failed signature proves nothing about who sent it (token ids are
    // public): no token in the decision and no usage charged to it.
    if (!result.ok) return denial(SIGNATURE_DENY_CODE[result.code], now);
    // A verified signature means resolveKey found this application's token.
    const found = token!;
    if (bearer !== null && !matchSecret(found, sha256Hex(bearer), Math.max(now, found.updatedAt))) {
      return denial("TOKEN_MALFORMED", now);
    }
    context.signature = { ok: true };
    const nonce = result.nonce === undefined ? undefined : { nonce: result.nonce, expiresAtMs: result.nonceExpiresAtMs! };
    return this.#identified(found, found.hash, options, context, now, nonce);
  }

  /** Whether a record is one of this application's tokens (its displayed start carries the prefix). */
  #ownRecord(token: StoredToken): boolean {
    return this.#cfg.prefixes.includes(token.start.slice(0, token.start.indexOf("_")));
  }

  /** Replay check, after the policy allowed the request and before anything is charged. */
  async #spendNonce(
    stored: StoredToken,
    policy: TokenPolicy,
    account: AccountPlanMeter | null,
    route: RouteCharge,
    now: number,
    nonce: SignedNonce,
  ): Promise<Decision> {
    let fresh: boolean;
    try {
      fresh = await this.#cfg.store.rememberNonce({ tokenId: stored.id, nonce: nonce.nonce }, nonce.expiresAtMs, now);
    } catch {
      return denial("STORE_UNAVAILABLE", now, { retryAfterMs: 1000 });
    }
    // Like a failed signature: a replay is not the token holder's request, so nothing is charged.
    if (!fresh) return denial("REPLAYED", now);
    if (unmetered(policy, account)) return this.#finish(stored, allow(), now);
    return this.#meter(stored, policy, account, route, now);
  }

  /**
   * Rate limits, then credits, of the token and of its account, all or
   * nothing in one atomic store call (see `meterStep` in the store kit). The
   * route's pool picks the token's and the account's pool of that name.
   */
  #meter(stored: StoredToken, policy: TokenPolicy, account: AccountPlanMeter | null, route: RouteCharge, now: number): Promise<Decision> {
    const pool = route.pool ?? DEFAULT_POOL;
    const credits = poolOf(policy, pool);
    const acctCredits = account === null ? null : poolOf({ credits: account.meter.credits, pools: account.pools }, pool);
    if (credits === undefined || acctCredits === undefined) {
      return Promise.resolve(this.#finish(stored, deny("POOL_UNKNOWN"), now, { pool, policy }));
    }
    const spend = credits || acctCredits ? (route.cost ?? 1) : 0;
    const request: MeterRequest = { tokenId: stored.id, cost: spend, rateLimit: policy.rateLimit, credits };
    if (policy.rateLimits?.length) request.rateLimits = policy.rateLimits;
    if (pool !== DEFAULT_POOL) request.pool = pool;
    if (account !== null) {
      const m = account.meter;
      request.account = pool === DEFAULT_POOL ? m : { owner: m.owner, rateLimit: m.rateLimit, credits: acctCredits };
    }
    return this.#cfg.store.meter(request, now).then((m) => this.#metered(stored, policy, request.account ?? null, spend, m, now, pool));
  }

  /** The decision from the meter's answer. */
  #metered(stored: StoredToken, policy: TokenPolicy, account: AccountMeter | null, spend: number, m: MeterResult, now: number, pool: string): Decision {
    const { rateLimit } = policy;
    const byAccount = m.deniedBy === "accountRateLimit" || m.deniedBy === "accountCredits";
    const r = byAccount || (rateLimit === null && account?.rateLimit) ? (m.account?.rateLimit ?? null) : m.rateLimit;
    const more = m.rateLimits;
    if (m.deniedBy === "rateLimit" || m.deniedBy === "accountRateLimit") {
      // Every full limit must have room again: the longest of their waits.
      let wait = 0;
      for (const x of [m.rateLimit, ...(more ?? []), m.account?.rateLimit]) if (x && !x.allowed) wait = Math.max(wait, x.retryAfterMs);
      const d = deny("RATE_LIMITED", { retryAfterMs: wait });
      return this.#finish(stored, d, now, { retryAfterMs: wait, rateRemaining: r?.allowed === false ? 0 : r?.remaining, more, pool, policy });
    }
    const rateRemaining = r?.remaining;
    if (m.deniedBy === "credits" || m.deniedBy === "accountCredits") {
      const c = (m.deniedBy === "credits" ? m.credits : m.account?.credits)!;
      const wait = c.nextRefillAt === null ? undefined : Math.max(0, c.nextRefillAt - now);
      const d = deny("CREDITS_EXHAUSTED", wait === undefined ? undefined : { retryAfterMs: wait });
      return this.#finish(stored, d, now, { remaining: c.remaining, retryAfterMs: wait, rateRemaining, more, pool, policy });
    }
    const own = m.credits;
    const acct = m.account?.credits ?? null;
    if (own === null && acct === null) return this.#finish(stored, allow(), now, { rateRemaining, more, pool, policy });
    // What the caller can still spend: the tighter of the token and its account.
    const remaining = own === null ? acct!.remaining : acct === null ? own.remaining : Math.min(own.remaining, acct.remaining);
    return this.#finish(stored, allow(), now, { remaining, rateRemaining, more, pool, policy, cost: spend });
  }

  #finish(stored: StoredToken, verdict: PolicyDecision, now: number, extras?: DecisionExtras): Decision {
    return decision(verdict, stored, now, extras);
  }

  /** Hands a decision to the usage pipeline (queued; written and passed to hooks off the request path). */
  #record(d: Decision, scope: CheckOptions["scope"], ip: string | null, origin: string | null, signed: boolean): Decision {
    this.#monitor.push({
      at: this.#cfg.now(),
      tokenId: d.tokenId,
      owner: d.owner,
      ok: d.ok,
      code: d.code,
      status: d.status,
      scope: scope === undefined ? null : scopeText(scope).slice(0, MAX_EVENT_TEXT),
      cost: d.cost,
      // The IP is the application's input and the Origin the client's: bounded, so a batch always stores.
      ip: ip !== null && ip.length <= 64 ? ip : null,
      origin: origin !== null && origin.length > MAX_EVENT_TEXT ? origin.slice(0, MAX_EVENT_TEXT) : origin,
      signed,
      pool: d.pool ?? null,
    });
    return d;
  }

  /** Counters of the usage pipeline. */
  usageStats(): UsageQueueStats {
    return this.#monitor.stats();
  }

  /** Writes queued usage events to the store (and waits for pending leak reports). */
  async flush(): Promise<void> {
    await Promise.all(this.#pendingReports);
    await this.#monitor.flush();
    await this.#detector?.flush();
  }

  /** Stops listening to the store's change feed, stops the usage timer and writes what is queued. */
  async close(): Promise<void> {
    this.#unsubscribe?.();
    await Promise.all(this.#pendingReports);
    await this.#monitor.close();
    await this.#detector?.close();
  }
}

/** Whether `hash` is the token's current secret, or a previous one still in its grace period. */
function matchSecret(stored: StoredToken, hash: string, now: number): boolean {
  if (equalStrings(stored.hash, hash)) return true;
  for (const p of stored.previous) {
    if (equalStrings(p.hash, hash)) return p.expiresAt > now;
  }
  return false;
}

function checkOptions(options: CheckOptions): void {
  if (typeof options !== "object" || options === null) throw new InvalidInputError("options", "must be an object");
  const { cost, scope, body, pool } = options;
  if (pool !== undefined && !isPoolName(pool)) {
    throw new InvalidInputError("pool", "must be a pool name: a lowercase letter, then up to 31 of a-z, 0-9, _ or -");
  }
  if (body !== undefined && !(body instanceof Uint8Array)) throw new InvalidInputError("body", "must be a Uint8Array");
  if (cost !== undefined && (!Number.isSafeInteger(cost) || cost < 0)) {
    throw new InvalidInputError("cost", "must be a non-negative integer");
  }
  if (scope !== undefined) checkRouteScope(scope);
}

// Route scopes come from the application's code, so a few values recur:
// remember those already validated instead of parsing them per request.
const validScopes = new Set<string>();
const validScopeLists = new WeakSet<object>();

/**
 * A route's required scope is the application's input: an empty list, an
 * empty string or a malformed scope is a programming error, never an allow.
 */
function checkRouteScope(scope: RequiredScopes): void {
  if (typeof scope === "string" ? validScopes.has(scope) : typeof scope === "object" && scope !== null && validScopeLists.has(scope)) return;
  const problem = requiredScopesProblem(scope);
  if (problem) throw new InvalidInputError("scope", problem.path ? `${problem.path.replace(/^\./, "")}: ${problem.message}` : problem.message);
  if (typeof scope !== "string") validScopeLists.add(scope);
  else {
    if (validScopes.size >= 1024) validScopes.clear();
    validScopes.add(scope);
  }
}

/** A route's scope requirement as one line of text, for usage events. */
function scopeText(scope: RequiredScopes): string {
  if (typeof scope === "string") return scope;
  if ("anyOf" in scope) return `anyOf(${scope.anyOf.join(" ")})`;
  return ("allOf" in scope ? scope.allOf : (scope as readonly string[])).join(" ");
}
