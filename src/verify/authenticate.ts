// Stage 1, authenticate: which token is calling. The bearer credential of a
// request (Authorization, or the query when enabled), its lookup by hash
// (cache, then store) and the constant-time match; or, for a signed request,
// the token its `keyid` names, looked up once and verified once against all
// of its keys (current and grace period). Nothing here reads the policy.
import { MAX_FOREIGN_TOKEN_LENGTH, type ResolvedConfig } from "../config.js";
import { equalStrings } from "../lib/bytes.js";
import { sha256Hex } from "../lib/crypto.js";
import { clock, DROPPED_AFTER_MS } from "../lib/timers.js";
import { outcomeWithin } from "../lib/within.js";
import { auditId } from "../model/audit-id.js";
import { isTokenId, readTime } from "../model/record.js";
import type { AuditEntry, StoredToken } from "../model/types.js";
import type { AnomalyDetector } from "../monitor/anomalies.js";
import type { HeaderSource } from "../policy/client-ip.js";
import { QueryIndex } from "../signing/query.js";
import { type VerifyRequestOptions, verifyRequest } from "../signing/verify.js";
import { sharedReadsOf } from "../store/shared-reads.js";
import { findTokens, MAX_TOKEN_LENGTH } from "../token/format.js";
import { lookupable } from "../token/lookupable.js";
import { type LookupCacheOptions, SharedLookup } from "./cache.js";
import { findCredential } from "./credential.js";
import { DeadlineRace } from "./deadlines.js";
import { type Decision, denial, type Staged, storeUnavailable } from "./decision.js";
import { RecordInterner } from "./intern.js";
import { overridesSignedMethod, SIGNATURE_DENY_CODE, signingKeys } from "./signed.js";

/** A verified signature's nonce, spent once the request is allowed. */
export interface SignedNonce {
  nonce: string;
  expiresAtMs: number;
}

/** The token a verified signature was made with, and the signature's nonce. */
export interface SignedIdentity {
  stored: StoredToken;
  nonce: SignedNonce | undefined;
}

/**
 * Hashes found in URLs and looked up, and hashes of live tokens reported as
 * leaked, each set remembered up to this many. Only live tokens enter the
 * second, so well-formed fakes, which fill the first, cannot make a live
 * token be reported again.
 */
const MAX_LEAK_REPORTS = 1024;

/**
 * Leak reports (a lookup, then for a live token an audit write) in flight at
 * once, per instance. A request with tokens in its URL is denied at once and
 * starts at most one, in the background: without this bound a flood of such
 * requests would pile lookups onto the store faster than it answers them.
 */
const MAX_LEAK_LOOKUPS_IN_FLIGHT = 4;

/** Tokens of one URL considered for a leak report (the first not already looked up is). */
const MAX_URL_TOKENS_CONSIDERED = 4;

/** @internal The authentication stage of the verifier. */
export class Authenticator {
  readonly #cfg: ResolvedConfig;
  readonly #byHash: SharedLookup<StoredToken>;
  readonly #byId: SharedLookup<StoredToken>;
  readonly #detector: AnomalyDetector | null;
  /** `<prefix>_` of each accepted prefix: a URL without any holds none of our tokens. */
  readonly #urlMarkers: readonly string[];
  readonly #leaksChecked = new Set<string>();
  readonly #leaksReported = new Set<string>();
  /** Leak reports under way: the hash of the token each reports, and when it is due to have ended ({@link clock}). */
  readonly #pendingReports = new Map<Promise<void>, { hash: string; due: number }>();
  /** The deadline of a leak report's audit write (`lookupTimeoutMs`, as its lookup). */
  readonly #reportWrites: DeadlineRace;
  /** The instance's options of `verifyRequest`, built once. */
  readonly #signatureOptions: Omit<VerifyRequestOptions, "resolveKey" | "now">;
  /** Bearer token lookups answered by the cache, and those that went to the store (never a string refused by its format). */
  hits = 0;
  misses = 0;

  constructor(config: ResolvedConfig, bounds: LookupCacheOptions, detector: AnomalyDetector | null) {
    this.#cfg = config;
    this.#detector = detector;
    this.#urlMarkers = config.prefixes.map((p) => `${p}_`);
    this.#reportWrites = new DeadlineRace(config.lookupTimeoutMs);
    const store = config.store;
    const { intern, decode } = new RecordInterner(config.cache.maxEntries || 1024);
    // A store that keeps frozen records in this process answers at once, without a copy.
    const shared = sharedReadsOf(store.adapter);
    this.#byHash = new SharedLookup(
      bounds,
      shared ? (hash) => intern(shared.findByHash(hash, decode), hash) : (hash) => store.findByHash(hash).then((t) => intern(t, hash)),
      config.lookupTimeoutMs,
    );
    this.#byId = new SharedLookup(bounds, shared ? (id) => intern(shared.get(id, decode)) : (id) => store.get(id).then(intern), config.lookupTimeoutMs);
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
  }

  /** Drops what the caches hold for a token (its id and every hash it had). */
  invalidate(tokenId: string, hashes: readonly string[]): void {
    this.#byId.invalidate([tokenId]);
    this.#byHash.invalidate(hashes);
  }

  /** Drops every cached lookup. */
  reset(): void {
    this.#byId.clear();
    this.#byHash.clear();
  }

  /**
   * The bearer token a Fetch request presents (null: none), or its denial:
   * a credential that is ambiguous, or (with query tokens off) a URL that
   * carries one of this application's tokens.
   */
  credentialOf(url: string, headers: HeaderSource, now: number): string | null | Decision {
    let queryToken: string | null | undefined;
    const param = this.#cfg.queryParam;
    if (param !== null) {
      let search: string;
      try {
        search = new URL(url).search;
      } catch {
        return denial("TOKEN_MALFORMED", now);
      }
      // One pass that decodes this parameter only: URLSearchParams decodes every pair, and
      // invalid percent-encoded bytes slowly (a 15 KB query of them cost 20 ms).
      queryToken = new QueryIndex(search, [param]).get(param);
    } else if (this.#reportTokensInUrl(url, now)) return denial("TOKEN_IN_URL", now);
    const credential = findCredential(headers.get("authorization"), queryToken);
    if (credential.kind === "ambiguous") return denial("TOKEN_MALFORMED", now);
    return credential.kind === "token" ? credential.token : null;
  }

  /** The live token a bearer credential is, or TOKEN_MALFORMED / TOKEN_UNKNOWN / STORE_UNAVAILABLE. */
  bearer(token: unknown, now: number): Staged<StoredToken> {
    const maxLength = this.#cfg.acceptForeignTokens ? MAX_FOREIGN_TOKEN_LENGTH : MAX_TOKEN_LENGTH;
    if (typeof token !== "string" || token.length === 0 || token.length > maxLength) return denial("TOKEN_MALFORMED", now);
    const hash = sha256Hex(token);
    // A cached entry was stored under the hash of a string that passed the
    // format check, so a hit needs no second check.
    const hit = this.#byHash.peek(hash, now);
    if (hit !== undefined) {
      this.hits++;
      return matched(hit.value, hash, now);
    }
    // Refused by its format, it is no lookup: not a cache miss either.
    if (!lookupable(this.#cfg, token)) return denial("TOKEN_MALFORMED", now);
    this.misses++;
    const found = this.#byHash.fetch(hash, now);
    if (!(found instanceof Promise)) return matched(found, hash, now);
    return found.then(
      (stored) => matched(stored, hash, now),
      () => storeUnavailable(now),
    );
  }

  /**
   * A signed request: the signature names the token by its id (`keyid`), so
   * no secret travels. A bearer token sent along must be the same token.
   * A failed signature proves nothing about who sent it (token ids are
   * public): its denial names no token.
   */
  async signed(request: Request, bearer: string | null, body: Uint8Array | ReadableStream<Uint8Array> | undefined, now: number): Promise<SignedIdentity | Decision> {
    const cfg = this.#cfg;
    let storeFailed = false;
    // Assigned in resolveKey (a closure: widened so the compiler does not narrow it to null).
    let token = null as StoredToken | null;
    let result: Awaited<ReturnType<typeof verifyRequest>>;
    try {
      result = await verifyRequest(request, {
        ...this.#signatureOptions,
        now: () => now,
        ...(body ? { body } : {}),
        resolveKey: async (keyid) => {
          if (!isTokenId(keyid)) return null;
          try {
            token = await this.#byId.get(keyid, now);
          } catch {
            storeFailed = true;
            return null;
          }
          if (token === null || !this.#ownRecord(token)) return null;
          // One signature base, checked against the current key and any grace-period keys. A key
          // the sealing keys cannot open (one removed too early) is the server's fault: 503, not 401.
          try {
            return await signingKeys(token, cfg.keyring, readTime(token, now));
          } catch {
            storeFailed = true;
            return null;
          }
        },
      });
    } catch {
      // verifyRequest rejects only on misuse of its options; never let that escape as a throw.
      return denial("SIGNATURE_INVALID", now);
    }
    if (storeFailed) return storeUnavailable(now);
    if (!result.ok) return denial(SIGNATURE_DENY_CODE[result.code], now);
    if (overridesSignedMethod(request, result.components)) return denial("SIGNATURE_INVALID", now);
    // A verified signature means resolveKey found this application's token.
    const stored = token!;
    if (bearer !== null && !matchSecret(stored, sha256Hex(bearer), readTime(stored, now))) {
      return denial("TOKEN_MALFORMED", now);
    }
    return { stored, nonce: result.nonce === undefined ? undefined : { nonce: result.nonce, expiresAtMs: result.nonceExpiresAtMs! } };
  }

  /**
   * Waits for the leak reports this instance has started. A report never rejects, and ends by
   * its deadline (its lookup's and its write's); one that rejects, or has not ended a second
   * after it, was cut off by a Cloudflare Worker with the request that started it (answered
   * without `ctx.waitUntil`): it is forgotten, and the token reported the next time it is seen.
   */
  async settled(): Promise<void> {
    const now = clock();
    await Promise.all(
      Array.from(this.#pendingReports, async ([report, { hash, due }]) => {
        if ((await outcomeWithin(report, Math.max(0, due + DROPPED_AFTER_MS - now))) === "resolved") return;
        this.#pendingReports.delete(report);
        this.#leaksChecked.delete(hash);
        this.#leaksReported.delete(hash);
      }),
    );
  }

  /** Whether a record is one of this application's tokens (its displayed start carries the prefix). */
  #ownRecord(token: StoredToken): boolean {
    return this.#cfg.prefixes.includes(token.start.slice(0, token.start.indexOf("_")));
  }

  /**
   * With query tokens off, a URL that carries one of this application's
   * tokens (percent-encoded too) is refused: the token is now in every access log on the way. A
   * live token found there (its current secret, or an old one still in its
   * grace period) is reported once, as a `leak` audit entry. The
   * request shows no live key, so its work is bounded as a forged bearer
   * token's: one store lookup at most, in the background, and none while
   * {@link MAX_LEAK_LOOKUPS_IN_FLIGHT} are; the lookup and the entry's write
   * each wait at most `lookupTimeoutMs`. A token passed over, or whose
   * lookup or entry failed or timed out, is looked up when it is seen again
   * (an entry abandoned at its deadline may still be written: the token may
   * then be reported twice).
   */
  #reportTokensInUrl(url: string, now: number): boolean {
    // A token percent-encoded in part or whole (`%5F` for `_`) is in the URL all the same.
    const text = decodeAsciiEscapes(url);
    // Every marker ends in `_`: a URL without one holds none (a scan for a character costs a
    // fraction of a search for a string, even in a short URL).
    if (text.indexOf("_") < 0) return false;
    let marked = false;
    for (const m of this.#urlMarkers) if (text.includes(m)) marked = true;
    if (!marked) return false;
    const found = findTokens(text, { prefixes: this.#cfg.prefixes });
    if (found.length === 0) return false;
    if (this.#pendingReports.size >= MAX_LEAK_LOOKUPS_IN_FLIGHT) return true;
    for (const { token } of found.slice(0, MAX_URL_TOKENS_CONSIDERED)) {
      const hash = sha256Hex(token);
      if (this.#leaksReported.has(hash) || this.#leaksChecked.has(hash)) continue;
      if (this.#leaksChecked.size >= MAX_LEAK_REPORTS) this.#leaksChecked.clear();
      this.#leaksChecked.add(hash);
      // A lookup or write that failed is tried again the next time the token is seen.
      const report = this.#reportLeak(hash, now).catch(() => {
        this.#leaksChecked.delete(hash);
        this.#leaksReported.delete(hash);
      });
      this.#pendingReports.set(report, { hash, due: clock() + 2 * this.#cfg.lookupTimeoutMs });
      // Not `finally`: where a Worker rejects a report cut off with its request, a promise made here would reject unhandled.
      const done = () => this.#pendingReports.delete(report);
      report.then(done, done);
      break;
    }
    return true;
  }

  async #reportLeak(hash: string, now: number): Promise<void> {
    const stored = await this.#byHash.get(hash, now);
    // A live token: its current secret, or an old one still in its grace period.
    if (stored === null || matched(stored, hash, now) !== stored || stored.revokedAt !== null || this.#leaksReported.has(hash)) return;
    if (this.#leaksReported.size >= MAX_LEAK_REPORTS) this.#leaksReported.clear();
    this.#leaksReported.add(hash);
    this.#detector?.leaked(now, stored.id, stored.owner, "url");
    const entry: AuditEntry = {
      id: auditId(now, this.#cfg.random),
      at: now,
      actor: "keyward:verifier",
      action: "leak",
      tokenId: stored.id,
      owner: stored.owner,
      changes: ["url"],
    };
    // Bounded like its lookup: a store that hangs must not hold the report (and kw.flush, kw.close) forever.
    const written = await this.#reportWrites.race(
      () => this.#cfg.store.appendAudit(entry),
      () => true,
      () => false,
    );
    if (!written) throw new Error("leak report not written");
  }
}

/**
 * `url` with each percent-encoded ASCII character (`%5F`, `%5f`) decoded,
 * and nothing else: a token's characters are all ASCII, however a URL
 * escapes them. One pass, no string per escape (a callback per escape made
 * a 16 KB URL of them cost milliseconds).
 */
function decodeAsciiEscapes(url: string): string {
  let at = url.indexOf("%");
  if (at < 0) return url;
  let out = "";
  let from = 0;
  for (; at >= 0; at = url.indexOf("%", at + 1)) {
    const high = hexDigit(url.charCodeAt(at + 1));
    const low = hexDigit(url.charCodeAt(at + 2));
    if (high < 0 || high > 7 || low < 0) continue;
    out += url.slice(from, at) + String.fromCharCode(high * 16 + low);
    from = at + 3;
    at += 2;
  }
  return out + url.slice(from);
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1;
}

/**
 * The record a bearer token's hash was found under, if the hash is its
 * current secret or a previous one still in its grace period. The record
 * came from an exact-match lookup on this very hash (the cache's map, the
 * store's index), which compares it with the stored one in variable time
 * anyway: a second comparison, constant-time or not, reveals nothing more,
 * and here only tells the current secret from a previous one (and catches
 * a store that answered with the wrong record). The signed path, which
 * finds the record by its public id, compares in constant time.
 */
function matched(stored: StoredToken | null, hash: string, now: number): StoredToken | Decision {
  if (stored !== null) {
    if (stored.hash === hash) return stored;
    const at = readTime(stored, now);
    for (const p of stored.previous) if (p.hash === hash && p.expiresAt > at) return stored;
  }
  return denial("TOKEN_UNKNOWN", now);
}

/** Whether `hash` is the token's current secret, or a previous one still in its grace period. */
function matchSecret(stored: StoredToken, hash: string, now: number): boolean {
  if (equalStrings(stored.hash, hash)) return true;
  for (const p of stored.previous) {
    if (equalStrings(p.hash, hash)) return p.expiresAt > now;
  }
  return false;
}
