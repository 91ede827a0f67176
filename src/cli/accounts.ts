// keyward account: an account as it stands, read only; keyward suspend: stop
// every token of an account, or lift it (docs/accounts.md).
import type { AccountCreditsPolicy, AccountPolicy, AccountRecord, CreditBalance, Keyward } from "../index.js";
import { AccountNotFoundError } from "../index.js";
import { DEFAULT_POOL } from "../model/pools.js";
import { COMMON, type Command, parseTime, positional, required, STORE_OPTIONS } from "./command.js";
import { formatDuration } from "./duration.js";
import { CliError, EXIT, type Io, json, line } from "./io.js";
import { withStore } from "./store.js";
import { ACTOR, ACTOR_SETTING, actorOf, creditsText, policyChanges } from "./tokens.js";

const iso = (ms: number) => new Date(ms).toISOString();

export const suspend: Command = {
  summary: "Suspend an account (--reason: every token denied ACCOUNT_SUSPENDED), or --lift it; at --effective-at (audited).",
  options: {
    owner: { type: "string", value: "id", description: "the account, required" },
    reason: { type: "string", value: "text", description: "why, kept in the audit log (never shown to the account)" },
    lift: { type: "boolean", description: "lift the suspension: the tokens work again" },
    "effective-at": { type: "string", value: "time", description: "when it applies: ISO-8601 or +duration (default now)" },
    ...ACTOR,
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: { "suspended.reason": "reason", effectiveAt: "effective-at", ...ACTOR_SETTING, owner: "owner" },
  run: async (ctx) => {
    positional(ctx, []);
    const owner = required(ctx.values, "owner");
    const lift = ctx.values.lift === true;
    if (lift === (typeof ctx.values.reason === "string")) throw new CliError("give --reason <text> to suspend, or --lift, not both", EXIT.USAGE);
    const now = Date.now();
    const effectiveAt = typeof ctx.values["effective-at"] === "string" ? parseTime(ctx.values["effective-at"], "effective-at", now) : undefined;
    const suspended = lift ? null : { reason: ctx.values.reason as string };
    return withStore(ctx, { create: false }, async ({ keyward }) => {
      // An owner with neither an account nor a token is a mistyped id: set() would make it an account, and report
      // a suspension (or a lift) of the owner meant that never happened.
      if ((await keyward.accounts.get(owner)) === null && (await keyward.tokens.list(owner, { limit: 1 })).items.length === 0) {
        throw new AccountNotFoundError(owner);
      }
      const options = { ...actorOf(ctx.values), ...(effectiveAt !== undefined && { effectiveAt }) };
      const account = await keyward.accounts.set(owner, { suspended }, options);
      if (ctx.values.json) json(ctx.io, account);
      else {
        // From the first revision to come that holds it, at or after --effective-at (moved to the fleet's bound, if
        // asked sooner): the state now may hold it already, before the change (a lift after a suspension to come).
        // Without a revision to come that holds it, in force now.
        const holds = (p: typeof account.policy) => (p.suspended != null) !== lift;
        const after = effectiveAt !== undefined && effectiveAt > now ? effectiveAt : Number.NEGATIVE_INFINITY;
        const due = account.scheduled.find((r) => r.effectiveAt >= after && holds(r.policy));
        const from = holds(account.policy) && after === Number.NEGATIVE_INFINITY ? undefined : due?.effectiveAt;
        const when = from === undefined ? "now" : `from ${iso(from)}`;
        line(ctx.io, lift ? `${owner}: suspension lifted ${when}` : `${owner}: suspended ${when}`);
      }
      return EXIT.OK;
    });
  },
};

/** An account's balance of one pool, as `credits --owner` reads it. */
type PoolBalance = Omit<CreditBalance, "replayed">;

/** What `account --json` prints: stable for scripts (docs/cli.md). */
interface AccountView {
  owner: string;
  /** As `kw.accounts.get` returns it (`suspend --json` prints the same); null for an owner with tokens and no account. */
  account: AccountRecord | null;
  /**
   * The suspension in force, or null: the operator's reason, and when it began (epoch ms) as the account has it
   * (`policy.suspended.since`); for a suspension written before keyward kept it, as a short audit log has it
   * ({@link LEGACY_SINCE_ENTRIES}); null when not known.
   */
  suspended: { reason: string; since: number | null } | null;
  /** Each pool in force now, the default one as `default`: what is left, read as `credits --owner` does (nothing spent). */
  balances: Record<string, PoolBalance>;
}

export const account: Command = {
  summary: "Show an account: plan ceiling, credit pools and balances, rate limit, suspension (why, since when), members (reads only).",
  options: {
    owner: { type: "string", value: "id", description: "the account, required" },
    ...STORE_OPTIONS,
    ...COMMON,
  },
  settings: { owner: "owner" },
  run: async (ctx) => {
    positional(ctx, []);
    const owner = required(ctx.values, "owner");
    return withStore(ctx, { create: false, readsOnly: true }, async ({ keyward }) => {
      const record = await keyward.accounts.get(owner);
      // An owner with neither an account nor a token is a mistyped id, as for suspend.
      if (record === null && (await keyward.tokens.list(owner, { limit: 1 })).items.length === 0) throw new AccountNotFoundError(owner);
      const view: AccountView = {
        owner,
        account: record,
        suspended: record?.policy.suspended == null ? null : { reason: record.policy.suspended.reason, since: await sinceOf(keyward, record) },
        balances: record === null ? {} : await balancesOf(keyward, owner, record.policy),
      };
      if (ctx.values.json) json(ctx.io, view);
      else printAccount(ctx.io, view);
      return EXIT.OK;
    });
  },
};

/** The balance of each pool in force: read through the store's credit operation with nothing spent. */
async function balancesOf(keyward: Keyward, owner: string, policy: AccountPolicy): Promise<Record<string, PoolBalance>> {
  const names = [...(policy.credits ? [DEFAULT_POOL] : []), ...Object.keys(policy.pools ?? {})];
  const balances: Record<string, PoolBalance> = {};
  for (const pool of names) {
    const { replayed: _, ...balance } = await keyward.credits.get(pool === DEFAULT_POOL ? { owner } : { owner, pool });
    balances[pool] = balance;
  }
  return balances;
}

/** When the account's suspension in force began: as the account keeps it, else as a short audit log has it (or null). */
async function sinceOf(keyward: Keyward, account: AccountRecord): Promise<number | null> {
  return account.policy.suspended?.since ?? legacySince(keyward, account);
}

/** Most audit entries of an owner read for a suspension written before its start was kept: one page, the whole log or none of it. */
const LEGACY_SINCE_ENTRIES = 1000;

/**
 * When the suspension in force began, for one written before the account kept
 * it (`since` absent): from the account's changes of `suspended` in its audit
 * log, if the whole log is at most {@link LEGACY_SINCE_ENTRIES} entries (a
 * longer one is not read: null). Replayed in the order they were written, each
 * from its effective time on, as the account applies them: a change replaces
 * those effective at or after its own time (a suspension made at once cancels
 * a lift scheduled for later). Of the changes in force now, the first
 * suspension after the last lift; null when the log has none (a suspension
 * written by other means, or a log cut short).
 */
async function legacySince(keyward: Keyward, account: AccountRecord): Promise<number | null> {
  const page = await keyward.tokens.audit({ owner: account.owner }, { limit: LEGACY_SINCE_ENTRIES });
  if (page.nextCursor !== null) return null;
  // The account's policy is read at no earlier than its last write (a writer's clock ahead of this one's): so is its log.
  const now = Math.max(Date.now(), account.updatedAt);
  /** Effective time, and whether it suspends (a suspension keeps its reason in the entry; a lift has none). */
  let timeline: { at: number; suspends: boolean }[] = [];
  for (const e of page.items) {
    if (e.action !== "account" || !e.changes.includes("suspended")) continue;
    const at = e.effectiveAt ?? e.at;
    timeline = timeline.filter((c) => c.at < at);
    timeline.push({ at, suspends: e.reason !== undefined });
  }
  let since: number | null = null;
  for (const c of timeline) if (c.at <= now) since = c.suspends ? (since ?? c.at) : null;
  return since;
}

const poolText = (c: AccountCreditsPolicy) => `${creditsText(c)}${c.overage > 0 ? `, overage ${c.overage}` : ""}`;

/** An account policy as readable rows (the same labels as `show` where they mean the same). */
function accountRows(p: AccountPolicy): [string, string][] {
  const rules = p.tokens;
  const rule = (ms: number | null | undefined) => (ms == null ? "the application's" : formatDuration(ms));
  return [
    ["status", p.suspended == null ? "active" : `suspended: ${JSON.stringify(p.suspended.reason)}`],
    ["ceiling", p.ceiling === null ? "none" : p.ceiling.join(" ")],
    ["credits", p.credits === null ? "none" : poolText(p.credits)],
    ...Object.entries(p.pools ?? {}).map(([name, c]): [string, string] => [`pool ${name}`, poolText(c)]),
    ["rate limit", p.rateLimit ? `${p.rateLimit.limit} per ${formatDuration(p.rateLimit.windowMs)}` : "none"],
    ["token lifetime", `default ${rule(rules?.defaultLifetimeMs)}, max ${rule(rules?.maxLifetimeMs)}, rotation ${rule(rules?.rotationPeriodMs)}`],
  ];
}

/** An account as readable lines (stored text is escaped by `line`). */
function printAccount(io: Io, view: AccountView): void {
  const a = view.account;
  const current = accountRows(a?.policy ?? { ceiling: null, credits: null, rateLimit: null });
  const rows: [string, string][] = [["owner", view.owner]];
  for (const [label, value] of current) {
    const s = view.suspended;
    if (label === "status" && s !== null) {
      rows.push([label, `suspended ${s.since === null ? "(since unknown)" : `since ${iso(s.since)}`}: ${JSON.stringify(s.reason)}`]);
      continue;
    }
    rows.push([label, value]);
    const pool = label === "credits" ? DEFAULT_POOL : label.startsWith("pool ") ? label.slice(5) : undefined;
    const b = pool === undefined ? undefined : view.balances[pool];
    if (b !== undefined) rows.push(["  balance", `${b.remaining} of ${b.limit} left${b.nextRefillAt === null ? "" : `, next refill ${iso(b.nextRefillAt)}`}`]);
  }
  const members = Object.entries(a?.members ?? {});
  rows.push(["members", members.length === 0 ? "none" : members.map(([id, role]) => `${role} ${JSON.stringify(id)}`).join(", ")]);
  if (a === null) rows.push(["account", "none yet: the owner has tokens and no plan, pool or member set"]);
  else rows.push(["created", iso(a.createdAt)], ["updated", iso(a.updatedAt)], ["revision", String(a.revision)]);
  // Each scheduled change shows what it changes from the policy in force before it.
  let before = current;
  for (const s of a?.scheduled ?? []) {
    const after = accountRows(s.policy);
    rows.push(["scheduled", `${iso(s.effectiveAt)}: ${policyChanges(before, after)}`]);
    before = after;
  }
  for (const [k, v] of rows) line(io, `${k.padEnd(17)}${v}`);
}
