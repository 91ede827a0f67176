// Plausible third-party adapters, each breaking one rule of the TokenStore contract
// (src/store/types.ts) with a one-method change to a correct one. The conformance
// suite must fail each of them (conformance-catches.test.ts runs it against them).
import type { AccountPolicy } from "../../src/model/account.js";
import type { AuditEntry, StoredToken, UsageBucket } from "../../src/model/types.js";
import { compareKeys } from "../../src/store/kit/page.js";
import { MemoryStore } from "../../src/store/memory.js";
import type { BillingUsageQuery, ChangeEvent, CreateKey, CreditAdjustment, PageQuery, StoreCapabilities, TokenStore } from "../../src/store/types.js";

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
  insertOnce(...a: Args<"insertOnce">) { return this.inner.insertOnce(...a); }
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
  override async insertOnce(t: StoredToken, key: CreateKey, now: number, audit?: AuditEntry) {
    const r = await this.inner.insertOnce(t, key, now, audit);
    if (!r.replayed) await this.#sync(t.id);
    return r;
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
  override async insertOnce(t: StoredToken, key: CreateKey, now: number, audit?: AuditEntry) {
    const r = await this.inner.insertOnce(t, key, now, audit);
    if (!r.replayed) this.#add(t);
    return r;
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

/** insertOnce that inserts as insert does, ignoring the key: a create sent again makes a second live token. */
export class IgnoresCreateKeys extends Delegate {
  override async insertOnce(token: StoredToken, _key: CreateKey, _now: number, audit?: AuditEntry) {
    await this.inner.insert(token, audit);
    return { tokenId: token.id, replayed: false };
  }
}

/** Create keys kept per owner only (no actor column): one member's key replays another's token. */
export class CreateKeysPerOwner extends Delegate {
  override insertOnce(token: StoredToken, key: CreateKey, now: number, audit?: AuditEntry) {
    return this.inner.insertOnce(token, { ...key, actor: "anyone" }, now, audit);
  }
}

/**
 * Create keys read, then written with the token, without one transaction around both: the read and the
 * write are two round trips (a tick apart), and two calls with one key both find it absent.
 */
export class CreateKeyReadThenWrite extends Delegate {
  readonly #keys: Map<string, { request: string; tokenId: string; expiresAt: number }>;
  constructor(peerOf?: CreateKeyReadThenWrite) {
    super(peerOf ? { inner: peerOf.inner } : {});
    this.#keys = peerOf ? peerOf.#keys : new Map();
  }
  override async insertOnce(token: StoredToken, key: CreateKey, now: number, audit?: AuditEntry) {
    const k = JSON.stringify([token.owner, key.actor, key.key]);
    const found = this.#keys.get(k);
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (found && found.expiresAt > now) {
      if (found.request !== key.request) throw Object.assign(new Error("reused"), { code: "IDEMPOTENCY_KEY_REUSED" });
      return { tokenId: found.tokenId, replayed: true };
    }
    await this.inner.insert(token, audit);
    this.#keys.set(k, { request: key.request, tokenId: token.id, expiresAt: key.expiresAt });
    return { tokenId: token.id, replayed: false };
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

/** An owner column whose collation folds case and ignores trailing spaces (MySQL's utf8mb4_general_ci): owners differing so share a listing. */
export class FoldedOwners extends Delegate {
  static #fold = (owner: string): string => owner.toLowerCase().replace(/ +$/, "");
  readonly #owners = new Set<string>();
  override async insert(t: StoredToken, audit?: AuditEntry) {
    await this.inner.insert(t, audit);
    this.#owners.add(t.owner);
  }
  override async insertOnce(t: StoredToken, key: CreateKey, now: number, audit?: AuditEntry) {
    const r = await this.inner.insertOnce(t, key, now, audit);
    if (!r.replayed) this.#owners.add(t.owner);
    return r;
  }
  override async update(next: StoredToken, revision: number, audit?: AuditEntry) {
    const saved = await this.inner.update(next, revision, audit);
    this.#owners.add(saved.owner);
    return saved;
  }
  /** Every owner the column takes for `owner`. */
  #alike(owner: string): string[] {
    return [...this.#owners].filter((o) => FoldedOwners.#fold(o) === FoldedOwners.#fold(owner));
  }
  override async list(owner: string, page: PageQuery) {
    const all = (await Promise.all(this.#alike(owner).map((o) => this.inner.list(o, { limit: 1000, after: page.after })))).flat();
    return all.sort((a, b) => compareKeys({ t: a.createdAt, id: a.id }, { t: b.createdAt, id: b.id })).slice(0, page.limit);
  }
}

/** Ids of one createdAt listed in the database's locale order (a < B < z < Z), not in code-unit order. */
export class LocaleOrderedList extends Delegate {
  static #key = (t: StoredToken) => ({ t: t.createdAt, id: t.id });
  static #compare = (a: { t: number; id: string }, b: { t: number; id: string }) => (a.t !== b.t ? a.t - b.t : a.id.localeCompare(b.id, "en"));
  override async list(owner: string, page: PageQuery) {
    const all = await this.inner.list(owner, { limit: 1000, after: null });
    const { after } = page;
    return all
      .filter((t) => after === null || LocaleOrderedList.#compare(LocaleOrderedList.#key(t), after) > 0)
      .sort((a, b) => LocaleOrderedList.#compare(LocaleOrderedList.#key(a), LocaleOrderedList.#key(b)))
      .slice(0, page.limit);
  }
}

/** A name column of 3-byte UTF-8 (MySQL's utf8mb3): astral characters are stored as "?". */
export class Utf8mb3Names extends Delegate {
  override insert(t: StoredToken, audit?: AuditEntry) {
    return this.inner.insert({ ...t, name: t.name.replace(/[\u{10000}-\u{10FFFF}]/gu, "?") }, audit);
  }
}

/** An UPDATE statement written before scheduled revisions and signing keys: it leaves those columns as they were. */
export class UpdateKeepsSchedule extends Delegate {
  override async update(next: StoredToken, revision: number, audit?: AuditEntry) {
    const cur = await this.inner.get(next.id);
    return this.inner.update(cur ? { ...next, scheduled: cur.scheduled, signing: cur.signing } : next, revision, audit);
  }
}

/** The audit entry written by a second statement after the write, outside its transaction: a refused entry leaves the write done. */
export class AuditAfterWrite extends Delegate {
  override async insert(t: StoredToken, audit?: AuditEntry) {
    await this.inner.insert(t);
    if (audit) await this.inner.appendAudit(audit);
  }
  override async update(next: StoredToken, revision: number, audit?: AuditEntry) {
    const saved = await this.inner.update(next, revision);
    if (audit) await this.inner.appendAudit(audit);
    return saved;
  }
}

/** A credit limit in a 32-bit column: a limit above 2^31 − 1 is stored as that. */
export class Int32Credits extends Delegate {
  override meter(request: Parameters<MemoryStore["meter"]>[0], now: number) {
    const { credits } = request;
    return this.inner.meter(credits ? { ...request, credits: { ...credits, limit: Math.min(credits.limit, 2 ** 31 - 1) } } : request, now);
  }
}

/** Usage credits in a 32-bit unsigned column: an event's cost wraps at 2^32. */
export class Int32UsageCredits extends Delegate {
  override recordUsage(...[events, batch]: Args<"recordUsage">) {
    return this.inner.recordUsage(events.map((e) => ({ ...e, cost: e.cost % 2 ** 32 })), batch);
  }
}

/** Day buckets of 24 hours counted from the query's `from` (`(at - from) / 86400000` in SQL), not UTC days. */
export class DaysFromQueryStart extends Delegate {
  override async getUsage(tokenId: string, query: Parameters<MemoryStore["getUsage"]>[1]) {
    if (query.granularity !== "day") return this.inner.getUsage(tokenId, query);
    const days = new Map<number, UsageBucket>();
    for (const h of await this.inner.getUsage(tokenId, { ...query, granularity: "hour" })) {
      const start = query.from + Math.floor((h.start - query.from) / 86_400_000) * 86_400_000;
      const d = days.get(start) ?? { start, allowed: 0, denied: 0, credits: 0 };
      days.set(start, { start, allowed: d.allowed + h.allowed, denied: d.denied + h.denied, credits: d.credits + h.credits });
    }
    return [...days.values()];
  }
}

/** Nonce expiries kept in whole seconds (a TTL in seconds, a timestamp(0) column): an entry expires up to 999 ms early. */
export class NonceExpiryInSeconds extends Delegate {
  override rememberNonce(key: Parameters<MemoryStore["rememberNonce"]>[0], expiresAt: number, now: number) {
    return this.inner.rememberNonce(key, Math.floor(expiresAt / 1000) * 1000, now);
  }
}

/** An idempotency-key column of a case-insensitive collation: keys differing only in case are one. */
export class FoldedCreditKeys extends Delegate {
  override adjustCredits(request: CreditAdjustment, now: number, audit?: AuditEntry) {
    return this.inner.adjustCredits({ ...request, idempotencyKey: request.idempotencyKey?.toLowerCase() }, now, audit);
  }
}

/** Whether `id` is ASCII text, all that a column of ASCII holds. */
const isAscii = (id: string): boolean => /^[\x20-\x7e]*$/.test(id);

/**
 * A correct adapter whose token id column holds ASCII only (a `CHAR(26) CHARACTER SET ascii`): keyward's ids are
 * `tok_` and base62. It refuses to write another id, as such a column does, and a read by one finds nothing.
 */
export class AsciiTokenIds extends Delegate {
  override insert(t: StoredToken, audit?: AuditEntry) {
    return isAscii(t.id) ? this.inner.insert(t, audit) : Promise.reject(new Error(`Incorrect string value for column 'id'`));
  }
  override async get(id: string) {
    return isAscii(id) ? this.inner.get(id) : null;
  }
  override async listAudit(...[filter, page]: Args<"listAudit">) {
    return "tokenId" in filter && !isAscii(filter.tokenId) ? [] : this.inner.listAudit(filter, page);
  }
}

/**
 * The audit log's token id compared in an accent-insensitive collation that ignores trailing spaces (MySQL's
 * `utf8mb4_0900_ai_ci` on a `VARCHAR`): the ids keyward writes are ASCII, but a read of the log by token id names
 * the caller's text, and `tok_…Aé` or `tok_…Ae ` lists the entries of `tok_…Ae`.
 */
export class FoldedAuditTokenIds extends Delegate {
  static #fold = (id: string): string => id.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/ +$/, "");
  readonly #ids = new Set<string>();
  override async insert(t: StoredToken, audit?: AuditEntry) {
    await this.inner.insert(t, audit);
    this.#ids.add(t.id);
  }
  override async listAudit(...[filter, page]: Args<"listAudit">) {
    if (!("tokenId" in filter)) return this.inner.listAudit(filter, page);
    const fold = FoldedAuditTokenIds.#fold;
    const alike = [...this.#ids].filter((id) => id !== filter.tokenId && fold(id) === fold(filter.tokenId));
    const all = (await Promise.all([filter.tokenId, ...alike].map((tokenId) => this.inner.listAudit({ tokenId }, { limit: 1000, after: page.after })))).flat();
    return all.sort((a, b) => compareKeys({ t: a.at, id: a.id }, { t: b.at, id: b.id })).slice(0, page.limit);
  }
}

/** An account's suspension kept in a reason column: when it began is not kept. */
export class SuspensionReasonColumn extends Delegate {
  override putAccount(...[next, ...rest]: Args<"putAccount">) {
    const column = (p: AccountPolicy): AccountPolicy => (p.suspended == null ? p : { ...p, suspended: { reason: p.suspended.reason } });
    const kept = { ...next, policy: column(next.policy), scheduled: next.scheduled.map((s) => ({ ...s, policy: column(s.policy) })) };
    return this.inner.putAccount(kept, ...rest);
  }
}
