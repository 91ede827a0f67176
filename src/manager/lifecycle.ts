// Token lifetimes and rotation, for the whole application: the expiry a
// create gets by default, the latest expiry a write may set, when a token is
// due for rotation, and the events a scan reports. Pure functions of the
// record, the options and `now`: no timer per token (the application or the
// CLI runs `kw.tokens.scan` when it likes, e.g. once a day).
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError, LifetimeExceededError } from "../errors.js";
import { type AccountTokenRules, accountPolicyAt, type StoredAccount } from "../model/account.js";
import { pendingAt, policyAt, readTime } from "../model/record.js";
import { parseInput, timestamp } from "../model/schemas.js";
import type { StoredToken } from "../model/types.js";

/** The rules for one owner's tokens: the application's, tightened by the account's. */
export type Lifetimes = ResolvedConfig["tokens"] & {
  /** The option that set `maxLifetimeMs` (named in `LIFETIME_EXCEEDED`). */
  maxLimit?: string;
};

const tighter = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));

/**
 * The rules for an owner's tokens at `at` (the account read at no earlier
 * than its last write): the application's, with the
 * account's (when it has rules) where they are tighter; a default lifetime
 * longer than the maximum is cut to it.
 */
export function ownerLifetimes(app: Lifetimes, account: StoredAccount | null, at: number): Lifetimes {
  const rules = account && accountPolicyAt(account, at).tokens;
  if (!rules) return app;
  const maxLifetimeMs = tighter(app.maxLifetimeMs, rules.maxLifetimeMs);
  const wanted = rules.defaultLifetimeMs ?? app.defaultLifetimeMs;
  return {
    ...app,
    defaultLifetimeMs: wanted === null ? null : tighter(wanted, maxLifetimeMs),
    maxLifetimeMs,
    rotationPeriodMs: tighter(app.rotationPeriodMs, rules.rotationPeriodMs),
    maxLimit: maxLifetimeMs !== null && maxLifetimeMs !== app.maxLifetimeMs ? "account.tokens.maxLifetimeMs" : "tokens.maxLifetimeMs",
  };
}

/**
 * An account's rules may only tighten the application's: the maximum and
 * the rotation period at most the application's, the default at most both
 * maximums.
 *
 * @throws {LifetimeExceededError} `LIFETIME_EXCEEDED` naming the field and the limit it exceeds
 */
export function checkAccountRules(rules: AccountTokenRules, app: Lifetimes): void {
  const limits: [keyof AccountTokenRules, number | null, string][] = [
    ["maxLifetimeMs", app.maxLifetimeMs, "tokens.maxLifetimeMs"],
    ["rotationPeriodMs", app.rotationPeriodMs, "tokens.rotationPeriodMs"],
    ["defaultLifetimeMs", app.maxLifetimeMs, "tokens.maxLifetimeMs"],
    ["defaultLifetimeMs", rules.maxLifetimeMs, "patch.tokens.maxLifetimeMs"],
  ];
  for (const [k, limit, name] of limits) {
    const v = rules[k];
    if (v !== null && limit !== null && v > limit) {
      throw new LifetimeExceededError(`patch.tokens.${k}`, `must be at most ${name} (${limit} ms)`, undefined, { limit: name });
    }
  }
}

/**
 * What `kw.tokens.scan` reports about one token. Expiries are judged as
 * servers will apply them: the policy in force and the changes scheduled
 * after it (`kw.tokens.update` with a later `effectiveAt`), each from its
 * `effectiveAt`.
 */
export interface LifecycleEvent {
  /**
   * `expired`: past its expiry in force (and not revoked); `expiring-soon`:
   * stops working by an expiry within `tokens.expiringSoonMs` (a scheduled
   * change that renews it before then counts, one that shortens its expiry
   * too); `rotation-due`: its secret is older than the rotation period;
   * `unused`: no allowed request for `tokens.unusedAfterMs` (since its last
   * use, or its creation); `lifetime-exceeded`: it will still work later
   * than the maximum lifetime in force allows from now
   * (`tokens.maxLifetimeMs`, or the account's, set after it was written),
   * because its expiry, or a scheduled change's, is beyond it or absent:
   * a write would be refused with `LIFETIME_EXCEEDED`.
   */
  type: "expired" | "expiring-soon" | "rotation-due" | "unused" | "lifetime-exceeded";
  /** The token's public id. */
  tokenId: string;
  /** The token's owner. */
  owner: string;
  /**
   * When it expires / expired, when rotation became due, or when it was last used (created, if never),
   * epoch ms; for `lifetime-exceeded`, the latest expiry the maximum allows now (an update may set it).
   */
  at: number;
  /**
   * For `expiring-soon` and `lifetime-exceeded`, when the expiry they follow from is a scheduled
   * change's, not the one in force: when that change takes effect, epoch ms (its `effectiveAt`).
   */
  effectiveAt?: number;
}

/**
 * Filters of `kw.tokens.list`, applied to each page (a page may hold fewer
 * than `limit` records; follow `nextCursor`). Times are read like
 * `expiresAt`: epoch ms, a Date or an ISO-8601 string (a number that looks
 * like seconds is refused with `TIME_IN_SECONDS`).
 */
export interface LifecycleFilter {
  /**
   * Only tokens that expire before this time, never-expiring and revoked ones excluded. The expiry is
   * the next one servers will apply, as the scan reads it: a scheduled change that renews the token
   * first, or shortens its expiry, counts.
   */
  expiringBefore?: number | Date | string | undefined;
  /** Only tokens due for rotation now (needs a rotation period: `tokens.rotationPeriodMs`, or the account's). */
  dueForRotation?: boolean | undefined;
  /**
   * Only tokens not used since this time: last allowed request
   * before it, or never used and created before it; revoked ones excluded. Needs a store with
   * `capabilities.usageAnalytics` (last uses are written with usage, not per request).
   */
  unusedSince?: number | Date | string | undefined;
}

/** The list filters, checked: times as epoch ms. */
export interface ParsedLifecycleFilter {
  expiringBefore?: number;
  dueForRotation?: boolean;
  unusedSince?: number;
}

/** When the token's current secret was issued: its last regeneration, else its creation. */
export function secretIssuedAt(t: Pick<StoredToken, "createdAt" | "rotatedAt">): number {
  return t.rotatedAt ?? t.createdAt;
}

/**
 * The expiry a create stores: the given one, else `now + defaultLifetimeMs`;
 * checked against `maxLifetimeMs`.
 *
 * @throws {LifetimeExceededError} `LIFETIME_EXCEEDED` beyond the maximum, or without expiry while one is set
 */
export function expiryOnCreate(given: number | null | undefined, lifetimes: Lifetimes, now: number): number | null {
  const expiresAt = given === undefined ? (lifetimes.defaultLifetimeMs === null ? null : now + lifetimes.defaultLifetimeMs) : given;
  checkExpiry(expiresAt, lifetimes, now);
  return expiresAt;
}

/**
 * An expiry a write sets must not be later than `now + maxLifetimeMs`, and
 * must exist when a maximum is configured.
 *
 * @throws {LifetimeExceededError} `LIFETIME_EXCEEDED`
 */
export function checkExpiry(expiresAt: number | null, lifetimes: Lifetimes, now: number): void {
  const max = lifetimes.maxLifetimeMs;
  if (max === null) return;
  const maxExpiresAt = now + max;
  if (expiresAt === null || expiresAt > maxExpiresAt) {
    const limit = lifetimes.maxLimit ?? "tokens.maxLifetimeMs";
    const message = expiresAt === null ? `must be set: ${limit} allows no token without an expiry` : `is beyond ${limit} from now`;
    throw new LifetimeExceededError("expiresAt", message, undefined, { limit, maxExpiresAt });
  }
}

/** When rotation is or becomes due, or null without a rotation period. */
export function rotationDueAt(t: Pick<StoredToken, "createdAt" | "rotatedAt">, lifetimes: Lifetimes): number | null {
  return lifetimes.rotationPeriodMs === null ? null : secretIssuedAt(t) + lifetimes.rotationPeriodMs;
}

/**
 * A stretch of a token's future under one expiry: from `from` (the first: `now`) to `to` (the next
 * scheduled change's `effectiveAt`, or never); `setAt`, the `effectiveAt` of the scheduled change that
 * set this expiry (null: the one in force at `now`).
 */
interface ExpiryStretch {
  from: number;
  to: number;
  expiresAt: number | null;
  setAt: number | null;
}

/** The token's expiries from `now` on: the one in force, then each scheduled change's, in order. */
function expiryStretches(t: StoredToken, now: number): ExpiryStretch[] {
  const pending = pendingAt(t.scheduled, now);
  const out: ExpiryStretch[] = [{ from: now, to: pending[0]?.effectiveAt ?? Number.POSITIVE_INFINITY, expiresAt: policyAt(t, now).expiresAt, setAt: null }];
  pending.forEach((s, i) => {
    const prev = out[out.length - 1]!;
    const setAt = s.policy.expiresAt === prev.expiresAt ? prev.setAt : s.effectiveAt;
    out.push({ from: s.effectiveAt, to: pending[i + 1]?.effectiveAt ?? Number.POSITIVE_INFINITY, expiresAt: s.policy.expiresAt, setAt });
  });
  return out;
}

/**
 * When the token stops working by an expiry next, as servers will apply its policy and its scheduled
 * changes at and after `now`: the expiry in force (past if it has expired), else the first a scheduled
 * change brings on before the next change (no earlier than that change's `effectiveAt`). Null: none.
 */
function nextExpiry(stretches: readonly ExpiryStretch[]): { at: number; setAt: number | null } | null {
  for (const [i, s] of stretches.entries()) {
    if (s.expiresAt !== null && s.expiresAt < s.to) return { at: i === 0 ? s.expiresAt : Math.max(s.from, s.expiresAt), setAt: s.setAt };
  }
  return null;
}

/**
 * The events of one token at `now`; a revoked token has none, an expired
 * one only `expired`. `lastUse`: its last allowed request (null: never),
 * when `tokens.unusedAfterMs` is set. Expiries as servers will apply them,
 * scheduled changes included (see {@link LifecycleEvent}).
 */
export function lifecycleEvents(t: StoredToken, lifetimes: Lifetimes, now: number, lastUse?: number | null): LifecycleEvent[] {
  if (t.revokedAt !== null) return [];
  const out: LifecycleEvent[] = [];
  const base = { tokenId: t.id, owner: t.owner };
  const stretches = expiryStretches(t, now);
  const expiry = nextExpiry(stretches);
  const named = (setAt: number | null) => (setAt === null ? {} : { effectiveAt: setAt });
  if (expiry !== null) {
    if (expiry.at <= now) return [{ type: "expired", ...base, at: expiry.at }];
    if (expiry.at - now <= lifetimes.expiringSoonMs) out.push({ type: "expiring-soon", ...base, at: expiry.at, ...named(expiry.setAt) });
  }
  const max = lifetimes.maxLifetimeMs;
  if (max !== null) {
    // Still working at some time after `now + max`, under the expiry in force or a scheduled one.
    const beyond = stretches.find((s) => Math.min(s.to, s.expiresAt ?? Number.POSITIVE_INFINITY) > Math.max(s.from, now + max));
    if (beyond) out.push({ type: "lifetime-exceeded", ...base, at: now + max, ...named(beyond.setAt) });
  }
  const due = rotationDueAt(t, lifetimes);
  if (due !== null && due <= now) out.push({ type: "rotation-due", ...base, at: due });
  const used = lastUse === undefined ? undefined : (lastUse ?? t.createdAt);
  if (lifetimes.unusedAfterMs !== null && used !== undefined && now - used >= lifetimes.unusedAfterMs) out.push({ type: "unused", ...base, at: used });
  return out;
}

/**
 * Checks list filters once; a time in seconds would silently match no token
 * (it is in January 1970), so it is refused like an `expiresAt` in seconds.
 *
 * @throws {InvalidInputError} `INVALID_INPUT` or `TIME_IN_SECONDS` naming the filter
 */
export function parseLifecycleFilter(filter: LifecycleFilter): ParsedLifecycleFilter {
  const { expiringBefore, dueForRotation, unusedSince } = filter;
  const parsed: ParsedLifecycleFilter = {};
  if (expiringBefore !== undefined) parsed.expiringBefore = parseInput(timestamp, expiringBefore, "expiringBefore");
  if (unusedSince !== undefined) parsed.unusedSince = parseInput(timestamp, unusedSince, "unusedSince");
  if (dueForRotation !== undefined) {
    if (typeof dueForRotation !== "boolean") throw new InvalidInputError("dueForRotation", "must be a boolean");
    parsed.dueForRotation = dueForRotation;
  }
  return parsed;
}

/**
 * Whether a record passes the list filters at `now`; `lastUse` (null: never)
 * is needed for `unusedSince`. A revoked token is never expiring, unused or
 * due for rotation, as a scan skips it: it has ended, nothing is left to
 * renew, rotate or clean up.
 */
export function matchesLifecycle(
  t: StoredToken,
  filter: ParsedLifecycleFilter,
  lifetimes: Lifetimes,
  now: number,
  lastUse?: number | null,
): boolean {
  if ((filter.expiringBefore !== undefined || filter.unusedSince !== undefined) && t.revokedAt !== null) return false;
  if (filter.unusedSince !== undefined && (lastUse ?? t.createdAt) >= filter.unusedSince) return false;
  if (filter.expiringBefore !== undefined) {
    // Read, as its record is, at no earlier than its last write.
    const expiry = nextExpiry(expiryStretches(t, readTime(t, now)));
    if (expiry === null || expiry.at >= filter.expiringBefore) return false;
  }
  if (filter.dueForRotation !== undefined) {
    const due = rotationDueAt(t, lifetimes);
    if ((due !== null && due <= now && t.revokedAt === null) !== filter.dueForRotation) return false;
  }
  return true;
}
