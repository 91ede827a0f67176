// Anomaly detection over decision events, off the request path. State is
// per token, in memory, bounded (at most `maxTokens` tokens, `maxSeenPerToken`
// IPs and origins each, `maxAlerts` alerts kept); an IPv6 client counts as
// its /64 (one subscriber's network), and one token raises at most
// `alertLimit.count` alerts of a kind per window, and loses its own alerts
// first when the list is full, so one token cannot flood the hook or push
// other tokens' alerts out. Times come from the events
// (the instance's clock), so tests drive it with an injected clock; a clock
// stepped back starts the windows afresh (see `ended`). With a
// store that shares anomaly state (`capabilities.anomalyState`), what must
// hold across a fleet (IPs and origins seen, the last use) is decided by the
// store, in batches written by a timer: a process does not report as new
// what another one saw.
import { ConfigError } from "../errors.js";
import { callHook } from "../lib/hook.js";
import { checkConfigFields, optionNames } from "../lib/options.js";
import { PartedMap } from "../lib/parted-map.js";
import { clock, DROPPED_AFTER_MS, TIMERS_DIE_WITH_REQUEST, Ticker, takenAsDropped } from "../lib/timers.js";
import { answerWithin, outcomeWithin } from "../lib/within.js";
import { isDenyCode } from "../policy/decision.js";
import { formatIp, parseIp } from "../policy/ip.js";
import type { GuardedStore } from "../store/guard.js";
import { MAX_SEEN_BATCH, MAX_SEEN_VALUE } from "../store/kit/validate.js";
import type { SeenEntry } from "../store/types.js";
import { type DecisionEvent, OUT_OF_ORDER_MS } from "./events.js";

/** What was unusual. */
export type AnomalyKind = "new-ip" | "new-origin" | "spike" | "denial-burst" | "idle-use" | "secret-from-browser" | "leaked";

/** One alert. Never holds a token or a secret. */
export interface Anomaly {
  /** What was unusual. */
  kind: AnomalyKind;
  /** Epoch ms of the decision that raised it. */
  at: number;
  /** The token's public id. */
  tokenId: string;
  /** The token's owner. */
  owner: string;
  /** The new IP or origin; the rate and baseline of a spike; the denials of a burst; the idle time. */
  detail: {
    /** The address seen; for IPv6, the first one seen of a new /64. */
    ip?: string;
    /** The Origin seen (new-origin). */
    origin?: string;
    /** Requests in the current interval (spike). */
    count?: number;
    /** The learned requests per interval (spike). */
    baseline?: number;
    /** Denials in the window (denial-burst), and their codes. */
    denials?: number;
    codes?: string[];
    /** Time since the previous use, ms (idle-use). */
    idleMs?: number;
    /** Where a leaked token was seen (leaked): `url` for a request URL, else the report's source. */
    source?: string;
  };
  /**
   * Alerts of this kind for this token not raised after this one, in its
   * `alertLimit` window (absent when none). Counted on the alert kept by
   * `kw.anomalies.list`; the one given to `onAnomaly` is the same object.
   */
  suppressed?: number;
}

/** Options of anomaly detection (`anomalies` in the Keyward options). Each detector can be turned off with `false`. */
export interface AnomalyOptions {
  /** Called with each anomaly, after the request's tick; a throw, or a rejection of an async hook, is ignored. */
  onAnomaly?: ((anomaly: Anomaly) => void) | undefined;
  /**
   * A request from an IP the token was never seen from (after its first
   * use); an IPv6 address counts as its /64. Default on.
   */
  newIp?: boolean | undefined;
  /** A request with an Origin the token was never seen with (after its first use). Default on. */
  newOrigin?: boolean | undefined;
  /**
   * Requests of a token in an interval above `factor` × the learned rate (an
   * EWMA over past intervals with weight `alpha`), and at least `minCount`,
   * once `warmupIntervals` intervals were seen.
   */
  spike?:
    | false
    | {
        /** Length of an interval, ms (default 60 000). */
        intervalMs?: number | undefined;
        /** Weight of the last interval in the learned rate (default 0.3). */
        alpha?: number | undefined;
        /** How many times the learned rate is a spike (default 3). */
        factor?: number | undefined;
        /** Fewest requests in an interval that can be a spike (default 20). */
        minCount?: number | undefined;
        /** Intervals seen before a spike is reported (default 5). */
        warmupIntervals?: number | undefined;
      }
    | undefined;
  /**
   * At least `count` denials of one token with one of `codes` within
   * `windowMs`. Any other `codes` must be denial codes keyward has
   * (`INVALID_CONFIG` otherwise).
   */
  denialBurst?:
    | false
    | {
        /** Denials that make a burst (default 10). */
        count?: number | undefined;
        /** Window they fall in, ms (default 60 000). */
        windowMs?: number | undefined;
        /**
         * Denial codes counted. Default: `SIGNATURE_INVALID`, `SIGNATURE_EXPIRED`,
         * `DIGEST_MISMATCH`, `DOMAIN_DENIED`, `IP_DENIED`, `SCOPE_DENIED`,
         * `SECRET_IN_BROWSER`, `REPLAYED`.
         */
        codes?: readonly string[] | undefined;
      }
    | undefined;
  /** A token used again after at least `afterMs` without use. */
  idle?:
    | false
    | {
        /** The least time without use that makes a use an alert, ms (default 30 days). */
        afterMs?: number | undefined;
      }
    | undefined;
  /** A secret token presented from a browser (`SECRET_IN_BROWSER`). Default on. */
  secretFromBrowser?: boolean | undefined;
  /** Tokens whose state is kept (default 10 000); the least recently seen is forgotten first. */
  maxTokens?: number | undefined;
  /** IPs and origins remembered per token (default 64 each); the oldest is forgotten first. */
  maxSeenPerToken?: number | undefined;
  /**
   * At most `count` alerts of one kind for one token within `windowMs` (from
   * the first of them); the rest are counted in the last one's `suppressed`,
   * not raised. `false`: no limit.
   */
  alertLimit?:
    | false
    | {
        /** Alerts of one kind per token and window (default 10). */
        count?: number | undefined;
        /** The window, ms (default 3 600 000: an hour). */
        windowMs?: number | undefined;
      }
    | undefined;
  /**
   * Alerts kept for `kw.anomalies.list` (default 1 000, at most 1 000 000); when full, the
   * oldest alert of the token holding the most is dropped, in a few steps however large the list.
   */
  maxAlerts?: number | undefined;
  /**
   * State shared across a fleet through the store, when it has
   * `capabilities.anomalyState` (MemoryStore, SQLite, PostgreSQL): the IPs
   * and origins each token was seen from and its last use, so `new-ip`,
   * `new-origin` and `idle-use` are reported once per fleet, not once per
   * process (spikes and denial bursts stay per process). Sightings are
   * written in batches, every `flushIntervalMs` (default 1 000) and on
   * `kw.flush()` / `kw.close()`, at most `maxPending` (default 10 000)
   * waiting: beyond it, or when the store fails or has not answered a
   * batch within `usage.writeTimeoutMs`, a decision is made from this
   * process's own state. `false`: per process only.
   */
  shared?: false | { flushIntervalMs?: number | undefined; maxPending?: number | undefined } | undefined;
  /** Called when a write of shared state fails or times out (the alerts are then decided per process). */
  onError?: ((error: unknown) => void) | undefined;
}

/** Filter of `kw.anomalies.list`. */
export interface AnomalyFilter {
  /** Only this token's alerts. */
  tokenId?: string | undefined;
  /** Only the alerts of this owner's tokens. */
  owner?: string | undefined;
  /** Only alerts of this kind. */
  kind?: AnomalyKind | undefined;
  /** Only alerts at or after this time (epoch ms). */
  since?: number | undefined;
}

/** The fields of an {@link AnomalyFilter}: a misspelt `owner` would list every account's alerts. */
export const ANOMALY_FILTER_FIELDS = optionNames<AnomalyFilter>({ tokenId: true, owner: true, kind: true, since: true });

/** @internal What each option is when not given (`idle.afterMs` is 30 days). */
export const ANOMALY_DEFAULTS = Object.freeze({
  newIp: true,
  newOrigin: true,
  secretFromBrowser: true,
  spike: Object.freeze({ intervalMs: 60_000, alpha: 0.3, factor: 3, minCount: 20, warmupIntervals: 5 }),
  denialBurst: Object.freeze({ count: 10, windowMs: 60_000 }),
  idle: Object.freeze({ afterMs: 30 * 86_400_000 }),
  maxTokens: 10_000,
  maxSeenPerToken: 64,
  alertLimit: Object.freeze({ count: 10, windowMs: 3_600_000 }),
  maxAlerts: 1_000,
  shared: Object.freeze({ flushIntervalMs: 1_000, maxPending: 10_000 }),
});

/** @internal The codes `denialBurst` counts unless `codes` says otherwise. */
export const DEFAULT_BURST_CODES = [
  "SIGNATURE_INVALID",
  "SIGNATURE_EXPIRED",
  "DIGEST_MISMATCH",
  "DOMAIN_DENIED",
  "IP_DENIED",
  "SCOPE_DENIED",
  "SECRET_IN_BROWSER",
  "REPLAYED",
];

/** Alerts of one kind for one token in the current `alertLimit` window. */
interface AlertWindow {
  kind: AnomalyKind;
  start: number;
  count: number;
  /** The last one raised: it counts those suppressed after it. */
  last: Anomaly;
}

interface TokenState {
  /** IPs seen (IPv6 as its /64, see `ipKey`), and the last IP as given (most events repeat it). */
  ips: Set<string>;
  lastIp: string | null;
  origins: Set<string>;
  lastUse: number | null;
  /** Shared state: when this process last told the store of a use. */
  touchedAt: number | null;
  /** Spike: start of the current interval, its count, the baseline and intervals seen. */
  interval: number;
  count: number;
  baseline: number;
  intervals: number;
  spiked: boolean;
  /** Times of recent denials (at most `count`), in order (one decided a little before the latest counted at its time). */
  denials: { at: number; code: string }[];
  /** When the last denial burst was raised (its window runs from then), or null. */
  burstAt: number | null;
  /** Alert limit: one window per kind raised (at most 7), allocated on the first alert. */
  windows: AlertWindow[] | null;
  /** The token, and its neighbours in the order of last use (the detector evicts the least recently seen). */
  readonly id: string;
  older: TokenState | null;
  newer: TokenState | null;
}

function int(v: unknown, field: string, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`anomalies.${field}`, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

function real(v: unknown, field: string, min: number, max: number, fallback: number, open = false): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (open && v === min)) {
    throw new ConfigError(`anomalies.${field}`, `must be a number ${open ? "above" : "from"} ${min} to ${max}`);
  }
  return v;
}

function flag(v: unknown, field: "newIp" | "newOrigin" | "secretFromBrowser"): boolean {
  if (v === undefined) return ANOMALY_DEFAULTS[field];
  if (typeof v !== "boolean") throw new ConfigError(`anomalies.${field}`, "must be a boolean");
  return v;
}

/** A detector's options: `false` (off), absent (its defaults), or an object of the fields `known`. */
function section<T extends object>(v: unknown, field: string, known: readonly string[]): T | null {
  if (v === false) return null;
  if (v === undefined) return {} as T;
  if (typeof v !== "object" || v === null) throw new ConfigError(`anomalies.${field}`, "must be an object or false");
  checkConfigFields(v, known, "an option of this detector", `anomalies.${field}.`);
  return v as T;
}

const ANOMALY_OPTIONS = optionNames<AnomalyOptions>({ onAnomaly: true, newIp: true, newOrigin: true, spike: true, denialBurst: true, idle: true, secretFromBrowser: true, maxTokens: true, maxSeenPerToken: true, alertLimit: true, maxAlerts: true, shared: true, onError: true });

const DAY = 86_400_000;

/** Sightings of one decision, waiting for the store's answer. */
interface Pending {
  at: number;
  tokenId: string;
  owner: string;
  /** Whether this process had seen the token used before. */
  known: boolean;
  /** This process's previous use of the token (for a decision without the store). */
  localPrev: number | null;
  /** The IP as given (the sighting holds its key, `ipKey`). */
  ip: string | null;
  entries: SeenEntry[];
}

/** @internal Parsed once, in the constructor; `observe` is called off the request path. */
export class AnomalyDetector {
  readonly #onAnomaly: ((a: Anomaly) => void) | undefined;
  readonly #newIp: boolean;
  readonly #newOrigin: boolean;
  readonly #secret: boolean;
  readonly #spike: { intervalMs: number; alpha: number; factor: number; minCount: number; warmup: number } | null;
  readonly #burst: { count: number; windowMs: number; codes: Set<string> } | null;
  readonly #idleMs: number | null;
  readonly #maxTokens: number;
  readonly #maxSeen: number;
  readonly #maxAlerts: number;
  readonly #limit: { count: number; windowMs: number } | null;
  readonly #tokens: PartedMap<TokenState>;
  /** Ends of the list of token states by last use: reordering one touches no map. */
  #oldest: TokenState | null = null;
  #newest: TokenState | null = null;
  /** Alerts kept, oldest first (a Set: the one dropped when full leaves it in one step, wherever it is). */
  readonly #alerts = new Set<Anomaly>();
  /** Alerts in `#alerts` per token, oldest first (at most `maxAlerts` entries). */
  readonly #alertsOf = new Map<string, Set<Anomaly>>();
  /**
   * Tokens per number of alerts they hold in `#alerts`, in the order they reached it, and the highest
   * such number: when full, the token holding the most is found in one step, not by a scan of them all.
   */
  readonly #holding = new Map<number, Set<string>>();
  #most = 0;
  readonly #store: GuardedStore | null;
  readonly #writeTimeoutMs: number;
  readonly #maxPending: number;
  /** A use is told to the store at most this often per token and process. */
  readonly #touchEveryMs: number;
  readonly #onError: ((error: unknown) => void) | undefined;
  #pending: Pending[] = [];
  #writing: Promise<void> = Promise.resolve();
  /** Set by close(): sightings are judged here from then on, never written to the store. */
  #closed = false;
  /** Flushes waiting for the drains before them to end (their own not begun): the timer chains none while one does. */
  #waiting = 0;
  /** When the write under way is due to have answered ({@link clock}); null when none is. */
  #writeDue: number | null = null;
  /** Writes pending sightings every `shared.flushIntervalMs`; keeps no process alive (close() writes them). */
  readonly #ticker: Ticker;
  /** The instance's clock, read when a decision out of order comes (see {@link #denial}); null: none. */
  readonly #now: (() => number) | null;

  /**
   * @param store - the store, used for shared state when it has `capabilities.anomalyState`
   * @param writeTimeoutMs - how long a write of shared state may wait for the store (`usage.writeTimeoutMs`)
   * @param now - the instance's clock (`now`), for when a slow decision came
   * @throws {ConfigError} `INVALID_CONFIG` naming the option out of range, or one of another name
   */
  constructor(options: AnomalyOptions, store: GuardedStore | null = null, writeTimeoutMs = 10_000, now: (() => number) | null = null) {
    this.#now = now;
    this.#writeTimeoutMs = writeTimeoutMs;
    if (typeof options !== "object" || options === null) throw new ConfigError("anomalies", "must be an object");
    // A misspelt option would leave its default in force without a word.
    checkConfigFields(options, ANOMALY_OPTIONS, "an anomalies option", "anomalies.");
    const o = options;
    if (o.onAnomaly !== undefined && typeof o.onAnomaly !== "function") throw new ConfigError("anomalies.onAnomaly", "must be a function");
    this.#onAnomaly = o.onAnomaly;
    this.#newIp = flag(o.newIp, "newIp");
    this.#newOrigin = flag(o.newOrigin, "newOrigin");
    this.#secret = flag(o.secretFromBrowser, "secretFromBrowser");
    const s = section<Exclude<AnomalyOptions["spike"], false | undefined>>(o.spike, "spike", optionNames<Exclude<AnomalyOptions["spike"], false | undefined>>({ intervalMs: true, alpha: true, factor: true, minCount: true, warmupIntervals: true }));
    this.#spike = s && {
      intervalMs: int(s.intervalMs, "spike.intervalMs", 1000, DAY, ANOMALY_DEFAULTS.spike.intervalMs),
      alpha: real(s.alpha, "spike.alpha", 0, 1, ANOMALY_DEFAULTS.spike.alpha, true),
      factor: real(s.factor, "spike.factor", 1, 1e6, ANOMALY_DEFAULTS.spike.factor, true),
      minCount: int(s.minCount, "spike.minCount", 1, 1e9, ANOMALY_DEFAULTS.spike.minCount),
      warmup: int(s.warmupIntervals, "spike.warmupIntervals", 1, 10_000, ANOMALY_DEFAULTS.spike.warmupIntervals),
    };
    const b = section<Exclude<AnomalyOptions["denialBurst"], false | undefined>>(o.denialBurst, "denialBurst", optionNames<Exclude<AnomalyOptions["denialBurst"], false | undefined>>({ count: true, windowMs: true, codes: true }));
    // A code keyward never denies with (a typo, "OK") would leave the detector silent: refused.
    if (b && b.codes !== undefined && (!Array.isArray(b.codes) || b.codes.length === 0 || !b.codes.every(isDenyCode))) {
      throw new ConfigError("anomalies.denialBurst.codes", "must be a non-empty array of denial codes (such as SCOPE_DENIED)");
    }
    this.#burst = b && {
      count: int(b.count, "denialBurst.count", 2, 100_000, ANOMALY_DEFAULTS.denialBurst.count),
      windowMs: int(b.windowMs, "denialBurst.windowMs", 1000, DAY, ANOMALY_DEFAULTS.denialBurst.windowMs),
      codes: new Set(b.codes ?? DEFAULT_BURST_CODES),
    };
    const i = section<Exclude<AnomalyOptions["idle"], false | undefined>>(o.idle, "idle", optionNames<Exclude<AnomalyOptions["idle"], false | undefined>>({ afterMs: true }));
    this.#idleMs = i && int(i.afterMs, "idle.afterMs", 60_000, 3650 * DAY, ANOMALY_DEFAULTS.idle.afterMs);
    this.#maxTokens = int(o.maxTokens, "maxTokens", 1, 10_000_000, ANOMALY_DEFAULTS.maxTokens);
    this.#tokens = new PartedMap(this.#maxTokens);
    this.#maxSeen = int(o.maxSeenPerToken, "maxSeenPerToken", 1, 100_000, ANOMALY_DEFAULTS.maxSeenPerToken);
    this.#maxAlerts = int(o.maxAlerts, "maxAlerts", 1, 1_000_000, ANOMALY_DEFAULTS.maxAlerts);
    const l = section<Exclude<AnomalyOptions["alertLimit"], false | undefined>>(o.alertLimit, "alertLimit", optionNames<Exclude<AnomalyOptions["alertLimit"], false | undefined>>({ count: true, windowMs: true }));
    this.#limit = l && {
      count: int(l.count, "alertLimit.count", 1, 1_000_000, ANOMALY_DEFAULTS.alertLimit.count),
      windowMs: int(l.windowMs, "alertLimit.windowMs", 1000, 30 * DAY, ANOMALY_DEFAULTS.alertLimit.windowMs),
    };
    if (o.onError !== undefined && typeof o.onError !== "function") throw new ConfigError("anomalies.onError", "must be a function");
    this.#onError = o.onError;
    const sh = section<Exclude<AnomalyOptions["shared"], false | undefined>>(o.shared, "shared", optionNames<Exclude<AnomalyOptions["shared"], false | undefined>>({ flushIntervalMs: true, maxPending: true }));
    this.#ticker = new Ticker(int(sh?.flushIntervalMs, "shared.flushIntervalMs", 10, 60_000, ANOMALY_DEFAULTS.shared.flushIntervalMs), () => {
      // One flush waiting behind a write is enough (it takes what is pending when it begins): on a store that
      // answers slowly or not at all, a flush per tick would pile up for as long as the outage lasts.
      if (this.#waiting === 0) this.flush().catch(() => {});
    });
    this.#maxPending = int(sh?.maxPending, "shared.maxPending", 1, 1_000_000, ANOMALY_DEFAULTS.shared.maxPending);
    this.#store = sh && store?.capabilities.anomalyState === true ? store : null;
    // The store's last use lags the fleet's by less than this: a tenth of the idle time, at most a minute.
    this.#touchEveryMs = this.#idleMs === null ? Number.POSITIVE_INFINITY : Math.min(this.#idleMs / 10, 60_000);
  }

  /** Looks at one decision. */
  observe(e: DecisionEvent): void {
    if (e.tokenId === null || e.owner === null) return;
    const st = this.#state(e.tokenId);
    const raise = (kind: AnomalyKind, detail: Anomaly["detail"]) =>
      this.#raise(st, { kind, at: e.at, tokenId: e.tokenId!, owner: e.owner!, detail });
    if (this.#secret && e.code === "SECRET_IN_BROWSER") raise("secret-from-browser", {});
    if (!e.ok) {
      this.#denial(st, e, raise);
      return;
    }
    const known = st.lastUse !== null;
    // Sightings for the shared store, allocated only when there is one to send (most decisions have none).
    let entries: SeenEntry[] | null = null;
    if (this.#store !== null) {
      if ((this.#idleMs !== null || this.#newIp || this.#newOrigin) && (st.touchedAt === null || ended(st.touchedAt, e.at, this.#touchEveryMs))) {
        entries = [{ tokenId: e.tokenId, kind: "use", value: "", at: e.at }];
        st.touchedAt = e.at;
      }
    } else if (this.#idleMs !== null && known && e.at - st.lastUse! >= this.#idleMs) {
      raise("idle-use", { idleMs: e.at - st.lastUse! });
    }
    // The same IP as the last one is known: no key to compute (an IPv6 one is parsed).
    if (this.#newIp && e.ip !== null && e.ip !== st.lastIp) {
      st.lastIp = e.ip;
      entries = this.#sighted(e, "ip", ipKey(e.ip), st.ips, known, entries, raise);
    }
    if (this.#newOrigin) entries = this.#sighted(e, "origin", e.origin, st.origins, known, entries, raise);
    if (entries !== null) this.#enqueue({ at: e.at, tokenId: e.tokenId, owner: e.owner, known, localPrev: st.lastUse, ip: e.ip, entries });
    // The latest use: one a little earlier came from a request decided before the last one; one much earlier, from a clock stepped back.
    if (st.lastUse === null || e.at > st.lastUse || st.lastUse - e.at > OUT_OF_ORDER_MS) st.lastUse = e.at;
    this.#rate(st, e.at, raise);
  }

  /**
   * An IP (its key) or origin new to this process: with shared state (and a
   * value the store keeps) a sighting for the store to judge, added to
   * `entries`; otherwise judged here. Returns the entries.
   */
  #sighted(
    e: DecisionEvent,
    kind: "ip" | "origin",
    value: string | null,
    seen: Set<string>,
    known: boolean,
    entries: SeenEntry[] | null,
    raise: (k: AnomalyKind, d: Anomaly["detail"]) => void,
  ): SeenEntry[] | null {
    if (value === null || !remember(seen, value, this.#maxSeen)) return entries;
    if (this.#store !== null && value.length <= MAX_SEEN_VALUE) {
      const sighting: SeenEntry = { tokenId: e.tokenId!, kind, value, at: e.at };
      if (entries === null) return [sighting];
      entries.push(sighting);
    } else if (known) raise(kind === "ip" ? "new-ip" : "new-origin", kind === "ip" ? { ip: e.ip! } : { origin: value });
    return entries;
  }

  #enqueue(p: Pending): void {
    // After close() no timer writes them (nor should anything write to a store the application may have closed).
    if (this.#closed || this.#pending.length >= this.#maxPending) {
      this.#decideLocally(p);
      return;
    }
    this.#pending.push(p);
    this.#ticker.ensure();
  }

  /**
   * Writes the sightings pending when its turn comes (not those that decisions add meanwhile: the
   * next flush writes them) and raises what the store's answers show; resolves when done.
   */
  flush(): Promise<void> {
    this.#waiting++;
    this.#writing = this.#after(this.#writing).then(() => {
      this.#waiting--;
      return this.#drain();
    });
    return this.#writing;
  }

  /**
   * Resolves when the drains before have ended. #drain never rejects, and each of its writes ends
   * by its deadline; but a Cloudflare Worker cuts a write off with the request that started it,
   * answered without `ctx.waitUntil`: its promise rejects where another request waits for it (at
   * older compatibility dates, it never settles). Then, or a second past that write's deadline,
   * the next drain goes on without it (the sightings it held are not judged). Only there: elsewhere
   * a write is never cut off, and one an event loop stalled past its deadline (a long GC, a
   * synchronous SQLite wait) may be running still, so the drains before are waited for.
   */
  async #after(previous: Promise<void>): Promise<void> {
    if (!TIMERS_DIE_WITH_REQUEST) return previous;
    for (;;) {
      const due = this.#writeDue;
      // With no write under way, the drains before are about to end: looked at again in a second.
      const ended = await outcomeWithin(previous, due === null ? DROPPED_AFTER_MS : Math.max(0, due + DROPPED_AFTER_MS - clock()) + 1);
      if (ended !== "late" || (this.#writeDue !== null && takenAsDropped(this.#writeDue))) return;
    }
  }

  /** Stops the timer and writes what is pending; decisions after it are judged from this process's state only. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#ticker.stop();
    await this.flush();
  }

  async #drain(): Promise<void> {
    const store = this.#store!;
    // Only what is pending now: under steady traffic, a drain that took what requests add while it
    // writes would never end, nor kw.flush() and kw.close() waiting for it.
    let left = this.#pending.length;
    while (left > 0) {
      // Each decision has at most 3 sightings.
      const batch = this.#pending.splice(0, Math.min(left, Math.floor(MAX_SEEN_BATCH / 3)));
      if (batch.length === 0) return;
      left -= batch.length;
      const entries = batch.flatMap((p) => p.entries);
      let answers: (number | null)[];
      try {
        // Bounded: a store that hangs must not hold kw.flush() and kw.close() (nor later batches) forever.
        this.#writeDue = clock() + this.#writeTimeoutMs;
        answers = await answerWithin(store.touchSeen(entries, this.#maxSeen), this.#writeTimeoutMs, "a write of anomaly state");
      } catch (error) {
        for (const p of batch) this.#decideLocally(p);
        callHook(this.#onError, error);
        continue;
      } finally {
        this.#writeDue = null;
      }
      let i = 0;
      for (const p of batch) {
        let known = p.known;
        for (const en of p.entries) {
          const before = answers[i++]!;
          if (en.kind === "use") {
            if (before === null) continue;
            known = true;
            // The store keeps the later time: one later than this use by more than a few requests' time
            // means a clock stepped back, and the idle time is this process's own (as without the store).
            const prev = before - p.at > OUT_OF_ORDER_MS ? p.localPrev : before;
            if (this.#idleMs !== null && prev !== null && p.at - prev >= this.#idleMs) this.#raiseFor(p, "idle-use", { idleMs: p.at - prev });
          } else if (before === null && known) {
            this.#raiseSighting(p, en);
          }
        }
      }
    }
  }

  /** Decides a decision's sightings from this process's state only (no store answer). */
  #decideLocally(p: Pending): void {
    for (const en of p.entries) {
      if (en.kind === "use") {
        if (this.#idleMs !== null && p.localPrev !== null && p.at - p.localPrev >= this.#idleMs) {
          this.#raiseFor(p, "idle-use", { idleMs: p.at - p.localPrev });
        }
      } else if (p.known) this.#raiseSighting(p, en);
    }
  }

  #raiseSighting(p: Pending, en: SeenEntry): void {
    if (en.kind === "ip") this.#raiseFor(p, "new-ip", { ip: p.ip! });
    else this.#raiseFor(p, "new-origin", { origin: en.value });
  }

  #raiseFor(p: Pending, kind: AnomalyKind, detail: Anomaly["detail"]): void {
    this.#raise(this.#state(p.tokenId), { kind, at: p.at, tokenId: p.tokenId, owner: p.owner, detail });
  }

  #denial(st: TokenState, e: DecisionEvent, raise: (k: AnomalyKind, d: Anomaly["detail"]) => void): void {
    const b = this.#burst;
    if (b === null || !b.codes.has(e.code)) return;
    // A denial decided before the token's latest decision by up to OUT_OF_ORDER_MS (a request slow to end) counts
    // in the current window, as if made when it came (the instance's clock now, no earlier than that latest
    // decision): the denials stay in order, and the next one does not take the early time for the end of the
    // window (which dropped the denials before it: a burst never raised). Not at the latest decision alone: slow
    // denials that came minutes apart, with no other decision of the token between, were all counted at one instant.
    const latest = Math.max(st.denials.at(-1)?.at ?? Number.NEGATIVE_INFINITY, st.lastUse ?? Number.NEGATIVE_INFINITY);
    const at = e.at < latest && latest - e.at <= OUT_OF_ORDER_MS ? Math.max(latest, this.#cameAt()) : e.at;
    // The latest denial out of this one's window (or a clock stepped back past it): none of them is in it.
    if (st.denials.length > 0 && ended(st.denials.at(-1)!.at, at, b.windowMs)) st.denials.length = 0;
    st.denials.push({ at, code: e.code });
    while (st.denials.length > 0 && st.denials[0]!.at <= at - b.windowMs) st.denials.shift();
    if (st.denials.length > b.count) st.denials.shift();
    if (st.denials.length >= b.count && (st.burstAt === null || ended(st.burstAt, at, b.windowMs))) {
      // One alert per window: the next burst is reported once this one's window has passed.
      st.burstAt = at;
      raise("denial-burst", { denials: st.denials.length, codes: [...new Set(st.denials.map((d) => d.code))] });
    }
  }

  /** When a decision out of order came: the instance's clock now (-Infinity: no clock, or one that failed). */
  #cameAt(): number {
    try {
      const now = this.#now?.();
      if (typeof now === "number" && Number.isFinite(now)) return now;
    } catch {
      // The application's clock failed: the token's latest decision stands for it.
    }
    return Number.NEGATIVE_INFINITY;
  }

  #rate(st: TokenState, at: number, raise: (k: AnomalyKind, d: Anomaly["detail"]) => void): void {
    const s = this.#spike;
    if (s === null) return;
    const interval = Math.floor(at / s.intervalMs);
    if (st.intervals === 0 && st.count === 0) st.interval = interval;
    if (ended(st.interval * s.intervalMs, at, s.intervalMs)) {
      // Close the interval, and the empty ones after it (bounded: the baseline is ~0 after a few hundred);
      // after a clock stepped back, the interval of the new time is the next one.
      const gaps = interval > st.interval ? Math.min(interval - st.interval, 1000) : 1;
      st.baseline = st.intervals === 0 ? st.count : s.alpha * st.count + (1 - s.alpha) * st.baseline;
      for (let k = 1; k < gaps; k++) st.baseline *= 1 - s.alpha;
      st.intervals += gaps;
      st.interval = interval;
      st.count = 0;
      st.spiked = false;
    }
    st.count++;
    if (!st.spiked && st.intervals >= s.warmup && st.count >= s.minCount && st.count > s.factor * st.baseline) {
      st.spiked = true;
      raise("spike", { count: st.count, baseline: Math.round(st.baseline * 100) / 100 });
    }
  }

  #state(tokenId: string): TokenState {
    let st = this.#tokens.get(tokenId);
    if (st) {
      if (st === this.#newest) return st;
      this.#unlink(st);
    } else {
      const oldest = this.#oldest;
      if (oldest !== null && this.#tokens.size >= this.#maxTokens) {
        this.#unlink(oldest);
        this.#tokens.delete(oldest.id);
      }
      st = {
        ips: new Set(),
        lastIp: null,
        origins: new Set(),
        lastUse: null,
        touchedAt: null,
        interval: 0,
        count: 0,
        baseline: 0,
        intervals: 0,
        spiked: false,
        denials: [],
        burstAt: null,
        windows: null,
        id: tokenId,
        older: null,
        newer: null,
      };
      this.#tokens.set(tokenId, st);
    }
    // Most recently seen last.
    st.older = this.#newest;
    if (this.#newest !== null) this.#newest.newer = st;
    else this.#oldest = st;
    this.#newest = st;
    return st;
  }

  #unlink(st: TokenState): void {
    if (st.older !== null) st.older.newer = st.newer;
    else this.#oldest = st.newer;
    if (st.newer !== null) st.newer.older = st.older;
    else this.#newest = st.older;
    st.older = st.newer = null;
  }

  /** Raises `a` for the token of `st`, within its alert limit; keeps it, dropping an alert of the token holding the most when full. */
  #raise(st: TokenState, a: Anomaly): void {
    if (this.#limit !== null && !this.#admit(st, a)) return;
    this.#alerts.add(a);
    let held = this.#alertsOf.get(a.tokenId);
    if (held === undefined) {
      held = new Set();
      this.#alertsOf.set(a.tokenId, held);
    }
    held.add(a);
    this.#moveHolder(a.tokenId, held.size - 1, held.size);
    if (this.#alerts.size > this.#maxAlerts) this.#evict();
    callHook(this.#onAnomaly, a);
  }

  /** Counts `a` in its token's window for its kind: false (and counted in the last alert's `suppressed`) beyond the limit. */
  #admit(st: TokenState, a: Anomaly): boolean {
    const limit = this.#limit!;
    st.windows ??= [];
    let w = st.windows.find((x) => x.kind === a.kind);
    if (w === undefined) {
      w = { kind: a.kind, start: a.at, count: 0, last: a };
      st.windows.push(w);
    } else if (ended(w.start, a.at, limit.windowMs)) {
      w.start = a.at;
      w.count = 0;
    }
    if (w.count >= limit.count) {
      w.last.suppressed = (w.last.suppressed ?? 0) + 1;
      return false;
    }
    w.count++;
    w.last = a;
    return true;
  }

  /**
   * Drops the oldest alert of the token holding the most (of those tied, the first to hold that many):
   * one token cannot push the others' out. A few steps, however many alerts and tokens are kept.
   */
  #evict(): void {
    const top = this.#holding.get(this.#most)!.values().next().value!;
    const held = this.#alertsOf.get(top)!;
    const oldest = held.values().next().value!;
    held.delete(oldest);
    this.#alerts.delete(oldest);
    if (held.size === 0) this.#alertsOf.delete(top);
    this.#moveHolder(top, held.size + 1, held.size);
  }

  /** Files `tokenId` under the number of alerts it now holds (`to`), from `from`; keeps `#most` the highest. */
  #moveHolder(tokenId: string, from: number, to: number): void {
    const before = this.#holding.get(from);
    if (before !== undefined) {
      before.delete(tokenId);
      if (before.size === 0) {
        this.#holding.delete(from);
        if (this.#most === from) this.#most = to;
      }
    }
    if (to === 0) return;
    let after = this.#holding.get(to);
    if (after === undefined) {
      after = new Set();
      this.#holding.set(to, after);
    }
    after.add(tokenId);
    if (to > this.#most) this.#most = to;
  }

  /**
   * A live token seen where it must not be: in a request URL, or reported by
   * a leak scanner (`kw.tokens.reportLeak`). Raised whatever the detectors'
   * options: a leak is always worth an alert.
   */
  leaked(at: number, tokenId: string, owner: string, source: string): void {
    this.#raise(this.#state(tokenId), { kind: "leaked", at, tokenId, owner, detail: { source } });
  }

  /** Alerts kept, oldest first, filtered. */
  list(filter: AnomalyFilter = {}): Anomaly[] {
    return [...this.#alerts]
      .filter(
        (a) =>
          (filter.tokenId === undefined || a.tokenId === filter.tokenId) &&
          (filter.owner === undefined || a.owner === filter.owner) &&
          (filter.kind === undefined || a.kind === filter.kind) &&
          (filter.since === undefined || a.at >= filter.since),
      )
      .map((a) => structuredClone(a));
  }

  /** Entries held, for tests that count memory. */
  size(): { tokens: number; alerts: number; seen: number; pending: number; flushes: number } {
    let seen = 0;
    for (let st = this.#oldest; st !== null; st = st.newer) seen += st.ips.size + st.origins.size;
    return { tokens: this.#tokens.size, alerts: this.#alerts.size, seen, pending: this.#pending.length, flushes: this.#waiting };
  }
}

/**
 * Whether a window of `windowMs` from `start` is over at `at`: `at` is past it, or before it by more
 * than {@link OUT_OF_ORDER_MS}, whatever the window: after a clock stepped back, a window starts
 * afresh, not held (and the token's alerts silenced) until the clock catches up.
 */
function ended(start: number, at: number, windowMs: number): boolean {
  return at - start >= windowMs || start - at > OUT_OF_ORDER_MS;
}

/**
 * What a client IP counts as for `new-ip`: an IPv6 address is its /64 (RFC
 * 4291 §2.5.4: one subnet, routinely a single subscriber who can use any of
 * its 2^64 addresses), canonical (RFC 5952), as `2001:db8::/64`; an
 * IPv4-mapped address is its IPv4 one; anything else is itself.
 */
function ipKey(ip: string): string {
  if (ip.indexOf(":") === -1) return ip;
  const parsed = parseIp(ip);
  if (parsed === null) return ip;
  parsed.bytes.fill(0, 8);
  return parsed.version === 4 ? formatIp(parsed) : `${formatIp(parsed)}/64`;
}

/** Adds `value` to a bounded set (oldest dropped); true when it was new. */
function remember(set: Set<string>, value: string, max: number): boolean {
  if (set.has(value)) return false;
  if (set.size >= max) set.delete(set.values().next().value!);
  set.add(value);
  return true;
}
