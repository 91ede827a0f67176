// Records as the request path keeps them. A store returns a fresh copy on
// every lookup; the verifier keeps one object per token revision and one per
// distinct policy instead, so that what is derived per object (compiled
// matchers, unsealed keys) survives cache misses, and so that a cached token
// costs little more than what makes it different from others.
import type { JsonValue, ScheduledPolicy, StoredToken, TokenPolicy } from "../model/types.js";
import { LookupCache } from "./cache.js";

const DAY = 86_400_000;
const NO_SCHEDULE: ScheduledPolicy[] = Object.freeze([]) as unknown as ScheduledPolicy[];
const NO_PREVIOUS: StoredToken["previous"] = Object.freeze([]) as unknown as StoredToken["previous"];
const NO_METADATA: Record<string, JsonValue> = Object.freeze({}) as Record<string, JsonValue>;

/** @internal */
export class RecordInterner {
  /** The last record seen of each token, by id; kept until evicted (times are nominal). */
  readonly #records: LookupCache<StoredToken>;
  /** One object per distinct policy (by content), shared by every token that has it. */
  readonly #policies: LookupCache<TokenPolicy>;

  constructor(maxEntries: number) {
    this.#records = new LookupCache({ maxEntries, ttlMs: DAY, negativeTtlMs: 0 });
    this.#policies = new LookupCache({ maxEntries, ttlMs: DAY, negativeTtlMs: 0 });
  }

  /**
   * The record to keep for `fresh`: the known object when the store returned
   * the same revision again (every write increments it, so the content is
   * the same), else `fresh` with its policies and empty parts shared.
   * Records kept here are never mutated.
   */
  readonly intern = (fresh: StoredToken | null): StoredToken | null => {
    if (fresh === null) return null;
    const known = this.#records.get(fresh.id, 0)?.value;
    if (known != null && known.revision === fresh.revision) return known;
    const record: StoredToken = {
      ...fresh,
      policy: this.#policy(fresh.policy),
      scheduled: fresh.scheduled.length === 0 ? NO_SCHEDULE : fresh.scheduled.map((s) => ({ ...s, policy: this.#policy(s.policy) })),
      previous: fresh.previous.length === 0 ? NO_PREVIOUS : fresh.previous,
      metadata: Object.keys(fresh.metadata).length === 0 ? NO_METADATA : fresh.metadata,
    };
    this.#records.set(fresh.id, record, 0, this.#records.generation);
    return record;
  };

  #policy(policy: TokenPolicy): TokenPolicy {
    const key = JSON.stringify(policy);
    const known = this.#policies.get(key, 0)?.value;
    if (known != null) return known;
    this.#policies.set(key, policy, 0, this.#policies.generation);
    return policy;
  }
}
