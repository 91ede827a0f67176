// The change feed: one dedicated connection LISTENs on the store's channel
// and hands every notification to the subscribers. When the connection is
// cut (or stops answering the heartbeat) it reconnects with exponential
// backoff; notifications sent meanwhile are lost, so each time it listens
// again it tells the subscribers to drop everything (a reset event): a
// cache is then stale no longer than the outage, and never longer than its
// TTL (`revocationBoundMs`).
import { answerWithin, outcomeWithin } from "../lib/within.js";
import type { AccountChangeEvent, ChangeEvent, TokenChangeEvent } from "../store/types.js";
import { connectWithin, type PostgresClient, type PostgresNotification, type PostgresPool } from "./driver.js";

/** Timings of a {@link ChangeListener}. */
export interface ListenerTimings {
  /** First reconnect delay, ms; doubles per failed attempt. */
  readonly reconnectMinMs: number;
  /** Largest reconnect delay, ms. */
  readonly reconnectMaxMs: number;
  /** How often the listening connection is probed (`SELECT 1`), ms. */
  readonly heartbeatMs: number;
}

/**
 * A change as sent in a NOTIFY payload: the sending store, and the token and
 * its hashes (chunked under 8 000 bytes), or the account's owner (at most 256
 * characters). An account's has no `t` nor `h`: a keyward that knows token
 * changes only ignores it.
 */
type Payload = { s: string; t: string; h: string[] } | { s: string; o: string };

/** Hashes per notification: keeps each payload under PostgreSQL's 8 000-byte limit. */
const HASHES_PER_PAYLOAD = 64;

/** The NOTIFY payloads announcing one change (several when the token has many hashes). */
export function changePayloads(source: string, event: TokenChangeEvent | AccountChangeEvent): string[] {
  if (event.kind === "account") return [JSON.stringify({ s: source, o: event.owner } satisfies Payload)];
  const out: string[] = [];
  for (let i = 0; i === 0 || i < event.hashes.length; i += HASHES_PER_PAYLOAD) {
    out.push(JSON.stringify({ s: source, t: event.tokenId, h: event.hashes.slice(i, i + HASHES_PER_PAYLOAD) } satisfies Payload));
  }
  return out;
}

/** The change a payload announces, unless the sender is `self`; null for one that is not ours. */
function parsePayload(text: string | undefined, self: string): ChangeEvent | null {
  try {
    const p = JSON.parse(text ?? "") as { s?: unknown; t?: unknown; h?: unknown; o?: unknown } | null;
    // Our own writes were delivered in this process, at commit (or at their failure: outcome unknown).
    if (typeof p?.s !== "string" || p.s === self) return null;
    if (typeof p.t === "string" && Array.isArray(p.h) && p.h.every((h) => typeof h === "string")) return { tokenId: p.t, hashes: p.h };
    if (typeof p.o === "string" && p.t === undefined) return { kind: "account", owner: p.o, tokenId: "", hashes: [] };
  } catch {
    // Not ours: someone else NOTIFYing on the channel. Ignored.
  }
  return null;
}

/** @internal The LISTEN connection of one store. */
export class ChangeListener {
  readonly #pool: PostgresPool;
  readonly #channel: string;
  readonly #source: string;
  readonly #timings: ListenerTimings;
  readonly #deliver: (event: ChangeEvent) => void;
  readonly #onError: (err: unknown) => void;
  #client: PostgresClient | null = null;
  readonly #lost = new WeakMap<PostgresClient, (err?: unknown) => void>();
  #closed = false;
  #connecting: Promise<void> | null = null;
  #attempt = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** Times the connection was (re)established: 1 after the first LISTEN. */
  connects = 0;

  constructor(
    pool: PostgresPool,
    channel: string,
    source: string,
    timings: ListenerTimings,
    deliver: (event: ChangeEvent) => void,
    onError: (err: unknown) => void,
  ) {
    this.#pool = pool;
    this.#channel = channel;
    this.#source = source;
    this.#timings = timings;
    this.#deliver = deliver;
    this.#onError = onError;
  }

  /** Whether the LISTEN connection is up now. */
  get listening(): boolean {
    return this.#client !== null;
  }

  /** Connects (once; later calls wait for the same attempt). Resolves whether or not it succeeded. */
  start(): Promise<void> {
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    if (this.#closed || this.#client) return;
    let client: PostgresClient | undefined;
    try {
      client = await this.#checkout();
      // Closed while it waited for the connection: nothing is sent on it, it goes back as it came.
      if (this.#closed) {
        client.release();
        return;
      }
      if (typeof client.on !== "function") throw new TypeError("the pool's connections have no on(): no change feed");
      const c = client;
      // Per connection: a late event of a dropped connection never touches its successor.
      const lost = (err?: unknown) => {
        if (this.#client === c) this.#lose(c, err);
      };
      this.#lost.set(c, lost);
      client.on("notification", this.#onNotification);
      client.on("error", lost);
      client.on("end", lost);
      // Given `heartbeatMs` to answer, as a probe: over a path gone silent the reconnect would wait for ever, and try no more.
      await answerWithin(client.query(`LISTEN "${this.#channel}"`), this.#timings.heartbeatMs, "LISTEN");
      // Closed while the LISTEN ran: the connection listens, and an UNLISTEN would be sent after close, so it
      // is destroyed (released, it would go on listening for whoever takes it from the pool next).
      if (this.#closed) {
        this.#drop(client, true);
        return;
      }
      this.#client = client;
      this.#attempt = 0;
      this.connects++;
      this.#heartbeat = setInterval(() => this.#probe(), this.#timings.heartbeatMs);
      this.#heartbeat.unref?.();
      // Listening from here on: what was written while no connection listened was not heard, so
      // subscribers drop everything they hold (on a first connection that succeeds at once, nothing).
      this.#deliver({ kind: "reset", tokenId: "", hashes: [] });
    } catch (err) {
      if (client) this.#drop(client, true);
      // An attempt close() cancelled fails silently: its wait running out (or its connection cut) is close()'s doing.
      if (!this.#closed) this.#onError(err);
      this.#schedule();
    }
  }

  /**
   * A connection from the pool, waited for `heartbeatMs` at most, as a probe: a pool without
   * `connectionTimeoutMillis` waits for ever for a slot (every connection stuck) or for a new
   * connection over a path gone silent, and the feed would try no more. One that comes after the
   * wait was given up goes back to the pool at once, or its slot would be held for good.
   */
  #checkout(): Promise<PostgresClient> {
    return connectWithin(this.#pool, this.#timings.heartbeatMs, "a connection for the change feed");
  }

  readonly #onNotification = (value: unknown): void => {
    const n = value as PostgresNotification;
    if (n.channel !== this.#channel) return;
    const change = parsePayload(n.payload, this.#source);
    if (change) this.#deliver(change);
  };

  #lose(client: PostgresClient, err?: unknown): void {
    this.#client = null;
    clearInterval(this.#heartbeat);
    this.#drop(client, true);
    if (err !== undefined) this.#onError(err);
    this.#schedule();
  }

  #probe(): void {
    const client = this.#client;
    if (!client) return;
    answerWithin(client.query("SELECT 1"), this.#timings.heartbeatMs, "the change feed's heartbeat").catch((err: unknown) => {
      if (this.#client === client) this.#lose(client, err);
    });
  }

  #schedule(): void {
    if (this.#closed || this.#retry) return;
    const { reconnectMinMs, reconnectMaxMs } = this.#timings;
    const base = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** this.#attempt++);
    // Jitter, so a fleet cut off together does not reconnect in one burst.
    const delay = base / 2 + Math.random() * (base / 2);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.start();
    }, delay);
    this.#retry.unref?.();
  }

  #drop(client: PostgresClient, broken: boolean): void {
    client.removeListener?.("notification", this.#onNotification);
    // On a broken connection the error and end handlers stay (they ignore a dropped
    // connection): it may still emit 'error', and an unhandled one would crash the process.
    const lost = this.#lost.get(client);
    if (!broken && lost) {
      client.removeListener?.("error", lost);
      client.removeListener?.("end", lost);
    }
    try {
      client.release(broken ? true : undefined);
    } catch {
      // Released already (the pool saw the error first).
    }
  }

  /**
   * Stops listening and returns the connection. A connection attempt, or an UNLISTEN, that gets no
   * answer (a path gone silent) is awaited at most `heartbeatMs`, as a probe: closing never hangs. The
   * connection is then destroyed. An attempt under way sends nothing more: a connection it gets after
   * close goes back to the pool untouched, and one whose LISTEN is answered after close is destroyed;
   * it reports nothing to `onError` from then on (its wait running out is not an outage).
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearInterval(this.#heartbeat);
    const { heartbeatMs } = this.#timings;
    if (this.#connecting) await outcomeWithin(this.#connecting, heartbeatMs);
    const client = this.#client;
    this.#client = null;
    if (!client) return;
    try {
      await answerWithin(client.query(`UNLISTEN "${this.#channel}"`), heartbeatMs, "UNLISTEN");
      this.#drop(client, false);
    } catch {
      this.#drop(client, true);
    }
  }
}
