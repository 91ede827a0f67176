/**
 * `combineStores`: one {@link TokenStore} from parts kept in different
 * places, for example records in the application's SQL database and
 * counters in a faster store. Each part keeps its own atomicity; records and
 * their audit entries stay together in the records part.
 *
 * @module keyward
 */
import type {
  AccountStore,
  AnomalyStateStore,
  BillingStore,
  ChangeEvent,
  CounterStore,
  IdempotentCreateStore,
  RecordStore,
  StoreCapabilities,
  TokenStore,
  UsageAnalyticsStore,
  UsageStore,
} from "./types.js";

/** The parts of {@link combineStores}; a full store can serve as any part. */
export interface StoreParts {
  /**
   * Records and audit; its change feed (when it has one) is the combined
   * store's, and so is its {@link IdempotentCreateStore} (`capabilities.idempotentCreate`).
   */
  records: RecordStore & Partial<IdempotentCreateStore> & {
    readonly capabilities?: StoreCapabilities;
    /** Its change feed, as {@link TokenStore.subscribe}. */
    subscribe?(listener: (e: ChangeEvent) => void): () => void;
  };
  /**
   * Counters. When it is the records part too and implements
   * {@link AccountStore} (`capabilities.accounts`), the combined store has
   * accounts: an account's counters are charged with its tokens' in one
   * atomic step, and its audit entries are written with the records'.
   */
  counters: CounterStore & Partial<AccountStore> & { readonly capabilities?: StoreCapabilities };
  /**
   * Usage; when it implements {@link UsageAnalyticsStore} (`capabilities.usageAnalytics`)
   * or {@link AnomalyStateStore} (`capabilities.anomalyState`), so does the combined store.
   */
  usage: UsageStore & Partial<UsageAnalyticsStore> & Partial<AnomalyStateStore> & Partial<BillingStore> & { readonly capabilities?: StoreCapabilities };
}

/**
 * A store whose methods call the part that owns them. `close()` closes each
 * distinct part once.
 *
 * @param parts - records, counters and usage.
 * @returns the combined store; `capabilities.changeFeed` is the records part's.
 * @example
 * ```ts
 * import { combineStores, MemoryStore } from "keyward";
 * const counters = new MemoryStore();
 * const store = combineStores({ records: new MemoryStore(), counters, usage: counters });
 * ```
 */
export function combineStores(parts: StoreParts): TokenStore {
  const { records: r, counters: c, usage: u } = parts;
  const changeFeed = r.capabilities?.changeFeed === true && typeof r.subscribe === "function";
  const accounts = c.capabilities?.accounts === true && (c as object) === r;
  const idempotentCreate = r.capabilities?.idempotentCreate === true && typeof r.insertOnce === "function";
  const usageAnalytics = u.capabilities?.usageAnalytics === true;
  const anomalyState = u.capabilities?.anomalyState === true;
  // Billing runs are audited: only when the usage part is the records part too.
  const billing = u.capabilities?.billing === true && (u as object) === r;
  const store: TokenStore = {
    capabilities: Object.freeze({ changeFeed, creditLeases: c.capabilities?.creditLeases === true, accounts, usageAnalytics, anomalyState, billing, idempotentCreate }),
    insert: (token, audit) => r.insert(token, audit),
    get: (id) => r.get(id),
    findByHash: (hash) => r.findByHash(hash),
    list: (owner, page) => r.list(owner, page),
    update: (next, expected, audit) => r.update(next, expected, audit),
    revoke: (id, at, audit) => r.revoke(id, at, audit),
    appendAudit: (entry) => r.appendAudit(entry),
    listAudit: (filter, page) => r.listAudit(filter, page),
    meter: (request, now) => c.meter(request, now),
    rememberNonce: (key, expiresAt, now) => c.rememberNonce(key, expiresAt, now),
    recordUsage: (events, batch) => (batch === undefined ? u.recordUsage(events) : u.recordUsage(events, batch)),
    getUsage: (tokenId, query) => u.getUsage(tokenId, query),
    close: async () => {
      for (const part of new Set<object>([r, c, u])) await (part as { close?: () => Promise<void> }).close?.();
    },
  };
  if (changeFeed) store.subscribe = (listener) => r.subscribe!(listener);
  if (idempotentCreate) store.insertOnce = (token, key, now, audit) => r.insertOnce!(token, key, now, audit);
  if (usageAnalytics) {
    store.queryUsage = (query) => u.queryUsage!(query);
    store.lastUsed = (ids) => u.lastUsed!(ids);
  }
  if (anomalyState) store.touchSeen = (entries, max) => u.touchSeen!(entries, max);
  if (billing) {
    store.billingUsage = (query) => u.billingUsage!(query);
    store.claimBillingRun = (key, claim, now, stale) => u.claimBillingRun!(key, claim, now, stale);
    store.finishBillingRun = (key, claim, outcome, record, audit) => u.finishBillingRun!(key, claim, outcome, record, audit);
  }
  if (accounts) {
    store.getAccount = (owner) => c.getAccount!(owner);
    store.putAccount = (next, expected, audit) => c.putAccount!(next, expected, audit);
    store.adjustCredits = (request, now, audit) => c.adjustCredits!(request, now, audit);
  }
  return store;
}
