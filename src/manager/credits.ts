// Admin operations on credit balances, of a token or of an account's pool;
// reached as `kw.credits`. Top-ups and resets are audited in the same
// transaction as the change.
import type { ResolvedConfig } from "../config.js";
import { AccountNotFoundError, InvalidInputError, TokenNotFoundError, TokenRevokedError } from "../errors.js";
import { ACCOUNT_AUDIT_TARGET, type AccountCreditsPolicy, accountPolicyAt } from "../model/account.js";
import { auditId } from "../model/audit-id.js";
import { DEFAULT_POOL, isPoolName, MAX_CREDIT_BALANCE, poolOf } from "../model/pools.js";
import { isTokenId, policyAt, readTime } from "../model/record.js";
import { actorSchema, checkOptionFields, DEFAULT_ACTOR, idempotencyKeySchema, ownerQuerySchema, parseInput } from "../model/schemas.js";
import type { AuditEntry } from "../model/types.js";
import { type CreditChange, tokenPool } from "../store/kit/account-credits.js";
import type { CreditKey } from "../store/types.js";

/**
 * Which balance: a token's (`{ tokenId }`) or an account's pool
 * (`{ owner }`), never both; `pool` names one of their named pools (absent:
 * the default pool, `credits`).
 */
export type CreditTarget = CreditKey;

/** A balance as `kw.credits` returns it. */
export interface CreditBalance {
  /** Credits per period. */
  limit: number;
  /** Credits that can be spent now (top-ups and, for a pool, the overage allowance included). */
  remaining: number;
  /** When credits next come back (refill, or the monthly reset of a pool), epoch ms, or null. */
  nextRefillAt: number | null;
  /**
   * True when a top-up or reset had an idempotency key applied already:
   * nothing was changed, no audit entry written, and the balance is the one
   * now (Stripe's `Idempotent-Replayed`); a webhook handler can send its
   * receipt only when false. False otherwise: the first call with a key, a
   * call without one, and {@link CreditManager.get}.
   */
  replayed: boolean;
}

/** Options of the audited operations; a field of another name is refused (`INVALID_INPUT` on `options`). */
export interface CreditOptions {
  /** Who does it, for the audit log (default `"system"`). */
  actor?: string | undefined;
  /**
   * Makes the call safe to retry (Stripe's semantics): a key of your choice,
   * 1 to 255 characters of text (no token), such as the id of the payment
   * event that pays for a top-up. The store keeps it with the operation, in
   * the same transaction as the change, for 30 days
   * (`CREDIT_KEY_RETENTION_MS`): a call with the same key, balance,
   * operation and amount within them changes nothing, writes no audit
   * entry, and returns the balance now with `replayed: true`; the same key
   * with another balance, operation or amount is `INVALID_INPUT` on
   * `idempotencyKey`. A call that fails keeps no key. Keys are shared by
   * every balance of the store.
   */
  idempotencyKey?: string | undefined;
}

/** Credit administration; reached as `kw.credits`. */
export class CreditManager {
  readonly #cfg: ResolvedConfig;

  /** @internal */
  constructor(config: ResolvedConfig) {
    this.#cfg = config;
  }

  /**
   * The balance now (any refill or monthly reset due is applied).
   *
   * @param target `{ tokenId }` or `{ owner }`
   * @returns the balance
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND` / {@link AccountNotFoundError} `ACCOUNT_NOT_FOUND`
   * @throws {InvalidInputError} `INVALID_INPUT` naming `target` (both `tokenId` and `owner`, or neither; no credit limit), `target.tokenId`, `target.owner` or `target.pool`
   * @example
   * ```ts
   * const { remaining } = await kw.credits.get({ owner: "acct_1" });
   * ```
   */
  get(target: CreditTarget): Promise<CreditBalance> {
    return this.#apply(target, { op: "read" }, undefined);
  }

  /**
   * Adds bought credits to a balance, kept across refills and daily or monthly
   * resets until spent (requests spend the plan's credits first, then bought
   * ones, then a pool's overage; a refill or reset gives back the plan's
   * credits spent, before the top-up too). Audited.
   *
   * @param target `{ tokenId }` or `{ owner }`
   * @param amount credits to add, an integer from 1 to 10^15
   * @param options the actor, and an idempotency key that makes a retry safe ({@link CreditOptions.idempotencyKey})
   * @returns the balance after the top-up (with a key used already: the balance now, `replayed: true`)
   * @throws {InvalidInputError} `INVALID_INPUT` naming `amount` (negative, fractional, NaN, infinite, too large),
   *   `idempotencyKey` (malformed, or used for another operation), or the target as {@link get}
   * @throws {TokenRevokedError} `TOKEN_REVOKED` for a revoked token (nothing changes, no key kept)
   * @example
   * ```ts
   * await kw.credits.topUp({ tokenId: record.id }, 500, { actor: "user:42" });
   * // A payment webhook, delivered at least once: the event's id applies it once.
   * const { replayed } = await kw.credits.topUp({ owner: "acct_1" }, 500, { actor: "stripe", idempotencyKey: event.id });
   * if (!replayed) await sendReceipt(event); // the "credits added" email: once, not at every delivery
   * ```
   */
  topUp(target: CreditTarget, amount: number, options: CreditOptions = {}): Promise<CreditBalance> {
    if (typeof amount !== "number" || !Number.isSafeInteger(amount) || amount < 1 || amount > MAX_CREDIT_BALANCE) {
      return Promise.reject(new InvalidInputError("amount", `must be an integer from 1 to ${MAX_CREDIT_BALANCE}`));
    }
    return this.#apply(target, { op: "topUp", amount }, options);
  }

  /**
   * Makes a balance full again (its limit) and starts a new period; top-ups left are dropped. Audited.
   *
   * @param target `{ tokenId }` or `{ owner }`
   * @param options the actor, and an idempotency key that makes a retry safe ({@link CreditOptions.idempotencyKey})
   * @returns the balance after the reset (with a key used already: the balance now, `replayed: true`)
   * @throws {InvalidInputError} `INVALID_INPUT` naming `idempotencyKey` (malformed, or used for another operation), or the target as {@link get}
   * @throws {TokenRevokedError} `TOKEN_REVOKED` for a revoked token (nothing changes, no key kept)
   * @example
   * ```ts
   * await kw.credits.reset({ owner: "acct_1" });
   * ```
   */
  reset(target: CreditTarget, options: CreditOptions = {}): Promise<CreditBalance> {
    return this.#apply(target, { op: "reset" }, options);
  }

  async #apply(target: CreditTarget, change: CreditChange, options: CreditOptions | undefined): Promise<CreditBalance> {
    const key = creditKey(target);
    let actor = DEFAULT_ACTOR;
    let idempotencyKey: string | undefined;
    if (options !== undefined) {
      checkOptionFields(options, CREDIT_OPTIONS);
      actor = parseInput(actorSchema, options.actor ?? DEFAULT_ACTOR, "actor");
      if (options.idempotencyKey !== undefined) idempotencyKey = parseInput(idempotencyKeySchema, options.idempotencyKey, "idempotencyKey");
    }
    const pool = key.pool ?? DEFAULT_POOL;
    const cfg = this.#cfg;
    const store = cfg.store;
    const now = cfg.now();
    let owner: string;
    let policy: AccountCreditsPolicy | null;
    if ("tokenId" in key) {
      const token = isTokenId(key.tokenId) ? await store.get(key.tokenId) : null;
      // A malformed id is not echoed (it may be a token passed by mistake).
      if (!token) throw new TokenNotFoundError(isTokenId(key.tokenId) ? key.tokenId : "");
      // Revocation is final: credits added to a revoked token (a paid top-up) could never be spent.
      if (change.op !== "read" && token.revokedAt !== null) throw new TokenRevokedError(token.id);
      // Each record's policy as every server judges it: at no earlier than its last write.
      const credits = poolOf(policyAt(token, readTime(token, now)), pool) ?? null;
      policy = credits && tokenPool(credits);
      owner = token.owner;
    } else {
      owner = key.owner;
      const account = await store.getAccount(owner);
      if (!account) throw new AccountNotFoundError(owner);
      policy = poolOf(accountPolicyAt(account, now), pool) ?? null;
    }
    if (policy === null) throw new InvalidInputError(pool === DEFAULT_POOL ? "target" : "target.pool", "has no credit limit");
    let audit: AuditEntry | undefined;
    if (change.op !== "read") {
      audit = {
        id: auditId(now, cfg.random),
        at: now,
        actor,
        action: "credits",
        tokenId: "tokenId" in key ? key.tokenId : ACCOUNT_AUDIT_TARGET,
        owner,
        changes: [change.op],
        ...(change.op === "topUp" ? { amount: change.amount } : {}),
      };
    }
    const p = policy;
    if (change.op === "read" && "tokenId" in key && !store.capabilities.accounts) {
      // A store without the accounts part still reads a token's balance: its meter with cost 0 spends nothing.
      const credits = p.reset === null ? { limit: p.limit, refill: p.refill } : { limit: p.limit, refill: p.refill, reset: p.reset };
      const m = await store.meter({ tokenId: key.tokenId, cost: 0, rateLimit: null, credits, pool: key.pool }, now);
      return { limit: p.limit, remaining: m.credits?.remaining ?? p.limit, nextRefillAt: m.credits?.nextRefillAt ?? null, replayed: false };
    }
    const r = await store.adjustCredits({ key, policy: p, change, ...(idempotencyKey !== undefined && { idempotencyKey }) }, now, audit);
    // Only a keyed call can be a repeat, whatever an adapter answers.
    return { limit: p.limit, remaining: r.remaining, nextRefillAt: r.nextRefillAt, replayed: idempotencyKey !== undefined && r.replayed === true };
  }
}

const CREDIT_OPTIONS = ["actor", "idempotencyKey"] as const;

const TARGET_RULE = "must be { tokenId } or { owner } (one of them), with an optional pool";

/**
 * The balance a target names, checked: exactly one of `tokenId` (a string;
 * one that is no token id is `TOKEN_NOT_FOUND` when read) and `owner`, and
 * a pool name (absent for the default pool); no other field.
 */
function creditKey(target: CreditTarget): CreditKey {
  if (typeof target !== "object" || target === null) throw new InvalidInputError("target", TARGET_RULE);
  // A misspelt `pool` would move the credits of a named pool's purchase into the default pool.
  if (Object.keys(target).some((k) => k !== "tokenId" && k !== "owner" && k !== "pool")) throw new InvalidInputError("target", TARGET_RULE);
  const { tokenId, owner, pool } = target as { tokenId?: unknown; owner?: unknown; pool?: unknown };
  if ((tokenId === undefined) === (owner === undefined)) throw new InvalidInputError("target", TARGET_RULE);
  if (pool !== undefined && !isPoolName(pool)) throw new InvalidInputError("target.pool", "must be a pool name");
  const named = pool === undefined || pool === DEFAULT_POOL ? {} : { pool };
  if (tokenId !== undefined) {
    if (typeof tokenId !== "string") throw new InvalidInputError("target.tokenId", "must be a token id (tok_…)");
    return { tokenId, ...named };
  }
  return { owner: parseInput(ownerQuerySchema, owner, "target.owner"), ...named };
}
