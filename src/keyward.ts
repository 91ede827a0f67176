// The entry object: admin side (`tokens`, `usage`) and request side (`verify`, `check`).
import { type KeywardOptions, resolveConfig } from "./config.js";
import { AccountManager } from "./manager/accounts.js";
import { BillingManager } from "./manager/billing.js";
import { CreditManager } from "./manager/credits.js";
import { TokenManager } from "./manager/tokens.js";
import { UsageReader } from "./manager/usage.js";
import { checkOptionFields } from "./model/schemas.js";
import { ANOMALY_FILTER_FIELDS, type Anomaly, AnomalyDetector, type AnomalyFilter } from "./monitor/anomalies.js";
import type { LogRecord } from "./monitor/telemetry.js";
import type { Decision } from "./verify/decision.js";
import type { CheckInput, VerifyOptions } from "./verify/options.js";
import { Verifier } from "./verify/verifier.js";

/**
 * {@link Keyward.verify} without the promise when the decision was made at
 * once: the middleware's path. `routeChecked`: `options` are a route's that
 * checkedRouteOptions checked and froze, not checked again. Internal (not
 * exported by any entry point).
 */
export let decideNow: (kw: Keyward, request: Request, options: VerifyOptions, ip?: string, routeChecked?: boolean) => Decision | Promise<Decision>;

/**
 * How much of a signed body `kw` reads: what the middleware keeps of a
 * body, so the limits never disagree; undefined for
 * an instance of another copy of the package. Internal (not exported by any
 * entry point).
 */
export let signedBodyLimits: (kw: Keyward) => SignedBodyLimits | undefined;

/**
 * The instance's `telemetry.logger`, or undefined (none, or an instance of
 * another copy of the package): where the admin handler reports its
 * failures by default. Internal (not exported by any entry point).
 */
export let telemetryLogger: (kw: Keyward) => ((record: LogRecord) => void) | undefined;

/**
 * The prefix of the instance's `acceptForeignTokens`, as a leak's audit entry
 * shows an imported legacy key (`sk_[redacted]`); "" for none, or an instance
 * of another copy of the package. Internal (not exported by any entry point).
 */
export let foreignTokenPrefix: (kw: Keyward) => string;

/** How much of a signed body is read (`signatures.maxBodyBytes`). */
export interface SignedBodyLimits {
  readonly maxBytes: number;
}

/**
 * keyward: one object per application, sharing a {@link TokenStore}.
 *
 * @example
 * ```ts
 * import { Keyward, MemoryStore } from "keyward";
 * const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
 * const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "publishable" });
 * ```
 */
export class Keyward {
  /**
   * Token administration: create, import, get, list, scan (lifecycle events), update, disable, enable, revoke,
   * delete, regenerate, reseal, reportLeak, audit.
   */
  readonly tokens: TokenManager;
  /**
   * Metered usage: of a token or an owner over time, by scope, code or token (`get`), top consumers (`top`), last
   * use (`lastUsed`), and this instance's usage pipeline (`stats`).
   */
  readonly usage: UsageReader;
  /** Accounts: plan ceiling, credit pool and rate limit shared by an owner's tokens (stores with `capabilities.accounts`). */
  readonly accounts: AccountManager;
  /** Credit balances of tokens and accounts: read, top up, reset (audited). */
  readonly credits: CreditManager;
  /** Spend per account and pool: exports (JSON, CSV) and runs that bill each period once (stores with `capabilities.billing`). */
  readonly billing: BillingManager;
  /**
   * Anomaly alerts raised by this instance (with the `anomalies` option).
   * `list` throws `INVALID_INPUT` (on `options`) for a filter field of another
   * name: a misspelt `owner` would list every account's alerts.
   */
  readonly anomalies: {
    /** The alerts kept (the latest `maxAlerts`) that match `filter` (every field optional), oldest first. */
    list(filter?: AnomalyFilter): Anomaly[];
  };
  readonly #verifier: Verifier;
  /** Largest signed body the verifier reads (`signatures.maxBodyBytes`). */
  readonly #signedBody: SignedBodyLimits;
  /** `telemetry.logger`. */
  readonly #logger: ((record: LogRecord) => void) | undefined;
  /** `acceptForeignTokens.prefix`, or "". */
  readonly #foreignPrefix: string;

  /**
   * @param options store, prefix, environment, sealing key, cache bounds, clock
   * @throws {ConfigError} `INVALID_CONFIG` naming the bad option
   */
  constructor(options: KeywardOptions) {
    const config = resolveConfig(options);
    const detector = config.anomalies === undefined ? null : new AnomalyDetector(config.anomalies, config.store, config.usage.writeTimeoutMs, config.now);
    this.#verifier = new Verifier(config, detector);
    this.#signedBody = Object.freeze({ maxBytes: config.signatures.maxBodyBytes });
    this.#logger = config.telemetry?.logger;
    this.#foreignPrefix = config.acceptForeignTokens === false ? "" : config.acceptForeignTokens.prefix;
    this.anomalies = {
      list: (filter = {}) => {
        checkOptionFields(filter, ANOMALY_FILTER_FIELDS);
        return detector?.list(filter) ?? [];
      },
    };
    // This instance's own writes drop its cache entries at once, change feed or not.
    this.tokens = new TokenManager(
      config,
      (id, hashes) => this.#verifier.invalidate(id, hashes),
      (at, id, owner, source) => detector?.leaked(at, id, owner, source),
      () => this.#verifier.flush(),
    );
    this.usage = new UsageReader(config, () => this.#verifier.usageStats());
    this.accounts = new AccountManager(config, (owner) => this.#verifier.invalidateAccount(owner));
    this.credits = new CreditManager(config);
    this.billing = new BillingManager(config, (until) => this.#verifier.flushUsageBefore(until));
  }

  /**
   * Checks a Fetch API request: bearer token (or signature), policy, rate
   * limit, credits. Never throws on untrusted input: every problem is a
   * denial with a stable `code`, an HTTP `status` and `headers`.
   *
   * @param request the incoming request
   * @param options what the route needs (`scope`, `cost`), the socket `ip`, and `receivedUrl` when `request` was rebuilt at its public URL
   * @returns the decision
   * @throws {InvalidInputError} only for a bad `options` (the application's mistake), an option of another name included
   *   (a misspelt `scopes` would check no scope)
   * @example
   * ```ts
   * const d = await kw.verify(request, { scope: "core:read", ip: socketAddress });
   * if (!d.ok) return d.toResponse(); // problem+json, status and headers
   * ```
   */
  verify(request: Request, options?: VerifyOptions): Promise<Decision> {
    return this.#verifier.verify(request, options);
  }

  /**
   * Checks a token presented by other means (a WebSocket handshake, a queue
   * message), with what the request shows. Same guarantees as {@link verify}.
   *
   * @param input the token, scope, cost, ip, origin, referer
   * @returns the decision
   * @throws {InvalidInputError} only for a bad option (the application's mistake), an option of another name included
   * @example
   * ```ts
   * const d = await kw.check({ token, scope: "datasets/prices:write", cost: 5, ip });
   * ```
   */
  check(input: CheckInput): Promise<Decision> {
    return this.#verifier.check(input);
  }

  /** Writes the usage events buffered now to the store (not those requests add meanwhile: it answers under steady traffic). Call it before shutdown. */
  flush(): Promise<void> {
    return this.#verifier.flush();
  }

  /** Stops listening to the store's change feed, stops the usage timer and writes queued usage. Does not close the store. */
  close(): Promise<void> {
    return this.#verifier.close();
  }

  static {
    // The middleware's access, through functions of this module that the
    // package's entry points do not export.
    decideNow = (kw, request, options, ip, routeChecked) =>
      // Another copy of the package (or a stand-in object) still answers, through verify.
      #verifier in kw
        ? kw.#verifier.decide(request, options, ip, routeChecked)
        : (kw as Keyward).verify(request, ip === undefined ? options : { ...options, ip });
    signedBodyLimits = (kw) => (#signedBody in kw ? kw.#signedBody : undefined);
    telemetryLogger = (kw) => (#logger in kw ? kw.#logger : undefined);
    foreignTokenPrefix = (kw) => (#foreignPrefix in kw ? kw.#foreignPrefix : "");
  }
}
