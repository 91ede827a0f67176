// OpenTelemetry metrics and spans, and a logger hook. keyward never imports
// @opentelemetry/api: the application passes a Meter and a Tracer from it
// (an optional peer), typed here by the few methods keyward calls (Kysely
// style), so without them telemetry is a no-op and costs nothing: no
// Telemetry at all (createTelemetry answers null). What the application
// passes may throw: a decision is never changed by it.
import { callHook } from "../lib/hook.js";
import { clock } from "../lib/timers.js";
import type { Decision } from "../verify/decision.js";
import type { UsageQueueStats } from "./usage-queue.js";

/** The part of an OpenTelemetry `Attributes` keyward sets: strings, numbers, booleans. */
export type TelemetryAttributes = Record<string, string | number | boolean>;

/** The part of an OpenTelemetry `Span` keyward calls. */
export interface SpanLike {
  /** Adds the decision's attributes (code, status, token id, …). */
  setAttributes(attributes: TelemetryAttributes): unknown;
  /** Sets the span's status (`code` 2, ERROR, for a store failure). */
  setStatus(status: { code: number; message?: string }): unknown;
  /** Ends the span. */
  end(): void;
}

/** The part of an OpenTelemetry `Tracer` keyward calls (`trace.getTracer("keyward")`). */
export interface TracerLike {
  /** Starts a span (`keyward.verify`, …). */
  startSpan(name: string, options?: { attributes?: TelemetryAttributes }): SpanLike;
}

/** The part of an OpenTelemetry `Meter` keyward calls (`metrics.getMeter("keyward")`). */
export interface MeterLike {
  /** A counter (decisions by code, …). */
  createCounter(
    name: string,
    options?: { description?: string; unit?: string },
  ): {
    /** Adds `value` to the counter. */
    add(value: number, attributes?: TelemetryAttributes): void;
  };
  /** A histogram (decision latency, …). */
  createHistogram(
    name: string,
    options?: { description?: string; unit?: string },
  ): {
    /** Records one value. */
    record(value: number, attributes?: TelemetryAttributes): void;
  };
  /** A gauge read when the meter collects. */
  createObservableGauge(name: string, options?: { description?: string; unit?: string }): Observable;
  /** A counter read when the meter collects. */
  createObservableCounter(name: string, options?: { description?: string; unit?: string }): Observable;
}

/** The part of an OpenTelemetry observable instrument keyward calls. */
export interface Observable {
  /** Registers the callback that observes the instrument's values when the meter collects. */
  addCallback(callback: (result: { observe(value: number, attributes?: TelemetryAttributes): void }) => void): void;
}

/** One log record of the logger hook: plain data, never a token or a secret. */
export interface LogRecord {
  /** How much it matters: `"debug"` for every decision, `"warn"` and `"error"` for what an operator should see. */
  level: "debug" | "warn" | "error";
  /**
   * `"decision"` (debug, every decision), `"store.unavailable"` (warn), `"usage.write_failed"` (error),
   * `"usage.scopes_capped"` (warn: the first token of a minute past `usage.maxScopesPerMinute`),
   * `"admin.error"` (error: the admin handler answered 500, 501 or 503; see its `onError`).
   */
  event: string;
  /** One line for people (`"usage write failed"`); the data is in `fields`. */
  message: string;
  /** Decision code, status, token id, owner, duration; or the failed batch's size. */
  fields: TelemetryAttributes;
}

/** Options of telemetry (`telemetry` in the Keyward options). */
export interface TelemetryOptions {
  /** `metrics.getMeter("keyward")` from `@opentelemetry/api`. */
  meter?: MeterLike | undefined;
  /** `trace.getTracer("keyward")` from `@opentelemetry/api`. */
  tracer?: TracerLike | undefined;
  /** Receives log records; a throw, or a rejection of an async logger, is ignored (as is a throw of the meter or the tracer). */
  logger?: ((record: LogRecord) => void) | undefined;
  /**
   * Record the latency of one decision in this many (default 8; 1 records
   * every one): a histogram record costs about as much as a cached check, and
   * a systematic sample keeps the distribution.
   */
  latencySampleEvery?: number | undefined;
}

/** What the telemetry reads from the request path, by callback (observable instruments). */
export interface TelemetrySources {
  cache(): { hits: number; misses: number };
  usage(): UsageQueueStats;
}

// OpenTelemetry SpanStatusCode: OK = 1, ERROR = 2.
/** @internal Default `latencySampleEvery`: one decision in 8 is timed. */
export const DEFAULT_LATENCY_SAMPLE_EVERY = 8;
const STATUS_OK = 1;
const STATUS_ERROR = 2;

/**
 * @internal The telemetry of a verifier, or null when there is nothing to
 * report to (`{}`, or a meter and a tracer left undefined while
 * OpenTelemetry is off): then the request path does no telemetry work at all.
 */
export function createTelemetry(options: TelemetryOptions | undefined, sources: TelemetrySources): Telemetry | null {
  if (!options || (options.meter === undefined && options.tracer === undefined && options.logger === undefined)) return null;
  return new Telemetry(options, sources);
}

/** What closed instances counted, kept so that a cumulative counter never goes back. */
interface Totals {
  hits: number;
  misses: number;
  dropped: number;
  droppedHookEvents: number;
}

/**
 * The instances reporting to a Meter, held weakly: an application that makes
 * instances and drops them without `close()` (one per request, per tenant)
 * does not have every one kept alive, with its caches, queue and store, by
 * the meter's callbacks for the life of the meter. Each is read at every
 * collection, and what it counted then is kept: once collected, it counts
 * as closed with that (what it counted after the last collection is lost
 * with it; a cumulative counter never goes back).
 */
interface LiveSources {
  readonly ref: WeakRef<TelemetrySources>;
  /** What it counted at the last collection (or when it was added). */
  last: Totals;
}

/**
 * The instruments of one Meter, created once, whatever the number of
 * instances that report to it (two prefixes or environments in one process,
 * instances made and closed over its life): their observable instruments
 * report the sum of the live instances and of what the closed ones counted,
 * so that one instance's observation does not replace another's (the SDK
 * keeps one value per series), and no instance, closed or not, is kept alive
 * by the meter's callbacks.
 */
class MeterInstruments {
  /** Decisions per code since the first instance, reported by an observable counter: a Map increment per request. */
  readonly byCode = new Map<string, number>();
  readonly latency: ReturnType<MeterLike["createHistogram"]>;
  readonly storeErrors: ReturnType<MeterLike["createCounter"]>;
  /** The instances not closed yet (see {@link LiveSources}). */
  readonly #live = new Set<LiveSources>();
  readonly closed: Totals = { hits: 0, misses: 0, dropped: 0, droppedHookEvents: 0 };

  constructor(meter: MeterLike) {
    // Counted here and observed at collection: attributes are not hashed per request.
    meter.createObservableCounter("keyward.decisions", { description: "Decisions by code" }).addCallback((r) => {
      for (const [code, n] of this.byCode) r.observe(n, { "keyward.code": code, "keyward.ok": code === "OK" });
    });
    this.latency = meter.createHistogram("keyward.decision.duration", { description: "Time to decide a request", unit: "ms" });
    this.storeErrors = meter.createCounter("keyward.store.errors", { description: "Store failures on the request path and usage writes" });
    meter.createObservableGauge("keyward.cache.hit_ratio", { description: "Token lookups answered by the cache, of all lookups" }).addCallback((r) => {
      const { hits, misses } = this.#totals();
      if (hits + misses > 0) r.observe(hits / (hits + misses));
    });
    meter.createObservableGauge("keyward.usage.queue_depth", { description: "Usage events waiting to be written" }).addCallback((r) => {
      let queued = 0;
      for (const live of this.#live) queued += live.ref.deref()?.usage().queued ?? 0;
      r.observe(queued);
    });
    meter.createObservableCounter("keyward.usage.dropped", { description: "Usage events and hook decisions dropped" }).addCallback((r) => {
      const { dropped, droppedHookEvents } = this.#totals();
      r.observe(dropped, { "keyward.queue": "usage" });
      r.observe(droppedHookEvents, { "keyward.queue": "hooks" });
    });
  }

  /** Adds an instance's sources; the returned entry is given back to {@link close}. */
  open(sources: TelemetrySources): LiveSources {
    const live = { ref: new WeakRef(sources), last: totalsOf(sources) };
    this.#live.add(live);
    return live;
  }

  /** The counts of the closed instances and of the live ones; an instance collected meanwhile counts as closed. */
  #totals(): Totals {
    const t = { ...this.closed };
    for (const live of this.#live) {
      const sources = live.ref.deref();
      if (sources === undefined) {
        this.#live.delete(live);
        add(this.closed, live.last);
      } else live.last = totalsOf(sources);
      add(t, live.last);
    }
    return t;
  }

  /** An instance closed: what it counted is kept, its sources are let go. */
  close(live: LiveSources, sources: TelemetrySources): void {
    if (this.#live.delete(live)) add(this.closed, totalsOf(sources));
  }
}

function totalsOf(s: TelemetrySources): Totals {
  const { hits, misses } = s.cache();
  const { dropped, droppedHookEvents } = s.usage();
  return { hits, misses, dropped, droppedHookEvents };
}

function add(into: Totals, t: Totals): void {
  into.hits += t.hits;
  into.misses += t.misses;
  into.dropped += t.dropped;
  into.droppedHookEvents += t.droppedHookEvents;
}

/** The instruments of each Meter keyward reports to. */
const instrumentsOf = new WeakMap<MeterLike, MeterInstruments>();

/**
 * @internal Never throws on the request path: a meter, tracer or logger that
 * throws loses its own record, never the decision (nor the other records).
 */
export class Telemetry {
  readonly #tracer: TracerLike | undefined;
  readonly #logger: ((r: LogRecord) => void) | undefined;
  /** The meter's instruments, shared with the other instances that report to it; null without a meter. */
  readonly #meter: MeterInstruments | null = null;
  /** This instance's entry in the meter's instances. */
  readonly #live: LiveSources | null = null;
  /** Held here for as long as this instance lives: the meter holds it weakly only. */
  readonly #sources: TelemetrySources;
  readonly #sampleEvery: number;
  #n = 0;

  constructor(options: TelemetryOptions, sources: TelemetrySources) {
    const { meter, tracer, logger, latencySampleEvery = DEFAULT_LATENCY_SAMPLE_EVERY } = options;
    this.#sampleEvery = latencySampleEvery;
    this.#tracer = tracer;
    this.#logger = logger;
    this.#sources = sources;
    if (meter) {
      let instruments = instrumentsOf.get(meter);
      if (instruments === undefined) {
        instruments = new MeterInstruments(meter);
        instrumentsOf.set(meter, instruments);
      }
      this.#live = instruments.open(sources);
      this.#meter = instruments;
    }
  }

  /** The instance closed: the meter keeps what it counted, and no longer reads its sources. */
  close(): void {
    if (this.#live !== null) this.#meter?.close(this.#live, this.#sources);
  }

  /** Counts a decision by code (and a store error): the whole cost of an untimed request with metrics only. */
  readonly #count = (d: Decision): Decision => {
    const byCode = this.#meter!.byCode;
    byCode.set(d.code, (byCode.get(d.code) ?? 0) + 1);
    if (d.code === "STORE_UNAVAILABLE") this.#storeError("request");
    return d;
  };

  /**
   * Starts what is measured of one request; the returned function ends it
   * with the decision (undefined: nothing to measure of this one).
   */
  start(name: "keyward.verify" | "keyward.check"): ((d: Decision) => Decision) | undefined {
    let span: SpanLike | undefined;
    try {
      span = this.#tracer?.startSpan(name);
    } catch {
      // The tracer's failure is its own: this request has no span.
    }
    const timed = span !== undefined || this.#logger !== undefined || (this.#meter !== null && ++this.#n % this.#sampleEvery === 0);
    // Most requests with metrics only: no clock read, no closure.
    if (!timed) return this.#meter !== null ? this.#count : undefined;
    const t0 = clock();
    return (d) => {
      const ms = clock() - t0;
      if (this.#meter !== null) {
        this.#count(d);
        try {
          this.#meter!.latency.record(ms);
        } catch {
          // The meter's failure is its own.
        }
      }
      if (span) endSpan(span, d);
      if (this.#logger) {
        const fields: TelemetryAttributes = { code: d.code, status: d.status, durationMs: ms };
        if (d.tokenId !== null) fields.tokenId = d.tokenId;
        if (d.owner !== null) fields.owner = d.owner;
        if (d.code === "STORE_UNAVAILABLE") this.log({ level: "warn", event: "store.unavailable", message: "store unavailable: request denied", fields });
        else this.log({ level: "debug", event: "decision", message: d.ok ? "allowed" : `denied: ${d.code}`, fields });
      }
      return d;
    };
  }

  /** A usage write failed. */
  usageWriteFailed(events: number): void {
    this.#storeError("usage");
    this.log({ level: "error", event: "usage.write_failed", message: "usage write failed", fields: { events } });
  }

  #storeError(source: "request" | "usage"): void {
    try {
      this.#meter?.storeErrors.add(1, { "keyward.source": source });
    } catch {
      // The meter's failure is its own.
    }
  }

  log(record: LogRecord): void {
    callHook(this.#logger, record);
  }
}

/** Ends a request's span with its decision; a throw of the span is its own. */
function endSpan(span: SpanLike, d: Decision): void {
  // Only public values: the code, the status, the token's public id and its owner.
  const attributes: TelemetryAttributes = { "keyward.code": d.code, "keyward.ok": d.ok, "http.response.status_code": d.status };
  if (d.tokenId !== null) attributes["keyward.token.id"] = d.tokenId;
  if (d.owner !== null) attributes["keyward.owner"] = d.owner;
  try {
    span.setAttributes(attributes);
    span.setStatus(d.code === "STORE_UNAVAILABLE" ? { code: STATUS_ERROR, message: d.code } : { code: STATUS_OK });
  } catch {
    // Still ended below.
  }
  try {
    span.end();
  } catch {
    // The tracer's failure is its own.
  }
}
