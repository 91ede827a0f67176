// Team members of an account and their roles; reached as
// `kw.accounts.members`. Members live in the account record (a
// compare-and-set on its revision, audited), so every store with accounts
// keeps them. keyward/admin enforces the role matrix (src/model/roles.ts).
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError, LastOwnerError, RevisionConflictError } from "../errors.js";
import { accountAudit, accountPolicyAt, accountWriteTime, type StoredAccount } from "../model/account.js";
import { type AccountAction, isRole, REFUSED_WHILE_SUSPENDED, ROLE_MATRIX, ROLES, type Role, roleCan } from "../model/roles.js";
import { actorSchema, checkOptionFields, DEFAULT_ACTOR, ownerQuerySchema, ownerSchema, parseInput } from "../model/schemas.js";

/** A member of an account: their id (the `actor` of their actions) and role. */
export interface Member {
  /** The member's id, as your application names its users (`"user:42"`): the `actor` of their actions. */
  id: string;
  /** What they may do: `owner`, `admin`, `developer` or `viewer` (docs/roles.md). */
  role: Role;
}

/**
 * Who changes the members, for the audit log, and what the change was
 * decided on; a field of another name is refused (`INVALID_INPUT` on `options`).
 */
export interface MemberChangeOptions {
  /** Default `"system"`. */
  actor?: string | undefined;
  /** The actor's own role, recorded with the entry (keyward/admin sets it). */
  role?: Role | undefined;
  /**
   * Fail with `REVISION_CONFLICT` unless the member's role is still this
   * (null: not a member) when the change is written: the role the caller
   * authorized the change on (keyward/admin sets it, so an admin who read
   * "developer" never overwrites an owner made meanwhile).
   */
  expectedRole?: Role | null | undefined;
  /**
   * Fail with `REVISION_CONFLICT` unless `actor` still has this role in the
   * account when the change is written (in an account without members, its
   * single user is the owner): the role the caller was authorized on
   * (keyward/admin sets it when it read the role from the members, so an
   * admin demoted meanwhile changes no one).
   */
  expectedActorRole?: Role | undefined;
}

/** Most members of one account. */
export const MAX_MEMBERS = 1000;

/** Attempts of a change of an account that keeps meeting another instance's write (compare-and-set on its revision). */
export const ACCOUNT_WRITE_ATTEMPTS = 5;

/**
 * This instance's changes of accounts (`kw.accounts.set`, member changes),
 * written one at a time per owner: each reads the account its
 * compare-and-set is based on after the one before was written, so
 * concurrent changes made here never conflict with each other (only with
 * another instance's, which are retried) and all land. Other owners' changes
 * are not held.
 */
export class AccountWrites {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `change` after this instance's changes of `owner` started before it have settled. */
  run<T>(owner: string, change: () => Promise<T>): Promise<T> {
    const result = (this.#tails.get(owner) ?? Promise.resolve()).then(change);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.#tails.set(owner, tail);
    void tail.then(() => {
      if (this.#tails.get(owner) === tail) this.#tails.delete(owner);
    });
    return result;
  }
}

const MEMBER_OPTIONS = ["actor", "role", "expectedRole", "expectedActorRole"] as const;

const EMPTY_POLICY = { ceiling: null, credits: null, rateLimit: null };

/** An account's team; reached as `kw.accounts.members`. */
export class MemberManager {
  readonly #cfg: ResolvedConfig;
  readonly #writes: AccountWrites;

  /** @internal */
  constructor(config: ResolvedConfig, writes: AccountWrites = new AccountWrites()) {
    this.#cfg = config;
    this.#writes = writes;
  }

  /**
   * @param owner the account
   * @returns its members, owners first, then by id
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED` when the store has no accounts
   */
  async list(owner: string): Promise<Member[]> {
    parseInput(ownerQuerySchema, owner, "owner");
    return membersOf(await this.#account(owner));
  }

  /**
   * @param owner the account
   * @param member the member's id
   * @returns their role, or null when they are not a member
   */
  async roleOf(owner: string, member: string): Promise<Role | null> {
    return roleIn(await this.#lookup(owner, member), member);
  }

  /**
   * Whether `member` may do `action` on the account's tokens (the matrix of
   * docs/roles.md); false for someone who is not a member, and, while the
   * account is suspended, for what a suspension refuses whatever the role
   * (creating, updating, regenerating or deleting a token, changing its
   * limits), as keyward/admin answers.
   *
   * @example
   * ```ts fragment
   * if (!(await kw.accounts.members.can("acct_1", "user:42", "tokens.create.secret"))) return new Response(null, { status: 403 });
   * ```
   */
  async can(owner: string, member: string, action: AccountAction): Promise<boolean> {
    if (!Object.hasOwn(ROLE_MATRIX, action)) throw new InvalidInputError("action", "must be an action of the role matrix");
    const account = await this.#lookup(owner, member);
    const role = roleIn(account, member);
    if (role === null || !roleCan(role, action)) return false;
    // As every server judges it: at no earlier than the account's last write.
    return !(account !== null && accountPolicyAt(account, this.#cfg.now()).suspended != null && REFUSED_WHILE_SUSPENDED.has(action));
  }

  /**
   * Adds a member or changes their role. The first member of an account must
   * be an owner; the last owner cannot be given another role.
   *
   * @returns the members after the change
   * @throws {InvalidInputError} `INVALID_INPUT` naming `member`, `role` or `options` (a field of another name); `LAST_OWNER`
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when the member's role is no longer `expectedRole`, or the actor's `expectedActorRole`
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED` when the store has no accounts
   * @example
   * ```ts fragment
   * await kw.accounts.members.set("acct_1", "user:42", "developer", { actor: "user:1", role: "owner" });
   * ```
   */
  async set(owner: string, member: string, role: Role, options: MemberChangeOptions = {}): Promise<Member[]> {
    if (!isRole(role)) throw new InvalidInputError("role", `must be one of ${ROLES.join(", ")}`);
    return this.#change(owner, member, role, options);
  }

  /**
   * Removes a member; removing someone who is not a member changes nothing.
   * The last owner cannot be removed, nor can the last member: an account
   * without members is its single user's (docs/roles.md), so a team never
   * becomes one by losing its members.
   *
   * @returns the members after the change
   * @throws {InvalidInputError} `LAST_OWNER` for the only owner; `INVALID_INPUT` naming `options` (a field of another name)
   * @throws {RevisionConflictError} `REVISION_CONFLICT` when the member's role is no longer `expectedRole`, or the actor's `expectedActorRole`
   */
  async remove(owner: string, member: string, options: MemberChangeOptions = {}): Promise<Member[]> {
    return this.#change(owner, member, null, options);
  }

  async #change(owner: string, member: string, role: Role | null, options: MemberChangeOptions): Promise<Member[]> {
    // A removal only looks up: what was stored before tokens were refused can still be removed.
    const stored = role !== null;
    parseInput(stored ? ownerSchema : ownerQuerySchema, owner, "owner");
    parseMember(member, stored);
    checkOptionFields(options, MEMBER_OPTIONS);
    const actor = parseInput(actorSchema, options.actor ?? DEFAULT_ACTOR, "actor");
    if (options.role !== undefined && !isRole(options.role)) throw new InvalidInputError("role", "must be a role");
    const { expectedRole, expectedActorRole } = options;
    if (expectedRole !== undefined && expectedRole !== null && !isRole(expectedRole)) throw new InvalidInputError("expectedRole", "must be a role or null");
    if (expectedActorRole !== undefined && !isRole(expectedActorRole)) throw new InvalidInputError("expectedActorRole", "must be a role");
    const store = this.#cfg.store;
    return this.#writes.run(owner, async () => {
      for (let attempt = 1; ; attempt++) {
        const current = await this.#account(owner);
        const before = roleIn(current, member);
        const hadMembers = Object.keys(current?.members ?? {}).length > 0;
        // Checked on the read the compare-and-set below is based on: a change made meanwhile makes it retry and fail here.
        const stale =
          (expectedRole !== undefined && before !== expectedRole) ||
          (expectedActorRole !== undefined && (hadMembers ? roleIn(current, actor) : "owner") !== expectedActorRole);
        if (stale) throw new RevisionConflictError(owner, current?.revision ?? 0);
        if (before === role) return membersOf(current);
        const members = { ...current?.members };
        if (role === null) delete members[member];
        else members[member] = role;
        const ids = Object.keys(members);
        if (ids.length > MAX_MEMBERS) throw new InvalidInputError("member", `an account has at most ${MAX_MEMBERS} members`);
        // An account without members is its single user's (keyward/admin makes anyone it maps to the account its
        // owner): a team cannot become one by losing its last member, nor be without an owner.
        if ((hadMembers || ids.length > 0) && !ids.some((id) => members[id] === "owner")) {
          throw new LastOwnerError("role", hadMembers ? "the account would have no owner" : "the first member must be an owner");
        }
        // Made at no earlier than the account's last write (SECURITY.md, "Clocks").
        const now = accountWriteTime(current, this.#cfg.now());
        const base: StoredAccount = current ?? { owner, policy: EMPTY_POLICY, scheduled: [], createdAt: now, updatedAt: now, revision: 0 };
        const next: StoredAccount = { ...base, members, updatedAt: now };
        // The text as before, for whoever reads it; which member and which role are fields of their own.
        const change = role === null ? `remove ${member}` : `${member}=${role}`;
        const extra = { ...(options.role !== undefined && { role: options.role }), member, memberRole: role };
        const entry = accountAudit(now, this.#cfg.random, actor, "members", owner, [change], extra);
        try {
          return membersOf(await store.putAccount(next, base.revision, entry));
        } catch (err) {
          if (!(err instanceof RevisionConflictError) || attempt >= ACCOUNT_WRITE_ATTEMPTS) throw err;
        }
      }
    });
  }

  /** The owner's account, to look `member` up in (both checked as ids that are only looked up). */
  #lookup(owner: string, member: string): Promise<StoredAccount | null> {
    parseInput(ownerQuerySchema, owner, "owner");
    parseMember(member, false);
    return this.#account(owner);
  }

  #account(owner: string): Promise<StoredAccount | null> {
    return this.#cfg.store.getAccount(owner);
  }
}

/**
 * A member id: an actor (one that is only looked up may be a token stored
 * before tokens were refused), and a key of the members record that is never its prototype.
 */
function parseMember(member: string, stored: boolean): void {
  parseInput(stored ? actorSchema : ownerQuerySchema, member, "member");
  if (member === "__proto__") throw new InvalidInputError("member", "is not allowed");
}

/** The member's role in the account, or null: own keys only (`constructor` is no role). */
function roleIn(account: StoredAccount | null, member: string): Role | null {
  const members = account?.members;
  return members !== undefined && Object.hasOwn(members, member) ? members[member]! : null;
}

function membersOf(account: StoredAccount | null): Member[] {
  const rank = (r: Role) => ROLES.indexOf(r);
  return Object.entries(account?.members ?? {})
    .map(([id, role]) => ({ id, role }))
    .sort((a, b) => rank(a.role) - rank(b.role) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
