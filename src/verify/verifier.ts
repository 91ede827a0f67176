// The request side, in four stages, each in its own module:
//
//   authenticate (./authenticate.ts)  which token: credential, lookup, match; or the signature
//   authorize    (./authorize.ts)     may it: the policy in force, then its account's plan
//   meter        (./meter.ts)         nonce, rate limits and credits, all or nothing
//   record       (./record.ts)        one usage event per decision, off the request path
//
// A stage answers its result or the decision (a denial), so the first denial
// ends the request. Never throws on untrusted input and never allows by
// mistake: anything unexpected is a denial with a code. The warm path is
// synchronous up to the returned promise: no await unless a store call is
// needed.
import type { ResolvedConfig } from "../config.js";
import { onHead } from "../http/head.js";
import type { StoredToken } from "../model/types.js";
import type { AnomalyDetector } from "../monitor/anomalies.js";
import type { DecisionEvent } from "../monitor/events.js";
import { createTelemetry, type Telemetry } from "../monitor/telemetry.js";
import { UsageQueue, type UsageQueueStats } from "../monitor/usage-queue.js";
import { type ConfigWarning, createClientIpResolver, warnOnConsole } from "../policy/client-ip.js";
import type { EvaluationContext } from "../policy/evaluate.js";
import { createTransportResolver } from "../policy/transport.js";
import type { ChangeEvent } from "../store/types.js";
import { Authenticator, type SignedNonce } from "./authenticate.js";
import { type Authorized, Authorizer } from "./authorize.js";
import { newDecision } from "./cache.js";
import { checkContext, NO_BODY, NO_HEADERS, RequestContext, type RequestResolvers } from "./context.js";
import { type Decision, denial, isDecision, type Staged, storeUnavailable } from "./decision.js";
import { Meter } from "./meter.js";
import { type CheckInput, type CheckOptions, checkInput, checkVerifyOptions, type RouteCharge, type VerifyOptions } from "./options.js";
import { type RequestShown, usageEvent } from "./record.js";


/** @internal The request path of a {@link Keyward}. */
export class Verifier {
  readonly #cfg: ResolvedConfig;
  readonly #authenticate: Authenticator;
  readonly #authorize: Authorizer;
  readonly #meter: Meter;
  readonly #usage: UsageQueue;
  readonly #resolvers: RequestResolvers;
  /** An address `kw.check` was given, in canonical form (each distinct one parsed once, as a socket address is). */
  readonly #canonicalIp: (ip: string) => string | null;
  readonly #detector: AnomalyDetector | null;
  readonly #telemetry: Telemetry | null;
  readonly #unsubscribe: (() => void) | undefined;
  /** Whether the console was told of a token past `usage.maxScopesPerMinute` (once, without a logger). */
  #scopesWarned = false;

  constructor(config: ResolvedConfig, detector: AnomalyDetector | null = null) {
    this.#cfg = config;
    this.#detector = detector;
    const bounds = {
      maxEntries: config.cache.maxEntries,
      ttlMs: config.revocationBoundMs,
      negativeTtlMs: Math.min(config.revocationBoundMs, config.cache.negativeTtlMs),
    };
    this.#authenticate = new Authenticator(config, bounds, detector);
    this.#authorize = new Authorizer(config, bounds);
    this.#meter = new Meter(config);
    const { trustedProxies, forwardedHeader: header, allowCatchAllRanges, onWarning } = config;
    this.#resolvers = {
      clientIp: createClientIpResolver({ trustedProxies, header, allowCatchAllRanges, onWarning }),
      transport: createTransportResolver({ trustedProxies, header }),
    };
    const unbounded = unboundedWait(config);
    if (unbounded !== null) (onWarning ?? warnOnConsole)(unbounded);
    const canonical = createClientIpResolver();
    this.#canonicalIp = (ip) => canonical(ip, NO_HEADERS);
    const store = config.store;
    const u = config.usage;
    this.#usage = new UsageQueue({
      batchSize: u.batchSize,
      flushIntervalMs: u.flushIntervalMs,
      maxQueue: u.maxQueue,
      maxScopesPerMinute: u.maxScopesPerMinute,
      onScopesCapped: (tokenId) => this.#scopesCapped(tokenId),
      writeTimeoutMs: u.writeTimeoutMs,
      write: u.enabled ? (events, batch) => store.recordUsage(events, batch) : null,
      observers: [u.onDecision, detector && ((e: DecisionEvent) => detector.observe(e))].filter((f) => typeof f === "function"),
      onError: (e) => {
        this.#telemetry?.usageWriteFailed(e.events);
        // Its promise, if it answers one, is the queue's to handle.
        return u.onError?.(e);
      },
      warn: u.onError === undefined && config.telemetry?.logger === undefined,
    });
    const authn = this.#authenticate;
    this.#telemetry = createTelemetry(config.telemetry, {
      cache: () => ({ hits: authn.hits, misses: authn.misses }),
      usage: () => this.#usage.stats(),
    });
    if (store.capabilities.changeFeed && store.subscribe) {
      this.#unsubscribe = store.subscribe((e) => this.#changed(e));
    }
  }

  /** The first token past `usage.maxScopesPerMinute` in a minute: told to the logger, else once to the console. */
  #scopesCapped(tokenId: string): void {
    const maxScopesPerMinute = this.#cfg.usage.maxScopesPerMinute;
    const message = `a token's requests named more than usage.maxScopesPerMinute (${maxScopesPerMinute}) distinct scopes this minute: the rest are recorded under the scope "(other)"`;
    if (this.#cfg.telemetry?.logger !== undefined) {
      this.#telemetry?.log({ level: "warn", event: "usage.scopes_capped", message, fields: { tokenId, maxScopesPerMinute } });
    } else if (!this.#scopesWarned) {
      this.#scopesWarned = true;
      // The token's public id only; the scopes are the client's text.
      console.warn(`keyward: ${message} (first: ${tokenId}; told once: set telemetry.logger to hear of each minute).`);
    }
  }

  /**
   * A change announced by the store: a token's (`kind` absent, from an
   * adapter that knows no other kind), an account's, or a reset, which any
   * kind this version does not know, and any malformed event (an adapter's
   * bug), is taken for (dropping too much is safe).
   */
  #changed(e: ChangeEvent): void {
    if (e === null || typeof e !== "object") this.reset();
    else if ((e.kind === undefined || e.kind === "token") && typeof e.tokenId === "string" && Array.isArray(e.hashes) && e.hashes.every((h) => typeof h === "string")) {
      this.invalidate(e.tokenId, e.hashes);
    } else if (e.kind === "account" && typeof e.owner === "string") this.invalidateAccount(e.owner);
    else this.reset();
  }

  /** Drops what the cache holds for an account (after a change here, or announced by the store). */
  invalidateAccount(owner: string): void {
    this.#authorize.invalidateAccount(owner);
  }

  /** Drops every cached token and account (the store's feed may have missed changes). */
  reset(): void {
    this.#authenticate.reset();
    this.#authorize.reset();
  }

  /** Drops what the caches hold for a token (its id and every hash it had). */
  invalidate(tokenId: string, hashes: readonly string[]): void {
    this.#authenticate.invalidate(tokenId, hashes);
  }

  /**
   * The time of a new decision. On a clock the application injected, which
   * may stand still, its caches read the monotonic clock afresh (see
   * newDecision); Date.now moves on by itself, and the checks of one of its
   * milliseconds share a reading.
   */
  #now(): number {
    const now = this.#cfg.now;
    if (now !== Date.now) newDecision();
    return now();
  }

  /**
   * Checks a token presented by any means, with what the request shows.
   * Never throws on untrusted input (the token, IP, origin, headers).
   */
  check(input: CheckInput): Promise<Decision> {
    try {
      checkInput(input);
    } catch (err) {
      return Promise.reject(err);
    }
    const end = this.#telemetry?.start("keyward.check");
    const now = this.#now();
    const decided = this.#bearer(input.token, input, checkContext(input, this.#cfg), now);
    if (!end && !this.#usage.active) return decided instanceof Promise ? decided : Promise.resolve(decided);
    // The warm path decides synchronously: observed at once, no extra promise step.
    // The address is recorded in the canonical form kw.verify records.
    if (decided instanceof Promise) return decided.then((d) => this.#observe(d, input, end, this.#canonicalIp));
    return Promise.resolve(this.#observe(decided, input, end, this.#canonicalIp));
  }

  /**
   * Checks a Fetch API request: the bearer token from `Authorization` (or
   * the query, when enabled); Origin, Referer and Sec-Fetch-Site from its
   * headers, each only when a rule needs it; the client IP from
   * `options.ip`, and from forwarding headers only behind trusted proxies;
   * how it arrived from `options.receivedUrl` when given, else its URL.
   */
  verify(request: Request, options: VerifyOptions = {}): Promise<Decision> {
    let decided: Decision | Promise<Decision>;
    try {
      decided = this.decide(request, options);
    } catch (err) {
      return Promise.reject(err);
    }
    return decided instanceof Promise ? decided : Promise.resolve(decided);
  }

  /**
   * {@link verify}'s decision, as it is: at once when the warm path decided
   * without the store, for the middleware (no promise step per request).
   *
   * @param ip the socket address, when given apart from `options`
   * @param routeChecked whether `options` are a route's that checkedRouteOptions checked and froze (not checked again)
   * @throws {TypeError} when `request` is not a Fetch Request
   * @throws {InvalidInputError} for bad options
   */
  decide(request: Request, options: VerifyOptions = {}, ip?: string, routeChecked = false): Decision | Promise<Decision> {
    // Read once: on undici each read of `headers` is a getter call with a brand check.
    const headers = (request as Partial<Request> | null)?.headers;
    // The application's mistake, not the client's: say what was expected.
    if (typeof headers?.get !== "function") {
      throw new TypeError("kw.verify expects a Fetch API Request (for Express or Fastify, use keyward/express or keyward/fastify)");
    }
    if (!routeChecked) checkVerifyOptions(options);
    const socketIp = ip ?? options.ip;
    const end = this.#telemetry?.start("keyward.verify");
    const now = this.#now();
    let context: RequestContext;
    let decided: Decision | Promise<Decision>;
    try {
      const url = request.url;
      const head = request.method === "HEAD";
      context = new RequestContext(headers, options.receivedUrl ?? url, request, options.scope, socketIp, this.#cfg, this.#resolvers);
      decided = this.#request(request, url, headers, options, context, now);
      // The answer of a HEAD's decision has no content (toResponse, problemResponse): no promise step for other methods.
      if (head) decided = decided instanceof Promise ? decided.then(onHead) : onHead(decided);
    } catch {
      // Header names here are constants, valid by construction: a request whose
      // fields cannot be read (a stand-in with throwing getters) gets here, and
      // whatever else might throw is denied too, never allowed.
      context = new RequestContext(NO_HEADERS, "", NO_BODY, options.scope, socketIp, this.#cfg, this.#resolvers);
      decided = denial("TOKEN_MALFORMED", now);
    }
    if (!end && !this.#usage.active) return decided;
    if (decided instanceof Promise) return decided.then((d) => this.#observe(d, context, end));
    return this.#observe(decided, context, end);
  }

  /** Authenticate a Fetch request: a signed one, or its bearer token. */
  #request(request: Request, url: string, headers: Headers, options: CheckOptions, context: RequestContext, now: number): Decision | Promise<Decision> {
    const bearer = this.#authenticate.credentialOf(url, headers, now);
    if (bearer !== null && typeof bearer !== "string") return bearer;
    if (context.signed) return this.#signed(request, bearer, options, context, now);
    if (bearer === null) return denial("TOKEN_MISSING", now);
    return this.#bearer(bearer, options, context, now);
  }

  #bearer(token: unknown, route: RouteCharge, context: EvaluationContext, now: number): Decision | Promise<Decision> {
    const found = this.#authenticate.bearer(token, now);
    if (found instanceof Promise) return found.then((f) => this.#authorized(f, route, context, now));
    return this.#authorized(found, route, context, now);
  }

  async #signed(request: Request, bearer: string | null, options: CheckOptions, context: RequestContext, now: number): Promise<Decision> {
    const found = await this.#authenticate.signed(request, bearer, options.body, now);
    if (isDecision(found)) return found;
    context.signature = { ok: true };
    return this.#authorized(found.stored, options, context, now, found.nonce);
  }

  /**
   * Authorize, then meter, an authenticated token. Total: a throw of either
   * stage (there is none on a well-formed record, and records are checked
   * when they enter the verifier) is `STORE_UNAVAILABLE`, never a rejection.
   */
  #authorized(
    found: StoredToken | Decision,
    route: RouteCharge,
    context: EvaluationContext,
    now: number,
    nonce?: SignedNonce,
  ): Decision | Promise<Decision> {
    if (isDecision(found)) return found;
    try {
      const allowed: Staged<Authorized> = this.#authorize.authorize(found, context, now);
      if (allowed instanceof Promise) {
        return allowed.then(
          (a) => this.#charged(a, route, now, nonce),
          () => storeUnavailable(now),
        );
      }
      return this.#charged(allowed, route, now, nonce);
    } catch {
      return storeUnavailable(now);
    }
  }

  /** Meter an authorized request (the meter's promise never rejects); a throw is `STORE_UNAVAILABLE`. */
  #charged(a: Authorized | Decision, route: RouteCharge, now: number, nonce: SignedNonce | undefined): Decision | Promise<Decision> {
    if (isDecision(a)) return a;
    try {
      return this.#meter.charge(a, route, now, nonce);
    } catch {
      return storeUnavailable(now);
    }
  }

  /** Record: telemetry, and the decision's usage event (`canonicalIp`: see usageEvent). */
  #observe(d: Decision, shown: RequestShown, end: ((d: Decision) => Decision) | undefined, canonicalIp?: (ip: string) => string | null): Decision {
    if (end) end(d);
    if (this.#usage.active) this.#usage.push(usageEvent(d, shown, canonicalIp));
    return d;
  }

  /** Counters of the usage pipeline. */
  usageStats(): UsageQueueStats {
    return this.#usage.stats();
  }

  /** Writes queued usage events to the store (and waits for pending leak reports). */
  async flush(): Promise<void> {
    await this.#authenticate.settled();
    await this.#usage.flush();
    await this.#detector?.flush();
  }

  /**
   * Writes queued usage events to the store, for a billing run of the hours
   * before `until`.
   *
   * @throws {StoreUnavailableError} `STORE_UNAVAILABLE` when an event before `until` was not written
   */
  flushUsageBefore(until: number): Promise<void> {
    return this.#usage.flushBefore(until);
  }

  /** Stops listening to the store's change feed, stops the usage timer and writes what is queued. */
  async close(): Promise<void> {
    this.#unsubscribe?.();
    await this.#authenticate.settled();
    await this.#usage.close();
    await this.#detector?.close();
    this.#telemetry?.close();
  }
}

/**
 * A store whose request-path calls block the thread (SQLite) as long as
 * `lookupTimeoutMs` or longer: that timeout's clock runs only once such a
 * call returns, so it cannot cut the wait off. Legal (the wait is bounded,
 * by the store), and probably not what was meant: a warning.
 */
function unboundedWait({ store, lookupTimeoutMs }: ResolvedConfig): ConfigWarning | null {
  const wait = store.capabilities.blockingWaitMs;
  if (typeof wait !== "number" || !(wait >= lookupTimeoutMs)) return null;
  return {
    code: "STORE_WAIT_EXCEEDS_LOOKUP_TIMEOUT",
    field: "lookupTimeoutMs",
    message: `lookupTimeoutMs (${lookupTimeoutMs} ms) cannot cut off the store's wait for a lock on the request path, which blocks the thread: its requestBusyTimeoutMs (${wait} ms) is not below it; keep requestBusyTimeoutMs well below lookupTimeoutMs`,
  };
}
