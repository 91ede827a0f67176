// Plausible third-party adapters, each breaking one rule of the TokenStore contract
// (src/store/types.ts) with a one-method change to a correct one. The conformance
// suite must fail each of them (conformance-catches.test.ts runs it against them).
import type { AuditEntry, StoredToken } from "../../src/model/types.js";
import { MemoryStore } from "../../src/store/memory.js";
import type { BillingUsageQuery, ChangeEvent, CreditAdjustment, PageQuery, StoreCapabilities, TokenStore } from "../../src/store/types.js";

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

  /** `inner`: the data of another Delegate, for a peer over the same data (as a second process's connection). */
  constructor(options: { changeFeed?: boolean; inner?: MemoryStore | undefined } = {}) {
    const { inner, ...memory } = options;
    this.inner = inner ?? new MemoryStore(memory);
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

/**
 * A read-through cache on get and findByHash that the store's own writes drop, as a write-through cache
 * would: right within one process, and blind to another process's revocation.
 */
export class OwnWritesCache extends Delegate {
  #byId = new Map<string, StoredToken>();
  #byHash = new Map<string, StoredToken>();
  /** `of`: a store whose data this one shares, as another process's connection to the database. */
  constructor(of?: OwnWritesCache) {
    super({ inner: of?.inner });
  }
  override async get(id: string) {
    const t = this.#byId.get(id) ?? (await this.inner.get(id));
    if (t) this.#byId.set(id, t);
    return t && clone(t);
  }
  override async findByHash(hash: string) {
    const t = this.#byHash.get(hash) ?? (await this.inner.findByHash(hash));
    if (t) this.#byHash.set(hash, t);
    return t && clone(t);
  }
  #drop(): void {
    this.#byId.clear();
    this.#byHash.clear();
  }
  override async update(...a: Args<"update">) {
    this.#drop();
    return this.inner.update(...a);
  }
  override async revoke(...a: Args<"revoke">) {
    this.#drop();
    return this.inner.revoke(...a);
  }
  override async delete(...a: Args<"delete">) {
    this.#drop();
    return this.inner.delete(...a);
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

/** list returns shallow copies: nested objects are shared with what is stored. */
export class SharedRefs extends Delegate {
  #rows = new Map<string, StoredToken>();
  async #sync(id: string): Promise<void> {
    const t = await this.inner.get(id);
    if (t) this.#rows.set(id, t);
    else this.#rows.delete(id);
  }
  override async insert(t: StoredToken, audit?: AuditEntry) {
    await this.inner.insert(t, audit);
    await this.#sync(t.id);
  }
  override async update(next: StoredToken, revision: number, audit?: AuditEntry) {
    const saved = await this.inner.update(next, revision, audit);
    await this.#sync(next.id);
    return saved;
  }
  override async revoke(id: string, at: number, audit?: AuditEntry) {
    const r = await this.inner.revoke(id, at, audit);
    await this.#sync(id);
    return r;
  }
  override async delete(id: string, audit?: AuditEntry) {
    const d = await this.inner.delete(id, audit);
    this.#rows.delete(id);
    return d;
  }
  override async get(id: string) {
    const t = this.#rows.get(id);
    return t ? clone(t) : null;
  }
  override async findByHash(hash: string) {
    const t = await this.inner.findByHash(hash);
    return t ? this.get(t.id) : null;
  }
  override async list(owner: string, page: PageQuery) {
    return (await this.inner.list(owner, page)).map((t) => ({ ...this.#rows.get(t.id)! }));
  }
}

/** Keeps the caller's audit entries and the `next` of update by reference. */
export class KeepsRefs extends Delegate {
  #given = new Map<string, AuditEntry>();
  #next = new Map<string, StoredToken>();
  #keep(audit: AuditEntry | undefined): void {
    if (audit) this.#given.set(audit.id, audit);
  }
  override async appendAudit(entry: AuditEntry) {
    await this.inner.appendAudit(entry);
    this.#keep(entry);
  }
  override async insert(t: StoredToken, audit?: AuditEntry) {
    await this.inner.insert(t, audit);
    this.#keep(audit);
  }
  override async update(next: StoredToken, revision: number, audit?: AuditEntry) {
    const saved = await this.inner.update(next, revision, audit);
    this.#keep(audit);
    this.#next.set(next.id, next);
    return saved;
  }
  override async revoke(id: string, at: number, audit?: AuditEntry) {
    const r = await this.inner.revoke(id, at, audit);
    this.#keep(audit);
    return r;
  }
  override async listAudit(...a: Args<"listAudit">) {
    return (await this.inner.listAudit(...a)).map((e) => clone(this.#given.get(e.id) ?? e));
  }
  override async get(id: string) {
    const t = await this.inner.get(id);
    const n = this.#next.get(id);
    return t && n ? { ...t, policy: clone(n.policy), metadata: clone(n.metadata) } : t;
  }
}

/** update honours next.revokedAt on a live token: it revokes it. */
export class UpdateStoresRevokedAt extends Delegate {
  override async update(next: StoredToken, revision: number, audit?: AuditEntry) {
    const saved = await this.inner.update(next, revision, audit);
    return next.revokedAt !== null && saved.revokedAt === null ? this.inner.revoke(next.id, next.revokedAt) : saved;
  }
}

/** findByHash through an index of the first 16 characters of each hash. */
export class PrefixIndex extends Delegate {
  #index = new Map<string, string>();
  #add(t: StoredToken): void {
    for (const h of hashesOf(t)) this.#index.set(h.slice(0, 16), t.id);
  }
  override async insert(t: StoredToken, audit?: AuditEntry) {
    await this.inner.insert(t, audit);
    this.#add(t);
  }
  override async update(next: StoredToken, revision: number, audit?: AuditEntry) {
    const saved = await this.inner.update(next, revision, audit);
    this.#add(saved);
    return saved;
  }
  override async findByHash(hash: string) {
    const id = this.#index.get(hash.slice(0, 16));
    const t = id === undefined ? null : await this.inner.get(id);
    return t && hashesOf(t).some((h) => h.slice(0, 16) === hash.slice(0, 16)) ? t : null;
  }
}

/** billingUsage to the contract before pages: every sum of the period, whatever `after` and `limit`. */
export class WholeBilling extends Delegate {
  override billingUsage(query: BillingUsageQuery) {
    return this.inner.billingUsage({ owner: query.owner, from: query.from, to: query.to });
  }
}

/** billingUsage honours `limit` but not `after`: the first page, again and again. */
export class BillingIgnoresAfter extends Delegate {
  override billingUsage(query: BillingUsageQuery) {
    return this.inner.billingUsage({ ...query, after: undefined });
  }
}

/** adjustCredits written before idempotency keys: a top-up retried with its key is applied again. */
export class IgnoresCreditKeys extends Delegate {
  override adjustCredits(request: CreditAdjustment, now: number, audit?: AuditEntry) {
    return this.inner.adjustCredits({ key: request.key, policy: request.policy, change: request.change }, now, audit);
  }
}

/** findByHash as `WHERE hash = ? OR id = ? OR owner = ?`: a token found by something else than its hash. */
export class FindsByAnyKey extends Delegate {
  override async findByHash(hash: string) {
    return (await this.inner.findByHash(hash)) ?? (await this.inner.get(hash)) ?? (await this.inner.list(hash, { limit: 1, after: null }))[0] ?? null;
  }
}

/** A nonce still lives at its expiry time (`expires_at < now` taken for expired). */
export class NonceLivesAtExpiry extends Delegate {
  override rememberNonce(key: Parameters<MemoryStore["rememberNonce"]>[0], expiresAt: number, now: number) {
    return this.inner.rememberNonce(key, expiresAt + 1, now);
  }
}

/** An owner column of 255 characters that truncates (MySQL without strict mode). */
export class ShortOwnerColumn extends Delegate {
  static #cut = (owner: string): string => [...owner].slice(0, 255).join("");
  override insert(t: StoredToken, audit?: AuditEntry) {
    const cut = ShortOwnerColumn.#cut;
    return this.inner.insert({ ...t, owner: cut(t.owner) }, audit && { ...audit, owner: cut(audit.owner) });
  }
  override list(owner: string, page: PageQuery) {
    return this.inner.list(ShortOwnerColumn.#cut(owner), page);
  }
  override listAudit(filter: Parameters<MemoryStore["listAudit"]>[0], page: PageQuery) {
    return this.inner.listAudit("owner" in filter ? { owner: ShortOwnerColumn.#cut(filter.owner) } : filter, page);
  }
}

/**
 * Nonces in a table of their own, read and then written (two round trips to a key-value database without
 * transactions) behind a lock of the instance: atomic within one process, and two processes accept one nonce twice.
 */
export class InstanceLockedNonces extends Delegate {
  /** The nonce table, shared with the peers made from this store: expiry by nonce key. */
  readonly nonces: Map<string, number>;
  #lock: Promise<unknown> = Promise.resolve();
  /** `of`: a store whose data this one shares, as another process's connection to the database. */
  constructor(of?: InstanceLockedNonces) {
    super({ inner: of?.inner });
    this.nonces = of?.nonces ?? new Map();
  }
  override rememberNonce(key: Parameters<MemoryStore["rememberNonce"]>[0], expiresAt: number, now: number): Promise<boolean> {
    const call = this.#lock.then(async () => {
      const k = JSON.stringify([key.tokenId, key.nonce]);
      const held = this.nonces.get(k);
      await new Promise((r) => setImmediate(r)); // the round trip between the read and the write
      if (held !== undefined && held > now) return false;
      this.nonces.set(k, expiresAt);
      return true;
    });
    this.#lock = call.catch(() => {});
    return call;
  }
  override async delete(...a: Args<"delete">) {
    const deleted = await this.inner.delete(...a);
    let nonces = 0;
    for (const k of this.nonces.keys()) {
      if ((JSON.parse(k) as string[])[0] === a[0] && this.nonces.delete(k)) nonces++;
    }
    return { ...deleted, removed: { ...deleted.removed, nonces: deleted.removed.nonces + nonces } };
  }
}
