// The admin side: create, import, read, list, update, revoke and regenerate
// tokens. Every write is a compare-and-set on the token's revision and is
// followed by an audit entry that names what changed, never a secret.
import type * as z from "zod/mini";
import type { ResolvedConfig } from "../config.js";
import {
  IdempotencyKeyInFlightError,
  InvalidInputError,
  RevisionConflictError,
  ScopeNotAllowedError,
  StoreUnsupportedError,
  TokenNotFoundError,
  TokenRevokedError,
} from "../errors.js";
import { randomBase62 } from "../lib/base62.js";
import { toBase64Url } from "../lib/bytes.js";
import { sha256Hex } from "../lib/crypto.js";
import { deriveSigningSecret } from "../lib/derive.js";
import { callHook } from "../lib/hook.js";
import { auditId } from "../model/audit-id.js";
import { hashesOf, isTokenId, readTime, toRecord } from "../model/record.js";
import { isRole, type Role } from "../model/roles.js";
import {
  actorSchema,
  type CreateTokenInput,
  checkOptionFields,
  checkPolicyConsistency,
  createTokenSchema,
  DEFAULT_ACTOR,
  idempotencyKeySchema,
  type ImportTokenInput,
  importTokenSchema,
  ownerQuerySchema,
  POLICY_FIELDS,
  parseInput,
  type UpdateTokenInput,
  updateTokenSchema,
} from "../model/schemas.js";
import type {
  AuditAction,
  AuditEntry,
  Page,
  PageOptions,
  PreviousSecret,
  SealedSecret,
  StoredSigning,
  StoredToken,
  TokenPolicy,
  TokenRecord,
} from "../model/types.js";
import { isWriteOrDeleteScope } from "../policy/scope.js";
import { ed25519PublicCryptoKey } from "../signing/key-formats.js";
import { isCryptoKey } from "../signing/keys.js";
import { createKeyText } from "../store/kit/create-keys.js";
import type { AuditFilter, DeletedToken } from "../store/types.js";
import { generateToken, hashToken, type TokenKind, tokenStart } from "../token/format.js";
import { accountOf, checkWithinCeiling } from "./accounts.js";
import { IssuedToken } from "./issued.js";
import { type LeakListener, type LeakReport, type ReportLeakOptions, reportLeak } from "./leaks.js";
import {
  checkExpiry,
  expiryOnCreate,
  type LifecycleEvent,
  type LifecycleFilter,
  type Lifetimes,
  lifecycleEvents,
  matchesLifecycle,
  ownerLifetimes,
  parseLifecycleFilter,
} from "./lifecycle.js";
import { scheduleRevision } from "./schedule.js";
import { parseTokenOrOwner } from "./target.js";
import { toEpochMs } from "./time.js";
import { type TokenChanged, written } from "./written.js";

/** Who performs an admin action, recorded in the audit log. */
export interface ActorOptions {
  /** e.g. `"user:42"`, `"cli"` (default `"system"`); no control or invisible characters, no token. */
  actor?: string | undefined;
  /** The actor's role in the token's account, recorded with the audit entry (keyward/admin sets it). */
  role?: Role | undefined;
}

/** Who acts, as the audit log records it. */
interface Actor {
  name: string;
  role: Role | undefined;
}

/** Options of {@link TokenManager.update}. */
export interface UpdateTokenOptions extends ActorOptions {
  /**
   * When the policy fields of the patch take effect (epoch ms, Date or ISO-8601 string);
   * default `now + propagationDelayMs`. Name, metadata and signing always
   * apply at once. With a store that has no change feed, a future time
   * earlier than `now + revocationBoundMs` is moved to that bound (servers
   * may hold a cached copy that long); the returned record's `scheduled`
   * shows the time used.
   */
  effectiveAt?: number | Date | string | undefined;
  /**
   * Fail with `REVISION_CONFLICT` unless the token is still at this revision
   * (the one an admin console displayed). Without it the update is checked
   * against the revision read just before writing.
   */
  expectedRevision?: number | undefined;
}

/** `tokens.create`'s input, parsed. */
type CreateTokenData = z.output<typeof createTokenSchema>;

/** Options of {@link TokenManager.create}. */
export interface CreateTokenOptions extends ActorOptions {
  /**
   * Makes the creation safe to send again (Stripe's and the IETF draft's
   * `Idempotency-Key`): 1 to 255 characters chosen by the caller, kept per
   * owner and actor for `tokens.idempotencyKeyRetentionMs` (24 hours) with
   * the SHA-256 of the request. The same request under it again answers a
   * {@link ReplayedToken} (the token made the first time, without its
   * secret: keyward never stores one); another request under it throws
   * `IDEMPOTENCY_KEY_REUSED`. Needs a store with
   * `capabilities.idempotentCreate` (else `STORE_UNSUPPORTED`).
   */
  idempotencyKey?: string | undefined;
}

/**
 * What `tokens.create` answers for an `idempotencyKey` already used for the
 * same request: the token made then, as it is now, and no secret (its only
 * copy was in the first answer). A caller who lost that answer revokes
 * `record.id` and creates another token with a new key.
 */
export interface ReplayedToken {
  /** Always null: the secret was shown once, in the first answer. */
  readonly token: null;
  readonly replayed: true;
  /** The token made the first time, as it is now (it may have been changed or revoked since). */
  readonly record: TokenRecord;
}

/** Options of {@link TokenManager.list}: a page, and lifecycle filters applied within it. */
export interface ListTokensOptions extends PageOptions, LifecycleFilter {}

/** Options of {@link TokenManager.regenerate}. */
export interface RegenerateTokenOptions extends ActorOptions {
  /**
   * How long the old secret keeps working, ms (default 0: it stops at once).
   * At most 30 days; at most 4 old secrets may be in a grace period at a time.
   */
  graceMs?: number | undefined;
  /**
   * Fail with `REVISION_CONFLICT` unless the token is still at this revision
   * (the one an admin console displayed): of two regenerations sent for the
   * same revision, one succeeds.
   */
  expectedRevision?: number | undefined;
}

/** The option names of each method: a misspelt one (`effectivAt`) is refused, never ignored. */
const ACTOR_OPTIONS = ["actor", "role"] as const;
const CREATE_OPTIONS = [...ACTOR_OPTIONS, "idempotencyKey"] as const;
const UPDATE_OPTIONS = [...ACTOR_OPTIONS, "effectiveAt", "expectedRevision"] as const;
const REGENERATE_OPTIONS = [...ACTOR_OPTIONS, "graceMs", "expectedRevision"] as const;
const PAGE_OPTIONS = ["limit", "cursor"] as const;
const LIST_OPTIONS = [...PAGE_OPTIONS, "expiringBefore", "dueForRotation", "unusedSince"] as const;

const ID_CHARS = 22; // 131 bits
const MAX_GRACE_MS = 30 * 86_400_000;
const MAX_PREVIOUS = 4;

/** Token administration; reached as `kw.tokens`. */
export class TokenManager {
  readonly #cfg: ResolvedConfig;
  readonly #changed: TokenChanged;
  readonly #leaked: LeakListener;
  /** Writes this instance's queued usage and anomaly sightings (`kw.flush()`): before a delete, so they go with the token. */
  readonly #flush: () => Promise<void>;
  /** The idempotency keys of creations running in this process (`createKeyText`): a second one is IDEMPOTENCY_KEY_IN_FLIGHT. */
  readonly #creating = new Set<string>();

  /** @internal */
  constructor(
    config: ResolvedConfig,
    changed: TokenChanged = () => {},
    leaked: LeakListener = () => {},
    flush: () => Promise<void> = async () => {},
  ) {
    this.#cfg = config;
    this.#changed = changed;
    this.#leaked = leaked;
    this.#flush = flush;
  }

  /**
   * The scopes a token created without `scopes` holds: the instance's
   * `defaultScopes` (frozen).
   */
  get defaultScopes(): readonly string[] {
    return this.#cfg.defaultScopes;
  }

  /**
   * Issues a new token. The token string is in the result exactly once;
   * keyward stores only its SHA-256.
   *
   * @param input owner, kind and the token's settings
   * @param options the actor, for the audit log
   * @returns the token (read `.token`, once: serialised or logged whole, the result shows it redacted) and its record
   * @throws {InvalidInputError} `INVALID_INPUT` naming the field; subclasses `INVALID_KEY` (small-order,
   *   mixed-order or non-canonical ed25519 key), `SIGNING_MISSING`, `DOMAINS_ON_SECRET`, `TIME_IN_SECONDS` with a `hint`
   * @throws {ScopeNotAllowedError} `SCOPE_NOT_ALLOWED` for a write/delete scope on a publishable token
   * @throws {SealingKeyError} `SEALING_KEY_REQUIRED` for hmac-sha256 signing without a sealing key
   * @throws {IdempotencyKeyReusedError} `IDEMPOTENCY_KEY_REUSED`: the `idempotencyKey` was used for another request
   * @throws {IdempotencyKeyInFlightError} `IDEMPOTENCY_KEY_IN_FLIGHT`: a create with the same key runs in this process
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED`: an `idempotencyKey` on a store without `capabilities.idempotentCreate`
   * @example
   * ```ts
   * const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"] });
   * const again = await kw.tokens.create({ owner: "acct_1", kind: "secret" }, { idempotencyKey: "order-42" });
   * if (again.token === null) console.log("made before, secret not shown again:", again.record.id);
   * ```
   */
  create(input: CreateTokenInput, options: CreateTokenOptions & { idempotencyKey: string }): Promise<IssuedToken | ReplayedToken>;
  create(input: CreateTokenInput, options?: CreateTokenOptions & { idempotencyKey?: undefined }): Promise<IssuedToken>;
  create(input: CreateTokenInput, options?: CreateTokenOptions): Promise<IssuedToken | ReplayedToken>;
  async create(input: CreateTokenInput, options: CreateTokenOptions = {}): Promise<IssuedToken | ReplayedToken> {
    const data = parseInput(createTokenSchema, await withRawPublicKey(input), "input");
    const actor = parseActor(options, CREATE_OPTIONS);
    const idem = options.idempotencyKey;
    if (idem === undefined) return this.#create(data, actor, null);
    const key = parseInput(idempotencyKeySchema, idem, "idempotencyKey");
    if (this.#cfg.store.capabilities.idempotentCreate !== true) throw new StoreUnsupportedError("idempotentCreate");
    const running = createKeyText(data.owner, { actor: actor.name, key, request: "", expiresAt: 0 });
    if (this.#creating.has(running)) throw new IdempotencyKeyInFlightError();
    this.#creating.add(running);
    try {
      // The request as parsed, its keys in order: the same fields and values are the same request, however they were sent.
      return await this.#create(data, actor, { key, request: sha256Hex(JSON.stringify(["tokens.create", canonical(data)])) });
    } finally {
      this.#creating.delete(running);
    }
  }

  async #create(data: CreateTokenData, actor: Actor, idem: { key: string; request: string } | null): Promise<IssuedToken | ReplayedToken> {
    const now = this.#cfg.now();
    const account = await accountOf(this.#cfg, data.owner);
    const policy = this.#initialPolicy(data, now, ownerLifetimes(this.#cfg.tokens, account, now));
    checkWithinCeiling(account, policy.scopes, now);
    checkPolicyConsistency({ kind: data.kind, signing: data.signing ?? null, policies: [policy] }, data, this.#cfg.allowSecretInBrowser);
    const id = this.#newId();
    const token = generateToken({ prefix: this.#cfg.prefix, kind: data.kind, env: this.#cfg.env, random: this.#cfg.random });
    const signing = await this.#signing(data.signing ?? null, token, id);
    const stored: StoredToken = {
      id,
      hash: hashToken(token),
      start: tokenStart(token),
      kind: data.kind,
      env: this.#cfg.env,
      owner: data.owner,
      name: data.name ?? "",
      metadata: data.metadata ?? {},
      policy,
      scheduled: [],
      signing,
      previous: [],
      createdAt: now,
      updatedAt: now,
      revokedAt: null,
      revision: 1,
    };
    const changes = Object.keys(data).filter((k) => k !== "owner" && k !== "kind");
    const audit = this.#auditEntry("create", stored, actor, now, changes);
    if (idem !== null) {
      const expiresAt = now + this.#cfg.tokens.idempotencyKeyRetentionMs;
      const { tokenId, replayed } = await this.#cfg.store.insertOnce(stored, { actor: actor.name, ...idem, expiresAt }, now, audit);
      if (replayed) {
        // The key's owner is the token's: a token deleted since is not found (create another with a new key).
        const found = await this.#cfg.store.get(tokenId);
        if (found === null || found.owner !== stored.owner) throw new TokenNotFoundError(tokenId);
        return { token: null, replayed: true, record: toRecord(found, now) };
      }
    } else {
      await this.#cfg.store.insert(stored, audit);
    }
    this.#changed(stored.id, [stored.hash]);
    return new IssuedToken(token, toRecord(stored, now));
  }

  /**
   * Imports an existing key from a home-made system, known only by the
   * SHA-256 (hex) of its string. Requests presenting that key are then checked
   * like any other token (enable `acceptForeignTokens` on the verifier if the
   * key does not have keyward's format).
   *
   * @param input the hash, owner, kind and the token's settings
   * @returns the new record
   * @throws {InvalidInputError} `INVALID_INPUT`, `SIGNING_MISSING`, `DOMAINS_ON_SECRET`, `TIME_IN_SECONDS`
   * @throws {TokenExistsError} `TOKEN_ALREADY_EXISTS` when the hash is already stored
   * @example
   * ```ts
   * await kw.tokens.import({ hash: legacy.sha256Hex, owner: "acct_1", kind: "secret" });
   * ```
   */
  async import(input: ImportTokenInput, options: ActorOptions = {}): Promise<TokenRecord> {
    const data = parseInput(importTokenSchema, input, "input");
    const actor = parseActor(options);
    const now = this.#cfg.now();
    const account = await accountOf(this.#cfg, data.owner);
    const policy = this.#initialPolicy(data, now, ownerLifetimes(this.#cfg.tokens, account, now));
    checkWithinCeiling(account, policy.scopes, now);
    checkPolicyConsistency({ kind: data.kind, signing: null, policies: [policy] }, data, this.#cfg.allowSecretInBrowser);
    const stored: StoredToken = {
      id: this.#newId(),
      hash: data.hash,
      start: data.start ?? `${data.hash.slice(0, 8)}…`,
      kind: data.kind,
      env: data.env ?? this.#cfg.env,
      owner: data.owner,
      name: data.name ?? "",
      metadata: data.metadata ?? {},
      policy,
      scheduled: [],
      signing: null,
      previous: [],
      createdAt: now,
      updatedAt: now,
      revokedAt: null,
      revision: 1,
    };
    await this.#cfg.store.insert(stored, this.#auditEntry("import", stored, actor, now, []));
    this.#changed(stored.id, [stored.hash]);
    return toRecord(stored, now);
  }

  /**
   * @param id the token's public id (`tok_…`)
   * @returns its record, or null
   */
  async get(id: string): Promise<TokenRecord | null> {
    if (!isTokenId(id)) return null;
    const stored = await this.#cfg.store.get(id);
    // As every server reads it: at no earlier than its last write.
    return stored && toRecord(stored, readTime(stored, this.#cfg.now()));
  }

  /**
   * An owner's tokens, oldest first.
   *
   * @param owner the owner id
   * @param options page size (1–1000, default 100) and the cursor of the previous page
   * @returns a page of records and the next cursor (null on the last page)
   * @throws {InvalidInputError} `INVALID_INPUT` for a bad owner, options, limit, cursor or filter; `TIME_IN_SECONDS`
   *   for a filter's time in seconds
   */
  async list(owner: string, options: ListTokensOptions = {}): Promise<Page<TokenRecord>> {
    parseInput(ownerQuerySchema, owner, "owner");
    checkPageOptions(options, LIST_OPTIONS);
    const { expiringBefore, dueForRotation, unusedSince, ...page } = options;
    const filter = parseLifecycleFilter({ expiringBefore, dueForRotation, unusedSince });
    const store = this.#cfg.store;
    if (filter.unusedSince !== undefined && store.capabilities.usageAnalytics !== true) throw new StoreUnsupportedError("usageAnalytics");
    const now = this.#cfg.now();
    const lifetimes = dueForRotation ? ownerLifetimes(this.#cfg.tokens, await accountOf(this.#cfg, owner), now) : this.#cfg.tokens;
    if (dueForRotation && lifetimes.rotationPeriodMs === null) {
      throw new InvalidInputError("dueForRotation", "needs a rotation period: tokens.rotationPeriodMs in the options of new Keyward, or the account's");
    }
    const found = await store.list(owner, page);
    const lastUse = filter.unusedSince === undefined ? null : await this.#lastUses(found.items);
    const items: TokenRecord[] = [];
    for (const t of found.items) {
      if (matchesLifecycle(t, filter, lifetimes, now, lastUse?.get(t.id) ?? null)) items.push(toRecord(t, readTime(t, now)));
    }
    return { items, nextCursor: found.nextCursor };
  }

  /** The last allowed request of each token (absent: never used), from the store's usage data. */
  async #lastUses(tokens: readonly StoredToken[]): Promise<Map<string, number>> {
    if (tokens.length === 0) return new Map();
    const uses = await this.#cfg.store.lastUsed(tokens.map((t) => t.id));
    return new Map(uses.map((u) => [u.tokenId, u.at]));
  }

  /**
   * Reports an owner's tokens that have expired, expire within
   * `tokens.expiringSoonMs`, are due for rotation (`tokens.rotationPeriodMs`,
   * or the account's), were not used for `tokens.unusedAfterMs`, or will
   * work beyond the maximum lifetime, computed from the records (and last
   * uses) at `now`: no timer per token. Expiries are judged as servers will
   * apply them: a scheduled change (an update with a later `effectiveAt`)
   * that renews, shortens, removes or sets an expiry counts from its
   * `effectiveAt`, and an event that follows from one names it
   * (`effectiveAt`). Run it when you like (a daily job, the CLI) and notify
   * the owner. Revoked tokens are skipped.
   *
   * @param owner the owner id
   * @param options `now` (epoch ms, Date or ISO-8601 string, read like `expiresAt`; default the clock, each token then
   *   judged at no earlier than its last write, as servers judge it)
   * @returns the events, token by token in creation order
   * @throws {InvalidInputError} `INVALID_INPUT` for a bad owner, options or time; `TIME_IN_SECONDS` for a `now` in seconds
   * @example
   * ```ts
   * for await (const e of kw.tokens.scan("acct_1")) console.log(e.type, e.tokenId, new Date(e.at));
   * ```
   */
  async *scan(owner: string, options: { now?: number | Date | string | undefined } = {}): AsyncGenerator<LifecycleEvent> {
    parseInput(ownerQuerySchema, owner, "owner");
    checkOptionFields(options, ["now"]);
    const now = options.now === undefined ? this.#cfg.now() : toEpochMs(options.now, 0, "now");
    const lifetimes = ownerLifetimes(this.#cfg.tokens, await accountOf(this.#cfg, owner), now);
    let cursor: string | null = null;
    do {
      const page: Page<StoredToken> = await this.#cfg.store.list(owner, { limit: 1000, cursor });
      const lastUse = lifetimes.unusedAfterMs === null ? null : await this.#lastUses(page.items);
      for (const t of page.items) {
        // Each token as every server judges it (no earlier than its last write), unless a time was asked about.
        const at = options.now === undefined ? readTime(t, now) : now;
        for (const e of lifecycleEvents(t, lifetimes, at, lastUse && (lastUse.get(t.id) ?? null))) {
          notify(this.#cfg.tokens.onLifecycle, e);
          yield e;
        }
      }
      cursor = page.nextCursor;
    } while (cursor !== null);
  }

  /**
   * Changes a token. Policy fields (scopes, domains, ips, credits, rateLimit,
   * expiresAt, requireSignedRequests) take effect at `effectiveAt` (default
   * `now + propagationDelayMs`), so every server switches at the same instant;
   * from then on they override what any earlier-scheduled revision says of
   * the same fields.
   *
   * @param id the token's id
   * @param patch the fields to change
   * @param options effective time, expected revision, actor
   * @returns the updated record
   * @throws {InvalidInputError} `INVALID_INPUT`
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND`
   * @throws {TokenRevokedError} `TOKEN_REVOKED`
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when it is no longer at `expectedRevision` (without
   *   one, a change written meanwhile is read again and this one applied on top of it)
   * @example
   * ```ts
   * await kw.tokens.update(record.id, { scopes: ["core:read"] }, { effectiveAt: Date.now() + 60_000 });
   * ```
   */
  async update(id: string, patch: UpdateTokenInput, options: UpdateTokenOptions = {}): Promise<TokenRecord> {
    const data = parseInput(updateTokenSchema, await withRawPublicKey(patch), "patch");
    const actor = parseActor(options, UPDATE_OPTIONS);
    const given = options.effectiveAt === undefined ? undefined : toEpochMs(options.effectiveAt, 0, "effectiveAt");
    const expected = parseExpectedRevision(options.expectedRevision);
    return onLatest(expected, async () => {
      const current = await this.#load(id);
      const now = this.#writeTime(current);
      const effectiveAt = this.#cutover(given ?? now + this.#cfg.propagationDelayMs, now);
      // The patch applies to what was read: a console that displayed another revision must re-read.
      checkRevision(current, expected);
      if (data.scopes) this.#checkKindScopes(current.kind, data.scopes);
      const account = data.scopes || data.expiresAt !== undefined ? await accountOf(this.#cfg, current.owner) : null;
      if (data.scopes) checkWithinCeiling(account, data.scopes, Math.max(now, effectiveAt));
      if (data.expiresAt !== undefined) checkExpiry(data.expiresAt, ownerLifetimes(this.#cfg.tokens, account, now), now);

      const policyPatch: Partial<TokenPolicy> = {};
      for (const field of POLICY_FIELDS) {
        if (data[field] !== undefined) (policyPatch as Record<string, unknown>)[field] = data[field];
      }
      const next: StoredToken = { ...current, updatedAt: now, ...scheduleRevision(current, policyPatch, effectiveAt, now) };
      if (data.name !== undefined) next.name = data.name;
      if (data.metadata !== undefined) next.metadata = data.metadata;
      if (data.signing !== undefined) {
        if (data.signing?.alg === "hmac-sha256") {
          // The HMAC key is derived from the token string, which exists only when a token is issued.
          throw new InvalidInputError("signing", "hmac-sha256 signing can only be chosen when the token is created");
        }
        next.signing = data.signing;
        // Old HMAC keys of a grace period must not outlive a change of signing settings.
        next.previous = current.previous.map(({ hash, expiresAt }) => ({ hash, expiresAt }));
      }
      const policies = [next.policy, ...next.scheduled.map((s) => s.policy)];
      checkPolicyConsistency({ kind: current.kind, signing: next.signing, policies }, data, this.#cfg.allowSecretInBrowser);
      const changes = Object.keys(data).filter((k) => (data as Record<string, unknown>)[k] !== undefined);
      const entry = this.#auditEntry("update", current, actor, now, changes, Object.keys(policyPatch).length ? effectiveAt : undefined);
      const saved = await written(this.#changed, current.id, hashesOf(current), () => this.#cfg.store.update(next, current.revision, entry));
      return toRecord(saved, now);
    });
  }

  /**
   * Revokes a token at once. Every server stops accepting it within
   * `revocationBoundMs`. Idempotent: a revoked token keeps its first
   * `revokedAt` and nothing is written (no second audit entry, also when
   * two revokes race).
   *
   * @param id the token's id
   * @returns the revoked record
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND`
   * @example
   * ```ts
   * await kw.tokens.revoke(record.id, { actor: "user:42" });
   * ```
   */
  async revoke(id: string, options: ActorOptions = {}): Promise<TokenRecord> {
    const actor = parseActor(options);
    const current = await this.#read(id);
    const now = this.#writeTime(current);
    if (current.revokedAt !== null) return toRecord(current, now);
    // Of revokes racing past this check, the store audits the one that revokes.
    const entry = this.#auditEntry("revoke", current, actor, now, ["revokedAt"]);
    const saved = await written(this.#changed, current.id, hashesOf(current), () => this.#cfg.store.revoke(current.id, now, entry));
    return toRecord(saved, now);
  }

  /**
   * Disables a token: every request with it is denied with `TOKEN_DISABLED`
   * (a credential failure, 401) until {@link enable}, on every server within
   * `revocationBoundMs`. Unlike revoke it can be undone. Idempotent: a
   * disabled token keeps its first `disabledAt` and nothing is written.
   *
   * @param id the token's id
   * @returns the disabled record
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND`
   * @throws {TokenRevokedError} `TOKEN_REVOKED`: a revoked token is final, there is nothing to disable
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when it keeps being changed concurrently (retried 4 times)
   * @example
   * ```ts
   * await kw.tokens.disable(record.id, { actor: "user:42" });
   * ```
   */
  disable(id: string, options: ActorOptions = {}): Promise<TokenRecord> {
    return this.#setDisabled(id, true, options);
  }

  /**
   * Enables a disabled token again (idempotent).
   *
   * @param id the token's id
   * @returns the enabled record
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND`
   * @throws {TokenRevokedError} `TOKEN_REVOKED`
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when it keeps being changed concurrently (retried 4 times)
   * @example
   * ```ts
   * await kw.tokens.enable(record.id, { actor: "user:42" });
   * ```
   */
  enable(id: string, options: ActorOptions = {}): Promise<TokenRecord> {
    return this.#setDisabled(id, false, options);
  }

  /**
   * Deletes a token for good: its record, hashes, credit balance, rate-limit
   * window, nonces and usage, in one store transaction with a `delete` audit
   * entry naming what was removed (never the secret). The audit log is kept,
   * and so is its owner's billing (per owner and pool, not per token). The
   * usage this instance still queues is written first, so that it goes with
   * the token (see docs/lifecycle.md for other instances').
   * Caches are dropped like for a revoke: this instance at once, others at
   * once with a change feed, else within `revocationBoundMs`. Revoked tokens
   * can be deleted too.
   *
   * @param id the token's id
   * @returns the id, owner and how many rows of each kind were removed
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED` when the store has no `capabilities.hardDelete` (nothing changed)
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND`, also when it was deleted meanwhile
   * @example
   * ```ts
   * const { removed } = await kw.tokens.delete(record.id, { actor: "user:42" });
   * ```
   */
  async delete(id: string, options: ActorOptions = {}): Promise<DeleteTokenResult> {
    const actor = parseActor(options);
    if (this.#cfg.store.capabilities.hardDelete !== true) throw new StoreUnsupportedError("delete");
    const current = await this.#read(id);
    // Written first, or the token's queued events would make its usage rows again after the delete (still billed
    // either way). A failed write leaves them queued: the delete is not held up by the usage store.
    await this.#flush().catch(() => {});
    const now = this.#cfg.now();
    const entry = this.#auditEntry("delete", current, actor, now, [...DELETED_PARTS]);
    // Dropped here whatever the outcome, as for a revoke: a delete that failed may have committed.
    const deleted = await written(this.#changed, current.id, hashesOf(current), () => this.#cfg.store.delete(current.id, entry), (d) => d.token);
    return { id: deleted.token.id, owner: deleted.token.owner, removed: { ...deleted.removed } };
  }

  async #setDisabled(id: string, disabled: boolean, options: ActorOptions): Promise<TokenRecord> {
    const actor = parseActor(options);
    return onLatest(undefined, async () => {
      const current = await this.#load(id);
      const now = this.#writeTime(current);
      if ((current.disabledAt != null) === disabled) return toRecord(current, now);
      // A record write like any update: the revision moves, caches are dropped
      // here and, through the change feed or the cache bound, everywhere else.
      const next: StoredToken = { ...current, disabledAt: disabled ? now : null, updatedAt: now };
      const entry = this.#auditEntry(disabled ? "disable" : "enable", current, actor, now, ["disabledAt"]);
      const saved = await written(this.#changed, current.id, hashesOf(current), () => this.#cfg.store.update(next, current.revision, entry));
      return toRecord(saved, now);
    });
  }

  /**
   * Replaces a token's secret, keeping its id and settings. The old secret
   * stops working at once, or after `graceMs`. Without a grace period every
   * old secret stops at once, including one still in the grace period of an
   * earlier regeneration: that is the answer to a leak. An hmac-sha256
   * signing key is derived anew from the new token; an ed25519 public key is
   * the client's and stays (rotate it with `update(id, { signing })`).
   *
   * @param id the token's id
   * @param options grace period, expected revision and actor
   * @returns the new token (read `.token`, once: serialised or logged whole, the result shows it redacted) and the record
   * @throws {InvalidInputError} `INVALID_INPUT` naming `graceMs` or `expectedRevision`; naming `graceMs` too
   *   when 4 old secrets are still in their grace period (nothing written: a fifth would end one's grace early)
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND`
   * @throws {TokenRevokedError} `TOKEN_REVOKED`
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when changed concurrently, or no longer at `expectedRevision`
   * @example
   * ```ts
   * const { token } = await kw.tokens.regenerate(record.id, { graceMs: 3_600_000 });
   * ```
   */
  async regenerate(id: string, options: RegenerateTokenOptions = {}): Promise<IssuedToken> {
    const actor = parseActor(options, REGENERATE_OPTIONS);
    const graceMs = options.graceMs ?? 0;
    if (!Number.isSafeInteger(graceMs) || graceMs < 0 || graceMs > MAX_GRACE_MS) {
      throw new InvalidInputError("graceMs", `must be an integer from 0 to ${MAX_GRACE_MS}`);
    }
    const expected = parseExpectedRevision(options.expectedRevision);
    const current = await this.#load(id);
    const now = this.#writeTime(current);
    // Checked on the read the compare-and-set below is based on.
    checkRevision(current, expected);
    // Without a grace period every old secret stops at once, including those
    // still in the grace period of an earlier regeneration (a leak response).
    const previous: PreviousSecret[] = graceMs > 0 ? current.previous.filter((p) => p.expiresAt > now) : [];
    // The list is bounded (each entry is read on every request); a grace already given is never cut short.
    if (previous.length >= MAX_PREVIOUS) {
      throw new InvalidInputError(
        "graceMs",
        `at most ${MAX_PREVIOUS} old secrets may be in a grace period: regenerate without graceMs (every old secret stops at once), or when one's grace has ended`,
      );
    }
    const token = generateToken({ prefix: this.#cfg.prefix, kind: current.kind, env: current.env, random: this.#cfg.random });
    if (graceMs > 0) {
      const old: PreviousSecret = { hash: current.hash, expiresAt: now + graceMs };
      if (current.signing?.alg === "hmac-sha256") old.sealed = current.signing.sealed;
      previous.unshift(old);
    }
    const next: StoredToken = {
      ...current,
      hash: hashToken(token),
      start: tokenStart(token),
      signing:
        current.signing?.alg === "hmac-sha256"
          ? await this.#signing({ alg: "hmac-sha256" }, token, current.id)
          : current.signing,
      previous,
      updatedAt: now,
      rotatedAt: now,
    };
    const entry = this.#auditEntry("regenerate", current, actor, now, ["secret"]);
    if (graceMs > 0) entry.graceUntil = now + graceMs;
    const saved = await written(this.#changed, current.id, [...hashesOf(current), next.hash], () =>
      this.#cfg.store.update(next, current.revision, entry),
    );
    return new IssuedToken(token, toRecord(saved, now));
  }

  /**
   * Seals the token's HMAC signing keys anew under the first `sealingKey`:
   * the current secret's, and those of old secrets still in a grace
   * period. It is how an old sealing key is retired: put the new key first
   * in `sealingKey` on every server, reseal every token, then remove the
   * old key. Neither the secret nor its signatures change. Writes (with an
   * `update` audit entry naming `sealingKey`) only when a key was sealed
   * under another sealing key; a revoked token, or one without an HMAC key,
   * is left as it is (`resealed: 0`).
   *
   * @param id the token's id
   * @param options actor
   * @returns the record, and how many keys were sealed anew
   * @throws {TokenNotFoundError} `TOKEN_NOT_FOUND`
   * @throws {SealingKeyError} `SEALING_KEY_UNKNOWN` when a key is sealed under a sealing key no longer configured
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when changed concurrently (nothing written: call it again)
   * @example
   * ```ts
   * for await (const record of everyToken()) await kw.tokens.reseal(record.id, { actor: "ops" });
   * ```
   */
  async reseal(id: string, options: ActorOptions = {}): Promise<ResealResult> {
    const actor = parseActor(options);
    return onLatest(undefined, async () => {
      const current = await this.#read(id);
      const now = this.#writeTime(current);
      if (current.revokedAt !== null) return { record: toRecord(current, now), resealed: 0 };
      const keyring = this.#cfg.keyring;
      let resealed = 0;
      const again = async (sealed: SealedSecret): Promise<SealedSecret> => {
        const next = await keyring.reseal(sealed, current.id);
        if (next === null) return sealed;
        resealed++;
        return next;
      };
      const signing = current.signing?.alg === "hmac-sha256" ? { alg: "hmac-sha256" as const, sealed: await again(current.signing.sealed) } : current.signing;
      // An old secret whose grace has ended is never opened again: left as it is.
      const previous: PreviousSecret[] = [];
      for (const p of current.previous) previous.push(p.sealed === undefined || p.expiresAt <= now ? p : { ...p, sealed: await again(p.sealed) });
      if (resealed === 0) return { record: toRecord(current, now), resealed };
      const next: StoredToken = { ...current, signing, previous, updatedAt: now };
      const entry = this.#auditEntry("update", current, actor, now, ["sealingKey"]);
      const saved = await written(this.#changed, current.id, hashesOf(current), () => this.#cfg.store.update(next, current.revision, entry));
      return { record: toRecord(saved, now), resealed };
    });
  }

  /**
   * Reports a token seen in public: revokes it (or, with `action: "flag"`,
   * only audits it) with an audit entry of action `leak` naming the source and
   * URL, in the same transaction (when another revoke revoked it since the
   * report read it, the `leak` entry is appended all the same, without
   * `revokedAt`). Anything that is not a live token of this store is answered
   * `unknown` or `inactive` and changes nothing.
   *
   * @param token the leaked token string (untrusted: never throws for its content)
   * @param options source, URL, action (default `"revoke"`), actor
   * @returns what was done, with the token's id and owner to notify
   * @throws {InvalidInputError} `INVALID_INPUT` for bad options
   * @example
   * ```ts
   * const report = await kw.tokens.reportLeak(token, { source: "github", url: "https://github.com/o/r/blob/main/.env" });
   * ```
   */
  reportLeak(token: string, options: ReportLeakOptions): Promise<LeakReport> {
    return reportLeak(this.#cfg, this.#changed, token, options, this.#leaked);
  }

  /**
   * The audit log of a token (`{ tokenId }`) or an owner (`{ owner }`), oldest first.
   *
   * @param filter which entries: one token or one owner, never both (they are not combined)
   * @param options page size and cursor
   * @returns a page of entries
   * @throws {InvalidInputError} `INVALID_INPUT` naming `filter` (both fields, neither, or another one), `owner` or `tokenId`
   */
  async audit(filter: AuditFilter, options: PageOptions = {}): Promise<Page<AuditEntry>> {
    const checked = parseTokenOrOwner(filter, "filter");
    checkPageOptions(options);
    return this.#cfg.store.listAudit(checked, options);
  }

  /** The stored token; a malformed id is not echoed (it may be a token passed by mistake). */
  async #read(id: string): Promise<StoredToken> {
    if (!isTokenId(id)) throw new TokenNotFoundError("");
    const current = await this.#cfg.store.get(id);
    if (!current) throw new TokenNotFoundError(id);
    return current;
  }

  /** The stored token, which must not be revoked. */
  async #load(id: string): Promise<StoredToken> {
    const current = await this.#read(id);
    if (current.revokedAt !== null) throw new TokenRevokedError(id);
    return current;
  }

  /**
   * The time a write of `current` is made at: the clock, or the record's
   * last write when that is later (the writer's clock was ahead of this
   * instance's). Every server reads a record at no earlier than its
   * `updatedAt`; a write judged, and stamped, earlier would move it back and
   * bring to life again what the last writer held for past (an ended grace
   * period, an expiry set to "now", a due revision).
   */
  #writeTime(current: StoredToken): number {
    return readTime(current, this.#cfg.now());
  }

  /**
   * When an effective-dated change can really take effect everywhere at once.
   * Without a change feed another server may serve a cached copy of the
   * token for up to `revocationBoundMs`, unaware of a revision scheduled
   * meanwhile: a future cutover earlier than `now + revocationBoundMs` is
   * moved to that bound, so the whole fleet still switches at one instant.
   * An immediate change (`effectiveAt <= now`) applies here at once and
   * elsewhere within the bound, like a revocation.
   */
  #cutover(effectiveAt: number, now: number): number {
    const { store, revocationBoundMs } = this.#cfg;
    if (effectiveAt <= now || store.capabilities.changeFeed) return effectiveAt;
    return Math.max(effectiveAt, now + revocationBoundMs);
  }

  #initialPolicy(
    data: { kind: TokenKind } & Partial<Omit<TokenPolicy, "credits" | "rateLimit" | "pools" | "rateLimits">> & {
        credits?: TokenPolicy["credits"] | undefined;
        pools?: TokenPolicy["pools"] | undefined;
        rateLimit?: TokenPolicy["rateLimit"] | undefined;
        rateLimits?: TokenPolicy["rateLimits"] | undefined;
      },
    now: number,
    lifetimes: Lifetimes,
  ): TokenPolicy {
    const scopes = data.scopes ?? [...this.#cfg.defaultScopes];
    this.#checkKindScopes(data.kind, scopes);
    if (data.expiresAt != null && data.expiresAt <= now) {
      throw new InvalidInputError("expiresAt", "must be in the future");
    }
    return {
      scopes,
      domains: data.domains ?? [],
      ips: data.ips ?? [],
      credits: data.credits ?? null,
      rateLimit: data.rateLimit ?? null,
      // Only when given: a token without them is stored as before pools existed.
      ...(data.pools && Object.keys(data.pools).length > 0 ? { pools: data.pools } : {}),
      ...(data.rateLimits && data.rateLimits.length > 0 ? { rateLimits: data.rateLimits } : {}),
      expiresAt: expiryOnCreate(data.expiresAt, lifetimes, now),
      requireSignedRequests: data.requireSignedRequests ?? false,
    };
  }

  #checkKindScopes(kind: TokenKind, scopes: readonly string[]): void {
    if (kind !== "publishable" || this.#cfg.allowPublishableWrites) return;
    const bad = scopes.find(isWriteOrDeleteScope);
    if (bad !== undefined) {
      throw new ScopeNotAllowedError(
        bad,
        "publishable tokens may only hold read scopes (set allowPublishableWrites to change this)",
      );
    }
  }

  async #signing(
    signing: { alg: "ed25519"; publicKey: string } | { alg: "hmac-sha256" } | null,
    token: string,
    id: string,
  ): Promise<StoredSigning | null> {
    if (signing?.alg !== "hmac-sha256") return signing;
    return { alg: "hmac-sha256", sealed: await this.#cfg.keyring.seal(deriveSigningSecret(token), id) };
  }

  #newId(): string {
    return `tok_${randomBase62(ID_CHARS, this.#cfg.random)}`;
  }

  #auditEntry(
    action: AuditAction,
    token: StoredToken,
    actor: Actor,
    at: number,
    changes: string[],
    effectiveAt?: number,
  ): AuditEntry {
    const entry: AuditEntry = {
      id: auditId(at, this.#cfg.random),
      at,
      actor: actor.name,
      ...(actor.role !== undefined ? { role: actor.role } : {}),
      action,
      tokenId: token.id,
      owner: token.owner,
      changes,
    };
    if (effectiveAt !== undefined) entry.effectiveAt = effectiveAt;
    return entry;
  }
}

/** Attempts of a token write made without `expectedRevision` that keeps meeting another write. */
const TOKEN_WRITE_ATTEMPTS = 5;

/**
 * A read-modify-write of a token, run again from a fresh read when another
 * write came between its read and its write (`REVISION_CONFLICT`), unless
 * the caller named the revision it read (`expected`): a change made without
 * one is applied on top of the other (the last writer wins per field, as in
 * `kw.accounts.set`), never lost to a conflict the caller did not ask about.
 */
async function onLatest<T>(expected: number | undefined, write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof RevisionConflictError) || expected !== undefined || attempt >= TOKEN_WRITE_ATTEMPTS) throw err;
    }
  }
}

/** What a hard delete removes, as its audit entry names it. */
const DELETED_PARTS = ["record", "hashes", "credits", "rateLimits", "nonces", "usage"] as const;

/** The result of `kw.tokens.delete`: which token, and how many rows of each kind went with it. */
/** What {@link TokenManager.reseal} did. */
export interface ResealResult {
  /** The token's record (unchanged but for `updatedAt` and `revision`). */
  record: TokenRecord;
  /** How many HMAC signing keys were sealed anew under the first sealing key (0: nothing was written). */
  resealed: number;
}

/** What {@link TokenManager.delete} removed. */
export interface DeleteTokenResult {
  /** The deleted token's id. */
  id: string;
  /** The account it belonged to. */
  owner: string;
  /** How many rows of each kind were removed besides the record. */
  removed: DeletedToken["removed"];
}

/** The actor of a method's options, after checking they name only `known` fields (default: the actor's). */
function parseActor(options: ActorOptions, known: readonly string[] = ACTOR_OPTIONS): Actor {
  checkOptionFields(options, known);
  if (options.role !== undefined && !isRole(options.role)) throw new InvalidInputError("role", "must be a role");
  // Stored verbatim and printed by audit readers: no control or invisible characters (log forging), no token.
  return { name: parseInput(actorSchema, options.actor ?? DEFAULT_ACTOR, "actor"), role: options.role };
}

function parseExpectedRevision(expected: number | undefined): number | undefined {
  if (expected !== undefined && !Number.isSafeInteger(expected)) throw new InvalidInputError("expectedRevision", "must be an integer");
  return expected;
}

/** A console's write applies to the revision it displayed, or to none. */
function checkRevision(current: StoredToken, expected: number | undefined): void {
  if (expected !== undefined && expected !== current.revision) throw new RevisionConflictError(current.id, expected);
}

function checkPageOptions(options: PageOptions, known: readonly string[] = PAGE_OPTIONS): void {
  checkOptionFields(options, known);
  const { limit, cursor } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) {
    throw new InvalidInputError("limit", "must be an integer from 1 to 1000");
  }
  if (cursor != null && (typeof cursor !== "string" || cursor.length > 1024)) {
    throw new InvalidInputError("cursor", "must be a cursor returned by a previous page");
  }
}

/** Hands a lifecycle event to the application's hook; its failure is its own. */
function notify(hook: ((event: LifecycleEvent) => void) | undefined, event: LifecycleEvent): void {
  // The hook's failure never stops the scan.
  if (hook !== undefined) callHook(hook, structuredClone(event));
}

/** A parsed value as JSON-able data with object keys in order (bytes as base64url, dates as ISO text): one text per value. */
function canonical(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: toBase64Url(v) };
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    const value = (v as Record<string, unknown>)[k];
    if (value !== undefined) out[k] = canonical(value);
  }
  return out;
}

/**
 * The input with an ed25519 public key given as a WebCrypto `CryptoKey`
 * exported to its raw bytes (asynchronous, so before the schema reads it);
 * anything else unchanged, for the schema to check.
 *
 * @throws {InvalidInputError} `INVALID_INPUT` on `signing.publicKey` for a CryptoKey that is not an Ed25519 public key
 */
async function withRawPublicKey<T>(input: T): Promise<T> {
  const signing = (input as { signing?: { alg?: unknown; publicKey?: unknown } } | null)?.signing;
  if (signing?.alg !== "ed25519" || !isCryptoKey(signing.publicKey)) return input;
  const raw = await ed25519PublicCryptoKey(signing.publicKey);
  if (raw === null) throw new InvalidInputError("signing.publicKey", "a CryptoKey must be an extractable Ed25519 public key");
  return { ...input, signing: { ...signing, publicKey: raw } };
}

