// A third-party adapter written from docs/stores.md and the typedoc of the
// contract alone, with only what `keyward` exports: an asynchronous store over
// JSON rows in Maps (as a key-value database would hold them), every call a
// round trip (`setImmediate`, or a few ms), writes serialised by a lock held
// across those awaits, as a transaction would. Records, counters and usage
// only: no change feed, accounts, analytics, anomaly state, billing or delete.
import {
  type AuditEntry,
  type AuditFilter,
  addUsage,
  batchTime,
  type CreditState,
  compareKeys,
  InvalidInputError,
  type MeterRequest,
  type MeterResult,
  meterStep,
  type NonceKey,
  type PageQuery,
  poolKey,
  type RateWindowState,
  rateKey,
  revokeAudit,
  revokedRecord,
  rollUpUsage,
  type StoreCapabilities,
  type StoredToken,
  TokenExistsError,
  type TokenStore,
  type UsageBatchKey,
  type UsageBucket,
  type UsageCounts,
  type UsageEvent,
  type UsageQuery,
  updatedRecord,
} from "keyward";

export interface LatentStoreOptions {
  /** Latency of each round trip, ms (0: one `setImmediate`). */
  latencyMs?: number;
}

type Table = Map<string, string>;

export class LatentStore implements TokenStore {
  readonly capabilities: StoreCapabilities = Object.freeze({ changeFeed: false });
  readonly #latencyMs: number;
  readonly tokens: Table = new Map();
  readonly hashes: Table = new Map(); // hash → token id
  readonly audit: Table = new Map();
  readonly credits: Table = new Map();
  readonly rates: Table = new Map();
  readonly nonces: Table = new Map();
  readonly usage: Table = new Map(); // token id → { hour: counts }
  readonly writers: Table = new Map();
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: LatentStoreOptions = {}) {
    this.#latencyMs = options.latencyMs ?? 0;
  }

  /** One round trip to the database. */
  protected trip(): Promise<void> {
    return new Promise((resolve) => (this.#latencyMs > 0 ? setTimeout(resolve, this.#latencyMs) : setImmediate(resolve)));
  }

  /** A transaction: the lock is held across the round trips of `fn`. */
  protected tx<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.#lock.then(async () => {
      await this.trip();
      const out = await fn();
      await this.trip();
      return out;
    });
    this.#lock = run.catch(() => undefined);
    return run;
  }

  protected async read<T>(fn: () => T): Promise<T> {
    await this.trip();
    return fn();
  }

  static row<T>(table: Table, key: string): T | null {
    const s = table.get(key);
    return s === undefined ? null : (JSON.parse(s) as T);
  }

  static hashesOf(t: StoredToken): string[] {
    return [t.hash, ...t.previous.map((p) => p.hash)];
  }

  insert(token: StoredToken, audit?: AuditEntry): Promise<void> {
    return this.tx(() => {
      if (this.tokens.has(token.id) || LatentStore.hashesOf(token).some((h) => this.hashes.has(h))) throw new TokenExistsError();
      this.#auditFree(audit);
      this.#putToken(token, []);
      if (audit) this.audit.set(audit.id, JSON.stringify(audit));
    });
  }

  /** Audit entries are keyed by id: one already used is refused, before anything is written. */
  #auditFree(audit: AuditEntry | undefined): void {
    if (audit && this.audit.has(audit.id)) throw new InvalidInputError("audit.id", "already used");
  }

  #putToken(next: StoredToken, before: string[]): void {
    for (const h of before) this.hashes.delete(h);
    for (const h of LatentStore.hashesOf(next)) this.hashes.set(h, next.id);
    this.tokens.set(next.id, JSON.stringify(next));
  }

  get(id: string): Promise<StoredToken | null> {
    return this.read(() => LatentStore.row<StoredToken>(this.tokens, id));
  }

  findByHash(hash: string): Promise<StoredToken | null> {
    return this.read(() => {
      const id = this.hashes.get(hash);
      return id === undefined ? null : LatentStore.row<StoredToken>(this.tokens, id);
    });
  }

  list(owner: string, page: PageQuery): Promise<StoredToken[]> {
    return this.read(() =>
      [...this.tokens.values()]
        .map((s) => JSON.parse(s) as StoredToken)
        .filter((t) => t.owner === owner && (page.after === null || compareKeys({ t: t.createdAt, id: t.id }, page.after) > 0))
        .sort((a, b) => compareKeys({ t: a.createdAt, id: a.id }, { t: b.createdAt, id: b.id }))
        .slice(0, page.limit),
    );
  }

  update(next: StoredToken, expectedRevision: number, audit?: AuditEntry): Promise<StoredToken> {
    return this.tx(() => {
      const cur = LatentStore.row<StoredToken>(this.tokens, next.id);
      const stored = updatedRecord(cur, next, expectedRevision);
      if (LatentStore.hashesOf(stored).some((h) => (this.hashes.get(h) ?? stored.id) !== stored.id)) throw new TokenExistsError();
      this.#auditFree(audit);
      this.#putToken(stored, LatentStore.hashesOf(cur!));
      if (audit) this.audit.set(audit.id, JSON.stringify(audit));
      return structuredClone(stored);
    });
  }

  revoke(id: string, at: number, audit?: AuditEntry): Promise<StoredToken> {
    return this.tx(() => {
      const cur = LatentStore.row<StoredToken>(this.tokens, id);
      const stored = revokedRecord(cur, id, at);
      const entry = revokeAudit(cur, audit);
      this.#auditFree(entry);
      this.tokens.set(id, JSON.stringify(stored));
      if (entry) this.audit.set(entry.id, JSON.stringify(entry));
      return stored;
    });
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return this.tx(() => {
      this.#auditFree(entry);
      this.audit.set(entry.id, JSON.stringify(entry));
    });
  }

  listAudit(filter: AuditFilter, page: PageQuery): Promise<AuditEntry[]> {
    return this.read(() =>
      [...this.audit.values()]
        .map((s) => JSON.parse(s) as AuditEntry)
        .filter((e) => ("tokenId" in filter ? e.tokenId === filter.tokenId : e.owner === filter.owner))
        .filter((e) => page.after === null || compareKeys({ t: e.at, id: e.id }, page.after) > 0)
        .sort((a, b) => compareKeys({ t: a.at, id: a.id }, { t: b.at, id: b.id }))
        .slice(0, page.limit),
    );
  }

  meter(request: MeterRequest, now: number): Promise<MeterResult> {
    return this.tx(() => {
      const rateId = request.tokenId;
      const creditId = poolKey(request.tokenId, request.pool);
      const moreIds = (request.rateLimits ?? []).map((l) => rateKey(request.tokenId, l.windowMs));
      const step = meterStep(
        LatentStore.row<RateWindowState>(this.rates, rateId),
        LatentStore.row<CreditState>(this.credits, creditId),
        request,
        now,
        undefined,
        { rates: moreIds.map((k) => LatentStore.row<RateWindowState>(this.rates, k)) },
      );
      if (step.rate) this.rates.set(rateId, JSON.stringify(step.rate));
      if (step.credits) this.credits.set(creditId, JSON.stringify(step.credits));
      for (const [i, r] of (step.rates ?? []).entries()) this.rates.set(moreIds[i]!, JSON.stringify(r));
      return step.result;
    });
  }

  rememberNonce(key: NonceKey, expiresAt: number, now: number): Promise<boolean> {
    return this.tx(() => {
      const k = JSON.stringify([key.tokenId, key.nonce]);
      const until = LatentStore.row<number>(this.nonces, k);
      if (until !== null && until > now) return false;
      this.nonces.set(k, JSON.stringify(expiresAt));
      return true;
    });
  }

  recordUsage(events: readonly UsageEvent[], batch?: UsageBatchKey): Promise<void> {
    return this.tx(() => {
      if (batch) {
        const last = LatentStore.row<{ seq: number }>(this.writers, batch.writer);
        if (last && batch.seq <= last.seq) return;
        this.writers.set(batch.writer, JSON.stringify({ seq: batch.seq, at: batchTime(events) }));
      }
      const into = new Map<string, Map<number, UsageCounts>>();
      for (const [id, hours] of Object.entries(this.#usageOf(events))) into.set(id, new Map(hours));
      addUsage(into, events);
      for (const [id, hours] of into) this.usage.set(id, JSON.stringify([...hours]));
    });
  }

  #usageOf(events: readonly UsageEvent[]): Record<string, [number, UsageCounts][]> {
    const out: Record<string, [number, UsageCounts][]> = {};
    for (const e of events) out[e.tokenId] ??= LatentStore.row<[number, UsageCounts][]>(this.usage, e.tokenId) ?? [];
    return out;
  }

  getUsage(tokenId: string, query: UsageQuery): Promise<UsageBucket[]> {
    return this.read(() => rollUpUsage(LatentStore.row<[number, UsageCounts][]>(this.usage, tokenId) ?? [], query));
  }

  /** Every table, sorted: the `raw` hook of the conformance suite. */
  dump(): string {
    const tables = { tokens: this.tokens, hashes: this.hashes, audit: this.audit, credits: this.credits, rates: this.rates, nonces: this.nonces, usage: this.usage, writers: this.writers };
    return Object.entries(tables)
      .map(([name, t]) => `${name}\n${[...t].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `  ${k} ${v}`).join("\n")}`)
      .join("\n");
  }

  async close(): Promise<void> {}
}
