// Usage queries; reached as `kw.usage`.
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError } from "../errors.js";
import type { UsageBucket, UsageGranularity } from "../model/types.js";
import type { UsageQueueStats } from "../monitor/usage-queue.js";
import { storeCall } from "./store-call.js";
import { toEpochMs } from "./time.js";

/** Options of {@link UsageReader.get}. */
export interface GetUsageOptions {
  /** Inclusive start (epoch ms or Date); default 24 hours before `to`. */
  from?: number | Date;
  /** Exclusive end (epoch ms or Date); default now. */
  to?: number | Date;
  /** Bucket size (default `"hour"`). */
  granularity?: UsageGranularity;
}

const MAX_SPAN_MS = 400 * 86_400_000;

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
   * Requests allowed and denied, and credits spent, per hour or UTC day.
   *
   * @param tokenId the token's id
   * @param options time range and granularity
   * @returns buckets that have any usage, ascending
   * @throws {InvalidInputError} `INVALID_INPUT` for a bad range (more than 400 days, or from after to)
   * @example
   * ```ts
   * const days = await kw.usage.get(record.id, { from: Date.now() - 7 * 86_400_000, granularity: "day" });
   * ```
   */
  async get(tokenId: string, options: GetUsageOptions = {}): Promise<UsageBucket[]> {
    if (typeof tokenId !== "string" || tokenId.length === 0 || tokenId.length > 64) {
      throw new InvalidInputError("tokenId", "must be a token id");
    }
    const to = toEpochMs(options.to, this.#cfg.now(), "to");
    const from = toEpochMs(options.from, to - 86_400_000, "from");
    const granularity = options.granularity ?? "hour";
    if (granularity !== "hour" && granularity !== "day") throw new InvalidInputError("granularity", 'must be "hour" or "day"');
    if (from > to || to - from > MAX_SPAN_MS) throw new InvalidInputError("from", "range must be ordered and at most 400 days");
    return storeCall(() => this.#cfg.store.getUsage(tokenId, { from, to, granularity }));
  }
}
