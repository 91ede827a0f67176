// Usage queries; reached as `kw.usage`.
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError, StoreUnsupportedError } from "../errors.js";
import { optionNames } from "../lib/options.js";
import { checkOptionFields, ownerQuerySchema, parseInput } from "../model/schemas.js";
import type { UsageQueueStats } from "../monitor/usage-queue.js";
import { type AnalyticsGranularity, MAX_USAGE_SCOPE_LENGTH, type UsageAnalyticsQuery, type UsageSeriesBucket } from "../store/kit/usage-analytics.js";
import { parseTokenOrOwner, type TokenOrOwner } from "./target.js";
import { toEpochMs } from "./time.js";

/** Options of {@link UsageReader.get}. */
export interface GetUsageOptions {
  /** Inclusive start (epoch ms or Date); default 24 hours before `to`. */
  from?: number | Date | undefined;
  /** Exclusive end (epoch ms or Date); default now. */
  to?: number | Date | undefined;
  /** Bucket size (default `"hour"`); `"minute"` spans at most 2 days. */
  granularity?: AnalyticsGranularity | undefined;
  /**
   * Only requests that required exactly this scope (several: space-separated,
   * in the route's order); `""`: those that required none (the `key` of
   * `groupBy: "scope"` for them). Compared as usage keeps it: its first 256
   * characters.
   */
  scope?: string | undefined;
  /** Only requests with this code: `"OK"` or a denial code. */
  code?: string | undefined;
  /** One bucket per time and per scope, code or token (`key`). */
  groupBy?: "scope" | "code" | "token" | undefined;
}

/** Which usage: a token's (its id, or `{ tokenId }`) or an owner's, all tokens together (`{ owner }`). */
export type UsageTarget = string | { tokenId: string } | { owner: string };

/** Options of {@link UsageReader.top}. */
export interface TopConsumersOptions {
  /** Inclusive start (epoch ms or Date); default 24 hours before `to`. */
  from?: number | Date | undefined;
  /** Exclusive end (epoch ms or Date), at most 400 days after `from`; default now. */
  to?: number | Date | undefined;
  /** How many tokens (1–100, default 10). */
  limit?: number | undefined;
  /** `"credits"` (default): ranked by credits spent; `"requests"`: by requests. */
  by?: "credits" | "requests" | undefined;
}

/** One token in {@link UsageReader.top}. */
export interface TopConsumer {
  /** The token's id. */
  tokenId: string;
  /** Requests checked in the range: `allowed + denied`. */
  requests: number;
  /** Requests allowed. */
  allowed: number;
  /** Requests denied once the token was identified (a credential failure names no token, and is not counted here). */
  denied: number;
  /** Credits the allowed requests drew, from every pool. */
  credits: number;
}

/** When a token was last used, and from which IP (from usage writes: no write per request). */
export interface LastUse {
  /** When the last allowed request was checked, epoch ms (the checking instance's clock); a denied one is no use. */
  at: number;
  /** That request's client IP, or null when none was known. */
  ip: string | null;
}

const DAY_MS = 86_400_000;
/** @internal Defaults of `top`'s `limit` and `by`, and of `get`'s `granularity`. */
export const USAGE_DEFAULTS = Object.freeze({ topLimit: 10, topBy: "credits", granularity: "hour" });
const MAX_SPAN_MS = 400 * DAY_MS;
const MAX_MINUTE_SPAN_MS = 2 * DAY_MS;

/** Reads metered usage. */
export class UsageReader {
  readonly #cfg: ResolvedConfig;
  readonly #stats: () => UsageQueueStats;

  /** @internal */
  constructor(config: ResolvedConfig, stats: () => UsageQueueStats) {
    this.#cfg = config;
    this.#stats = stats;
  }

  /**
   * Counters of this instance's usage pipeline: events queued, written,
   * dropped on overload (the queue holds at most `usage.maxQueue`), failed writes.
   *
   * @returns the counters now
   * @example
   * ```ts
   * const { dropped } = kw.usage.stats();
   * ```
   */
  stats(): UsageQueueStats {
    return this.#stats();
  }

  /**
   * Requests allowed and denied, and credits spent, per minute, hour or UTC
   * day, of a token or of an owner; filtered by scope or code and grouped by
   * scope, code or token. A store without usage analytics answers a token's
   * hours and days only.
   *
   * @param target a token id, `{ tokenId }` or `{ owner }`
   * @param options time range, granularity, filters, grouping
   * @returns buckets that have any usage, ascending (then by `key`)
   * @throws {InvalidInputError} `INVALID_INPUT` for a bad range (more than 400 days, or 2 days per minute, or from after to)
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED` for an analytics query on a store without them
   * @example
   * ```ts
   * const days = await kw.usage.get(record.id, { from: Date.now() - 7 * 86_400_000, granularity: "day" });
   * const byCode = await kw.usage.get({ owner: "acct_1" }, { granularity: "hour", groupBy: "code" });
   * ```
   */
  async get(target: UsageTarget, options: GetUsageOptions = {}): Promise<UsageSeriesBucket[]> {
    const filter = parseTokenOrOwner(target, "target");
    // A misspelt `scope` or `code` would widen the answer without a word.
    checkOptionFields(options, GET_OPTIONS);
    const { granularity = USAGE_DEFAULTS.granularity, scope, code, groupBy } = options;
    const [from, to] = this.#range(options, granularity === "minute" ? MAX_MINUTE_SPAN_MS : MAX_SPAN_MS);
    const store = this.#cfg.store;
    const plain = "tokenId" in filter && granularity !== "minute" && scope === undefined && code === undefined && groupBy === undefined;
    if (!store.capabilities.usageAnalytics) {
      if (!plain) throw new StoreUnsupportedError("usageAnalytics");
      const id = (filter as { tokenId: string }).tokenId;
      return store.getUsage(id, { from, to, granularity: granularity as "hour" | "day" });
    }
    // A scope is stored cut to its first MAX_USAGE_SCOPE_LENGTH characters: a longer filter is compared so too.
    const stored = typeof scope === "string" ? scope.slice(0, MAX_USAGE_SCOPE_LENGTH) : scope;
    const query: UsageAnalyticsQuery = { filter, from, to, granularity, scope: stored, code, groupBy };
    return store.queryUsage(query);
  }

  /**
   * The tokens of an owner that spent the most (credits, or requests) in a range.
   *
   * @param owner the owner id
   * @param options range, how many, ranked by what
   * @returns at most `limit` tokens, most first
   * @example
   * ```ts
   * const [first] = await kw.usage.top("acct_1", { limit: 5 });
   * ```
   */
  async top(owner: string, options: TopConsumersOptions = {}): Promise<TopConsumer[]> {
    parseInput(ownerQuerySchema, owner, "owner");
    checkOptionFields(options, TOP_OPTIONS);
    const { limit = USAGE_DEFAULTS.topLimit, by = USAGE_DEFAULTS.topBy } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new InvalidInputError("limit", "must be an integer from 1 to 100");
    if (by !== "credits" && by !== "requests") throw new InvalidInputError("by", 'must be "credits" or "requests"');
    const [from, to] = this.#range(options, MAX_SPAN_MS);
    // One bucket per token: a granularity wider than the range.
    const rows = await this.get({ owner }, { from, to, granularity: "day", groupBy: "token" });
    const per = new Map<string, TopConsumer>();
    for (const b of rows) {
      const id = b.key!;
      const t = per.get(id) ?? { tokenId: id, requests: 0, allowed: 0, denied: 0, credits: 0 };
      t.allowed += b.allowed;
      t.denied += b.denied;
      t.requests += b.allowed + b.denied;
      t.credits += b.credits;
      per.set(id, t);
    }
    return [...per.values()].sort((a, b) => b[by] - a[by] || (a.tokenId < b.tokenId ? -1 : 1)).slice(0, limit);
  }

  /**
   * When a token was last used and from which IP, as of the last usage write
   * (within `usage.flushIntervalMs`): keyward writes no row per request for it.
   *
   * @param tokenId the token's id
   * @returns the last use, or null when none was recorded
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED` on a store without usage analytics
   * @example
   * ```ts
   * const last = await kw.usage.lastUsed(record.id);
   * ```
   */
  async lastUsed(tokenId: string): Promise<LastUse | null> {
    // Per token only: an owner, or anything but an id or `{ tokenId }`, is refused naming the argument.
    const given: unknown = tokenId;
    if (typeof given !== "string" && !(typeof given === "object" && given !== null && "tokenId" in given)) {
      throw new InvalidInputError("tokenId", "must be a token id (lastUsed is per token)");
    }
    const { tokenId: id } = parseTokenOrOwner(given as TokenOrOwner, "target") as { tokenId: string };
    const [found] = await this.#cfg.store.lastUsed([id]);
    return found ? { at: found.at, ip: found.ip } : null;
  }

  #range(options: { from?: number | Date; to?: number | Date }, maxSpan: number): [number, number] {
    const to = toEpochMs(options.to, this.#cfg.now(), "to");
    const from = toEpochMs(options.from, to - DAY_MS, "from");
    if (from > to || to - from > maxSpan) {
      throw new InvalidInputError("from", `range must be ordered and at most ${maxSpan / DAY_MS} days`);
    }
    return [from, to];
  }
}

const GET_OPTIONS = optionNames<GetUsageOptions>({ from: true, to: true, granularity: true, scope: true, code: true, groupBy: true });
const TOP_OPTIONS = optionNames<TopConsumersOptions>({ from: true, to: true, limit: true, by: true });
