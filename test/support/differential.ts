// A differential (model-based) test of metering: random sequences of
// operations through `Keyward` (token and account limits, checks and bursts
// of concurrent checks, top-ups and resets, policy changes with
// `effectiveAt`, expiry, regeneration with grace, revocation, the clock moved
// to window and calendar boundaries) run on several stores side by side with
// one injected clock; after every step each store's answer, and every
// balance, must equal the first store's, and at the end the usage and
// billing lines.
import fc from "fast-check";
import { type Decision, Keyward, KeywardError, MAX_CREDIT_BALANCE, type TokenRecord, type TokenStore } from "keyward";
import { expect } from "vitest";

const MAX = MAX_CREDIT_BALANCE;
const OWNERS = ["acct_a", "acct_b"] as const;
const POOL = "premium";
const DAY = 86_400_000;

/**
 * Amounts where arithmetic drifts: 0, 1, small, and next to the balance cap; and mid-size ones, over
 * the 16 credits below which PostgreSQL's credit leases lease nothing (so that leases are taken, spent
 * and given back while policies change).
 */
const amount = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 12 }), weight: 4 },
  { arbitrary: fc.integer({ min: 17, max: 60 }), weight: 1 },
  { arbitrary: fc.constantFrom(MAX - 1, MAX, Math.floor(MAX / 2), MAX - 12), weight: 1 },
);
const windowMs = fc.constantFrom(1_000, 60_000, DAY);
const rateLimit = fc.record({ limit: fc.integer({ min: 1, max: 4 }), windowMs });
const refill = fc.record({ amount: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(MAX)), intervalMs: windowMs });
/** A pool: a limit, and a refill, a calendar reset or neither. */
const credits = fc.oneof(
  fc.record({ limit: amount }),
  fc.record({ limit: amount, refill }),
  fc.record({ limit: amount, reset: fc.constantFrom("day" as const, "month" as const) }),
);
const accountCredits = fc.record({ limit: amount, refill: fc.option(refill, { nil: undefined }), overage: fc.constantFrom(0, 0, 1, 5) }).map((c) =>
  c.refill === undefined ? { limit: c.limit, overage: c.overage } : c,
);
const accountPool = fc.oneof(accountCredits, fc.record({ limit: amount, reset: fc.constantFrom("day" as const, "month" as const), overage: fc.constantFrom(0, 3) }));
/** Which of a token's (or account's) fields a create or a change sets; absent: not named. */
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(fc.option(arb, { nil: null }), { nil: undefined });
const poolName = fc.constantFrom(undefined, undefined, undefined, "default", POOL, POOL, "basic");
const target = fc.oneof(fc.record({ tok: fc.nat(7) }), fc.record({ owner: fc.constantFrom(0, 1) }));
/** One of `rateLimits`: its window is now and then `rateLimit`'s (refused: two limits of one window). */
const extraRateLimit = fc.record({ limit: fc.integer({ min: 1, max: 6 }), windowMs: fc.constantFrom(3_600_000, 3_600_000, 60_000) });
const idempotencyKey = fc.option(fc.constantFrom("k1", "k2"), { nil: undefined });

/** A token of one of the two owners; one in five expires soon. */
const create = fc.record({
  k: fc.constant("create" as const),
  owner: fc.constantFrom(0, 1),
  credits: maybe(credits),
  pools: maybe(credits),
  rateLimit: maybe(rateLimit),
  rateLimits: maybe(extraRateLimit),
  expiresInMs: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, fc.constantFrom(1, 1_000, 60_000, 3_600_000)),
});

export const operation = fc.oneof(
  { weight: 2, arbitrary: create },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("account" as const),
      owner: fc.constantFrom(0, 1),
      credits: maybe(accountPool),
      pools: maybe(accountPool),
      rateLimit: maybe(rateLimit),
      suspended: fc.constantFrom(undefined, undefined, undefined, true, false),
      effectiveInMs: fc.option(fc.constantFrom(0, 10_000, 60_000), { nil: undefined }),
    }),
  },
  {
    weight: 14,
    arbitrary: fc.record({
      k: fc.constant("check" as const),
      tok: fc.nat(7),
      secret: fc.nat(2),
      cost: fc.option(amount, { nil: undefined }),
      pool: poolName,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("burst" as const), tok: fc.nat(7), n: fc.integer({ min: 2, max: 6 }), cost: fc.integer({ min: 1, max: 3 }), pool: poolName }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("topUp" as const), target, pool: poolName, amount: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(MAX - 1, MAX)), key: idempotencyKey }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("reset" as const), target, pool: poolName, key: idempotencyKey }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("update" as const),
      tok: fc.nat(7),
      credits: maybe(credits),
      pools: maybe(credits),
      rateLimit: maybe(rateLimit),
      rateLimits: maybe(extraRateLimit),
      effectiveInMs: fc.option(fc.constantFrom(0, 1, 1_000, 60_000), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("regenerate" as const), tok: fc.nat(7), graceMs: fc.constantFrom(0, 1, 1_000, 60_000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constantFrom("revoke" as const, "disable" as const, "enable" as const, "delete" as const), tok: fc.nat(7) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("advance" as const), ms: fc.constantFrom(1, 999, 1_000, 59_999, 60_000, 3_600_000, DAY, 40 * DAY) }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("boundary" as const), unit: fc.constantFrom("second" as const, "minute" as const, "day" as const, "month" as const), offset: fc.constantFrom(-1, 0, 1) }),
  },
);
export type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never;

/** A run: where the clock starts (the end of a leap February, of a year, a plain instant) and its steps. */
export const runs = (maxLength: number) =>
  fc.record({
    start: fc.constantFrom(Date.UTC(2024, 1, 29, 23, 59, 59, 0), Date.UTC(2024, 11, 31, 23, 59, 0), Date.UTC(2025, 4, 14, 10, 0)),
    // A few tokens first: most operations name one.
    ops: fc
      .tuple(fc.array(create, { minLength: 1, maxLength: 3 }), fc.array(operation, { minLength: 1, maxLength, size: "max" }))
      .map(([created, rest]) => [...created, ...rest]),
  });

/** The next start of `unit` after `now` (UTC), plus `offset` ms. */
function boundary(now: number, unit: "second" | "minute" | "day" | "month", offset: number): number {
  const d = new Date(now);
  let next: number;
  if (unit === "second") next = Math.floor(now / 1_000) * 1_000 + 1_000;
  else if (unit === "minute") next = Math.floor(now / 60_000) * 60_000 + 60_000;
  else if (unit === "day") next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  else next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return Math.max(now, next + offset);
}

/** One store's side: its `Keyward`, and the tokens it issued (their ids and secrets, newest first). */
interface Side {
  name: string;
  kw: Keyward;
  store: TokenStore;
  tokens: { id: string; secrets: string[] }[];
}

/** A store under test, made fresh for each run. */
export interface DifferentialStore {
  name: string;
  open(): Promise<TokenStore>;
  /**
   * The store holds leased blocks of credits (PostgreSQL's `creditLeases`): a block not
   * spent yet counts as used for a read (`kw.credits`, a check of cost 0) until it is
   * returned (docs/fleet.md, "Credit leases"). Compared then: every answer of a
   * check that spends, and the rest of the answers but the balances they read.
   */
  holdsBlocks?: boolean | undefined;
}

/** What a store that holds leased blocks must answer alike: see {@link DifferentialStore.holdsBlocks}. */
function withoutReads(op: Operation, answer: unknown): unknown {
  if (answer === null || typeof answer !== "object" || "error" in answer) return answer;
  if (op.k === "check") return op.cost === 0 ? { ...answer, remaining: undefined, headers: undefined } : answer;
  // Concurrent grants from a lease are answered after one report: each with the balance that report found.
  if (op.k === "burst") return (answer as string[]).map((a) => (JSON.parse(a) as { code: string }).code);
  if (op.k === "topUp" || op.k === "reset") return { ...answer, remaining: undefined };
  return answer;
}

/** What an admin call answered: its value, or its error's class, code and field. */
async function outcome<T>(f: () => Promise<T>, pick: (v: T) => unknown): Promise<unknown> {
  try {
    return pick(await f());
  } catch (err) {
    if (err instanceof KeywardError) return { error: err.name, code: err.code, field: (err as { field?: string }).field };
    return { error: String(err) };
  }
}

const balance = (b: { limit: number; remaining: number; nextRefillAt: number | null; replayed?: boolean }) => ({
  limit: b.limit,
  remaining: b.remaining,
  nextRefillAt: b.nextRefillAt,
  replayed: b.replayed,
});

/** What a check answered, but the token's id. */
function answerOf(d: Decision) {
  return {
    ok: d.ok,
    code: d.code,
    status: d.status,
    identified: d.tokenId !== null,
    cost: d.cost,
    remaining: d.remaining,
    retryAfterMs: d.retryAfterMs,
    pool: d.pool,
    headers: d.headers,
  };
}

/** A token's record without what differs by store (its id, and the secret's first characters). */
function recordOf({ id: _, start: __, ...rest }: TokenRecord): unknown {
  return rest;
}

function creditTarget(side: Side, t: { tok: number } | { owner: number }, pool: string | undefined) {
  const base = "owner" in t ? { owner: OWNERS[t.owner]! } : { tokenId: side.tokens[t.tok % side.tokens.length]!.id };
  return pool === undefined ? base : { ...base, pool };
}

/** Applies one operation to one store's side; returns what it answered, as plain data. */
async function apply(side: Side, op: Operation, now: number): Promise<unknown> {
  const { kw, tokens } = side;
  const token = (i: number) => tokens[i % tokens.length]!;
  switch (op.k) {
    case "create":
      return outcome(
        () =>
          kw.tokens.create({
            owner: OWNERS[op.owner]!,
            kind: "secret",
            credits: op.credits,
            pools: op.pools === undefined ? undefined : op.pools && { [POOL]: op.pools },
            rateLimit: op.rateLimit,
            rateLimits: op.rateLimits === undefined ? undefined : op.rateLimits && [op.rateLimits],
            expiresAt: op.expiresInMs === undefined ? undefined : now + op.expiresInMs,
          }),
        ({ token, record }) => {
          tokens.push({ id: record.id, secrets: [token] });
          return recordOf(record);
        },
      );
    case "account": {
      const patch = {
        credits: op.credits,
        pools: op.pools === undefined ? undefined : op.pools && { [POOL]: op.pools },
        rateLimit: op.rateLimit,
        suspended: op.suspended === undefined ? undefined : op.suspended ? { reason: "unpaid" } : null,
      };
      const options = op.effectiveInMs === undefined ? {} : { effectiveAt: now + op.effectiveInMs };
      return outcome(
        () => kw.accounts.set(OWNERS[op.owner]!, patch, options),
        (a) => ({ revision: a.revision, policy: a.policy }),
      );
    }
    case "check": {
      if (tokens.length === 0) return "no token";
      const { secrets } = token(op.tok);
      return answerOf(await kw.check({ token: secrets[op.secret % secrets.length], cost: op.cost, pool: op.pool }));
    }
    case "burst": {
      // Concurrent checks at one instant: in any order, as many are granted and the same balances are left.
      if (tokens.length === 0) return "no token";
      const [secret] = token(op.tok).secrets;
      const ds = await Promise.all(Array.from({ length: op.n }, () => kw.check({ token: secret, cost: op.cost, pool: op.pool })));
      return ds.map((d) => JSON.stringify(answerOf(d))).sort();
    }
    case "topUp":
    case "reset": {
      if (tokens.length === 0 && "tok" in op.target) return "no token";
      const t = creditTarget(side, op.target, op.pool);
      const options = { actor: "test", idempotencyKey: op.key };
      return outcome(() => (op.k === "topUp" ? kw.credits.topUp(t, op.amount, options) : kw.credits.reset(t, options)), balance);
    }
    case "update": {
      if (tokens.length === 0) return "no token";
      const patch = {
        credits: op.credits,
        pools: op.pools === undefined ? undefined : op.pools && { [POOL]: op.pools },
        rateLimit: op.rateLimit,
        rateLimits: op.rateLimits === undefined ? undefined : op.rateLimits && [op.rateLimits],
      };
      const options = op.effectiveInMs === undefined ? {} : { effectiveAt: now + op.effectiveInMs };
      return outcome(
        () => kw.tokens.update(token(op.tok).id, patch, options),
        recordOf,
      );
    }
    case "regenerate": {
      if (tokens.length === 0) return "no token";
      const t = token(op.tok);
      return outcome(
        () => kw.tokens.regenerate(t.id, { graceMs: op.graceMs }),
        ({ token: secret, record }) => {
          t.secrets.unshift(secret);
          return recordOf(record);
        },
      );
    }
    case "revoke":
    case "disable":
    case "enable": {
      if (tokens.length === 0) return "no token";
      const { id } = token(op.tok);
      return outcome(
        () => (op.k === "revoke" ? kw.tokens.revoke(id) : op.k === "disable" ? kw.tokens.disable(id) : kw.tokens.enable(id)),
        recordOf,
      );
    }
    case "delete":
      if (tokens.length === 0) return "no token";
      // The token stays in the list: its id answers TOKEN_NOT_FOUND, its secret TOKEN_UNKNOWN.
      // Row counts, but the rate-limit windows': MemoryStore forgets a window empty for a minute as it
      // meters (a sweep that bounds its memory), an SQL store keeps its row until the delete.
      return outcome(
        () => kw.tokens.delete(token(op.tok).id),
        ({ owner, removed: { rateLimits: _, ...removed } }) => ({ owner, removed }),
      );
    case "advance":
    case "boundary":
      return null; // the clock is moved by the runner
  }
}

/** Every balance now: each token's and each account's, default pool and named pool. */
async function balances(side: Side): Promise<unknown> {
  const out: unknown[] = [];
  const targets = [...side.tokens.map((t) => ({ tokenId: t.id })), ...OWNERS.map((owner) => ({ owner }))];
  for (const t of targets) {
    for (const pool of [undefined, POOL]) out.push(await outcome(() => side.kw.credits.get(pool ? { ...t, pool } : t), balance));
  }
  return out;
}

/** Each owner's usage per hour and code, and the billing lines, over [start, end] (at most 400 days, the longest query). */
async function usageOf(kw: Keyward, start: number, end: number): Promise<unknown> {
  const from = Math.floor(start / 3_600_000) * 3_600_000;
  const to = Math.min(Math.floor(end / 3_600_000) * 3_600_000 + 3_600_000, from + 400 * DAY);
  const usage = [];
  for (const owner of OWNERS) usage.push(await kw.usage.get({ owner }, { from, to, granularity: "hour", groupBy: "code" }));
  return { usage, billing: await kw.billing.usage({ from, to }) };
}

/**
 * Runs `ops` on every store, side by side, from `start`; fails at the first
 * step where a store answers, or holds a balance, other than the first one.
 */
export async function runDifferential(stores: readonly DifferentialStore[], run: { start: number; ops: readonly Operation[] }): Promise<void> {
  const clock = { now: run.start };
  const sides: Side[] = [];
  try {
    for (const s of stores) {
      const store = await s.open();
      sides.push({
        name: s.name,
        store,
        tokens: [],
        // No lookup cache: a store with a change feed takes an `effectiveAt` as given, one without moves a
        // nearer one to now + revocationBoundMs (docs/fleet.md); with a bound of 0 every store takes it as given.
        kw: new Keyward({ store, prefix: "acme", now: () => clock.now, revocationBoundMs: 0, lookupTimeoutMs: 60_000 }),
      });
    }
    for (const [i, op] of run.ops.entries()) {
      if (op.k === "advance") clock.now += op.ms;
      else if (op.k === "boundary") clock.now = boundary(clock.now, op.unit, op.offset);
      const answers = [];
      for (const side of sides) answers.push({ answer: await apply(side, op, clock.now), balances: await balances(side) });
      for (let j = 1; j < sides.length; j++) {
        const why = `step ${i} (${JSON.stringify(op)}) at ${new Date(clock.now).toISOString()}: ${sides[j]!.name} vs ${sides[0]!.name}`;
        if (stores[j]!.holdsBlocks) expect(withoutReads(op, answers[j]!.answer), why).toEqual(withoutReads(op, answers[0]!.answer));
        else expect(answers[j], why).toEqual(answers[0]);
      }
    }
    // The usage every decision recorded, written by `close`: per owner, hour and code, and the billing lines.
    const answers = [];
    for (const side of sides) {
      await side.kw.close();
      answers.push(await usageOf(side.kw, run.start, clock.now));
    }
    for (let j = 1; j < sides.length; j++) expect(answers[j], `usage: ${sides[j]!.name} vs ${sides[0]!.name}`).toEqual(answers[0]);
  } finally {
    for (const side of sides) {
      await side.kw.close();
      await side.store.close?.();
    }
  }
}
