// What the policy reads of a request (EvaluationContext), built per request:
// from `kw.check`'s input as given, or from a Fetch request's headers, read
// on first use and at most once each.
import type { ResolvedConfig } from "../config.js";
import type { ClientIpResolver, HeaderSource } from "../policy/client-ip.js";
import type { EvaluationContext, RequireHttps, SignatureOutcome } from "../policy/evaluate.js";
import { isLoopbackIp, type Transport, type TransportResolver } from "../policy/transport.js";
import type { CheckInput } from "./options.js";
import type { RequestShown } from "./record.js";

/** The context of `kw.check`: what the caller passed. */
export function checkContext(input: CheckInput, cfg: ResolvedConfig): EvaluationContext {
  return {
    scope: input.scope,
    ip: input.ip,
    origin: input.origin,
    referer: input.referer,
    secFetchSite: input.secFetchSite,
    env: cfg.env,
    allowSecretInBrowser: cfg.allowSecretInBrowser,
    allowPublishableWrites: cfg.allowPublishableWrites,
    requireHttps: cfg.requireHttps,
    transport: input.protocol === undefined ? undefined : input.protocol === "https" ? "https" : isLoopbackIp(input.ip) ? "loopback" : "http",
  };
}

/** How a Fetch request's context resolves the client IP and the transport (the instance's proxy settings). */
export interface RequestResolvers {
  clientIp: ClientIpResolver;
  transport: TransportResolver;
}

/** A request whose headers cannot be read shows none. */
export const NO_HEADERS: HeaderSource = { get: () => null };

/** The part of a request that says whether it has a body: a Fetch `Request`'s `body`, not read here. */
export interface BodySource {
  readonly body: unknown;
}

/** A request whose fields cannot be read shows no body. */
export const NO_BODY: BodySource = { body: null };

/**
 * The context of `kw.verify`. Header-derived values are read on first use,
 * so a token without domain or IP rules costs no Origin, Referer or
 * forwarding-header parsing; the client IP and Origin are kept, since the
 * usage event reads them again (it is the {@link RequestShown} of the request).
 */
export class RequestContext implements EvaluationContext, RequestShown {
  readonly scope: CheckInput["scope"];
  readonly env: EvaluationContext["env"];
  readonly allowSecretInBrowser: boolean;
  readonly allowPublishableWrites: boolean;
  readonly requireHttps: RequireHttps;
  /**
   * Whether the request is signed: it carries Signature-Input (RFC 9421
   * §4.1; a lone Signature field signs nothing, and is left to the bearer
   * path to ignore).
   */
  readonly signed: boolean;
  /** Set once the request's signature verified. */
  signature: SignatureOutcome | undefined;
  readonly #headers: HeaderSource;
  /** The URL the server received (never a public URL it is verified at): with the socket, how the request arrived. */
  readonly #url: string;
  readonly #socketIp: string | null | undefined;
  readonly #resolve: RequestResolvers;
  readonly #body: BodySource;
  #ip: string | null | undefined;
  #origin: string | null | undefined;

  constructor(
    headers: HeaderSource,
    url: string,
    body: BodySource,
    route: CheckInput["scope"],
    socketIp: string | null | undefined,
    cfg: ResolvedConfig,
    resolve: RequestResolvers,
  ) {
    this.#headers = headers;
    this.#body = body;
    this.#url = url;
    this.#socketIp = socketIp;
    this.#resolve = resolve;
    this.scope = route;
    this.requireHttps = cfg.requireHttps;
    this.env = cfg.env;
    this.allowSecretInBrowser = cfg.allowSecretInBrowser;
    this.allowPublishableWrites = cfg.allowPublishableWrites;
    this.signed = headers.get("signature-input") !== null;
  }
  get ip(): string | null {
    if (this.#ip === undefined) this.#ip = this.#resolve.clientIp(this.#socketIp, this.#headers);
    return this.#ip;
  }
  /** Read only when `requireHttps` applies to the token; the client is this request's `ip`, resolved once, only if needed. */
  get transport(): Transport {
    return this.#resolve.transport(this.#url, this.#socketIp, this.#headers, this);
  }
  get origin(): string | null {
    if (this.#origin === undefined) this.#origin = this.#headers.get("origin");
    return this.#origin;
  }
  get referer(): string | null {
    return this.#headers.get("referer");
  }
  get secFetchSite(): string | null {
    return this.#headers.get("sec-fetch-site");
  }
  /**
   * Whether the request has a body: a non-zero Content-Length, or
   * Transfer-Encoding; without either (HTTP/2 needs neither, RFC 9113
   * §8.1), whether it has a body stream, as the verifier's requirement of
   * `content-digest` decides. Read only to answer SIGNATURE_REQUIRED.
   */
  get hasBody(): boolean {
    const length = this.#headers.get("content-length");
    if (this.#headers.get("transfer-encoding") !== null) return true;
    return length !== null ? length.trim() !== "0" : this.#body.body !== null;
  }
}
