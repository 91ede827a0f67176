// Credit leases for hot tokens (opt-in, `creditLeases`). Without them every
// metered request of one token updates the same row, so a fleet's requests
// queue on one row lock. With them a process reserves a block of the
// token's credits in one transaction (counted as used at once, so no other
// process can grant them), grants requests from the block in memory, and
// reports what it granted to its own lease row, one UPDATE per batch of
// requests (group commit): a request is answered only after the report
// holding it committed, and the requests of a report that failed are
// answered STORE_UNAVAILABLE and taken back (the next report does not count
// them). So a process that dies never answered a grant it
// had not reported, and whoever reclaims its expired lease returns exactly
// `granted - reported`: never an overspend, and at most one block stranded
// until expiry. The rest of a block goes back on close, when the lease is
// replaced, before the token is spent without a lease (a rate limit, a
// refill or an account limit added), or when it expires; blocks adapt to
// the spend rate; a low balance is spent per request (no lease), so the
// last credits are not stranded in one process.
import { StoreUnavailableError } from "../errors.js";
import { BoundedMap } from "../lib/bounded-map.js";
import { toBase64Url } from "../lib/bytes.js";
import { secureRandom } from "../lib/crypto.js";
import { unref } from "../lib/timers.js";
import { answerWithin, outcomeWithin } from "../lib/within.js";
import { type CreditState, creditState, creditsLeft } from "../store/kit/credits.js";
import type { MeterResult } from "../store/types.js";
import { connectWithin, type PostgresClient, type PostgresPool, type PostgresQueryResult } from "./driver.js";

/** The lease statements (src/postgres/statements.ts). */
export interface LeaseStatements {
  lockCounters: string;
  meterLock: string;
  reclaimLeases: string;
  lockUsed: string;
  saveUsed: string;
  insertLease: string;
  reportLease: string;
  returnLease: string;
}

/** Timings and sizes of credit leases. */
export interface LeaseSettings {
  /**
   * How long a lease lives, ms, by the database's clock (so a process whose clock is off neither loses its
   * lease early nor strands it late); its holder stops granting from it at two thirds of that, by its own
   * monotonic clock.
   */
  readonly ttlMs: number;
  /** Largest block, credits. */
  readonly maxBlock: number;
  /**
   * How long a reservation, made for a request, waits for the token's lock, ms (`requestLockTimeoutMs`):
   * a request the verifier abandoned behind the lock is never granted from the lease taken after. And how
   * long a report waits for its answer, once sent.
   */
  readonly lockWait: number;
  /**
   * How long `close()` waits for the reservations under way and the returns, ms ({@link CLOSE_WAIT_MS}):
   * one whose connection went silent would hold it for as long as that stays open (its rest is then
   * reclaimed at the lease's expiry). A reservation is waited for only while the database answers it
   * (see {@link QUIET_LOCK_WAITS}).
   */
  readonly closeWaitMs: number;
}

/** At or below this many credits left (not leased), requests are metered one by one. */
const LOW_BALANCE = 16;
/** First block of a token, credits. */
const FIRST_BLOCK = 8;
/** A block should last about this long at the current spend rate. */
const TARGET_MS = 1_000;
/** Most credit keys remembered as too low to lease (a key forgotten costs one reservation that finds it so again). */
const LOW_KEYS = 10_000;
/** Most credit keys whose block size is remembered: a process leasing for ever more tokens keeps a bounded memory. */
const LEASE_KEYS = 10_000;

/** How long `close()` waits for the reservations and returns under way, ms (`closeWaitMs`, fixed outside tests). */
export const CLOSE_WAIT_MS = 10_000;

/**
 * `close()` stops waiting for a reservation that had no answer for this many `lockWait`s: each of its
 * statements answers at once but the lock's, which the server ends after `lockWait` (`lock_timeout`), so
 * one that long quiet has a connection gone silent, and would hold close() for all of `closeWaitMs`. A slow
 * one that is answered goes on being waited for (and its lease returned), up to `closeWaitMs`.
 */
const QUIET_LOCK_WAITS = 2;

/** Thrown out of a reservation's transaction that leased nothing and reclaimed nothing, to roll it back. */
class NothingReserved extends Error {}

interface Lease {
  readonly id: string;
  readonly key: string;
  /** The token's advisory lock key (shared by its pools). */
  readonly lock: string;
  readonly limit: number;
  readonly granted: number;
  /** Credits left outside any lease, as the last reservation or report found them (for `remaining`). */
  free: number;
  /** When it is replaced, on the monotonic clock (its expiry is on the database's: elapsed times agree, instants may not). */
  readonly renewAt: number;
  readonly takenAt: number;
  spent: number;
  /** What the last report that committed counted (`spent` then). */
  reported: number;
  /** The batch requests join until its report starts. */
  batch: Reporting[] | null;
  /** The last report (and, once retired, the return). */
  tail: Promise<void>;
  /**
   * A report got no answer within `lockWait` (its connection gone silent): it may still be applied,
   * after any later one, so none is sent; the lease is retired.
   */
  unanswered: boolean;
}

/**
 * A request granted from a lease, until the report counting its spend commits. Its report is sent by
 * `until` (its own deadline, monotonic clock) or never for it: then it is answered STORE_UNAVAILABLE and
 * its spend taken back, whatever the deadlines of the requests batched with it.
 */
interface Reporting {
  readonly cost: number;
  readonly until: number;
  /** "waiting" until its report is sent ("sent") or it is taken out of its batch unsent ("out"). */
  state: "waiting" | "sent" | "out";
  /** Takes it out at `until` if it is still waiting then. */
  timer: ReturnType<typeof setTimeout> | undefined;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** How a reservation goes: when the database last answered it (monotonic clock); `abandoned` once close() stopped waiting for it. */
type Progress = { answeredAt: number; abandoned: boolean };

type Transaction = <T>(pool: PostgresPool, body: (c: PostgresClient) => Promise<T>, connectMs?: number) => Promise<T>;

/** What a lease gives back when returned or reclaimed: `back` credits, `back_bought` of them bought ones. */
type Back = { back: number; back_bought: number };

/**
 * A credit row with what leases give back: their bought part to `bought`,
 * the rest to the plan's. (A lease taken before bought credits had their
 * own column may give back more than `used` holds: the kit reads that as
 * bought credits, as it was.)
 */
function giveBack(row: Pick<CreditState, "used" | "bought">, backs: Back[]): CreditState {
  let { used, bought } = row;
  for (const b of backs) {
    used -= b.back - b.back_bought;
    bought += b.back_bought;
  }
  return creditState({ used, bought, periodStart: null });
}

/**
 * What `promise` answers, or STORE_UNAVAILABLE at `until` (monotonic clock): a request that waited its
 * `lockWait` for a lease change fails, and nothing is counted for it (the verifier may have given up on
 * it: a return held behind the token's lock once kept it waiting, then granted it).
 */
function within<T>(promise: Promise<T>, until: number): Promise<T> {
  return answerWithin(promise, Math.max(0, until - performance.now()), "a credit lease change", () => new StoreUnavailableError("credit lease change took longer than requestLockTimeoutMs"));
}

/** A report not sent by a request's deadline: that request's answer. */
const notSent = () => new StoreUnavailableError("credit lease report not sent within requestLockTimeoutMs of its request's start");

/** @internal The leases of one store, per token. */
export class CreditLeases {
  readonly #pool: PostgresPool;
  readonly #s: LeaseStatements;
  readonly #settings: LeaseSettings;
  readonly #transaction: Transaction;
  readonly #leases = new Map<string, Lease>();
  readonly #taking = new Map<string, Promise<Lease | null>>();
  /**
   * Every reservation under way, as the transaction goes (a request stops waiting for it after
   * `lockWait`; one that commits later is returned, and `close` waits for that), and when the database
   * last answered it (monotonic clock).
   */
  readonly #reserving = new Map<Promise<unknown>, Progress>();
  /** Next block size per token, adapted to its spend rate (for the last LEASE_KEYS tokens leased; another starts at FIRST_BLOCK). */
  readonly #blocks = new BoundedMap<number>(LEASE_KEYS);
  /**
   * Credit keys a reservation found too low to lease, with the limit then and until when (by the
   * monotonic clock): their requests skip the reservation, a transaction of 5 statements that would
   * find so again, until a spend metered on its own finds more (see {@link settled}) or that time,
   * when one is tried again. That time is when the first lease of the key then held expires (`ttlMs`
   * at most): a reservation reclaims what the expired leases of dead processes hold, which no spend
   * metered on its own would ever see come back.
   */
  readonly #low = new BoundedMap<{ limit: number; until: number }>(LOW_KEYS);
  /**
   * Per credit key, until the returns of its retired leases are in: a reservation, or a spend metered
   * on its own, reads the balance after them (before, it found a retired block's rest still used: a
   * request that block could not cover was denied though the balance held it).
   */
  readonly #returning = new Map<string, Promise<void>>();
  /** Set by {@link close}: no lease is reserved after it, and none is granted from. */
  #closed = false;
  /** Every return under way (the requests of its token stop waiting for one after `lockWait`; `close` waits longer). */
  readonly #returns = new Set<Promise<void>>();

  constructor(pool: PostgresPool, statements: LeaseStatements, settings: LeaseSettings, transaction: Transaction) {
    this.#pool = pool;
    this.#s = statements;
    this.#settings = settings;
    this.#transaction = transaction;
  }

  /**
   * Grants `cost` credits of the credit row `key` (flat credits: no refill,
   * no rate limit) from a lease, or answers null when the balance is low:
   * then the caller meters this request on its own. `lock` is the token's
   * advisory lock key, the one `meter` and `adjustCredits` take: a
   * reservation or a return holds it for its whole transaction, so they
   * never read the credit row and what the leases hold while one is under
   * way. After {@link close} it answers null (once the returns of `key`'s
   * leases are in): the store still meters, without leases.
   */
  async spend(key: string, lock: string, cost: number, limit: number, now: number): Promise<MeterResult | null> {
    // What it waits for before a lease covers it (a return, a reservation) is a lock wait: at most
    // `lockWait` from its first wait (a grant from the lease in hand reads no clock for it).
    let until: number | undefined;
    for (;;) {
      let lease = this.#leases.get(key);
      if (lease && (this.#closed || lease.limit !== limit || performance.now() >= lease.renewAt || lease.granted - lease.spent < cost)) {
        this.#retire(lease);
        lease = undefined;
      }
      if (!lease) {
        const returning = this.#returning.get(key);
        if (returning) {
          until ??= performance.now() + this.#settings.lockWait;
          await within(returning, until);
          continue; // another request may have leased meanwhile
        }
        // Checked here, with no await before the reservation: close() gives back every lease reserved before it.
        if (this.#closed) return null;
        const low = this.#low.get(key);
        if (low && low.limit === limit && performance.now() < low.until) return null;
        until ??= performance.now() + this.#settings.lockWait;
        const taken = await within(this.#take(key, lock, cost, limit, now, until), until);
        if (taken === null) return null;
        continue;
      }
      lease.spent += cost;
      // Its report is sent within `lockWait` of its first wait (of now, if it waited for nothing), or never.
      await this.#report(lease, cost, until ?? performance.now() + this.#settings.lockWait);
      const remaining = Math.max(0, lease.free + lease.granted - lease.spent);
      return { granted: true, deniedBy: null, rateLimit: null, credits: { granted: true, remaining, nextRefillAt: null } };
    }
  }

  /**
   * What a spend metered on its own (after {@link spend} answered null) left of the balance outside
   * every lease: more than `LOW_BALANCE` (a top-up, an admin reset, a block returned), the key's next
   * request tries a reservation again, though one found the balance too low.
   */
  settled(key: string, remaining: number): void {
    if (remaining > LOW_BALANCE && this.#low.get(key)) this.#low.set(key, { limit: -1, until: 0 });
  }

  /**
   * Before a spend of `key` that `meter` charges in its transaction (the token's policy gained a rate limit or
   * a refill, its owner an account limit): stops granting from this process's lease of it and waits until
   * its rest is given back, so the spend reads that rest as the balance it is, not as leased (before, a
   * request the balance covered was denied, and the block stayed out until close).
   */
  async release(key: string): Promise<void> {
    const lease = this.#leases.get(key);
    if (lease) this.#retire(lease);
    const returning = this.#returning.get(key);
    // A lock wait, as in spend: at most `lockWait`.
    if (returning) await within(returning, performance.now() + this.#settings.lockWait);
  }

  /**
   * One lease taken at a time per token; concurrent requests wait for it, and later ones no longer than
   * `until`, the deadline of the request that began it (which its connection is waited for by, too): a
   * reservation whose connection went silent (its process may never hear that the server ended it)
   * would otherwise hold every request of the token for as long as it stays open.
   */
  #take(key: string, lock: string, cost: number, limit: number, now: number, until: number): Promise<Lease | null> {
    let taking = this.#taking.get(key);
    if (!taking) {
      const progress: Progress = { answeredAt: performance.now(), abandoned: false };
      const reserving = this.#reserve(key, lock, cost, limit, now, progress, until);
      const settled = reserving.then(
        () => {},
        () => {},
      );
      this.#reserving.set(settled, progress);
      void settled.then(() => this.#reserving.delete(settled));
      taking = within(reserving, until).finally(() => this.#taking.delete(key));
      this.#taking.set(key, taking);
    }
    return taking;
  }

  async #reserve(key: string, lock: string, cost: number, limit: number, now: number, progress: Progress, until: number): Promise<Lease | null> {
    const want = Math.max(cost, Math.min(this.#settings.maxBlock, this.#blocks.get(key) ?? FIRST_BLOCK));
    const id = toBase64Url(secureRandom(12));
    const lease = await this.#transaction(this.#pool, async (client) => {
      progress.answeredAt = performance.now();
      // Each answer is progress: close() waits for a reservation the database answers (see QUIET_LOCK_WAITS).
      // One it stopped waiting for sends nothing more: it rolls back (its pool may be ended after close()).
      const c = {
        query: (text: string, values?: unknown[]) =>
          progress.abandoned
            ? Promise.reject(new StoreUnavailableError("credit lease reservation given up by close()"))
            : client.query(text, values).finally(() => {
                progress.answeredAt = performance.now();
              }),
      };
      await c.query(this.#s.meterLock, [lock, String(this.#settings.lockWait)]);
      // Expired leases of dead (or cut-off) processes give back what they never granted.
      const reclaimed = (await c.query(this.#s.reclaimLeases, [key])).rows as Back[];
      const locked = (await c.query(this.#s.lockUsed, [key])).rows[0] as Pick<CreditState, "used" | "bought"> & { expires_in: number | null };
      const state = giveBack(locked, reclaimed);
      // A block is the balance's next credits: the plan's first, then bought ones (as spendCredits spends).
      const plan = Math.max(0, limit - state.used);
      const free = plan + state.bought;
      const block = Math.min(want, Math.floor(free / 2));
      if (free <= LOW_BALANCE || block < cost) {
        const wait = Math.min(this.#settings.ttlMs, locked.expires_in ?? Number.POSITIVE_INFINITY);
        this.#low.set(key, { limit, until: performance.now() + wait });
        // No lease: with no expired lease reclaimed there is nothing to keep, so the transaction rolls back, and
        // with it the credit row `lockUsed` created to lock (a request then denied for credits writes no counter).
        if (reclaimed.length === 0) throw new NothingReserved();
        if (reclaimed.some((r) => r.back > 0)) await c.query(this.#s.saveUsed, [key, state.used, state.bought, now]);
        return null;
      }
      const bought = block - Math.min(block, plan);
      await c.query(this.#s.saveUsed, [key, state.used + block - bought, state.bought - bought, now]);
      await c.query(this.#s.insertLease, [id, key, block, bought, this.#settings.ttlMs]);
      const l: Lease = {
        id,
        key,
        lock,
        limit,
        granted: block,
        free: free - block,
        renewAt: performance.now() + Math.floor((this.#settings.ttlMs * 2) / 3),
        takenAt: Date.now(),
        spent: 0,
        reported: 0,
        batch: null,
        tail: Promise.resolve(),
        unanswered: false,
      };
      return l;
      // Its connection waited for no longer than its request waits for it.
    }, Math.max(1, Math.ceil(until - performance.now()))).catch((err: unknown) => {
      if (err instanceof NothingReserved) return null;
      throw err;
    });
    // One that commits after it was given up (see #take) is returned if another lease was taken meanwhile, or
    // the leases closed.
    if (lease && (this.#closed || this.#leases.has(key))) this.#retire(lease);
    else if (lease) this.#leases.set(key, lease);
    return lease;
  }

  /**
   * Resolves once a report holding the calling request's spend (`cost`) has committed. That report is
   * sent by `until` (monotonic clock: the request's own deadline) or never for it: a request still
   * waiting then (for the report before it, or for a connection) is answered STORE_UNAVAILABLE at once
   * and its spend taken back, so a request the verifier abandoned meanwhile is never charged later; the
   * other requests of its batch go on, each to its own deadline.
   */
  #report(lease: Lease, cost: number, until: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const request: Reporting = { cost, until, state: "waiting", timer: undefined, resolve, reject };
      if (lease.batch) lease.batch.push(request);
      else {
        const batch = [request];
        lease.batch = batch;
        lease.tail = lease.tail.then(() => this.#send(lease, batch));
      }
      request.timer = setTimeout(() => this.#takeOut(lease, request, notSent()), Math.max(0, until - performance.now()));
      unref(request.timer);
    });
  }

  /** Answers a request still waiting for its report STORE_UNAVAILABLE, and takes its spend back (nothing is sent for it). */
  #takeOut(lease: Lease, request: Reporting, err: unknown): void {
    if (request.state !== "waiting") return;
    request.state = "out";
    clearTimeout(request.timer);
    lease.spent -= request.cost;
    request.reject(err);
  }

  /**
   * A batch's report, once the report before it is in (never rejects: it answers its requests). Its
   * connection is waited for until the last deadline of its requests still waiting (one that comes later
   * goes back to the pool unused); with it in hand, those whose deadline passed are taken out, and the
   * rest are reported. The statement waits for the lease's row (a reclaim holding it: `lock_timeout`)
   * until the earliest deadline of those, so none is counted after its own. Its answer is waited for no
   * longer than a reservation waits for its lock: one whose connection went silent would otherwise hold
   * every later grant of the lease, and its return, for as long as the connection stays open (a statement
   * outside a transaction is ended by no server timeout). That connection is then destroyed, not left
   * checked out of the pool.
   */
  async #send(lease: Lease, batch: Reporting[]): Promise<void> {
    lease.batch = null; // later spends join the next batch
    const waiting = () => batch.filter((r) => r.state === "waiting");
    if (waiting().length === 0) return;
    let c: PostgresClient;
    try {
      if (lease.unanswered) throw new StoreUnavailableError("credit lease retired: a report got no answer");
      const last = Math.max(...waiting().map((r) => r.until));
      c = await connectWithin(this.#pool, Math.max(1, Math.ceil(last - performance.now())), "a connection for a credit lease report");
    } catch (err) {
      for (const r of waiting()) this.#takeOut(lease, r, err);
      return;
    }
    const now = performance.now();
    for (const r of waiting()) if (r.until <= now) this.#takeOut(lease, r, notSent());
    const sent = waiting();
    if (sent.length === 0) {
      c.release();
      return;
    }
    for (const r of sent) {
      r.state = "sent";
      clearTimeout(r.timer);
    }
    const reported = lease.reported + sent.reduce((n, r) => n + r.cost, 0);
    const lockMs = Math.max(1, Math.ceil(Math.min(...sent.map((r) => r.until)) - now));
    // A connection lost while checked out emits 'error' on the client; unhandled, it would crash the process.
    const ignore = () => {};
    c.on?.("error", ignore);
    let broken = false;
    let r: PostgresQueryResult;
    try {
      r = await answerWithin(c.query(this.#s.reportLease, [lease.id, reported, String(lockMs)]), this.#settings.lockWait, "a credit lease report", () => {
        lease.unanswered = true;
        return new StoreUnavailableError("credit lease report took longer than requestLockTimeoutMs");
      });
    } catch (err) {
      broken = true;
      // This batch's requests are answered STORE_UNAVAILABLE: their spends are taken back, so the
      // next report does not count them (a report whose commit's reply was lost counts them until then).
      lease.spent -= reported - lease.reported;
      // Retired: its return gives back what the database holds as reported, the unanswered report's spends
      // too if it was applied (charged, never granted), and the next request leases anew.
      if (lease.unanswered && this.#leases.get(lease.key) === lease) this.#retire(lease);
      for (const request of sent) request.reject(err);
      return;
    } finally {
      c.removeListener?.("error", ignore);
      c.release(broken ? true : undefined);
    }
    // Reclaimed after expiry by another process: these grants were not counted, so they are not granted.
    if (r.rowCount !== 1) {
      if (this.#leases.get(lease.key) === lease) this.#leases.delete(lease.key);
      const err = new StoreUnavailableError("credit lease expired before its report");
      for (const request of sent) request.reject(err);
      return;
    }
    lease.reported = reported;
    // Other processes' grants since the reservation are counted (their leases' blocks in `used`).
    const row = r.rows[0] as { used: number | null; bought: number | null } | undefined;
    if (row?.used != null) lease.free = creditsLeft(creditState({ used: row.used, bought: row.bought ?? 0, periodStart: null }), lease.limit);
    for (const request of sent) request.resolve();
  }

  /** Stops granting from a lease; once its last report is in, returns the rest and sizes the next block. */
  #retire(lease: Lease): void {
    if (this.#leases.get(lease.key) === lease) this.#leases.delete(lease.key);
    const elapsed = Math.max(1, Date.now() - lease.takenAt);
    const rate = (lease.spent * TARGET_MS) / elapsed;
    this.#blocks.set(lease.key, Math.max(1, Math.min(this.#settings.maxBlock, Math.ceil(rate))));
    const returned = lease.tail
      .then(() => this.#return(lease))
      // A failed return strands the rest until expiry, when any process reclaims it.
      .catch(() => {});
    this.#returns.add(returned);
    void returned.then(() => this.#returns.delete(returned));
    // The token's requests wait for it at most `lockWait`, as for a reservation: one whose connection went
    // silent would hold them for as long as that stays open. A later change of the token's counters takes
    // the token's lock after it anyway.
    const awaited = answerWithin(returned, this.#settings.lockWait, "a credit lease return").catch(() => {});
    const before = this.#returning.get(lease.key);
    const all = before ? Promise.all([before, awaited]).then(() => {}) : awaited;
    this.#returning.set(lease.key, all);
    void all.then(() => {
      if (this.#returning.get(lease.key) === all) this.#returning.delete(lease.key);
    });
  }

  async #return(lease: Lease): Promise<void> {
    await this.#transaction(this.#pool, async (c) => {
      await c.query(this.#s.lockCounters, [lease.lock]);
      const back = (await c.query(this.#s.returnLease, [lease.id])).rows as Back[];
      if ((back[0]?.back ?? 0) > 0) {
        const state = giveBack((await c.query(this.#s.lockUsed, [lease.key])).rows[0] as Pick<CreditState, "used" | "bought">, back);
        await c.query(this.#s.saveUsed, [lease.key, state.used, state.bought, null]);
      }
    });
  }

  /**
   * Returns every lease's rest (after its last report), those of reservations under way included, and
   * waits for those reservations and the returns at most `closeWaitMs` in all; no lease is reserved after
   * it (before, a request waiting for a return reserved one once the return was in, and its block stayed
   * counted as used until it expired). A reservation that commits after close began is returned at once
   * (see {@link #reserve}), even one its request gave up on (before, close waited for it only as long as
   * its request did, and its block stayed counted as used until it expired if the process exited then).
   * One still under way when it resolves (the database stopped answering it) sends nothing more but its ROLLBACK.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const lease of [...this.#leases.values()]) this.#retire(lease);
    const settled = (async () => {
      // A reservation that fails leases nothing: its error is its request's.
      await Promise.all([...this.#reserving].map(([reserving, progress]) => this.#whileAnswered(reserving, progress)));
      await Promise.all([...this.#returns]);
    })();
    await answerWithin(settled, this.#settings.closeWaitMs, "the credit lease returns").catch(() => {});
    for (const progress of this.#reserving.values()) progress.abandoned = true;
  }

  /** Waits for a reservation until it ends, or until the database has not answered it for {@link QUIET_LOCK_WAITS} `lockWait`s. */
  async #whileAnswered(reserving: Promise<unknown>, progress: Progress): Promise<void> {
    const quietMs = QUIET_LOCK_WAITS * this.#settings.lockWait;
    for (;;) {
      const left = progress.answeredAt + quietMs - performance.now();
      if (left <= 0 || (await outcomeWithin(reserving, left)) !== "late") return;
    }
  }
}
