// Plausible third-party adapters, each breaking one rule of the TokenStore contract
// (src/store/types.ts) with a one-method change to a correct one. The conformance
// suite must fail each of them (conformance-catches.test.ts runs it against them).
import type { AuditEntry, StoredToken } from "../../src/model/types.js";
import { MemoryStore } from "../../src/store/memory.js";
import type { ChangeEvent, StoreCapabilities, TokenStore } from "../../src/store/types.js";

type Args<K extends keyof MemoryStore> = MemoryStore[K] extends (...args: infer A) => unknown ? A : never;

const clone = <V>(value: V): V => structuredClone(value);
const hashesOf = (t: StoredToken): string[] => [t.hash, ...t.previous.map((p) => p.hash)];

/**
 * A correct adapter: every method delegates to a MemoryStore through its public
 * TokenStore methods only, as a foreign adapter over some database would.
 */
export class Delegate implements TokenStore {
  readonly inner: MemoryStore;
  capabilities: StoreCapabilities;
  subscribe?: (listener: (event: ChangeEvent) => void) => () => void;

  constructor(options: { changeFeed?: boolean } = {}) {
    this.inner = new MemoryStore(options);
    this.capabilities = { ...this.inner.capabilities };
    if (this.inner.subscribe) this.subscribe = (l) => this.inner.subscribe!(l);
  }

  insert(...a: Args<"insert">) { return this.inner.insert(...a); }
  get(...a: Args<"get">) { return this.inner.get(...a); }
  findByHash(...a: Args<"findByHash">) { return this.inner.findByHash(...a); }
  list(...a: Args<"list">) { return this.inner.list(...a); }
  update(...a: Args<"update">) { return this.inner.update(...a); }
  revoke(...a: Args<"revoke">) { return this.inner.revoke(...a); }
  delete(...a: Args<"delete">) { return this.inner.delete(...a); }
  appendAudit(...a: Args<"appendAudit">) { return this.inner.appendAudit(...a); }
  listAudit(...a: Args<"listAudit">) { return this.inner.listAudit(...a); }
  meter(...a: Args<"meter">) { return this.inner.meter(...a); }
  rememberNonce(...a: Args<"rememberNonce">) { return this.inner.rememberNonce(...a); }
  recordUsage(...a: Args<"recordUsage">) { return this.inner.recordUsage(...a); }
  getUsage(...a: Args<"getUsage">) { return this.inner.getUsage(...a); }
  getAccount(...a: Args<"getAccount">) { return this.inner.getAccount(...a); }
  putAccount(...a: Args<"putAccount">) { return this.inner.putAccount(...a); }
  adjustCredits(...a: Args<"adjustCredits">) { return this.inner.adjustCredits(...a); }
  queryUsage(...a: Args<"queryUsage">) { return this.inner.queryUsage(...a); }
  lastUsed(...a: Args<"lastUsed">) { return this.inner.lastUsed(...a); }
  touchSeen(...a: Args<"touchSeen">) { return this.inner.touchSeen(...a); }
  billingUsage(...a: Args<"billingUsage">) { return this.inner.billingUsage(...a); }
  claimBillingRun(...a: Args<"claimBillingRun">) { return this.inner.claimBillingRun(...a); }
  finishBillingRun(...a: Args<"finishBillingRun">) { return this.inner.finishBillingRun(...a); }
  async close(): Promise<void> {}
}

/** A read-through cache on get and findByHash that no write drops: reads go stale. */
export class StaleReadCache extends Delegate {
  #byId = new Map<string, StoredToken>();
  #byHash = new Map<string, StoredToken>();
  override async get(id: string) {
    const hit = this.#byId.get(id);
    if (hit) return clone(hit);
    const t = await this.inner.get(id);
    if (t) this.#byId.set(id, clone(t));
    return t;
  }
  override async findByHash(hash: string) {
    const hit = this.#byHash.get(hash);
    if (hit) return clone(hit);
    const t = await this.inner.findByHash(hash);
    if (t) this.#byHash.set(hash, clone(t));
    return t;
  }
}

/** A cache of negative lookups ("no such hash") that inserts and updates never drop. */
export class StaleMissCache extends Delegate {
  #missing = new Set<string>();
  override async findByHash(hash: string) {
    if (this.#missing.has(hash)) return null;
    const t = await this.inner.findByHash(hash);
    if (!t) this.#missing.add(hash);
    return t;
  }
}

/** A change feed that announces only writes that change a token's hashes: no other update, no delete. */
export class LazyFeed extends Delegate {
  #listeners = new Set<(event: ChangeEvent) => void>();
  constructor() {
    super({ changeFeed: false });
    this.capabilities = { ...this.capabilities, changeFeed: true };
    this.subscribe = (l) => {
      const own = (e: ChangeEvent) => l(e);
      this.#listeners.add(own);
      return () => this.#listeners.delete(own);
    };
  }
  #emit(tokenId: string, hashes: string[]): void {
    for (const l of [...this.#listeners]) {
      try {
        l({ tokenId, hashes });
      } catch {}
    }
  }
  override async insert(t: StoredToken, audit?: AuditEntry) {
    await this.inner.insert(t, audit);
    this.#emit(t.id, hashesOf(t));
  }
  override async update(next: StoredToken, revision: number, audit?: AuditEntry) {
    const before = await this.inner.get(next.id);
    const saved = await this.inner.update(next, revision, audit);
    const old = before ? hashesOf(before) : [];
    const now = hashesOf(saved);
    if (old.length !== now.length || old.some((h, i) => h !== now[i])) this.#emit(saved.id, [...new Set([...old, ...now])]);
    return saved;
  }
  override async revoke(id: string, at: number, audit?: AuditEntry) {
    const r = await this.inner.revoke(id, at, audit);
    this.#emit(id, hashesOf(r));
    return r;
  }
}
