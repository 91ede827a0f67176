// Records as the request path keeps them. A store returns a fresh copy on
// every lookup (or, in this process, its own frozen object); the verifier
// keeps one object per token revision and one per distinct policy instead,
// so that what is derived per object (compiled matchers, unsealed keys)
// survives cache misses, and so that a cached token costs little more than
// what makes it different from others: no second copy of the hash it was
// found under, the kind and env as shared constants, empty parts shared.
import { BoundedMap } from "../lib/bounded-map.js";
import type { JsonValue, ScheduledPolicy, StoredToken, TokenPolicy } from "../model/types.js";
import { checkStoredToken } from "../store/kit/validate.js";

const NO_SCHEDULE: ScheduledPolicy[] = Object.freeze([]) as unknown as ScheduledPolicy[];
const NO_PREVIOUS: StoredToken["previous"] = Object.freeze([]) as unknown as StoredToken["previous"];
const NO_METADATA: Record<string, JsonValue> = Object.freeze({}) as Record<string, JsonValue>;
// One string per value, not one per record.
const KINDS: Record<string, StoredToken["kind"]> = { secret: "secret", publishable: "publishable" };
const ENVS: Record<string, StoredToken["env"]> = { live: "live", test: "test" };

/** @internal */
export class RecordInterner {
  /** The last record seen of each token, by id. */
  readonly #records: BoundedMap<StoredToken>;
  /** One object per distinct policy (by content), shared by every token that has it. */
  readonly #policies: BoundedMap<TokenPolicy>;

  constructor(maxEntries: number) {
    this.#records = new BoundedMap(maxEntries);
    this.#policies = new BoundedMap(maxEntries);
  }

  /**
   * The record to keep for `fresh` (found under `hash`, when looked up by
   * hash): the known object when the store returned the same revision again
   * (every write increments it, so the content is the same), else a copy of
   * `fresh`'s top level with its policies and empty parts shared. Records
   * kept here are never mutated.
   *
   * A new revision is checked here, once, whole (`checkStoredToken`): a
   * store that answers anything but a well-formed record (a field of the
   * wrong type, an expiry as a string, `undefined`) makes this throw, and
   * the lookup fails like a store call that failed (`STORE_UNAVAILABLE`,
   * nothing cached), so the request path never reads a malformed record.
   */
  readonly intern = (fresh: StoredToken | null, hash?: string): StoredToken | null => {
    if (fresh === null) return null;
    const known = this.#records.get(fresh.id);
    if (known !== undefined && known.revision === fresh.revision) return known;
    checkStoredToken(fresh, "record");
    const record: StoredToken = {
      ...fresh,
      hash: hash !== undefined && hash === fresh.hash ? hash : fresh.hash,
      kind: KINDS[fresh.kind] ?? fresh.kind,
      env: ENVS[fresh.env] ?? fresh.env,
      policy: this.#policy(fresh.policy),
      scheduled: fresh.scheduled.length === 0 ? NO_SCHEDULE : fresh.scheduled.map((s) => ({ ...s, policy: this.#policy(s.policy) })),
      previous: fresh.previous.length === 0 ? NO_PREVIOUS : fresh.previous,
      metadata: Object.keys(fresh.metadata).length === 0 ? NO_METADATA : fresh.metadata,
    };
    this.#records.set(record.id, record);
    return record;
  };

  /** The record kept for this id, when it is at this revision. */
  readonly known = (id: string, revision: number): StoredToken | undefined => {
    const known = this.#records.get(id);
    return known !== undefined && known.revision === revision ? known : undefined;
  };

  #policy(policy: TokenPolicy): TokenPolicy {
    const key = JSON.stringify(policy);
    const known = this.#policies.get(key);
    if (known !== undefined) return known;
    this.#policies.set(key, policy);
    return policy;
  }
}
