// The request side: credential → offline format check → lookup cache → store
// lookup by hash → pure policy evaluation → rate limit → credits → usage.
// Never throws on untrusted input and never allows by mistake: anything
// unexpected is a denial with a code.
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { equalStrings } from "../lib/bytes.js";
import { sha256Hex } from "../lib/crypto.js";
import { toRecord } from "../model/record.js";
import type { StoredToken, TokenRecord, UsageEvent } from "../model/types.js";
import { type ClientIpResolver, createClientIpResolver } from "../policy/client-ip.js";
import { allow, CREDENTIAL_CODES, type DenyCode, deny, type PolicyDecision } from "../policy/decision.js";
import { type EvaluationContext, evaluate, type SignatureOutcome } from "../policy/evaluate.js";
import { policyAt } from "../model/record.js";
import { MAX_TOKEN_LENGTH, parseToken } from "../token/format.js";
import { hashKey, keysOf, LookupCache } from "./cache.js";
import { findCredential } from "./credential.js";

/** What the route needs, for {@link Verifier.check} and {@link Verifier.verify}. */
export interface CheckOptions {
  /** Scope(s) the route needs (all of them). */
  scope?: string | readonly string[];
  /** Credits the call costs (default 1 when the token has a credit limit; 0 reads without spending). */
  cost?: number;
  /** The client's IP as the server saw it (the socket address). */
  ip?: string | null;
}

/** Input of {@link Verifier.check}: a token and what the request shows. */
export interface CheckInput extends CheckOptions {
  token: unknown;
  origin?: string | null;
  referer?: string | null;
  secFetchSite?: string | null;
  secFetchMode?: string | null;
}

/** The verdict on a request. Credential failures (401) look identical to the caller; `code` is for logs. */
export type Decision = PolicyDecision & {
  /** The token's id when it was identified (not for credential failures). */
  readonly tokenId: string | null;
  /** The token's public record (computed on access), when it was identified. */
  readonly token: TokenRecord | null;
  /** Credits left after this request, when the token has a credit limit. */
  readonly remaining?: number;
  /** How long to wait before retrying, for 429 and 503. */
  readonly retryAfterMs?: number;
};

const NO_TOKEN = Object.freeze({ tokenId: null, token: null });

function withoutToken(d: PolicyDecision): Decision {
  return Object.assign(d, NO_TOKEN);
}

/** A store failure: fail closed, and tell the client when to come back. */
function unavailable(): Decision {
  return withoutToken(deny("STORE_UNAVAILABLE", { retryAfterMs: 1000 }));
}

// The hash compared on the unknown-token path, so both paths do the same work.
const DUMMY_HASH = "0".repeat(64);

/** @internal The request path of a {@link Keyward}. */
export class Verifier {
  readonly #cfg: ResolvedConfig;
  readonly #cache: LookupCache<StoredToken>;
  readonly #clientIp: ClientIpResolver;
  readonly #inflight = new Map<string, Promise<StoredToken | null>>();
  #usage: UsageEvent[] = [];
  #lastFlush = 0;
  readonly #unsubscribe: (() => void) | undefined;

  constructor(config: ResolvedConfig) {
    this.#cfg = config;
    const ttl = config.revocationBoundMs;
    this.#cache = new LookupCache({
      maxEntries: config.cache.maxEntries,
      ttlMs: ttl,
      negativeTtlMs: Math.min(ttl, config.cache.negativeTtlMs),
    });
    this.#clientIp = createClientIpResolver({
      trustedProxies: config.trustedProxies,
      header: config.forwardedHeader,
    });
    const store = config.store;
    if (store.capabilities.changeFeed && store.subscribe) {
      this.#unsubscribe = store.subscribe((e) => this.invalidate(e.tokenId, e.hashes));
    }
  }

  /** Drops what the cache holds for a token (its id and every hash it had). */
  invalidate(tokenId: string, hashes: readonly string[]): void {
    this.#cache.invalidate(keysOf(tokenId, hashes));
  }

  /**
   * Checks a token presented by any means, with what the request shows.
   * Never throws on untrusted input (the token, IP, origin, headers).
   *
   * @throws {InvalidInputError} only for the application's own mistakes (a bad `cost` or `scope` type)
   */
  async check(input: CheckInput): Promise<Decision> {
    checkOptions(input);
    return this.#decide(input.token, input, {
      ip: input.ip,
      origin: input.origin,
      referer: input.referer,
      secFetchSite: input.secFetchSite,
      secFetchMode: input.secFetchMode,
    });
  }

  /**
   * Checks a Fetch API request: the bearer token from `Authorization`, or
   * from the query when enabled; Origin, Referer and Sec-Fetch-* from its
   * headers; the client IP from `options.ip` (and forwarding headers only
   * from trusted proxies).
   */
  async verify(request: Request, options: CheckOptions = {}): Promise<Decision> {
    checkOptions(options);
    let headers: Headers;
    let queryToken: string[] | null = null;
    try {
      headers = request.headers;
      const param = this.#cfg.queryParam;
      if (param !== null) queryToken = new URL(request.url).searchParams.getAll(param);
    } catch {
      return withoutToken(deny("TOKEN_MALFORMED"));
    }
    const get = (name: string) => {
      try {
        return headers.get(name);
      } catch {
        return null;
      }
    };
    const credential = findCredential(get("authorization"), queryToken);
    if (credential.kind === "ambiguous") return withoutToken(deny("TOKEN_MALFORMED"));
    if (credential.kind === "none") return withoutToken(deny("TOKEN_MISSING"));
    return this.#decide(credential.token, options, {
      ip: this.#clientIp(options.ip, { get }),
      origin: get("origin"),
      referer: get("referer"),
      secFetchSite: get("sec-fetch-site"),
      secFetchMode: get("sec-fetch-mode"),
    });
  }

  async #decide(token: unknown, options: CheckOptions, seen: EvaluationContext, signature?: SignatureOutcome): Promise<Decision> {
    const cfg = this.#cfg;
    if (typeof token !== "string" || token.length > (cfg.acceptForeignTokens ? 512 : MAX_TOKEN_LENGTH) || token.length === 0) {
      return withoutToken(deny("TOKEN_MALFORMED"));
    }
    if (!cfg.acceptForeignTokens && !parseToken(token).ok) return withoutToken(deny("TOKEN_MALFORMED"));
    const hash = sha256Hex(token);
    const now = cfg.now();
    let stored: StoredToken | null;
    try {
      stored = await this.#lookup(hash, now);
    } catch {
      return unavailable();
    }
    // Constant-time comparison of the presented hash with the stored one it
    // was found under; the unknown path compares against a dummy hash.
    const matched = stored && matchSecret(stored, hash, now);
    if (!stored || !matched) {
      equalStrings(hash, DUMMY_HASH);
      return withoutToken(deny("TOKEN_UNKNOWN"));
    }
    const decision = evaluate(
      stored,
      { ...seen, scope: options.scope, signature, env: cfg.env, allowSecretInBrowser: cfg.allowSecretInBrowser },
      now,
    );
    if (!decision.ok) return this.#finish(stored, decision, now, 0);
    return this.#meter(stored, options.cost, now);
  }

  /** Rate limit, then credits: the counters that need the store's atomic primitives. */
  async #meter(stored: StoredToken, cost: number | undefined, now: number): Promise<Decision> {
    const policy = policyAt(stored, now);
    const headers: Record<string, string> = {};
    const store = this.#cfg.store;
    try {
      if (policy.rateLimit) {
        const { limit, windowMs } = policy.rateLimit;
        const r = await store.hitRateLimit(`rl:${stored.id}`, limit, windowMs, now);
        if (!r.allowed) {
          const d = deny("RATE_LIMITED", { retryAfterMs: r.retryAfterMs });
          return this.#finish(stored, d, now, 0, { retryAfterMs: r.retryAfterMs });
        }
        headers["ratelimit-limit"] = String(limit);
        headers["ratelimit-remaining"] = String(r.remaining);
      }
      if (policy.credits) {
        const spend = cost ?? 1;
        const c = await store.consumeCredits(stored.id, spend, policy.credits, now);
        if (!c.granted) {
          const wait = c.nextRefillAt === null ? undefined : Math.max(0, c.nextRefillAt - now);
          const d = deny("CREDITS_EXHAUSTED", wait === undefined ? undefined : { retryAfterMs: wait });
          return this.#finish(stored, d, now, 0, { remaining: c.remaining, retryAfterMs: wait });
        }
        headers["x-credits-remaining"] = String(c.remaining);
        return this.#finish(stored, allow(headers), now, spend, { remaining: c.remaining });
      }
    } catch {
      return unavailable();
    }
    return this.#finish(stored, allow(headers), now, 0);
  }

  #finish(
    stored: StoredToken,
    decision: PolicyDecision,
    now: number,
    cost: number,
    extra?: { remaining?: number | undefined; retryAfterMs?: number | undefined },
  ): Decision {
    this.#record({ tokenId: stored.id, at: now, ok: decision.ok, cost });
    if (!decision.ok && CREDENTIAL_CODES.has(decision.code)) return withoutToken(decision);
    let view: TokenRecord | undefined;
    const d = decision as PolicyDecision & { tokenId: string; remaining?: number; retryAfterMs?: number };
    d.tokenId = stored.id;
    Object.defineProperty(d, "token", {
      enumerable: true,
      get: () => {
        view ??= toRecord(stored, now);
        return view;
      },
    });
    if (extra?.remaining !== undefined) d.remaining = extra.remaining;
    if (extra?.retryAfterMs !== undefined) d.retryAfterMs = extra.retryAfterMs;
    return d as Decision;
  }

  /** Cache, then the store; concurrent misses for one hash share one store call. */
  async #lookup(hash: string, now: number): Promise<StoredToken | null> {
    const key = hashKey(hash);
    const hit = this.#cache.get(key, now);
    if (hit !== undefined) return hit.value;
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const generation = this.#cache.generation;
    const p = this.#cfg.store
      .findByHash(hash)
      .then((found) => {
        this.#cache.set(key, found, now, generation);
        return found;
      })
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  /** Buffers a usage event; flushes in batches without timers (see {@link flush}). */
  #record(event: UsageEvent): void {
    if (!this.#cfg.usage.enabled) return;
    this.#usage.push(event);
    if (this.#usage.length >= this.#cfg.usage.batchSize || event.at - this.#lastFlush >= this.#cfg.usage.flushIntervalMs) {
      void this.flush().catch(() => {});
    }
  }

  /** Writes buffered usage events to the store. Call it on shutdown. */
  async flush(): Promise<void> {
    const batch = this.#usage;
    if (batch.length === 0) return;
    this.#usage = [];
    this.#lastFlush = this.#cfg.now();
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
  const { cost, scope } = options;
  if (cost !== undefined && (!Number.isSafeInteger(cost) || cost < 0)) {
    throw new InvalidInputError("cost", "must be a non-negative integer");
  }
  if (scope !== undefined && typeof scope !== "string" && !Array.isArray(scope)) {
    throw new InvalidInputError("scope", "must be a string or an array of strings");
  }
}

export type { DenyCode };
