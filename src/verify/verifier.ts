// The request side: credential → lookup cache → offline format check → store
// lookup by hash → pure policy evaluation → rate limit → credits → usage.
// Never throws on untrusted input and never allows by mistake: anything
// unexpected is a denial with a code.
//
// The warm path is synchronous up to the returned promise: no await unless a
// store call is needed.
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { equalStrings } from "../lib/bytes.js";
import { sha256Hex } from "../lib/crypto.js";
import { isTokenId, policyAt } from "../model/record.js";
import type { StoredToken, UsageEvent } from "../model/types.js";
import { type ClientIpResolver, createClientIpResolver } from "../policy/client-ip.js";
import { allow, type DenyCode, deny, type PolicyDecision } from "../policy/decision.js";
import { type EvaluationContext, evaluate, type SignatureOutcome } from "../policy/evaluate.js";
import { type VerifyRequestResult, verifyRequest } from "../signing/verify.js";
import type { VerifyingKey } from "../signing/types.js";
import { MAX_TOKEN_LENGTH, parseToken } from "../token/format.js";
import { SharedLookup } from "./cache.js";
import { findCredential } from "./credential.js";
import { Decision, type DecisionExtras } from "./decision.js";
import { currentKey, graceKeys, SIGNATURE_DENY_CODE } from "./signed.js";

/** What the route needs, for `kw.check` and `kw.verify`. */
export interface CheckOptions {
  /** Scope(s) the route needs (all of them). */
  scope?: string | readonly string[];
  /** Credits the call costs (default 1 when the token has a credit limit; 0 reads without spending). */
  cost?: number;
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
  signature: SignatureOutcome | undefined;
  readonly #get: (name: string) => string | null;
  readonly #resolveIp: () => string | null;
  #ip: string | null | undefined;

  constructor(
    get: (name: string) => string | null,
    resolveIp: () => string | null,
    scope: CheckOptions["scope"],
    cfg: ResolvedConfig,
  ) {
    this.#get = get;
    this.#resolveIp = resolveIp;
    this.scope = scope;
    this.env = cfg.env;
    this.allowSecretInBrowser = cfg.allowSecretInBrowser;
  }
  get ip(): string | null {
    if (this.#ip === undefined) this.#ip = this.#resolveIp();
    return this.#ip;
  }
  get origin(): string | null {
    return this.#get("origin");
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

const MAX_FOREIGN_TOKEN_LENGTH = 512;
// The hash compared on the unknown-token path, so both paths do the same work.
const DUMMY_HASH = "0".repeat(64);

const denial = (code: DenyCode, at: number, extra?: Parameters<typeof deny>[1]) => new Decision(deny(code, extra), null, at);

/** @internal The request path of a {@link Keyward}. */
export class Verifier {
  readonly #cfg: ResolvedConfig;
  readonly #byHash: SharedLookup<StoredToken>;
  readonly #byId: SharedLookup<StoredToken>;
  readonly #clientIp: ClientIpResolver;
  #usage: UsageEvent[] = [];
  #lastFlush = 0;
  readonly #unsubscribe: (() => void) | undefined;

  constructor(config: ResolvedConfig) {
    this.#cfg = config;
    const bounds = {
      maxEntries: config.cache.maxEntries,
      ttlMs: config.revocationBoundMs,
      negativeTtlMs: Math.min(config.revocationBoundMs, config.cache.negativeTtlMs),
    };
    const store = config.store;
    this.#byHash = new SharedLookup(bounds, (hash) => store.findByHash(hash), config.lookupTimeoutMs);
    this.#byId = new SharedLookup(bounds, (id) => store.get(id), config.lookupTimeoutMs);
    this.#clientIp = createClientIpResolver({ trustedProxies: config.trustedProxies, header: config.forwardedHeader });
    if (store.capabilities.changeFeed && store.subscribe) {
      this.#unsubscribe = store.subscribe((e) => this.invalidate(e.tokenId, e.hashes));
    }
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
    };
    return Promise.resolve(this.#decide(input.token, input.cost, context));
  }

  /**
   * Checks a Fetch API request: the bearer token from `Authorization` (or
   * the query, when enabled); Origin, Referer and Sec-Fetch-* from its
   * headers; the client IP from `options.ip`, and from forwarding headers
   * only behind trusted proxies.
   */
  verify(request: Request, options: CheckOptions = {}): Promise<Decision> {
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
    let queryToken: string[] | null = null;
    try {
      headers = request.headers;
      const param = this.#cfg.queryParam;
      if (param !== null) queryToken = new URL(request.url).searchParams.getAll(param);
    } catch {
      return Promise.resolve(denial("TOKEN_MALFORMED", now));
    }
    // Header names here are constants, valid by construction: get() cannot throw.
    const get = (name: string) => headers.get(name);
    const credential = findCredential(get("authorization"), queryToken);
    if (credential.kind === "ambiguous") return Promise.resolve(denial("TOKEN_MALFORMED", now));
    const context = new RequestContext(get, () => this.#clientIp(options.ip, { get }), options.scope, this.#cfg);
    // RFC 9421 §4.1: a signed request carries Signature-Input (a lone Signature
    // field signs nothing, and is left to the bearer path to ignore).
    if (get("signature-input") !== null) {
      return this.#verifySigned(request, credential.kind === "token" ? credential.token : null, options, context);
    }
    if (credential.kind === "none") return Promise.resolve(denial("TOKEN_MISSING", now));
    return Promise.resolve(this.#decide(credential.token, options.cost, context));
  }

  #decide(token: unknown, cost: number | undefined, context: EvaluationContext): Decision | Promise<Decision> {
    const cfg = this.#cfg;
    const now = cfg.now();
    const maxLength = cfg.acceptForeignTokens ? MAX_FOREIGN_TOKEN_LENGTH : MAX_TOKEN_LENGTH;
    if (typeof token !== "string" || token.length === 0 || token.length > maxLength) return denial("TOKEN_MALFORMED", now);
    const hash = sha256Hex(token);
    // A cached entry was stored under the hash of a string that passed the
    // format check, so a hit needs no second check.
    const hit = this.#byHash.peek(hash, now);
    if (hit !== undefined) return this.#identified(hit.value, hash, cost, context, now);
    if (!cfg.acceptForeignTokens && !parseToken(token).ok) return denial("TOKEN_MALFORMED", now);
    return this.#byHash.fetch(hash, now).then(
      (stored) => this.#identified(stored, hash, cost, context, now),
      () => denial("STORE_UNAVAILABLE", now, { retryAfterMs: 1000 }),
    );
  }

  #identified(
    stored: StoredToken | null,
    hash: string,
    cost: number | undefined,
    context: EvaluationContext,
    now: number,
  ): Decision | Promise<Decision> {
    // Constant-time comparison of the presented hash with the stored one it
    // was found under; the unknown path compares against a dummy hash.
    if (stored === null || !matchSecret(stored, hash, now)) {
      equalStrings(hash, DUMMY_HASH);
      return denial("TOKEN_UNKNOWN", now);
    }
    const decision = evaluate(stored, context, now);
    if (!decision.ok) return this.#finish(stored, decision, now, 0);
    const policy = policyAt(stored, now);
    if (policy.rateLimit === null && policy.credits === null) return this.#finish(stored, decision, now, 0);
    return this.#meter(stored, cost, now).catch(() => denial("STORE_UNAVAILABLE", now, { retryAfterMs: 1000 }));
  }

  /**
   * A signed request: the signature names the token by its id (`keyid`), so
   * no secret travels. A bearer token sent along must be the same token.
   */
  async #verifySigned(request: Request, bearer: string | null, options: CheckOptions, context: RequestContext): Promise<Decision> {
    const cfg = this.#cfg;
    const now = cfg.now();
    let storeFailed = false;
    let token: StoredToken | null = null;
    const sig = cfg.signatures;
    const attempt = (pick: (t: StoredToken) => Promise<VerifyingKey | null> | null) =>
      verifyRequest(request, {
        resolveKey: async (keyid) => {
          if (!isTokenId(keyid)) return null;
          try {
            token = await this.#byId.get(keyid, now);
          } catch {
            storeFailed = true;
            return null;
          }
          return token && pick(token);
        },
        now: () => now,
        maxAgeSec: sig.maxAgeSec,
        clockSkewSec: sig.clockSkewSec,
        requireNonce: sig.requireNonce,
        maxBodyBytes: sig.maxBodyBytes,
        ...(options.body ? { body: options.body } : {}),
        ...(sig.required ? { required: sig.required } : {}),
        nonce: async (nonce, expiresAtMs) => {
          try {
            return await cfg.store.rememberNonce(`nonce:${token?.id}:${nonce}`, expiresAtMs, now);
          } catch (err) {
            storeFailed = true;
            throw err;
          }
        },
      });
    let result: VerifyRequestResult;
    try {
      result = await attempt((t) => currentKey(t, cfg.keyring));
      // During a regeneration grace period, the old HMAC key still signs.
      if (!result.ok && result.code === "SIGNATURE_INVALID" && token !== null) {
        for (const key of graceKeys(token, cfg.keyring, now)) {
          result = await attempt(() => key);
          if (result.ok) break;
        }
      }
    } catch {
      // verifyRequest rejects only on misuse of its options; never let that escape as a throw.
      return denial("SIGNATURE_INVALID", now);
    }
    if (storeFailed) return denial("STORE_UNAVAILABLE", now, { retryAfterMs: 1000 });
    const found = token as StoredToken | null;
    // A failed signature proves nothing about who sent it (token ids are
    // public): no token in the decision and no usage charged to it.
    if (!result.ok) return denial(SIGNATURE_DENY_CODE[result.code], now);
    if (found === null) return denial("TOKEN_UNKNOWN", now);
    if (bearer !== null && !matchSecret(found, sha256Hex(bearer), now)) return denial("TOKEN_MALFORMED", now);
    context.signature = { ok: true };
    return this.#identified(found, found.hash, options.cost, context, now);
  }

  /** Rate limit, then credits: the counters that need the store's atomic primitives. */
  async #meter(stored: StoredToken, cost: number | undefined, now: number): Promise<Decision> {
    const { rateLimit, credits } = policyAt(stored, now);
    const store = this.#cfg.store;
    let rateRemaining: number | undefined;
    if (rateLimit) {
      const r = await store.hitRateLimit(`rl:${stored.id}`, rateLimit.limit, rateLimit.windowMs, now);
      if (!r.allowed) {
        const d = deny("RATE_LIMITED", { retryAfterMs: r.retryAfterMs });
        return this.#finish(stored, d, now, 0, { retryAfterMs: r.retryAfterMs, rateRemaining: 0 });
      }
      rateRemaining = r.remaining;
    }
    if (!credits) return this.#finish(stored, allow(), now, 0, { rateRemaining });
    const spend = cost ?? 1;
    const c = await store.consumeCredits(stored.id, spend, credits, now);
    if (!c.granted) {
      const wait = c.nextRefillAt === null ? undefined : Math.max(0, c.nextRefillAt - now);
      const d = deny("CREDITS_EXHAUSTED", wait === undefined ? undefined : { retryAfterMs: wait });
      return this.#finish(stored, d, now, 0, { remaining: c.remaining, retryAfterMs: wait, rateRemaining });
    }
    return this.#finish(stored, allow(), now, spend, { remaining: c.remaining, rateRemaining });
  }

  #finish(stored: StoredToken, decision: PolicyDecision, now: number, cost: number, extras?: DecisionExtras): Decision {
    if (this.#cfg.usage.enabled) this.#record({ tokenId: stored.id, at: now, ok: decision.ok, cost });
    return new Decision(decision, stored, now, extras);
  }

  /** Buffers a usage event; writes in batches, without timers (see {@link flush}). */
  #record(event: UsageEvent): void {
    this.#usage.push(event);
    const { batchSize, flushIntervalMs } = this.#cfg.usage;
    if (this.#usage.length >= batchSize || event.at - this.#lastFlush >= flushIntervalMs) {
      this.flush().catch(() => {});
    }
  }

  /** Writes buffered usage events to the store. Call it on shutdown. */
  async flush(): Promise<void> {
    const batch = this.#usage;
    this.#lastFlush = this.#cfg.now();
    if (batch.length === 0) return;
    this.#usage = [];
    await this.#cfg.store.recordUsage(batch);
  }

  /** Stops listening to the store's change feed and flushes usage. */
  async close(): Promise<void> {
    this.#unsubscribe?.();
    await this.flush();
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
  const { cost, scope, body } = options;
  if (body !== undefined && !(body instanceof Uint8Array)) throw new InvalidInputError("body", "must be a Uint8Array");
  if (cost !== undefined && (!Number.isSafeInteger(cost) || cost < 0)) {
    throw new InvalidInputError("cost", "must be a non-negative integer");
  }
  if (
    scope !== undefined &&
    typeof scope !== "string" &&
    !(Array.isArray(scope) && scope.every((s) => typeof s === "string"))
  ) {
    throw new InvalidInputError("scope", "must be a string or an array of strings");
  }
}
