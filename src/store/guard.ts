/**
 * `guardStore`: what `Keyward` puts around any {@link TokenStore}. It
 * validates every call's input once (so adapters receive valid input only),
 * checks that `get`, `update` and `revoke` answer the token's record and
 * that `list` / `listAudit` answer the listing's rows in order after the
 * cursor, turns their pages into opaque cursors, and reports adapter
 * and driver failures as `StoreUnavailableError` without their parameters
 * (statement values such as a token hash or a sealed key never reach
 * `message`, `cause` or `util.inspect`).
 *
 * @module keyward
 */
import {
  IdempotencyKeyReusedError,
  InvalidInputError,
  KeywardError,
  RevisionConflictError,
  StoreUnavailableError,
  StoreUnsupportedError,
  TokenExistsError,
  TokenNotFoundError,
  TokenRevokedError,
} from "../errors.js";
import type { StoredAccount } from "../model/account.js";
import type { AuditEntry, Page, PageOptions, StoredToken, UsageBucket, UsageEvent } from "../model/types.js";
import { MAX_BILLING_RECORD_LENGTH } from "./kit/billing.js";
import { compareKeys, type CursorKind, encodeCursor, type PageQuery, parsePage, type SortKey, toPage } from "./kit/page.js";
import { storeShapeError } from "./shape.js";
import type { LastUsed, UsageAnalyticsQuery, UsageSeriesBucket } from "./kit/usage-analytics.js";
import {
  checkAccount,
  checkAnalyticsQuery,
  checkBillingQuery,
  checkBillingRunKey,
  checkAudit,
  checkBound,
  checkCreateKey,
  checkCreditAdjustment,
  checkAuditFilter,
  checkMeterRequest,
  checkNonceKey,
  checkSeenEntries,
  checkStoredAccount,
  checkStoredToken,
  checkString,
  checkTime,
  checkToken,
  checkUsageBatch,
  checkUsageEvents,
  checkUsageQuery,
} from "./kit/validate.js";
import type {
  AccountStore,
  AuditFilter,
  BillingClaim,
  BillingRunKey,
  BillingStore,
  BillingUsage,
  BillingUsageQuery,
  ChangeEvent,
  CreateKey,
  CreditAdjustment,
  CreditResult,
  DeletedToken,
  IdempotentCreateStore,
  InsertOnceResult,
  MeterRequest,
  MeterResult,
  NonceKey,
  SeenEntry,
  StoreCapabilities,
  TokenStore,
  UsageAnalyticsStore,
  UsageBatchKey,
  UsageQuery,
} from "./types.js";

/** The store as `Keyward` uses it: validated calls, cursor pages, sanitized errors. */
export interface GuardedStore {
  readonly capabilities: StoreCapabilities;
  /** The adapter inside. */
  readonly adapter: TokenStore;
  /** {@link RecordStore.insert}, validated. */
  insert(token: StoredToken, audit?: AuditEntry): Promise<void>;
  /** {@link IdempotentCreateStore.insertOnce}, validated; rejects with `STORE_UNSUPPORTED` unless `capabilities.idempotentCreate`. */
  insertOnce(token: StoredToken, key: CreateKey, now: number, audit?: AuditEntry): Promise<InsertOnceResult>;
  /** {@link RecordStore.get}. */
  get(id: string): Promise<StoredToken | null>;
  /** {@link RecordStore.findByHash}. */
  findByHash(hash: string): Promise<StoredToken | null>;
  /** An owner's tokens, oldest first; `limit` 1..1000 (default 100); `nextCursor` is null on the last page. */
  list(owner: string, options?: PageOptions): Promise<Page<StoredToken>>;
  /** {@link RecordStore.update}, validated. */
  update(next: StoredToken, expectedRevision: number, audit?: AuditEntry): Promise<StoredToken>;
  /** {@link RecordStore.revoke}. */
  revoke(id: string, at: number, audit?: AuditEntry): Promise<StoredToken>;
  /** Hard delete; throws `STORE_UNSUPPORTED` (writing nothing) without `capabilities.hardDelete`. */
  delete(id: string, audit?: AuditEntry): Promise<DeletedToken>;
  /** {@link RecordStore.appendAudit}, validated. */
  appendAudit(entry: AuditEntry): Promise<void>;
  /** {@link RecordStore.listAudit}, in cursor pages as `list`. */
  listAudit(filter: AuditFilter, options?: PageOptions): Promise<Page<AuditEntry>>;
  /** {@link CounterStore.meter}, validated. */
  meter(request: MeterRequest, now: number): Promise<MeterResult>;
  /** {@link CounterStore.rememberNonce}. */
  rememberNonce(key: NonceKey, expiresAt: number, now: number): Promise<boolean>;
  /** {@link UsageStore.recordUsage}, validated. */
  recordUsage(events: readonly UsageEvent[], batch?: UsageBatchKey): Promise<void>;
  /** {@link UsageStore.getUsage}. */
  getUsage(tokenId: string, query: UsageQuery): Promise<UsageBucket[]>;
  /** Rejects with `STORE_UNSUPPORTED` unless `capabilities.accounts`. */
  getAccount(owner: string): Promise<StoredAccount | null>;
  /** Rejects with `STORE_UNSUPPORTED` unless `capabilities.accounts`. */
  putAccount(next: StoredAccount, expectedRevision: number, audit?: AuditEntry): Promise<StoredAccount>;
  /** Rejects with `STORE_UNSUPPORTED` unless `capabilities.accounts`. */
  adjustCredits(request: CreditAdjustment, now: number, audit?: AuditEntry): Promise<CreditResult>;
  /** Rejects with `STORE_UNSUPPORTED` unless `capabilities.usageAnalytics`. */
  queryUsage(query: UsageAnalyticsQuery): Promise<UsageSeriesBucket[]>;
  /** Rejects with `STORE_UNSUPPORTED` unless `capabilities.usageAnalytics`. */
  lastUsed(tokenIds: readonly string[]): Promise<LastUsed[]>;
  /** Rejects with `STORE_UNSUPPORTED` unless `capabilities.anomalyState`. */
  touchSeen(entries: readonly SeenEntry[], maxPerToken: number): Promise<(number | null)[]>;
  /** Rejects with `STORE_UNSUPPORTED` unless `capabilities.billing`. */
  billingUsage(query: BillingUsageQuery): Promise<BillingUsage[]>;
  /** Rejects with `STORE_UNSUPPORTED` unless `capabilities.billing`. */
  claimBillingRun(key: BillingRunKey, claim: string, now: number, staleBefore: number): Promise<BillingClaim>;
  /** Rejects with `STORE_UNSUPPORTED` unless `capabilities.billing`. */
  finishBillingRun(key: BillingRunKey, claim: string, outcome: "done" | "failed", record?: string, audit?: AuditEntry): Promise<boolean>;
  /** {@link TokenStore.subscribe}: present when the adapter has it. */
  subscribe?(listener: (event: ChangeEvent) => void): () => void;
  /** Closes the adapter. */
  close(): Promise<void>;
}

/** Longest driver message kept, after redaction. */
const MAX_MESSAGE = 200;
/** Runs of this many base64 / hex characters look like hashes or sealed keys: redacted whatever they are. */
const OPAQUE_RUN = /[A-Za-z0-9+/_=-]{24,}/g;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

const tokenKey = (t: StoredToken): SortKey => ({ t: t.createdAt, id: t.id });
const auditKey = (e: AuditEntry): SortKey => ({ t: e.at, id: e.id });

/**
 * Wraps an adapter (once: a guarded store is returned as is).
 *
 * @param store - any {@link TokenStore}.
 * @returns the guarded store.
 * @throws {TypeError} when `store` lacks a method of the contract, or of a part its `capabilities` declare (named in the message).
 * @example
 * ```ts
 * import { guardStore, MemoryStore } from "keyward";
 * const store = guardStore(new MemoryStore());
 * const page = await store.list("acct_1", { limit: 10 });
 * ```
 */
export function guardStore(store: TokenStore | GuardedStore): GuardedStore {
  if (store instanceof Guard) return store;
  const defect = storeShapeError(store);
  if (defect !== null) throw new TypeError(`${defect.field}: ${defect.message}`);
  return new Guard(store as TokenStore);
}

class Guard implements GuardedStore {
  readonly adapter: TokenStore;
  readonly capabilities: StoreCapabilities;
  declare readonly subscribe?: (listener: (event: ChangeEvent) => void) => () => void;

  constructor(adapter: TokenStore) {
    this.adapter = adapter;
    this.capabilities = adapter.capabilities;
    if (adapter.capabilities.changeFeed && typeof adapter.subscribe === "function") {
      this.subscribe = (listener) => {
        if (typeof listener !== "function") throw new TypeError("listener must be a function");
        return adapter.subscribe!(listener);
      };
    }
  }

  insert(token: StoredToken, audit?: AuditEntry): Promise<void> {
    return this.#call(
      () => {
        checkToken(token, "token");
        checkAudit(audit, "audit");
      },
      () => this.adapter.insert(token, audit),
      [token, audit],
    );
  }

  insertOnce(token: StoredToken, key: CreateKey, now: number, audit?: AuditEntry): Promise<InsertOnceResult> {
    let a: IdempotentCreateStore;
    return this.#call(
      () => {
        a = this.#idempotentCreate();
        checkToken(token, "token");
        checkCreateKey(key, now);
        checkAudit(audit, "audit");
      },
      () => a.insertOnce(token, key, now, audit),
      [token, key, audit],
      (result) => insertedOnce(result, token.id),
    );
  }

  get(id: string): Promise<StoredToken | null> {
    return this.#call(
      () => checkString(id, "id"),
      () => this.adapter.get(id),
      [id],
      (found) => readOf(found, id),
    );
  }

  findByHash(hash: string): Promise<StoredToken | null> {
    return this.#call(
      () => checkString(hash, "hash"),
      () => this.adapter.findByHash(hash),
      [hash],
    );
  }

  list(owner: string, options?: PageOptions): Promise<Page<StoredToken>> {
    return this.#page("t", tokenKey, (t) => t.owner === owner, options, () => checkString(owner, "owner"), (q) => this.adapter.list(owner, q), [owner]);
  }

  update(next: StoredToken, expectedRevision: number, audit?: AuditEntry): Promise<StoredToken> {
    return this.#call(
      () => {
        checkToken(next, "next");
        checkAudit(audit, "audit");
        if (!Number.isSafeInteger(expectedRevision)) throw new InvalidInputError("expectedRevision", "must be an integer");
      },
      () => this.adapter.update(next, expectedRevision, audit),
      [next, audit],
      (saved) => written(saved, next.id, "update"),
    );
  }

  revoke(id: string, at: number, audit?: AuditEntry): Promise<StoredToken> {
    return this.#call(
      () => {
        checkString(id, "id");
        checkTime(at, "at");
        checkAudit(audit, "audit");
      },
      () => this.adapter.revoke(id, at, audit),
      [id, audit],
      (saved) => written(saved, id, "revoke"),
    );
  }

  delete(id: string, audit?: AuditEntry): Promise<DeletedToken> {
    const adapter = this.adapter;
    if (adapter.capabilities.hardDelete !== true || typeof adapter.delete !== "function") {
      return Promise.reject(new StoreUnsupportedError("delete"));
    }
    return this.#call(
      () => {
        checkString(id, "id");
        checkAudit(audit, "audit");
      },
      () => adapter.delete!(id, audit),
      [id, audit],
      (deleted) => ({ ...deleted, token: written((deleted as Partial<DeletedToken> | null)?.token as StoredToken, id, "delete") }),
    );
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return this.#call(
      () => {
        if (entry === undefined) throw new InvalidInputError("entry", "must be an object");
        checkAudit(entry, "entry");
      },
      () => this.adapter.appendAudit(entry),
      [entry],
    );
  }

  listAudit(filter: AuditFilter, options?: PageOptions): Promise<Page<AuditEntry>> {
    const of = "tokenId" in filter ? (e: AuditEntry) => e.tokenId === filter.tokenId : (e: AuditEntry) => e.owner === filter.owner;
    return this.#page("a", auditKey, of, options, () => checkAuditFilter(filter), (q) => this.adapter.listAudit(filter, q), [filter]);
  }

  meter(request: MeterRequest, now: number): Promise<MeterResult> {
    return this.#call(
      () => {
        checkMeterRequest(request);
        checkTime(now, "now");
        // An adapter without accounts would ignore the account: never meter half a request.
        if (request.account != null) this.#accounts();
      },
      () => this.adapter.meter(request, now),
      [request],
    );
  }

  rememberNonce(key: NonceKey, expiresAt: number, now: number): Promise<boolean> {
    return this.#call(
      () => {
        checkNonceKey(key);
        checkBound(expiresAt, "expiresAt");
        checkBound(now, "now");
      },
      () => this.adapter.rememberNonce(key, expiresAt, now),
      [key],
    );
  }

  recordUsage(events: readonly UsageEvent[], batch?: UsageBatchKey): Promise<void> {
    return this.#call(
      () => {
        checkUsageEvents(events);
        checkUsageBatch(batch);
      },
      // Without a batch key, called as before: an adapter written before it sees one argument.
      () => (batch === undefined ? this.adapter.recordUsage(events) : this.adapter.recordUsage(events, batch)),
      [events],
    );
  }

  getUsage(tokenId: string, query: UsageQuery): Promise<UsageBucket[]> {
    return this.#call(
      () => {
        checkString(tokenId, "tokenId");
        checkUsageQuery(query);
      },
      () => this.adapter.getUsage(tokenId, query),
      [tokenId],
    );
  }

  getAccount(owner: string): Promise<StoredAccount | null> {
    return this.#call(
      () => checkString(owner, "owner"),
      () => this.#accounts().getAccount(owner),
      [owner],
    );
  }

  putAccount(next: StoredAccount, expectedRevision: number, audit?: AuditEntry): Promise<StoredAccount> {
    return this.#call(
      () => {
        checkAccount(next, "account");
        if (!Number.isSafeInteger(expectedRevision) || expectedRevision < 0) {
          throw new InvalidInputError("expectedRevision", "must be a non-negative integer");
        }
        checkAudit(audit, "audit");
      },
      () => this.#accounts().putAccount(next, expectedRevision, audit),
      [next, audit],
      (saved) => accountWritten(saved, next.owner),
    );
  }

  adjustCredits(request: CreditAdjustment, now: number, audit?: AuditEntry): Promise<CreditResult> {
    return this.#call(
      () => {
        checkCreditAdjustment(request);
        checkTime(now, "now");
        checkAudit(audit, "audit");
      },
      () => this.#accounts().adjustCredits(request, now, audit),
      [request, audit],
    );
  }

  queryUsage(query: UsageAnalyticsQuery): Promise<UsageSeriesBucket[]> {
    return this.#call(
      () => checkAnalyticsQuery(query),
      () => this.#analytics().queryUsage(query),
      [query],
    );
  }

  lastUsed(tokenIds: readonly string[]): Promise<LastUsed[]> {
    return this.#call(
      () => {
        if (!Array.isArray(tokenIds) || tokenIds.length > 1000) throw new InvalidInputError("tokenIds", "must be an array of at most 1000 ids");
        tokenIds.forEach((id, i) => {
          checkString(id, `tokenIds[${i}]`);
        });
      },
      () => this.#analytics().lastUsed(tokenIds),
      [tokenIds],
    );
  }

  touchSeen(entries: readonly SeenEntry[], maxPerToken: number): Promise<(number | null)[]> {
    return this.#call(
      () => checkSeenEntries(entries, maxPerToken),
      () => {
        const a = this.adapter;
        if (a.capabilities.anomalyState !== true || !a.touchSeen) throw new StoreUnsupportedError("anomalyState");
        return a.touchSeen(entries, maxPerToken);
      },
      [entries],
    );
  }

  billingUsage(query: BillingUsageQuery): Promise<BillingUsage[]> {
    return this.#call(
      () => checkBillingQuery(query),
      () => this.#billing().billingUsage(query),
      [query],
      (sums) => billingPage(sums, query),
    );
  }

  claimBillingRun(key: BillingRunKey, claim: string, now: number, staleBefore: number): Promise<BillingClaim> {
    return this.#call(
      () => {
        checkBillingRunKey(key);
        checkString(claim, "claim");
        checkTime(now, "now");
        checkTime(staleBefore, "staleBefore");
      },
      () => this.#billing().claimBillingRun(key, claim, now, staleBefore),
      [key],
    );
  }

  finishBillingRun(key: BillingRunKey, claim: string, outcome: "done" | "failed", record?: string, audit?: AuditEntry): Promise<boolean> {
    return this.#call(
      () => {
        checkBillingRunKey(key);
        checkString(claim, "claim");
        if (outcome !== "done" && outcome !== "failed") throw new InvalidInputError("outcome", 'must be "done" or "failed"');
        if (record !== undefined && (typeof record !== "string" || record.length > MAX_BILLING_RECORD_LENGTH)) {
          throw new InvalidInputError("record", `must be a string of at most ${MAX_BILLING_RECORD_LENGTH} characters`);
        }
        checkAudit(audit, "audit");
      },
      () => this.#billing().finishBillingRun(key, claim, outcome, record, audit),
      [key, audit],
    );
  }

  #billing(): BillingStore {
    const a = this.adapter;
    if (a.capabilities.billing !== true || !a.billingUsage || !a.claimBillingRun || !a.finishBillingRun) throw new StoreUnsupportedError("billing");
    return a as BillingStore;
  }

  #analytics(): UsageAnalyticsStore {
    const a = this.adapter;
    if (a.capabilities.usageAnalytics !== true || !a.queryUsage || !a.lastUsed) throw new StoreUnsupportedError("usageAnalytics");
    return a as UsageAnalyticsStore;
  }

  #idempotentCreate(): IdempotentCreateStore {
    const a = this.adapter;
    if (a.capabilities.idempotentCreate !== true || !a.insertOnce) throw new StoreUnsupportedError("idempotentCreate");
    return a as IdempotentCreateStore;
  }

  /** The adapter's account part, or `STORE_UNSUPPORTED`. */
  #accounts(): AccountStore {
    const a = this.adapter;
    if (a.capabilities.accounts !== true || !a.getAccount || !a.putAccount || !a.adjustCredits) {
      throw new StoreUnsupportedError("accounts");
    }
    return a as AccountStore;
  }

  async close(): Promise<void> {
    await this.#call(
      () => {},
      async () => this.adapter.close?.(),
      [],
    );
  }

  #page<T>(
    kind: CursorKind,
    keyOf: (row: T) => SortKey,
    belongs: (row: T) => boolean,
    options: PageOptions | undefined,
    check: () => void,
    read: (q: PageQuery) => Promise<T[]>,
    params: unknown[],
  ): Promise<Page<T>> {
    let q: PageQuery;
    return this.#call(
      () => {
        check();
        q = parsePage(options, kind);
      },
      // One row more than asked says whether there is a next page.
      () => read({ limit: q.limit + 1, after: q.after }),
      params,
      (rows) => toPage(pageRows(rows, q, keyOf, belongs), q.limit, (last) => encodeCursor(kind, keyOf(last))),
    );
  }

  /**
   * Validates (a throw rejects), then calls the adapter and sanitizes what it
   * rejects with; `answered` checks what it resolves with (a throw rejects).
   */
  #call<T, R = T>(check: () => void, call: () => Promise<T>, params: unknown[], answered?: (value: T) => R): Promise<R> {
    try {
      check();
    } catch (err) {
      return Promise.reject(err);
    }
    let promise: Promise<T>;
    try {
      promise = call();
    } catch (err) {
      return Promise.reject(sanitizeStoreError(err, params));
    }
    const settled = Promise.resolve(promise).catch((err: unknown) => {
      throw sanitizeStoreError(err, params);
    });
    return answered === undefined ? (settled as Promise<unknown> as Promise<R>) : settled.then(answered);
  }
}

/**
 * What a `get` answered, when it is null or a record of that id: a record of
 * another token (a cache or an index keyed wrongly) would be shown, and
 * written back by an update, as this one's. Else `STORE_UNAVAILABLE`.
 */
function readOf(found: StoredToken | null, id: string): StoredToken | null {
  if (found === null || (typeof found === "object" && found.id === id)) return found;
  throw new StoreUnavailableError("token store unavailable: get answered no record of the token");
}

/**
 * The rows of a listing, when every one is of the listing (the owner's token,
 * the filter's audit entry) and they come in order, each after `q.after` and
 * the one before: a row of another owner would reach its caller (a customer's
 * console), and a page not after its cursor would be read again forever.
 * Else `STORE_UNAVAILABLE`.
 */
function pageRows<T>(rows: T[], q: PageQuery, keyOf: (row: T) => SortKey, belongs: (row: T) => boolean): T[] {
  if (!Array.isArray(rows) || rows.length > q.limit + 1) throw badPage();
  let before = q.after;
  for (const row of rows) {
    if (row === null || typeof row !== "object" || !belongs(row)) throw badPage();
    const key = keyOf(row);
    if (before !== null && !(compareKeys(key, before) > 0)) throw badPage();
    before = key;
  }
  return rows;
}

function badPage(): StoreUnavailableError {
  return new StoreUnavailableError("token store unavailable: a listing answered rows of another owner or token, or not in order after the cursor, or more than asked");
}

/**
 * What an `insertOnce` answered, when it is well-formed: this token inserted,
 * or another one's id replayed. Else `STORE_UNAVAILABLE` (the token may have
 * been written: a retry with the key tells).
 */
function insertedOnce(result: InsertOnceResult, id: string): InsertOnceResult {
  const r = result as Partial<InsertOnceResult> | null;
  if (r !== null && typeof r === "object" && typeof r.tokenId === "string" && r.tokenId !== "" && typeof r.replayed === "boolean" && r.replayed === (r.tokenId !== id)) {
    return { tokenId: r.tokenId, replayed: r.replayed };
  }
  throw new StoreUnavailableError("token store unavailable: insertOnce answered no well-formed result (the token may have been written)");
}

/**
 * The record an `update`, `revoke` or `delete` answered, when it is a well-formed
 * record of that token; else `STORE_UNAVAILABLE` (the write may have been
 * stored: the caller's retry, or its re-read, tells).
 */
function written(saved: StoredToken, id: string, method: string): StoredToken {
  try {
    checkStoredToken(saved, "result");
    if (saved.id === id) return saved;
  } catch {
    // Reported below, as for a record of another token.
  }
  throw new StoreUnavailableError(`token store unavailable: ${method} answered no well-formed record of the token (it may have been written)`);
}

/**
 * The account a `putAccount` answered, when it is a well-formed account of
 * that owner; else `STORE_UNAVAILABLE` (the write may have been stored).
 */
function accountWritten(saved: StoredAccount, owner: string): StoredAccount {
  try {
    checkStoredAccount(saved, "result");
    if (saved.owner === owner) return saved;
  } catch {
    // Reported below, as for another owner's account.
  }
  throw new StoreUnavailableError("token store unavailable: putAccount answered no well-formed account of the owner (it may have been written)");
}

/**
 * A billing answer that is a page of the query, as far as can be told without
 * knowing the store's order: at most `limit` sums, not the `after` one again.
 * A store that ignores `after` or `limit` (written to the contract before
 * pages) would make every reader of all pages loop forever.
 */
function billingPage(sums: BillingUsage[], query: BillingUsageQuery): BillingUsage[] {
  const broken = (what: string) =>
    new StoreUnavailableError(
      `token store unavailable: billingUsage ${what}; a store answers a page (only the sums after query.after, at most query.limit: see BillingStore.billingUsage)`,
    );
  if (!Array.isArray(sums)) throw broken("answered no array");
  const { after, limit } = query;
  if (limit !== undefined && sums.length > limit) throw broken(`answered ${sums.length} sums for a limit of ${limit}`);
  if (after !== undefined && sums.some((s) => s?.owner === after.owner && s.pool === after.pool)) {
    throw broken("answered the sum of query.after again");
  }
  return sums;
}

/** A string field of a foreign error, when it is one (cleaned by the error it goes into), else "". */
const textOf = (v: unknown): string => (typeof v === "string" && v.length <= 256 ? v : "");

/**
 * The store contract's coded errors, rebuilt in this copy of keyward from
 * an error of the same code made by another (an adapter may depend on its
 * own install of keyward, whose classes are not these): recognised by shape,
 * with keyward's own message and only the well-typed structured fields.
 */
const CONTRACT_ERRORS = new Map<unknown, (e: { tokenId?: unknown; expectedRevision?: unknown }) => KeywardError>([
  ["TOKEN_ALREADY_EXISTS", () => new TokenExistsError()],
  ["IDEMPOTENCY_KEY_REUSED", () => new IdempotencyKeyReusedError()],
  ["TOKEN_NOT_FOUND", (e) => new TokenNotFoundError(textOf(e.tokenId))],
  ["TOKEN_REVOKED", (e) => new TokenRevokedError(textOf(e.tokenId))],
  [
    "REVISION_CONFLICT",
    (e) => new RevisionConflictError(textOf(e.tokenId), Number.isSafeInteger(e.expectedRevision) ? (e.expectedRevision as number) : -1),
  ],
]);

/**
 * What a caller sees of an adapter's failure. A coded keyward error (a
 * conflict, a missing token) keeps its class and message but loses its
 * `cause`; one of the store contract's codes from another copy of keyward
 * (an `Error` whose `code` is `TOKEN_ALREADY_EXISTS`, `REVISION_CONFLICT`,
 * `TOKEN_NOT_FOUND` or `TOKEN_REVOKED`) becomes this copy's class of that
 * code; anything else becomes `StoreUnavailableError` with the driver's
 * `code` as `driverCode` and its message with every parameter of the call,
 * and every long opaque run, replaced by `[redacted]`; no `cause`. Never
 * throws: what cannot be read (a revoked Proxy, a throwing getter) is a
 * plain `StoreUnavailableError`.
 *
 * @param err - what the adapter threw.
 * @param params - the call's arguments: their strings are redacted from the message.
 * @returns the error to throw.
 */
export function sanitizeStoreError(err: unknown, params: readonly unknown[]): KeywardError {
  try {
    return sanitize(err, params);
  } catch {
    return new StoreUnavailableError();
  }
}

function sanitize(err: unknown, params: readonly unknown[]): KeywardError {
  if (err instanceof KeywardError && !(err instanceof StoreUnavailableError)) {
    if ("cause" in err) delete (err as { cause?: unknown }).cause;
    return err;
  }
  const contract = err instanceof Error && !(err instanceof KeywardError) ? CONTRACT_ERRORS.get((err as { code?: unknown }).code) : undefined;
  if (contract !== undefined) return contract(err as { tokenId?: unknown; expectedRevision?: unknown });
  // An adapter's own StoreUnavailableError without a cause is already in keyward's terms.
  const own = err instanceof StoreUnavailableError && err.cause === undefined;
  const source = err instanceof StoreUnavailableError && !own ? err.cause : err;
  const o = (typeof source === "object" && source !== null ? source : {}) as {
    code?: unknown;
    errcode?: unknown;
    message?: unknown;
  };
  // node:sqlite puts SQLite's result code in `errcode` (its `code` is a generic ERR_SQLITE_ERROR).
  const found = own ? err.driverCode : typeof o.errcode === "number" ? o.errcode : o.code;
  const code = typeof found === "string" || typeof found === "number" ? String(found) : undefined;
  const driverCode = code !== undefined && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : undefined;
  const raw = own ? err.message : o.message;
  const detail = typeof raw === "string" ? redact(raw, params) : "";
  const prefix = "token store unavailable";
  const message = detail.startsWith(prefix) ? detail : detail ? `${prefix}: ${detail}` : prefix;
  return new StoreUnavailableError(message, driverCode === undefined ? undefined : { driverCode });
}

function redact(message: string, params: readonly unknown[]): string {
  const secrets = new Set<string>();
  collectStrings(params, secrets, 0);
  let out = message.slice(0, 4 * MAX_MESSAGE);
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join("[redacted]");
  out = out.replace(OPAQUE_RUN, "[redacted]").replace(CONTROL, " ");
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
}

/** Strings of 3 characters or more anywhere in the call's arguments (bounded walk). */
function collectStrings(v: unknown, into: Set<string>, depth: number): void {
  if (into.size >= 256 || depth > 6) return;
  if (typeof v === "string") {
    if (v.length >= 3) into.add(v);
  } else if (Array.isArray(v)) {
    for (const x of v) collectStrings(x, into, depth + 1);
  } else if (v !== null && typeof v === "object") {
    for (const x of Object.values(v)) collectStrings(x, into, depth + 1);
  }
}

