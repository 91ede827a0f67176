// Admin operations on credit balances, of a token or of an account's pool;
// reached as `kw.credits`. Top-ups and resets are audited in the same
// transaction as the change.
import type { ResolvedConfig } from "../config.js";
import { AccountNotFoundError, InvalidInputError, TokenNotFoundError } from "../errors.js";
import { ACCOUNT_AUDIT_TARGET, type AccountCreditsPolicy } from "../model/account.js";
import { auditId } from "../model/audit-id.js";
import { DEFAULT_POOL, isPoolName, poolOf } from "../model/pools.js";
import { isTokenId, policyAt } from "../model/record.js";
import { actorSchema, ownerQuerySchema, parseInput } from "../model/schemas.js";
import type { AuditEntry } from "../model/types.js";
import { type CreditChange, MAX_CREDIT_BALANCE, tokenPool } from "../store/kit/account-credits.js";
import type { CreditKey } from "../store/types.js";

/**
 * Which balance: a token's (`{ tokenId }`) or an account's pool
 * (`{ owner }`); `pool` names one of their named pools (absent: the default
 * pool, `credits`).
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
}

/** Options of the audited operations. */
export interface CreditOptions {
  /** Who does it, for the audit log (default `"system"`). */
  actor?: string;
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
   * @throws {InvalidInputError} `INVALID_INPUT` when the token or account has no credit limit
   * @example
   * ```ts
   * const { remaining } = await kw.credits.get({ owner: "acct_1" });
   * ```
   */
  get(target: CreditTarget): Promise<CreditBalance> {
    return this.#apply(target, { op: "read" }, undefined);
  }

  /**
   * Adds credits to a balance, kept across refills and monthly resets until spent. Audited.
   *
   * @param target `{ tokenId }` or `{ owner }`
   * @param amount credits to add, an integer from 1 to 10^15
   * @param options the actor
   * @returns the balance after the top-up
   * @throws {InvalidInputError} `INVALID_INPUT` naming `amount` (negative, fractional, NaN, infinite, too large)
   * @example
   * ```ts
   * await kw.credits.topUp({ tokenId: record.id }, 500, { actor: "user:42" });
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
   * @param options the actor
   * @returns the balance after the reset
   * @example
   * ```ts
   * await kw.credits.reset({ owner: "acct_1" });
   * ```
   */
  reset(target: CreditTarget, options: CreditOptions = {}): Promise<CreditBalance> {
    return this.#apply(target, { op: "reset" }, options);
  }

  async #apply(target: CreditTarget, change: CreditChange, options: CreditOptions | undefined): Promise<CreditBalance> {
    if (typeof target !== "object" || target === null) throw new InvalidInputError("target", "must be { tokenId } or { owner }");
    let actor = "system";
    if (options !== undefined) {
      if (typeof options !== "object" || options === null) throw new InvalidInputError("options", "must be an object");
      actor = parseInput(actorSchema, options.actor ?? "system", "actor");
    }
    const pool = target.pool ?? DEFAULT_POOL;
    if (!isPoolName(pool)) throw new InvalidInputError("target.pool", "must be a pool name");
    const cfg = this.#cfg;
    const store = cfg.store;
    const now = cfg.now();
    let key: CreditKey;
    let owner: string;
    let policy: AccountCreditsPolicy | null;
    if ("tokenId" in target) {
      const id = target.tokenId;
      const token = isTokenId(id) ? await store.get(id) : null;
      if (!token) throw new TokenNotFoundError(isTokenId(id) ? id : "");
      const credits = poolOf(policyAt(token, now), pool) ?? null;
      policy = credits && tokenPool(credits);
      key = pool === DEFAULT_POOL ? { tokenId: id } : { tokenId: id, pool };
      owner = token.owner;
    } else if ("owner" in target) {
      owner = parseInput(ownerQuerySchema, target.owner, "owner");
      const account = await store.getAccount(owner);
      if (!account) throw new AccountNotFoundError(owner);
      policy = poolOf(policyAt(account, now), pool) ?? null;
      key = pool === DEFAULT_POOL ? { owner } : { owner, pool };
    } else throw new InvalidInputError("target", "must be { tokenId } or { owner }");
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
      return { limit: p.limit, remaining: m.credits?.remaining ?? p.limit, nextRefillAt: m.credits?.nextRefillAt ?? null };
    }
    const r = await store.adjustCredits({ key, policy: p, change }, now, audit);
    return { limit: p.limit, remaining: r.remaining, nextRefillAt: r.nextRefillAt };
  }
}
