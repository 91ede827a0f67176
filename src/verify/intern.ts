// Records as the request path keeps them. A store returns a fresh copy on
// every lookup (or, in this process, its own frozen object); the verifier
// keeps one object per token content and one per distinct policy instead,
// so that what is derived per object (compiled matchers, unsealed keys)
// survives cache misses, and so that a cached token costs little more than
// what makes it different from others: no second copy of the hash it was
// found under, the kind and env as shared constants, empty parts shared.
import { BoundedMap } from "../lib/bounded-map.js";
import { sha256Hex } from "../lib/crypto.js";
import type { JsonValue, ScheduledPolicy, StoredToken, TokenPolicy } from "../model/types.js";
import { checkStoredToken } from "../store/kit/validate.js";

const NO_SCHEDULE: ScheduledPolicy[] = Object.freeze([]) as unknown as ScheduledPolicy[];
const NO_PREVIOUS: StoredToken["previous"] = Object.freeze([]) as unknown as StoredToken["previous"];
const NO_METADATA: Record<string, JsonValue> = Object.freeze({}) as Record<string, JsonValue>;
// One string per value, not one per record.
const KINDS: Record<string, StoredToken["kind"]> = { secret: "secret", publishable: "publishable" };
const ENVS: Record<string, StoredToken["env"]> = { live: "live", test: "test" };

/**
 * A record kept, and where it came from: the digest of the JSON text it was
 * decoded from, or the frozen object it copies (a store's own, which never
 * changes), else null.
 */
interface Kept {
  readonly record: StoredToken;
  readonly source: string | StoredToken | null;
}

/** @internal */
export class RecordInterner {
  /** The last record seen of each token, by id. */
  readonly #records: BoundedMap<Kept>;
  /** One object per distinct policy (by content), shared by every token that has it. */
  readonly #policies: BoundedMap<TokenPolicy>;

  constructor(maxEntries: number) {
    this.#records = new BoundedMap(maxEntries);
    this.#policies = new BoundedMap(maxEntries);
  }

  /**
   * The record to keep for `fresh` (found under `hash`, when looked up by
   * hash): the known object when the store returned the same content again,
   * else a copy of `fresh`'s top level with its policies and empty parts
   * shared. The revision alone does not tell: a store restored from a backup
   * goes back to older revisions, and its next write reuses a revision
   * number with other content. Records kept here are never mutated.
   *
   * New content is checked here, once, whole (`checkStoredToken`): a
   * store that answers anything but a well-formed record (a field of the
   * wrong type, an expiry as a string, `undefined`) makes this throw, and
   * the lookup fails like a store call that failed (`STORE_UNAVAILABLE`,
   * nothing cached), so the request path never reads a malformed record.
   */
  readonly intern = (fresh: StoredToken | null, hash?: string): StoredToken | null => {
    if (fresh === null) return null;
    const kept = this.#records.get(fresh.id);
    if (kept !== undefined) {
      const known = kept.record;
      if (known === fresh || kept.source === fresh || (known.revision === fresh.revision && sameData(known, fresh))) return known;
    }
    return this.#keep(fresh, hash, Object.isFrozen(fresh) ? fresh : null);
  };

  /**
   * The record a store row's JSON `text` holds (found under `hash`, when
   * looked up by hash): the known object when it was decoded from the same
   * text (compared by digest, which costs less than decoding), else decoded
   * and kept.
   */
  readonly decode = (id: string, text: string, hash?: string): StoredToken => {
    const source = sha256Hex(text);
    const kept = this.#records.get(id);
    if (kept !== undefined && kept.source === source) return kept.record;
    return this.#keep(JSON.parse(text) as StoredToken, hash, source);
  };

  #keep(fresh: StoredToken, hash: string | undefined, source: Kept["source"]): StoredToken {
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
    this.#records.set(record.id, { record, source });
    return record;
  }

  #policy(policy: TokenPolicy): TokenPolicy {
    const key = JSON.stringify(policy);
    const known = this.#policies.get(key);
    if (known !== undefined) return known;
    this.#policies.set(key, policy);
    return policy;
  }
}

/** Whether two JSON values hold the same data (an absent key and an undefined one alike). */
function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let keys = 0;
  for (const k in x) {
    if (!sameData(x[k], y[k])) return false;
    keys++;
  }
  for (const _ in y) keys--;
  return keys === 0;
}
