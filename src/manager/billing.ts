// Billing: what each account spent from each credit pool over a period, as
// JSON or CSV (RFC 4180) and through a hook a billing system consumes
// (Stripe metered billing, an invoice queue). A run bills each owner and
// period once: the store records a claim before the hook and the outcome
// after it, so a rerun skips what was billed, and the hook gets a stable
// idempotency key for the case a process dies between the two.
import type { ResolvedConfig } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { toBase64Url } from "../lib/bytes.js";
import { optionNames } from "../lib/options.js";
import { nextTurn } from "../lib/turn.js";
import { accountAudit } from "../model/account.js";
import { actorSchema, checkOptionFields, DEFAULT_ACTOR, ownerQuerySchema, parseInput } from "../model/schemas.js";
import type { Page, PageOptions } from "../model/types.js";
import { type BillingKey, type BillingUsage, MAX_BILLING_RECORD_LENGTH } from "../store/kit/billing.js";
import { decodeBillingCursor, encodeBillingCursor, MAX_PAGE_LIMIT, pageLimit, toPage } from "../store/kit/page.js";
import { HOUR_MS } from "../store/kit/usage-buckets.js";
import { toEpochMs } from "./time.js";

/** Longest period a billing query or run covers: 400 days. */
export const MAX_BILLING_SPAN_MS = 400 * 86_400_000;

/** The fields of a billing query: a misspelt `owner` would read every account's spend. */
const QUERY_FIELDS = optionNames<BillingQueryOptions>({ from: true, to: true, owner: true });
const RUN_FIELDS = optionNames<BillingRunOptions>({ period: true, owner: true, onInvoice: true, staleAfterMs: true, settleMs: true, actor: true });

const LIST_FIELDS = [...QUERY_FIELDS, ...optionNames<PageOptions>({ limit: true, cursor: true })];
const EXPORT_FIELDS = [...QUERY_FIELDS, ...optionNames<Pick<Parameters<BillingManager["export"]>[0], "format">>({ format: true })];

/** @internal How long after a period's end a run waits by default (`settleMs`): 5 minutes. */
export const DEFAULT_BILLING_SETTLE_MS = 300_000;
/** @internal How old a claim is before a new run takes it over by default (`staleAfterMs`): 1 hour. */
export const DEFAULT_BILLING_STALE_MS = 3_600_000;

/** A period: `[from, to)`, each on a UTC hour (epoch ms, Date or ISO-8601 string). */
export interface BillingRange {
  /** Inclusive start, on a UTC hour: epoch ms, a `Date` or ISO-8601. */
  from: number | Date | string;
  /** Exclusive end, on a UTC hour, at most 400 days after `from` (`MAX_BILLING_SPAN_MS`): epoch ms, a `Date` or ISO-8601. */
  to: number | Date | string;
}

/** Options of {@link BillingManager.usage} and {@link BillingManager.export}. */
export interface BillingQueryOptions extends BillingRange {
  /** One owner; default every owner with usage in the period. */
  owner?: string | undefined;
}

/** One line of a billing export: an owner's spend from one pool over the period. */
export interface BillingLine {
  /** The account billed. */
  owner: string;
  /** `"default"` for the token's and account's `credits`, else the pool's name. */
  pool: string;
  /** Allowed requests that drew from the pool. */
  requests: number;
  /** Credits charged. */
  credits: number;
  /** The period's inclusive start, epoch ms: `[from, to)`. */
  from: number;
  /** The period's exclusive end, epoch ms. */
  to: number;
}

/** What the `onInvoice` hook of {@link BillingManager.run} receives: one owner's period. */
export interface Invoice {
  /** The account billed. */
  owner: string;
  /** `"2026-11"` for a calendar month (given as a month or as its exact range), else `"<from>-<to>"` in epoch ms. */
  period: string;
  /** The period's inclusive start, epoch ms. */
  from: number;
  /** The period's exclusive end, epoch ms. */
  to: number;
  /** One line per pool the owner spent from (none with zero requests). */
  lines: BillingLine[];
  /**
   * `keyward:<owner>:<period>`: pass it to the billing system as its
   * idempotency key (Stripe's `Idempotency-Key`), so a run taken over after a
   * crash between the hook and the store's record still bills once.
   */
  idempotencyKey: string;
}

/** Options of {@link BillingManager.run}. */
export interface BillingRunOptions {
  /**
   * `"2026-11"` (a UTC calendar month) or a range on UTC hours. It must have
   * ended. A range that is exactly one month is that month's run (billed
   * once either way); other ranges are runs of their own, so bill on one
   * grid (months, or fixed ranges) to never bill an hour twice.
   */
  period: string | BillingRange;
  /** One owner; default every owner with usage in the period. */
  owner?: string | undefined;
  /** Bills one owner's period; a throw leaves it unbilled (a later run retries it). */
  onInvoice: (invoice: Invoice) => Promise<void> | void;
  /**
   * A claim older than this is taken over by a new run (default 1 hour, at
   * least 1 minute): by PostgreSQL's clock with `postgresStore` (servers whose
   * clocks disagree agree on a claim's age), by the clock of the instance that
   * runs with `sqliteStore` (one machine) and `MemoryStore`.
   */
  staleAfterMs?: number | undefined;
  /**
   * How long after the period's end a run may start, ms (default 5 minutes):
   * usage is written by each instance's queue every `usage.flushIntervalMs`
   * (and a failed batch is retried at the next flush), so an hour is
   * complete in the store only once every instance of the fleet has flushed
   * it. The run flushes this instance's queue itself; keep this above the
   * longest flush interval of the fleet plus `signatures.bodyTimeoutMs` (an
   * event is stamped when its request began, queued when its body came) plus
   * the largest difference between two instances' clocks (each stamps its events with its own).
   */
  settleMs?: number | undefined;
  /** Who runs it, for the audit log (default `"system"`). */
  actor?: string | undefined;
}

/** What a run did, per owner. */
export interface BillingRunResult {
  /** The period run, as {@link Invoice.period} names it (`"2026-11"`, or `"<from>-<to>"` in epoch ms). */
  period: string;
  /** Owners billed by this run. */
  billed: string[];
  /** Owners a previous run billed (skipped). */
  alreadyBilled: string[];
  /** Owners another run is billing now (skipped). */
  busy: string[];
  /**
   * Owners whose hook threw (unbilled; a later run retries them), or whose
   * invoice is longer than a store records (`INVALID_INPUT` naming `lines`)
   * or has a line above `Number.MAX_SAFE_INTEGER` credits (`INVALID_INPUT`
   * naming `to`: bill it over shorter periods); for those, the hook is not called.
   */
  failed: { owner: string; error: unknown }[];
  /** Owners with another run (another period) over some of these hours: skipped, so no hour is billed twice. */
  overlapping: string[];
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
const CSV_HEADER = ["owner", "pool", "from", "to", "requests", "credits"];

/** Billing exports and runs; reached as `kw.billing`. Needs a store with `capabilities.billing`. */
export class BillingManager {
  readonly #cfg: ResolvedConfig;
  /** Writes this instance's queued usage to the store; rejects when an event before the time given was not written. */
  readonly #flushUsage: (until: number) => Promise<void>;

  /** @internal */
  constructor(config: ResolvedConfig, flushUsage: (until: number) => Promise<void>) {
    this.#cfg = config;
    this.#flushUsage = flushUsage;
  }

  /**
   * Each owner's spend per pool over a period.
   *
   * Read from the store 1 000 lines at a time (a turn of the event loop
   * between two pages); every owner over a long period is many lines: page
   * through them with {@link list} instead.
   *
   * @param options the period (UTC hours, at most 400 days) and optionally one owner
   * @returns one line per owner and pool, by owner then pool (in the store's order: code points, or PostgreSQL's collation)
   * @throws {InvalidInputError} `INVALID_INPUT` naming `from` or `to` (not on an hour, inverted, too long; `to` too for a
   *   line whose sums are above `Number.MAX_SAFE_INTEGER`, with its `owner` and `pool`) or `owner`, or
   *   `options` for a field of another name (a misspelt `owner` would read every account's spend)
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED` when the store has no billing part
   * @example
   * ```ts
   * const lines = await kw.billing.usage({ from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z" });
   * ```
   */
  async usage(options: BillingQueryOptions): Promise<BillingLine[]> {
    const query = this.#query(options);
    const lines: BillingLine[] = [];
    for await (const page of this.#pages(query)) lines.push(...page.map(exactLine));
    return lines;
  }

  /**
   * A page of {@link usage}: at most `limit` lines (default 100, at most
   * 1000), and `nextCursor` for the next page (null on the last). Pages
   * follow one another by owner then pool (a keyset cursor: a line written
   * meanwhile to an owner and pool already passed is not seen again), so an
   * export of every owner over a long period never reads, holds or sends
   * everything at once.
   *
   * @param options the period and optionally one owner, as {@link usage}; `limit` and `cursor` (from the previous page)
   * @returns the page
   * @throws {InvalidInputError} `INVALID_INPUT` as {@link usage}, or naming `limit` or `cursor`
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED` when the store has no billing part
   * @example
   * ```ts
   * let cursor: string | null = null;
   * do {
   *   const page = await kw.billing.list({ from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z", limit: 1000, cursor });
   *   for (const line of page.items) console.log(line.owner, line.pool, line.credits);
   *   cursor = page.nextCursor;
   * } while (cursor);
   * ```
   */
  async list(options: BillingQueryOptions & PageOptions): Promise<Page<BillingLine>> {
    const { from, to, owner } = this.#query(options, LIST_FIELDS);
    const limit = pageLimit(options);
    const cursor = options.cursor ?? undefined;
    const after = cursor === undefined ? undefined : decodeBillingCursor(cursor);
    const rows = await this.#cfg.store.billingUsage({ owner, from, to, after, limit: limit + 1 });
    const page = toPage(
      rows.map((r) => line(r, from, to)),
      limit,
      (last) => encodeBillingCursor(last),
    );
    // The lines of this page only: the one read past it (for nextCursor) is the next page's.
    page.items.forEach(exactLine);
    return page;
  }

  /** Every line of a query, a page of the store at a time (each read bounded: see `BillingStore.billingUsage`). */
  async *#pages(query: { from: number; to: number; owner: string | undefined }): AsyncGenerator<BillingLine[]> {
    let after: BillingKey | undefined;
    for (;;) {
      const rows = await this.#cfg.store.billingUsage({ ...query, after, limit: MAX_PAGE_LIMIT });
      yield rows.map((r) => line(r, query.from, query.to));
      if (rows.length < MAX_PAGE_LIMIT) return;
      after = rows[rows.length - 1]!;
      // Other requests get a turn between pages, whatever the store.
      await nextTurn();
    }
  }

  /**
   * The spend of {@link usage} as text: JSON (an array of lines) or CSV
   * (RFC 4180: a header, CRLF line ends, fields quoted when they hold a
   * comma, quote or line break; a text field starting with `=`, `+`, `-`,
   * `@`, tab or CR gets a leading `'` so a spreadsheet does not run it).
   *
   * @param options the period, optionally one owner, and `format` (default `"json"`)
   * @returns the text
   * @throws {InvalidInputError} `INVALID_INPUT` as {@link usage}, or naming `format`
   * @example
   * ```ts
   * const csv = await kw.billing.export({ from: "2026-11-01T00:00:00Z", to: "2026-12-01T00:00:00Z", format: "csv" });
   * ```
   */
  async export(options: BillingQueryOptions & { format?: "json" | "csv" | undefined }): Promise<string> {
    const query = this.#query(options, EXPORT_FIELDS);
    const format = options.format ?? "json";
    if (format !== "json" && format !== "csv") throw new InvalidInputError("format", 'must be "json" or "csv"');
    // Formatted a page at a time: no synchronous step formats more than a page of lines.
    const chunks: string[] = [];
    const [start, end] = [iso(query.from), iso(query.to)];
    for await (const page of this.#pages(query)) {
      page.forEach(exactLine);
      if (format === "json") chunks.push(JSON.stringify(page).slice(1, -1));
      else chunks.push(page.map((l) => csvLine([l.owner, l.pool, start, end, String(l.requests), String(l.credits)])).join(""));
    }
    const parts = chunks.filter((c) => c.length > 0);
    return format === "json" ? `[${parts.join(",")}]` : csvLine(CSV_HEADER) + parts.join("");
  }

  /**
   * Bills a period that ended at least `settleMs` ago, each owner once:
   * writes this instance's queued usage first (and bills nothing when the
   * store did not take all of the period's), then for each owner with
   * usage, claims the (owner, period) run in the store, calls `onInvoice`,
   * and records the run as billed with an audit entry (`bill`). A rerun
   * skips billed owners; an owner whose hook threw is retried by the next
   * run; a claim left by a process that died is taken over after
   * `staleAfterMs`, with the same `idempotencyKey`.
   *
   * @param options the period, the hook, optionally one owner
   * @returns who was billed, skipped or failed
   * @throws {InvalidInputError} `INVALID_INPUT` naming the option (a period not ended `settleMs` ago, not on hours, too long; no hook; a bad `settleMs`)
   * @throws {StoreUnavailableError} `STORE_UNAVAILABLE` when the store did not take this instance's queued usage of the period (nothing billed: run it again)
   * @throws {StoreUnsupportedError} `STORE_UNSUPPORTED` when the store has no billing part
   * @example
   * ```ts
   * await kw.billing.run({
   *   period: "2026-11",
   *   onInvoice: async (inv) => {
   *     for (const l of inv.lines) await meterEvents.create({ customer: inv.owner, pool: l.pool, value: l.credits }, { idempotencyKey: `${inv.idempotencyKey}:${l.pool}` });
   *   },
   * });
   * ```
   */
  async run(options: BillingRunOptions): Promise<BillingRunResult> {
    checkOptionFields(options, RUN_FIELDS);
    if (typeof options.onInvoice !== "function") throw new InvalidInputError("onInvoice", "must be a function");
    const stale = options.staleAfterMs ?? DEFAULT_BILLING_STALE_MS;
    if (!Number.isSafeInteger(stale) || stale < 60_000) throw new InvalidInputError("staleAfterMs", "must be an integer of at least 60000 (ms)");
    const settle = options.settleMs ?? DEFAULT_BILLING_SETTLE_MS;
    if (!Number.isSafeInteger(settle) || settle < 0) throw new InvalidInputError("settleMs", "must be a non-negative integer (ms)");
    const actor = parseInput(actorSchema, options.actor ?? DEFAULT_ACTOR, "actor");
    const { period, range } = periodOf(options.period);
    const { from, to, owner } = this.#query({ ...range, ...(options.owner === undefined ? {} : { owner: options.owner }) });
    const now = this.#cfg.now();
    if (to > now) throw new InvalidInputError("period", `${period} has not ended: bill a period once its last hour is over`);
    if (to + settle > now) {
      throw new InvalidInputError("period", `${period} ended less than settleMs (${settle} ms) ago: usage of the fleet may not be written yet`);
    }
    // Usage this instance still queues for the period would land in hours already billed: unless
    // the store took it, nothing is claimed (a later run bills the period whole).
    await this.#flushUsage(to);
    const result: BillingRunResult = { period, billed: [], alreadyBilled: [], busy: [], failed: [], overlapping: [] };
    // The lines come by owner, a page at a time: an owner is billed once all of its lines are read.
    let lines: BillingLine[] = [];
    for await (const page of this.#pages({ owner, from, to })) {
      for (const l of page) {
        if (lines.length > 0 && lines[0]!.owner !== l.owner) {
          await this.#bill(lines, period, options, stale, actor, result);
          lines = [];
        }
        if (l.requests > 0) lines.push(l);
      }
    }
    if (lines.length > 0) await this.#bill(lines, period, options, stale, actor, result);
    return result;
  }

  /** Claims, bills (the hook) and records one owner's period, into `result`. */
  async #bill(lines: BillingLine[], period: string, options: BillingRunOptions, stale: number, actor: string, result: BillingRunResult): Promise<void> {
    const store = this.#cfg.store;
    const { owner: who, from, to } = lines[0]!;
    const key = { owner: who, period, from, to };
    const claim = toBase64Url(this.#cfg.random(12));
    const at = this.#cfg.now();
    const claimed = await store.claimBillingRun(key, claim, at, at - stale);
    if (claimed === "done") result.alreadyBilled.push(who);
    if (claimed === "busy") result.busy.push(who);
    if (claimed === "overlap") result.overlapping.push(who);
    if (claimed !== "claimed") return;
    const invoice: Invoice = { owner: who, period, from, to, lines, idempotencyKey: `keyward:${who}:${period}` };
    // What the store records once the hook billed: the invoice, each line without the owner and
    // period it shares with it. One the store could not take fails before the hook, never after it.
    const record = JSON.stringify({ ...invoice, lines: lines.map(({ pool, requests, credits }) => ({ pool, requests, credits })) });
    try {
      lines.forEach(exactLine);
      if (record.length > MAX_BILLING_RECORD_LENGTH) {
        throw new InvalidInputError("lines", `the invoice is longer than a store records (${MAX_BILLING_RECORD_LENGTH} characters of JSON)`);
      }
      await options.onInvoice(structuredClone(invoice));
    } catch (error) {
      await store.finishBillingRun(key, claim, "failed");
      result.failed.push({ owner: who, error });
      return;
    }
    const done = this.#cfg.now();
    const audit = accountAudit(done, this.#cfg.random, actor, "bill", who, [period]);
    const recorded = await store.finishBillingRun(key, claim, "done", record, audit);
    // A claim taken over meanwhile (this run was slower than staleAfterMs): the other run records it.
    (recorded ? result.billed : result.busy).push(who);
  }

  /** The query's period (on UTC hours, `from` ≤ `to`, at most 400 days) and owner, checked; no field but `known`. */
  #query(options: BillingQueryOptions, known: readonly string[] = QUERY_FIELDS): { from: number; to: number; owner: string | undefined } {
    checkOptionFields(options, known);
    const from = toEpochMs(options.from ?? Number.NaN, 0, "from");
    const to = toEpochMs(options.to ?? Number.NaN, 0, "to");
    for (const [field, t] of [
      ["from", from],
      ["to", to],
    ] as const) {
      if (t % HOUR_MS !== 0) throw new InvalidInputError(field, "must be the start of a UTC hour (usage is kept per hour)");
    }
    if (to < from) throw new InvalidInputError("to", "must not be before from");
    if (to - from > MAX_BILLING_SPAN_MS) throw new InvalidInputError("to", "the period is longer than 400 days");
    const owner = options.owner === undefined ? undefined : parseInput(ownerQuerySchema, options.owner, "owner");
    return { from, to, owner };
  }
}

function line(r: BillingUsage, from: number, to: number): BillingLine {
  return { owner: r.owner, pool: r.pool, requests: r.requests, credits: r.credits, from, to };
}

/**
 * The line, when its sums are exact: above `Number.MAX_SAFE_INTEGER` a number (and a store's
 * answer read into one) holds a sum rounded, which is never exported or billed.
 *
 * @throws {InvalidInputError} `INVALID_INPUT` naming `to`, with the line's `owner` and `pool`
 */
function exactLine(l: BillingLine): BillingLine {
  if (Number.isSafeInteger(l.requests) && Number.isSafeInteger(l.credits)) return l;
  throw new InvalidInputError(
    "to",
    `an owner's spend from a pool over the period is above ${Number.MAX_SAFE_INTEGER} credits (Number.MAX_SAFE_INTEGER), which a number holds rounded`,
    { hint: "read and bill that owner's spend over shorter periods" },
    { owner: l.owner, pool: l.pool },
  );
}

/** A month `"YYYY-MM"` (UTC) or a range, with its run key. */
function periodOf(p: BillingRunOptions["period"]): { period: string; range: BillingRange } {
  if (typeof p === "string") return { period: p, range: monthRange(p, "period", 'must be a month "YYYY-MM" or { from, to }') };
  if (typeof p !== "object" || p === null) throw new InvalidInputError("period", 'must be a month "YYYY-MM" or { from, to }');
  const from = toEpochMs(p.from ?? Number.NaN, 0, "period.from");
  const to = toEpochMs(p.to ?? Number.NaN, 0, "period.to");
  return { period: monthOf(from, to) ?? `${from}-${to}`, range: { from, to } };
}

/**
 * The period of a UTC calendar month `"YYYY-MM"` (a billing run's `period`,
 * `keyward billing --month`): `[first hour, first hour of the next month)`.
 *
 * @param month the month
 * @param field the field an error names
 * @param expected what the error says `month` must be when it is no `"YYYY-MM"`
 * @returns the period, epoch ms
 * @throws {InvalidInputError} `INVALID_INPUT` naming `field`: not `"YYYY-MM"`, or before 1974
 */
export function monthRange(month: string, field: string, expected = 'must be a month "YYYY-MM"'): { from: number; to: number } {
  const m = MONTH.exec(month);
  if (!m) throw new InvalidInputError(field, expected);
  const [y, mo] = [Number(m[1]), Number(m[2])];
  // Times before March 1973 are read as seconds and refused (toEpochMs); by its year, as Date.UTC reads "0099" as 1999.
  if (y < 1974) throw new InvalidInputError(field, 'must be a month from "1974-01" on');
  return { from: Date.UTC(y, mo - 1, 1), to: Date.UTC(y, mo, 1) };
}

/** `"YYYY-MM"` when `[from, to)` is exactly one UTC calendar month: the same run key as the month itself. */
function monthOf(from: number, to: number): string | null {
  const d = new Date(from);
  const [y, m] = [d.getUTCFullYear(), d.getUTCMonth()];
  if (Number.isNaN(y) || y < 0 || y > 9999 || from !== Date.UTC(y, m, 1) || to !== Date.UTC(y, m + 1, 1)) return null;
  return d.toISOString().slice(0, 7);
}

function iso(t: number): string {
  return new Date(t).toISOString();
}

/** One CSV record with its line end. */
function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}

/** One CSV field (RFC 4180), defused for spreadsheets. */
function csvField(v: string): string {
  const text = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
