// Accounts: an owner's plan ceiling, credit pool and rate limit; reached as
// `kw.accounts`. Every change is a compare-and-set on the account's revision,
// audited, and can be effective-dated like a token's policy.
import * as z from "zod/mini";
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError, RevisionConflictError, ScopeNotAllowedError } from "../errors.js";
import { integer } from "../lib/zod.js";
import { type AccountPolicy, type AccountSuspension, accountAudit, accountPolicyAt, accountWriteTime, type StoredAccount } from "../model/account.js";
import { MAX_CREDIT_BALANCE } from "../model/pools.js";
import { policyAt, readTime } from "../model/record.js";
import { actorSchema, checkOptionFields, DEFAULT_ACTOR, distinct, ownerQuerySchema, ownerSchema, parseInput, poolsSchema, scopeSchema, suspensionReasonSchema } from "../model/schemas.js";
import type { StoredToken } from "../model/types.js";
import { parseScope, scopesGrant } from "../policy/scope.js";
import { checkAccountRules } from "./lifecycle.js";
import { ACCOUNT_WRITE_ATTEMPTS, AccountWrites, MemberManager } from "./members.js";
import { type Revised, scheduleRevision } from "./schedule.js";
import { toEpochMs } from "./time.js";

/** An account as `kw.accounts` returns it: the policy in force now and the revisions still to come. */
export type AccountRecord = StoredAccount;

/** What {@link AccountManager.set} changes; a field left out keeps its value, null removes it. */
export interface AccountPatch {
  /** The scopes the account's tokens may hold and use (at least one), or null for no ceiling. */
  ceiling?: string[] | null | undefined;
  /** The account's credit pool, or null. `refill` and `reset` are exclusive; `overage` defaults to 0. */
  credits?: {
    limit: number;
    refill?: { amount: number; intervalMs: number } | null | undefined;
    reset?: "day" | "month" | null | undefined;
    overage?: number | undefined;
  } | null | undefined;
  /**
   * More named pools (`"premium"`; same names as a token's `pools`, never
   * `"default"`), charged by routes that name them. Replaces every named
   * pool; null: none.
   */
  pools?: Record<string, NonNullable<AccountPatch["credits"]>> | null | undefined;
  /** Requests of all the account's tokens together, or null. */
  rateLimit?: { limit: number; windowMs: number } | null | undefined;
  /**
   * Lifetimes and rotation of the account's tokens (ms), each at most the
   * application's `tokens` option (a looser one is refused with
   * `LIFETIME_EXCEEDED`); a field left out or null follows the application.
   * Null: the application's rules only.
   */
  tokens?: { defaultLifetimeMs?: number | null | undefined; maxLifetimeMs?: number | null | undefined; rotationPeriodMs?: number | null | undefined } | null | undefined;
  /**
   * Suspends the account (`{ reason }`, up to 500 characters of text, not only spaces, kept
   * with the account and in the audit entry) or lifts a suspension (null).
   * While suspended, every request of each of the account's tokens is
   * denied with `ACCOUNT_SUSPENDED` (403); the tokens, their limits and
   * balances are kept as they are. The reason is the operator's: no API
   * caller and no member of the account is shown it (docs/accounts.md).
   * The account keeps when the suspension began (`policy.suspended.since`,
   * set by keyward, never given).
   */
  suspended?: { reason: string } | null | undefined;
}

/** Options of {@link AccountManager.set}; a field of another name is refused (`INVALID_INPUT` on `options`). */
export interface SetAccountOptions {
  /** Who makes the change, for the audit log (default `"system"`). */
  actor?: string | undefined;
  /**
   * When the change takes effect (epoch ms, Date or ISO-8601 string); default
   * `now + propagationDelayMs`. A future time earlier than
   * `now + revocationBoundMs` is moved to that bound: every server may hold
   * the account in its cache that long, and the fleet switches at one instant.
   */
  effectiveAt?: number | Date | string | undefined;
  /**
   * Fail with `REVISION_CONFLICT` unless the account is at this revision (0:
   * it must not exist yet): a compare-and-set. Without it, the change is
   * applied to the account as it is when written (after this instance's
   * changes of it made before, and retried over other instances' written
   * meanwhile): the last call wins for the fields it names.
   */
  expectedRevision?: number | undefined;
  /**
   * Whether a new ceiling is checked against the owner's live tokens (default
   * true): one it would leave with no scope is refused, and so is any ceiling
   * of an owner with more than {@link MAX_CEILING_CHECK_TOKENS} live tokens.
   * False sets the ceiling unchecked: a plan can always be cut, also for an
   * owner whose tokens are too many to check (a token left with no scope
   * within it is denied every request, until the ceiling covers it again).
   */
  checkTokens?: boolean | undefined;
}

/**
 * Most live tokens of an owner checked against a new ceiling; beyond, `set`
 * refuses a ceiling unless it is told not to check (`checkTokens: false`).
 * Revoked and expired tokens are read past, not counted: an owner's history
 * does not bar a ceiling.
 */
export const MAX_CEILING_CHECK_TOKENS = 10_000;

const amount = (min: number) => integer(min, MAX_CREDIT_BALANCE);
const scopeList = z.pipe(
  z
    .array(scopeSchema)
    .check(
      z.minLength(1, "must hold at least one scope: an empty ceiling leaves every token with no scope (null removes the ceiling)"),
      z.maxLength(256, "at most 256 scopes"),
    ),
  z.transform(distinct),
);
const creditsSchema = z.pipe(
  z
    .strictObject({
      limit: amount(0),
      refill: z.nullish(z.strictObject({ amount: amount(1), intervalMs: integer(1000, Number.MAX_SAFE_INTEGER) })),
      reset: z.nullish(z.enum(["day", "month"])),
      overage: z.optional(amount(0)),
    })
    .check(
      z.superRefine((c, ctx) => {
        if (c.refill != null && c.reset != null) ctx.addIssue({ code: "custom", path: ["reset"], message: "cannot be combined with refill" });
        if (c.limit + (c.overage ?? 0) > MAX_CREDIT_BALANCE) {
          ctx.addIssue({ code: "custom", path: ["overage"], message: `limit + overage must be at most ${MAX_CREDIT_BALANCE}` });
        }
      }),
    ),
  z.transform((c) => ({ limit: c.limit, refill: c.refill ?? null, reset: c.reset ?? null, overage: c.overage ?? 0 })),
);
const lifetime = z.pipe(z.nullish(integer(1, 100 * 366 * 86_400_000)), z.transform((v) => v ?? null));
const tokenRulesSchema = z.pipe(
  z.nullable(z.strictObject({ defaultLifetimeMs: lifetime, maxLifetimeMs: lifetime, rotationPeriodMs: lifetime })),
  z.transform((r) => r ?? { defaultLifetimeMs: null, maxLifetimeMs: null, rotationPeriodMs: null }),
);
const patchSchema = z.strictObject({
  ceiling: z.optional(z.nullable(scopeList)),
  tokens: z.optional(tokenRulesSchema),
  credits: z.optional(z.nullable(creditsSchema)),
  pools: z.optional(poolsSchema(creditsSchema)),
  rateLimit: z.optional(z.nullable(z.strictObject({ limit: amount(1), windowMs: integer(1, 31 * 86_400_000) }))),
  suspended: z.optional(z.nullable(z.strictObject({ reason: suspensionReasonSchema }))),
});

const SET_OPTIONS = ["actor", "effectiveAt", "expectedRevision", "checkTokens"] as const;

const EMPTY_POLICY: AccountPolicy = { ceiling: null, credits: null, rateLimit: null };

/** Account administration; reached as `kw.accounts`. */
export class AccountManager {
  readonly #cfg: ResolvedConfig;
  readonly #changed: (owner: string) => void;
  /** This instance's changes of accounts, one at a time per owner (shared with the members'). */
  readonly #writes = new AccountWrites();
  /** The account's team members and their roles (docs/roles.md). */
  readonly members: MemberManager;

  /** @internal */
  constructor(config: ResolvedConfig, changed: (owner: string) => void = () => {}) {
    this.#cfg = config;
    this.#changed = changed;
    this.members = new MemberManager(config, this.#writes);
  }

  /**
   * @param owner the owner id
   * @returns the account (policy in force now, revisions to come), or null
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED` when the store has no accounts
   * @example
   * ```ts
   * const account = await kw.accounts.get("acct_1");
   * ```
   */
  async get(owner: string): Promise<AccountRecord | null> {
    parseInput(ownerQuerySchema, owner, "owner");
    const stored = await this.#cfg.store.getAccount(owner);
    // As every server judges it: at no earlier than its last write.
    return stored && view(stored, readTime(stored, this.#cfg.now()));
  }

  /**
   * Creates or changes an owner's account. A new ceiling is applied to every
   * token of the account at its effective time (tokens keep their own scopes;
   * they use only those within the ceiling).
   *
   * @param owner the owner id
   * @param patch the fields to change
   * @param options actor, effective time, expected revision, whether a ceiling is checked against the tokens
   * @returns the account
   * @throws {InvalidInputError} `INVALID_INPUT` naming the field: a bad amount, a ceiling that would leave one of the owner's tokens with no scope
   *   or of an owner with more than {@link MAX_CEILING_CHECK_TOKENS} live tokens (unless `checkTokens: false`),
   *   `options` with a field of another name (a misspelt `effectiveAt` is not applied at once);
   *   `LIFETIME_EXCEEDED` for token rules looser than the application's
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when it is not at `expectedRevision`; without it, when other
   *   instances' writes kept changing it through every attempt (a change written meanwhile is read again and this one
   *   applied on top; this instance's own changes of the account are written one at a time)
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED` when the store has no accounts
   * @example
   * ```ts
   * await kw.accounts.set("acct_1", { ceiling: ["core:read"], credits: { limit: 100_000, reset: "month" } });
   * await kw.accounts.set("acct_1", { suspended: { reason: "invoice 2026-11 unpaid" } }, { actor: "billing" });
   * await kw.accounts.set("acct_1", { suspended: null }, { actor: "billing" }); // lifted: the tokens work again
   * ```
   */
  async set(owner: string, patch: AccountPatch, options: SetAccountOptions = {}): Promise<AccountRecord> {
    parseInput(ownerSchema, owner, "owner");
    const data = parseInput(patchSchema, patch, "patch") as Partial<AccountPolicy>;
    checkOptionFields(options, SET_OPTIONS);
    const actor = parseInput(actorSchema, options.actor ?? DEFAULT_ACTOR, "actor");
    const expected = options.expectedRevision;
    if (expected !== undefined && (!Number.isSafeInteger(expected) || expected < 0)) {
      throw new InvalidInputError("expectedRevision", "must be a non-negative integer");
    }
    const given = options.effectiveAt === undefined ? undefined : toEpochMs(options.effectiveAt, 0, "effectiveAt");
    const checkTokens = options.checkTokens ?? true;
    if (typeof checkTokens !== "boolean") throw new InvalidInputError("checkTokens", "must be a boolean");
    if (data.tokens) checkAccountRules(data.tokens, this.#cfg.tokens);
    if (data.ceiling && checkTokens) {
      const clock = this.#cfg.now();
      await this.#checkCeiling(owner, data.ceiling, Math.max(clock, this.#cutover(given, clock)));
    }
    const store = this.#cfg.store;
    return this.#writes.run(owner, async () => {
      for (let attempt = 1; ; attempt++) {
        const current = await store.getAccount(owner);
        const revision = current?.revision ?? 0;
        if (expected !== undefined && expected !== revision) throw new RevisionConflictError(owner, expected);
        // Made at no earlier than the account's last write (SECURITY.md, "Clocks").
        const now = accountWriteTime(current, this.#cfg.now());
        const effectiveAt = this.#cutover(given, now);
        const reason = data.suspended?.reason;
        const extra = { ...(effectiveAt !== now && { effectiveAt }), ...(reason !== undefined && { reason }) };
        const entry = accountAudit(now, this.#cfg.random, actor, "account", owner, Object.keys(data), extra);
        const base = current ?? { owner, policy: EMPTY_POLICY, scheduled: [], createdAt: now, updatedAt: now, revision: 0 };
        const patch = reason === undefined ? data : { ...data, suspended: suspensionFrom(base, reason, effectiveAt, now) };
        const next: StoredAccount = { ...base, ...scheduleRevision(base, patch, effectiveAt, now), updatedAt: now };
        let saved: StoredAccount;
        try {
          saved = await store.putAccount(next, revision, entry);
        } catch (err) {
          // Without expectedRevision, a change written meanwhile (another field, members) is read again and this
          // one applied on top: last writer wins per call, never a change lost to a conflict it did not ask about.
          if (!(err instanceof RevisionConflictError) || expected !== undefined || attempt >= ACCOUNT_WRITE_ATTEMPTS) throw err;
          continue;
        } finally {
          // Whatever the outcome: a write that failed may still have been stored (a reply lost after the commit).
          this.#changed(owner);
        }
        return view(saved, now);
      }
    });
  }

  /**
   * When a change asked for `given` (default `now + propagationDelayMs`)
   * takes effect: verifiers cache accounts up to revocationBoundMs, and a
   * store's change feed may not announce account changes (an adapter written
   * before account events), so a future time is moved to at least
   * `now + revocationBoundMs`: every server switches at one instant.
   */
  #cutover(given: number | undefined, now: number): number {
    const requested = given ?? now + this.#cfg.propagationDelayMs;
    return requested <= now ? requested : Math.max(requested, now + this.#cfg.revocationBoundMs);
  }

  /** Refuses a ceiling that would leave a live token of the owner with no scope. */
  async #checkCeiling(owner: string, ceiling: readonly string[], at: number): Promise<void> {
    const store = this.#cfg.store;
    let cursor: string | null = null;
    let checked = 0;
    do {
      const page = await store.list(owner, { limit: 1000, cursor });
      for (const t of page.items) {
        // Each token as every server judges it at `at` (no earlier than its last write).
        const tokenAt = readTime(t, at);
        if (!live(t, tokenAt)) continue;
        if (++checked > MAX_CEILING_CHECK_TOKENS) {
          throw new InvalidInputError(
            "ceiling",
            `the owner has more than ${MAX_CEILING_CHECK_TOKENS} live tokens to check (checkTokens: false sets the ceiling unchecked)`,
          );
        }
        const scopes = policyAt(t, tokenAt).scopes;
        if (!scopes.some((s) => ceiling.some((c) => scopesOverlap(s, c)))) {
          throw new InvalidInputError("ceiling", `would leave token ${t.id} with no scope`);
        }
      }
      cursor = page.nextCursor;
    } while (cursor !== null);
  }
}

/** The owner's account, or null (always null on a store without accounts). */
export async function accountOf(cfg: ResolvedConfig, owner: string): Promise<StoredAccount | null> {
  return cfg.store.capabilities.accounts ? cfg.store.getAccount(owner) : null;
}

/**
 * The scopes a token may hold: each within the owner's plan ceiling in force
 * at `at`, or at the account's last write when later (no account, no ceiling).
 *
 * @throws {ScopeNotAllowedError} `SCOPE_NOT_ALLOWED` naming the first scope outside the ceiling
 */
export function checkWithinCeiling(account: StoredAccount | null, scopes: readonly string[], at: number): void {
  const ceiling = account && accountPolicyAt(account, at).ceiling;
  if (!ceiling) return;
  const outside = scopes.find((s) => !scopesGrant(ceiling, s));
  if (outside !== undefined) throw new ScopeNotAllowedError(outside, "outside the account's plan ceiling");
}

function live(t: StoredToken, at: number): boolean {
  const expiresAt = policyAt(t, at).expiresAt;
  return t.revokedAt === null && (expiresAt === null || expiresAt > at);
}

/**
 * Whether some scope is granted by both `a` and `b` (docs/scopes.md): the
 * actions meet (equal, or `*` on either side), the paths have a length both
 * accept (a trailing `*` is one or more segments, so the shorter path may
 * end in it), and each segment both name meets (equal, or `*` on either side).
 */
export function scopesOverlap(a: string, b: string): boolean {
  const x = parseScope(a);
  const y = parseScope(b);
  if (x === null || y === null) return false;
  const meet = (p: string, q: string) => p === q || p === "*" || q === "*";
  if (!meet(x.action, y.action)) return false;
  const shorter = x.path.length <= y.path.length ? x.path : y.path;
  if (x.path.length !== y.path.length && shorter.at(-1) !== "*") return false;
  return shorter.every((seg, i) => meet(seg, (shorter === x.path ? y.path : x.path)[i]!));
}

/**
 * The suspension a change effective at `effectiveAt` writes, with the time
 * it began: a suspension in force when the change applies (at `effectiveAt`,
 * or at `now` for a change made at once) goes on and keeps its start (or the
 * change's, when that is earlier: a backdated change); an account not
 * suspended then is suspended from `effectiveAt`. A suspension written
 * before `since` was recorded goes on without one (not known).
 */
function suspensionFrom(account: Revised<AccountPolicy>, reason: string, effectiveAt: number, now: number): AccountSuspension {
  const current = policyAt(account, Math.max(effectiveAt, now)).suspended;
  if (current == null) return { reason, since: effectiveAt };
  return current.since === undefined ? { reason } : { reason, since: Math.min(current.since, effectiveAt) };
}

/** The public view at `now`: the policy in force and the revisions still to come. */
function view(a: StoredAccount, now: number): AccountRecord {
  return {
    ...structuredClone(a),
    policy: structuredClone(policyAt(a, now)),
    scheduled: structuredClone(a.scheduled.filter((s) => s.effectiveAt > now)),
  };
}
