// Input checks every store shares. `guardStore` runs them once, before any
// adapter sees a call, so an adapter receives valid input only.
import { InvalidInputError, TokenExistsError } from "../../errors.js";
import { hasUnportableText } from "../../lib/text.js";
import type {
  AuditEntry,
  CreditsPolicy,
  PreviousSecret,
  RateLimitPolicy,
  SealedSecret,
  StoredSigning,
  StoredToken,
  TokenPolicy,
  UsageEvent,
} from "../../model/types.js";
import type { AccountCreditsPolicy, AccountPolicy, StoredAccount } from "../../model/account.js";
import type { AuditFilter, CreateKey, CreditAdjustment, MeterRequest, NonceKey, SeenEntry, UsageBatchKey, UsageQuery } from "../types.js";
import { DEFAULT_POOL, isPoolName, MAX_CREDIT_BALANCE, MAX_IDEMPOTENCY_KEY_LENGTH, MAX_RATE_LIMITS } from "../../model/pools.js";
import { isRole } from "../../model/roles.js";
import type { BillingRunKey, BillingUsageQuery } from "./billing.js";
import type { UsageAnalyticsQuery } from "./usage-analytics.js";

/** A non-empty string. */
export function checkString(v: unknown, field: string): asserts v is string {
  if (typeof v !== "string" || v.length === 0) throw new InvalidInputError(field, "must be a non-empty string");
}

/**
 * A time a store keeps (epoch ms): a finite number within ±(2^53 − 1), which every store gives back
 * as it was (SQLite keeps an integer-valued one as an INTEGER, and node:sqlite refuses to read one
 * past that range: the row it is in, an hour of usage, a last use, would answer STORE_UNAVAILABLE for good).
 */
export function checkTime(v: unknown, field: string): asserts v is number {
  if (typeof v !== "number" || !Number.isFinite(v) || Math.abs(v) > Number.MAX_SAFE_INTEGER) {
    throw new InvalidInputError(field, "must be a finite number within ±(2^53 - 1)");
  }
}

/** A query's bound or a time never read back (a nonce's expiry; epoch ms): any finite number. */
export function checkBound(v: unknown, field: string): asserts v is number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new InvalidInputError(field, "must be a finite number");
}

/**
 * A record's revisions: each an object with a time and a policy, in strictly
 * ascending `effectiveAt`, as `scheduleRevision` writes them. `policyAt`
 * reads them in that order and stops at the first one still to come, so
 * revisions out of order (or two at one instant) would put a policy no
 * longer in force (or either of two) in force instead of the latest due.
 */
function checkScheduled<P>(list: unknown, field: string, checkPolicy: (p: P, field: string) => void): void {
  if (!Array.isArray(list)) throw new InvalidInputError(field, "must be an array");
  let previous = Number.NEGATIVE_INFINITY;
  list.forEach((s: { effectiveAt: unknown; policy: P }, i) => {
    checkObject(s, `${field}[${i}]`);
    checkTime(s.effectiveAt, `${field}[${i}].effectiveAt`);
    if (s.effectiveAt <= previous) throw new InvalidInputError(`${field}[${i}].effectiveAt`, "must be later than the revision before it");
    previous = s.effectiveAt;
    checkPolicy(s.policy, `${field}[${i}].policy`);
  });
}

/** A finite, non-negative safe integer. */
function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** A finite, non-negative safe integer. */
export function checkCount(v: unknown, field: string): asserts v is number {
  if (!isCount(v)) throw new InvalidInputError(field, "must be a non-negative integer");
}

// The credit and rate-limit checks below run on every metered request: a
// field's name (a template string) is built only once a check has failed.

function checkObject(v: unknown, field: string): asserts v is Record<string, unknown> {
  if (v === null || typeof v !== "object") throw new InvalidInputError(field, "must be an object");
}

export function checkCreditsPolicy(p: CreditsPolicy, field: string): void {
  checkObject(p, field);
  if (!isCount(p.limit)) checkCount(p.limit, `${field}.limit`);
  if (p.refill !== null) {
    if (typeof p.refill !== "object") throw new InvalidInputError(`${field}.refill`, "must be an object or null");
    if (!isCount(p.refill.amount)) checkCount(p.refill.amount, `${field}.refill.amount`);
    if (!isCount(p.refill.intervalMs)) checkCount(p.refill.intervalMs, `${field}.refill.intervalMs`);
    if (p.refill.intervalMs === 0) throw new InvalidInputError(`${field}.refill.intervalMs`, "must be positive");
  }
  const reset = p.reset ?? null;
  if (reset !== null && reset !== "day" && reset !== "month") throw new InvalidInputError(`${field}.reset`, 'must be "day", "month" or null');
  if (reset !== null && p.refill !== null) throw new InvalidInputError(`${field}.reset`, "cannot be combined with refill");
}

/** Whether `p` is a valid rate limit (what {@link checkRateLimitPolicy} checks, without naming a field). */
function isRateLimitPolicy(p: RateLimitPolicy): boolean {
  return p !== null && typeof p === "object" && isCount(p.limit) && isCount(p.windowMs) && p.windowMs > 0;
}

export function checkRateLimitPolicy(p: RateLimitPolicy, field: string): void {
  if (isRateLimitPolicy(p)) return;
  checkObject(p, field);
  checkCount(p.limit, `${field}.limit`);
  checkCount(p.windowMs, `${field}.windowMs`);
  throw new InvalidInputError(`${field}.windowMs`, "must be positive");
}

export function checkToken(t: StoredToken, field: string): void {
  checkObject(t, field);
  checkString(t.id, `${field}.id`);
  checkString(t.hash, `${field}.hash`);
  checkString(t.owner, `${field}.owner`);
  checkTime(t.createdAt, `${field}.createdAt`);
  if (!Number.isSafeInteger(t.revision)) throw new InvalidInputError(`${field}.revision`, "must be an integer");
  if (t.revokedAt !== null) checkTime(t.revokedAt, `${field}.revokedAt`);
  if (!Array.isArray(t.previous)) throw new InvalidInputError(`${field}.previous`, "must be an array");
  const hashes = new Set([t.hash]);
  t.previous.forEach((p, i) => {
    checkObject(p, `${field}.previous[${i}]`);
    checkString(p.hash, `${field}.previous[${i}].hash`);
    hashes.add(p.hash);
  });
  // One unique index holds current and previous hashes: a record cannot repeat one.
  if (hashes.size !== t.previous.length + 1) throw new TokenExistsError();
}

/** An array of strings. */
function checkStrings(v: unknown, field: string): void {
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) throw new InvalidInputError(field, "must be an array of strings");
}

/** Named pools: keyed by pool names other than the default one, each checked by `checkPool`. */
function checkPools<P>(pools: Record<string, P>, field: string, checkPool: (pool: P, field: string) => void): void {
  checkObject(pools, field);
  for (const [name, pool] of Object.entries(pools)) {
    if (!isPoolName(name) || name === DEFAULT_POOL) throw new InvalidInputError(field, "must be keyed by pool names other than default");
    checkPool(pool, `${field}.${name}`);
  }
}

function checkSealed(s: SealedSecret, field: string): void {
  checkObject(s, field);
  checkString(s.kid, `${field}.kid`);
  checkString(s.iv, `${field}.iv`);
  checkString(s.ciphertext, `${field}.ciphertext`);
}

function checkSigning(s: StoredSigning | null, field: string): void {
  if (s === null) return;
  checkObject(s, field);
  if (s.alg === "ed25519") checkString(s.publicKey, `${field}.publicKey`);
  else if (s.alg === "hmac-sha256") checkSealed(s.sealed, `${field}.sealed`);
  else throw new InvalidInputError(`${field}.alg`, 'must be "ed25519" or "hmac-sha256"');
}

/** A token policy as stored: every field of {@link TokenPolicy} of its type (the optional ones absent or valid). */
export function checkTokenPolicy(p: TokenPolicy, field: string): void {
  checkObject(p, field);
  checkStrings(p.scopes, `${field}.scopes`);
  checkStrings(p.domains, `${field}.domains`);
  checkStrings(p.ips, `${field}.ips`);
  if (p.credits !== null) checkCreditsPolicy(p.credits, `${field}.credits`);
  if (p.pools !== undefined) checkPools(p.pools, `${field}.pools`, checkCreditsPolicy);
  if (p.rateLimit !== null) checkRateLimitPolicy(p.rateLimit, `${field}.rateLimit`);
  if (p.rateLimits !== undefined) {
    if (!Array.isArray(p.rateLimits) || p.rateLimits.length > MAX_RATE_LIMITS) {
      throw new InvalidInputError(`${field}.rateLimits`, `must be an array of at most ${MAX_RATE_LIMITS} rate limits`);
    }
    p.rateLimits.forEach((l, i) => {
      checkRateLimitPolicy(l, `${field}.rateLimits[${i}]`);
    });
  }
  if (p.expiresAt !== null) checkTime(p.expiresAt, `${field}.expiresAt`);
  if (typeof p.requireSignedRequests !== "boolean") throw new InvalidInputError(`${field}.requireSignedRequests`, "must be a boolean");
}

/**
 * A whole token record, as a store answers it: what {@link checkToken}
 * checks, and every other field of {@link StoredToken} of its type, so that
 * no code reading a record (the request path above all) meets a value of
 * another type. For records from the store, once per revision: a malformed
 * one is a store failure, never a decision.
 */
export function checkStoredToken(t: StoredToken, field: string): void {
  checkToken(t, field);
  checkString(t.start, `${field}.start`);
  if (t.kind !== "secret" && t.kind !== "publishable") throw new InvalidInputError(`${field}.kind`, 'must be "secret" or "publishable"');
  if (t.env !== "live" && t.env !== "test") throw new InvalidInputError(`${field}.env`, 'must be "live" or "test"');
  if (typeof t.name !== "string") throw new InvalidInputError(`${field}.name`, "must be a string");
  if (t.metadata === null || typeof t.metadata !== "object" || Array.isArray(t.metadata)) {
    throw new InvalidInputError(`${field}.metadata`, "must be an object");
  }
  checkTokenPolicy(t.policy, `${field}.policy`);
  checkScheduled(t.scheduled, `${field}.scheduled`, checkTokenPolicy);
  checkSigning(t.signing, `${field}.signing`);
  t.previous.forEach((p: PreviousSecret, i) => {
    checkTime(p.expiresAt, `${field}.previous[${i}].expiresAt`);
    if (p.sealed !== undefined) checkSealed(p.sealed, `${field}.previous[${i}].sealed`);
  });
  checkTime(t.updatedAt, `${field}.updatedAt`);
  if (t.disabledAt != null) checkTime(t.disabledAt, `${field}.disabledAt`);
  if (t.rotatedAt !== undefined) checkTime(t.rotatedAt, `${field}.rotatedAt`);
}

export function checkAudit(entry: AuditEntry | undefined, field: string): void {
  if (entry === undefined) return;
  checkObject(entry, field);
  checkString(entry.id, `${field}.id`);
  checkTime(entry.at, `${field}.at`);
  checkString(entry.tokenId, `${field}.tokenId`);
  checkString(entry.owner, `${field}.owner`);
  if (!Array.isArray(entry.changes)) throw new InvalidInputError(`${field}.changes`, "must be an array");
  if (entry.role !== undefined && !isRole(entry.role)) throw new InvalidInputError(`${field}.role`, "must be a role");
  if (entry.member !== undefined) checkString(entry.member, `${field}.member`);
  if (entry.memberRole !== undefined && entry.memberRole !== null && !isRole(entry.memberRole)) throw new InvalidInputError(`${field}.memberRole`, "must be a role or null");
}

export function checkAuditFilter(filter: AuditFilter): void {
  checkObject(filter, "filter");
  if ("tokenId" in filter) checkString(filter.tokenId, "filter.tokenId");
  else if ("owner" in filter) checkString(filter.owner, "filter.owner");
  else throw new InvalidInputError("filter", "needs tokenId or owner");
}

export function checkMeterRequest(r: MeterRequest): void {
  checkObject(r, "request");
  checkString(r.tokenId, "request.tokenId");
  checkCount(r.cost, "request.cost");
  if (r.rateLimit !== null) checkRateLimitPolicy(r.rateLimit, "request.rateLimit");
  if (r.rateLimits !== undefined) {
    if (!Array.isArray(r.rateLimits) || r.rateLimits.length > MAX_RATE_LIMITS) {
      throw new InvalidInputError("request.rateLimits", `must be an array of at most ${MAX_RATE_LIMITS} rate limits`);
    }
    const limits = r.rateLimits;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      if (!isRateLimitPolicy(l)) checkRateLimitPolicy(l, `request.rateLimits[${i}]`);
      // At most MAX_RATE_LIMITS of them: comparing each with those before it is cheaper than a Set.
      let repeated = r.rateLimit !== null && r.rateLimit.windowMs === l.windowMs;
      for (let j = 0; j < i && !repeated; j++) repeated = limits[j]!.windowMs === l.windowMs;
      if (repeated) throw new InvalidInputError(`request.rateLimits[${i}].windowMs`, "must differ from every other limit's window");
    }
  }
  if (r.credits !== null) checkCreditsPolicy(r.credits, "request.credits");
  if (r.pool !== undefined && !isPoolName(r.pool)) throw new InvalidInputError("request.pool", "must be a pool name");
  if (r.account != null) {
    checkObject(r.account, "request.account");
    checkString(r.account.owner, "request.account.owner");
    if (r.account.rateLimit !== null) checkRateLimitPolicy(r.account.rateLimit, "request.account.rateLimit");
    if (r.account.credits !== null) checkAccountCredits(r.account.credits, "request.account.credits");
  }
}

export function checkAccountCredits(p: AccountCreditsPolicy, field: string): void {
  checkCreditsPolicy(p, field);
  if (!isCount(p.overage)) checkCount(p.overage, `${field}.overage`);
  if (p.limit + p.overage > MAX_CREDIT_BALANCE) throw new InvalidInputError(`${field}.limit`, `limit + overage must be at most ${MAX_CREDIT_BALANCE}`);
}

function checkAccountPolicy(p: AccountPolicy, field: string): void {
  checkObject(p, field);
  if (p.ceiling !== null && (!Array.isArray(p.ceiling) || p.ceiling.some((s) => typeof s !== "string"))) {
    throw new InvalidInputError(`${field}.ceiling`, "must be an array of scopes or null");
  }
  if (p.credits !== null) checkAccountCredits(p.credits, `${field}.credits`);
  if (p.pools !== undefined) checkPools(p.pools, `${field}.pools`, checkAccountCredits);
  if (p.rateLimit !== null) checkRateLimitPolicy(p.rateLimit, `${field}.rateLimit`);
  if (p.tokens !== undefined) {
    checkObject(p.tokens, `${field}.tokens`);
    for (const k of ["defaultLifetimeMs", "maxLifetimeMs", "rotationPeriodMs"] as const) {
      const v = p.tokens[k];
      if (v !== null && (!Number.isSafeInteger(v) || v < 1)) throw new InvalidInputError(`${field}.tokens.${k}`, "must be a positive integer (ms) or null");
    }
  }
  if (p.suspended != null) {
    checkObject(p.suspended, `${field}.suspended`);
    checkString(p.suspended.reason, `${field}.suspended.reason`);
    if (p.suspended.since !== undefined) checkTime(p.suspended.since, `${field}.suspended.since`);
  }
}

export function checkAccount(a: StoredAccount, field: string): void {
  checkObject(a, field);
  checkString(a.owner, `${field}.owner`);
  checkTime(a.createdAt, `${field}.createdAt`);
  checkTime(a.updatedAt, `${field}.updatedAt`);
  checkAccountPolicy(a.policy, `${field}.policy`);
  if (a.members !== undefined) {
    checkObject(a.members, `${field}.members`);
    for (const [id, role] of Object.entries(a.members)) {
      checkString(id, `${field}.members`);
      if (!isRole(role)) throw new InvalidInputError(`${field}.members`, "must map member ids to roles");
    }
  }
  checkScheduled(a.scheduled, `${field}.scheduled`, checkAccountPolicy);
}

/** An account as a store answers it: what {@link checkAccount} checks, and its revision. */
export function checkStoredAccount(a: StoredAccount, field: string): void {
  checkAccount(a, field);
  if (!Number.isSafeInteger(a.revision)) throw new InvalidInputError(`${field}.revision`, "must be an integer");
}

export function checkCreditAdjustment(r: CreditAdjustment): void {
  checkObject(r, "request");
  checkObject(r.key, "request.key");
  if ("tokenId" in r.key) checkString(r.key.tokenId, "request.key.tokenId");
  else if ("owner" in r.key) checkString(r.key.owner, "request.key.owner");
  else throw new InvalidInputError("request.key", "needs tokenId or owner");
  if (r.key.pool !== undefined && !isPoolName(r.key.pool)) throw new InvalidInputError("request.key.pool", "must be a pool name");
  checkAccountCredits(r.policy, "request.policy");
  checkObject(r.change, "request.change");
  const c = r.change;
  if (c.op === "topUp") {
    checkCount(c.amount, "amount");
    if (c.amount === 0 || c.amount > MAX_CREDIT_BALANCE) throw new InvalidInputError("amount", `must be from 1 to ${MAX_CREDIT_BALANCE}`);
  } else if (c.op !== "read" && c.op !== "reset") throw new InvalidInputError("request.change.op", 'must be "read", "topUp" or "reset"');
  const key = r.idempotencyKey;
  if (key !== undefined) {
    checkString(key, "idempotencyKey");
    if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) throw new InvalidInputError("idempotencyKey", `must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
    // A key column: node:sqlite writes a lone surrogate as U+FFFD (Node 22 also cuts a string at NUL), so two
    // keys would be one, and a second top-up read as a replay of the first.
    if (hasUnportableText(key)) throw new InvalidInputError("idempotencyKey", "must not contain U+0000 or lone surrogates");
    if (c.op === "read") throw new InvalidInputError("idempotencyKey", "is for a top-up or a reset, not a read");
  }
}

/** An idempotency key of a token creation, whose token is owned by `owner`. */
export function checkCreateKey(key: CreateKey, now: number): void {
  checkObject(key, "key");
  checkString(key.actor, "key.actor");
  checkString(key.key, "key.key");
  if (key.key.length > MAX_IDEMPOTENCY_KEY_LENGTH) throw new InvalidInputError("key.key", `must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
  // Kept as given and compared so: two keys a column would write as one (U+FFFD, a cut at NUL) would replay each other.
  if (hasUnportableText(key.key) || hasUnportableText(key.actor)) throw new InvalidInputError("key.key", "must not contain U+0000 or lone surrogates");
  if (typeof key.request !== "string" || !/^[0-9a-f]{64}$/.test(key.request)) throw new InvalidInputError("key.request", "must be a SHA-256 in lowercase hex");
  checkTime(now, "now");
  checkTime(key.expiresAt, "key.expiresAt");
  if (key.expiresAt <= now) throw new InvalidInputError("key.expiresAt", "must be after now");
}

export function checkNonceKey(key: NonceKey): void {
  checkObject(key, "key");
  checkString(key.tokenId, "key.tokenId");
  checkString(key.nonce, "key.nonce");
  // A key column: node:sqlite writes a lone surrogate as U+FFFD (Node 22 also cuts a string at NUL), so two
  // nonces would be one (the second a replay), as two idempotency keys would.
  if (hasUnportableText(key.nonce)) throw new InvalidInputError("key.nonce", "must not contain U+0000 or lone surrogates");
}

/** The longest `writer` of a {@link UsageBatchKey}. */
const MAX_WRITER_LENGTH = 64;

export function checkUsageBatch(batch: UsageBatchKey | undefined): void {
  if (batch === undefined) return;
  checkObject(batch, "batch");
  checkString(batch.writer, "batch.writer");
  if (batch.writer.length > MAX_WRITER_LENGTH) throw new InvalidInputError("batch.writer", `must be at most ${MAX_WRITER_LENGTH} characters`);
  if (!isCount(batch.seq) || batch.seq === 0) throw new InvalidInputError("batch.seq", "must be a positive integer");
}

export function checkUsageEvents(events: readonly UsageEvent[]): void {
  if (!Array.isArray(events)) throw new InvalidInputError("events", "must be an array");
  // Checked with fixed field names (nothing built per event); a failure is
  // checked again with the event's index in the names, and thrown from there.
  events.forEach((e, i) => {
    try {
      checkUsageEvent(e, ANY_EVENT);
    } catch {
      checkUsageEvent(e, eventFields(`events[${i}]`));
    }
  });
}

const eventFields = (at: string) => ({ at, tokenId: `${at}.tokenId`, time: `${at}.at`, ok: `${at}.ok`, cost: `${at}.cost` });
const ANY_EVENT = eventFields("events[i]");

function checkUsageEvent(e: UsageEvent, f: ReturnType<typeof eventFields>): void {
  checkObject(e, f.at);
  checkString(e.tokenId, f.tokenId);
  checkTime(e.at, f.time);
  if (typeof e.ok !== "boolean") throw new InvalidInputError(f.ok, "must be a boolean");
  checkCount(e.cost, f.cost);
  checkEventDetails(e, f.at);
}

const UNPORTABLE_KEY = "must not contain U+0000 or lone surrogates";

/** Whether a usage event's text holds NUL or a lone surrogate (checked on every event: no allocation). */
function unportable(v: string | null | undefined): boolean {
  return typeof v === "string" && hasUnportableText(v);
}

function checkEventText(v: unknown, field: string, name: string, max: number, nullable: boolean): void {
  if (v === undefined || (nullable && v === null)) return;
  if (typeof v !== "string" || v.length === 0 || v.length > max) {
    throw new InvalidInputError(`${field}.${name}`, `must be a string of 1 to ${max} characters${nullable ? " or null" : ""}`);
  }
}

/** The optional fields the verifier sets on usage events: typed and bounded when present. */
function checkEventDetails(e: UsageEvent, field: string): void {
  checkEventText(e.owner, field, "owner", 1024, false);
  checkEventText(e.code, field, "code", 64, false);
  checkEventText(e.scope, field, "scope", 8192, true);
  checkEventText(e.ip, field, "ip", 64, true);
  checkEventText(e.origin, field, "origin", 8192, true);
  // Keys of the billing and analytics tables: Node 22's node:sqlite reads a NUL back as the end of
  // the string, and node:sqlite writes a lone surrogate as U+FFFD (two scopes summed as one, under a
  // third name); keyward's owners, scopes and codes never hold either.
  if (unportable(e.owner)) throw new InvalidInputError(`${field}.owner`, UNPORTABLE_KEY);
  if (unportable(e.scope)) throw new InvalidInputError(`${field}.scope`, UNPORTABLE_KEY);
  if (unportable(e.code)) throw new InvalidInputError(`${field}.code`, UNPORTABLE_KEY);
  // A last use's address: PostgreSQL refuses NUL in text (the batch failed, and was retried, for good).
  if (unportable(e.ip)) throw new InvalidInputError(`${field}.ip`, UNPORTABLE_KEY);
  if (e.pool !== undefined && e.pool !== null && !isPoolName(e.pool)) throw new InvalidInputError(`${field}.pool`, "must be a pool name or null");
  if (e.status !== undefined && (!Number.isInteger(e.status) || e.status < 100 || e.status > 599)) {
    throw new InvalidInputError(`${field}.status`, "must be an HTTP status");
  }
  if (e.signed !== undefined && typeof e.signed !== "boolean") throw new InvalidInputError(`${field}.signed`, "must be a boolean");
}

export function checkAnalyticsQuery(q: UsageAnalyticsQuery): void {
  checkObject(q, "query");
  checkAuditFilter(q.filter as AuditFilter);
  checkBound(q.from, "from");
  checkBound(q.to, "to");
  if (q.granularity !== "minute" && q.granularity !== "hour" && q.granularity !== "day") {
    throw new InvalidInputError("granularity", 'must be "minute", "hour" or "day"');
  }
  // "" is the requests that required no scope, as `groupBy: "scope"` names them.
  if (q.scope !== undefined && typeof q.scope !== "string") throw new InvalidInputError("scope", "must be a string");
  if (q.code !== undefined) checkString(q.code, "code");
  if (q.groupBy !== undefined && q.groupBy !== "scope" && q.groupBy !== "code" && q.groupBy !== "token") {
    throw new InvalidInputError("groupBy", 'must be "scope", "code" or "token"');
  }
}

export function checkUsageQuery(query: UsageQuery): void {
  checkObject(query, "query");
  checkBound(query.from, "from");
  checkBound(query.to, "to");
  if (query.granularity !== "hour" && query.granularity !== "day") {
    throw new InvalidInputError("granularity", 'must be "hour" or "day"');
  }
}

/** Sightings in one `touchSeen` call, at most. */
export const MAX_SEEN_BATCH = 10_000;
/** Longest IP or origin kept as anomaly state (longer ones are judged per process). */
export const MAX_SEEN_VALUE = 512;

export function checkSeenEntries(entries: readonly SeenEntry[], maxPerToken: number): void {
  if (!Array.isArray(entries) || entries.length > MAX_SEEN_BATCH) {
    throw new InvalidInputError("entries", `must be an array of at most ${MAX_SEEN_BATCH} sightings`);
  }
  entries.forEach((e, i) => {
    if (typeof e !== "object" || e === null) throw new InvalidInputError(`entries[${i}]`, "must be an object");
    checkString(e.tokenId, `entries[${i}].tokenId`);
    if (e.kind !== "use" && e.kind !== "ip" && e.kind !== "origin") throw new InvalidInputError(`entries[${i}].kind`, 'must be "use", "ip" or "origin"');
    if (typeof e.value !== "string" || e.value.length > MAX_SEEN_VALUE || (e.kind === "use") !== (e.value === "")) {
      throw new InvalidInputError(`entries[${i}].value`, `must be "" for a use, else 1 to ${MAX_SEEN_VALUE} characters`);
    }
    checkTime(e.at, `entries[${i}].at`);
  });
  if (!Number.isSafeInteger(maxPerToken) || maxPerToken < 1 || maxPerToken > 100_000) {
    throw new InvalidInputError("maxPerToken", "must be an integer from 1 to 100000");
  }
}

export function checkBillingQuery(query: BillingUsageQuery): void {
  checkObject(query, "query");
  if (query.owner !== undefined) checkString(query.owner, "query.owner");
  checkBound(query.from, "query.from");
  checkBound(query.to, "query.to");
  if (query.to < query.from) throw new InvalidInputError("query.to", "must not be before query.from");
  if (query.after !== undefined) {
    checkObject(query.after, "query.after");
    checkString(query.after.owner, "query.after.owner");
    checkString(query.after.pool, "query.after.pool");
  }
  if (query.limit !== undefined && (!Number.isSafeInteger(query.limit) || query.limit < 1)) {
    throw new InvalidInputError("query.limit", "must be a positive integer");
  }
}

export function checkBillingRunKey(key: BillingRunKey): void {
  checkObject(key, "key");
  checkString(key.owner, "key.owner");
  if (typeof key.period !== "string" || !/^[0-9A-Za-z:_.-]{1,64}$/.test(key.period)) {
    throw new InvalidInputError("key.period", "must be 1 to 64 of 0-9, A-Z, a-z, :, _, . or -");
  }
  checkTime(key.from, "key.from");
  checkTime(key.to, "key.to");
  if (key.to <= key.from) throw new InvalidInputError("key.to", "must be after key.from");
}
