/**
 * Fastify 5 plugin: `requireToken({ scope, cost })`, given as a route's
 * `preHandler`, checks the request with `kw.verify` and puts the decision on
 * `request.keyward`; denials are answered with RFC 9457 problem+json. The
 * plugin runs a route's `requireToken` before Fastify reads the body (in
 * its own `preParsing` hook, ahead of the route's and of the app-wide ones
 * registered after it, which may decode the body): a signed body is read only once the
 * signature verified, kept as the raw body for `Content-Digest`, and handed
 * on to Fastify's own parser. For a guard in a later hook (an app-wide
 * `preHandler`), the plugin keeps a copy of the bytes Fastify's parser
 * reads: it never reads a body ahead of Fastify.
 *
 * @example
 * ```ts
 * import Fastify from "fastify";
 * import { keywardFastify } from "keyward/fastify";
 * const app = Fastify();
 * const guard = keywardFastify(kw);
 * await app.register(guard.plugin);
 * app.get("/v1/prices", { preHandler: guard.requireToken({ scope: "core:read" }) }, (request) => ({ token: request.keyward?.tokenId }));
 * ```
 *
 * @module keyward/fastify
 */
import { Readable } from "node:stream";
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RouteOptions as FastifyRouteShape,
  preHandlerAsyncHookHandler,
  preParsingHookHandler,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
  RawServerDefault,
  RequestPayload,
  RouteGenericInterface,
} from "fastify";
import {
  allowHeaders,
  CORS_VARY,
  createEdge,
  createRoute,
  decide,
  denialParts,
  type EdgeOptions,
  preflightAnswer,
  type RouteOptions,
} from "../http/core.js";
import { closeUnreadBody, hasBody, joined, nodeEdgeRequest, varyOf, type WithRawBody } from "../http/node.js";
import type { Keyward } from "../keyward.js";
import type { AllowedDecision, Decision, DeniedDecision } from "../verify/decision.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The decision of `requireToken`, on allowed requests (its `token` is set; null before it ran). */
    keyward: AllowedDecision | null;
  }
}

/** Options of one `requireToken` route, on an app of `Server` (HTTP/1.1 by default; an HTTP/2 server too). */
export interface FastifyRouteOptions<Server extends RawServerBase = RawServerDefault> extends RouteOptions<FastifyRequest<RouteGenericInterface, Server>> {
  /**
   * Answers a denial instead of the problem+json default: return the reply
   * (`return reply.code(…).send(…)`), as from any async Fastify hook that
   * answers. One that has not sent the reply by the time it returns (or its
   * promise settles), a hook that only logs, gets the default answer; to
   * let the denied request on to the handler (`request.keyward` stays
   * null), it calls `proceed()`.
   */
  onDenied?:
    | ((
        decision: DeniedDecision,
        request: FastifyRequest<RouteGenericInterface, Server>,
        reply: FastifyReply<RouteGenericInterface, Server>,
        proceed: () => void,
      ) => unknown)
    | undefined;
  /**
   * Answers an error of keyward's part of the request: `getToken` or
   * `onDenied` throwing or rejecting. Answer as `onDenied` does (`return
   * reply.code(…).send(…)`); an `onError` that has not sent the reply by the
   * time it returns (or its promise settles), and the default, throw the
   * error to Fastify's error handler: the route's handler never runs. (A signed upload aborted mid-body is a denial,
   * `SIGNATURE_INVALID`, on a route whose guard the plugin runs before
   * parsing or in `onRequest`; in a later hook, it ends in Fastify's own
   * read of the body, which Fastify answers itself.)
   */
  onError?: ((err: unknown, request: FastifyRequest<RouteGenericInterface, Server>, reply: FastifyReply<RouteGenericInterface, Server>) => unknown) | undefined;
}

/** What {@link keywardFastify} returns. */
export interface KeywardFastify {
  /**
   * Register it (`await app.register(guard.plugin)`) before declaring the
   * routes, and before app-wide hooks that decode bodies: runs each route's `requireToken` before Fastify reads the body,
   * decorates requests, keeps the bytes of signed bodies, answers preflights. (Without
   * `await`, Fastify loads it after the routes declared next: their guards
   * then run after the body was parsed, as an app-wide guard does.)
   */
  plugin: (app: FastifyInstance) => Promise<void>;
  /**
   * A `preHandler` that lets a request through only with a token allowed for
   * the route; of the app's server type (HTTP/1.1 or HTTP/2), inferred from
   * where it is used. Given as a route's `preHandler` (registered after the
   * plugin), the plugin runs it before Fastify reads the body instead;
   * elsewhere (an app-wide hook, a route's `onRequest`), it runs where it is
   * placed.
   */
  requireToken<Server extends RawServerBase = RawServerDefault>(
    options?: FastifyRouteOptions<Server>,
  ): preHandlerAsyncHookHandler<Server, RawRequestDefaultExpression<Server>, RawReplyDefaultExpression<Server>>;
}

/** Options of `keywardFastify`, shared by every route of the middleware: `realm`, `publicOrigin`, `cors`, `problemTypeBase`. */
export interface KeywardFastifyOptions extends EdgeOptions {}

/**
 * Fastify middleware over one {@link Keyward}.
 *
 * @param kw the Keyward instance
 * @param options realm, publicOrigin, cors, problemTypeBase
 * @returns the plugin and `requireToken`
 * @throws {ConfigError} `INVALID_CONFIG` naming a bad or unknown option (and from `requireToken`, a malformed scope)
 */
export function keywardFastify(kw: Keyward, options?: KeywardFastifyOptions): KeywardFastify {
  const edge = createEdge(kw, options);
  const plugin = async (app: FastifyInstance) => {
    app.decorateRequest("keyward", null);
    // A route's guard runs before Fastify reads the body, in the plugin's own
    // preParsing hook below: ahead of the route's preParsing hooks and of the
    // app-wide ones registered after the plugin (@fastify/compress's decoding
    // of uploads, say), which may decode what Content-Digest covers.
    app.addHook("onRoute", (route) => {
      const handlers = hooksOf(route.preHandler);
      if (!handlers.some((h) => earlyForm.has(h))) return;
      route.preHandler = handlers.filter((h) => !earlyForm.has(h)) as FastifyRouteShape["preHandler"];
      const early = handlers.flatMap((h) => earlyForm.get(h) ?? []);
      route.config = { ...route.config, [GUARDED_EARLY]: early };
    });
    // A route's early guards (above) run here. For a guard placed elsewhere (an app-wide hook), which runs after
    // Fastify read the body: a copy of a signed body's bytes is kept as
    // rawBody while Fastify's own parser reads them, on its own terms. Nothing
    // is read ahead: a body Fastify does not read (a route without a parser
    // for it, an unguarded route answered early) is not read at all. GET and
    // HEAD bodies are not verified (see toRequest): not kept. A guard in an
    // onRequest hook, which runs before, read it itself: Fastify parses the
    // bytes it kept.
    // In the callback form: every route of the app runs it, and an async hook costs each request a promise.
    app.addHook("preParsing", (request, reply, payload, done) => {
      const early = (request.routeOptions.config as unknown as Record<symbol, readonly EarlyGuard[] | undefined>)[GUARDED_EARLY];
      if (early !== undefined) return runEarly(early, request, reply, payload, done);
      const { method, headers } = request;
      if (method === "GET" || method === "HEAD" || headers["signature-input"] === undefined || !hasBody(request.raw)) return done(null, payload);
      const raw = request.raw as WithRawBody;
      done(null, raw.rawBody !== undefined ? replay(raw.rawBody, null) : copied(payload, raw, edge.body.maxBytes));
    });
    if (edge.cors) {
      app.addHook("onRequest", async (request, reply) => {
        const answer = preflightAnswer(edge, request.method, (name) => header(request, name));
        if (answer !== null) return setFields(reply.code(answer.status), answer.headers).send();
      });
      // A handler's own Vary replaces the one requireToken set on an allowed
      // request: Origin, which the echoed Allow-Origin varies on, is put back.
      app.addHook("onSend", (request, reply, payload, done) => {
        if (request.keyward !== null) reply.header("vary", varyOf(reply.getHeader("vary"), CORS_VARY));
        done(null, payload);
      });
    }
  };
  // What fastify-plugin does: the hooks apply to the whole app, not an encapsulated child.
  Object.assign(plugin, { [Symbol.for("skip-override")]: true, [Symbol.for("fastify.display-name")]: "keyward" });
  return {
    plugin,
    requireToken<Server extends RawServerBase = RawServerDefault>(routeOptions: FastifyRouteOptions<Server> = {}) {
      const route = createRoute(routeOptions);
      const { onDenied, onError } = routeOptions;
      type Req = FastifyRequest<RouteGenericInterface, Server>;
      type Reply = FastifyReply<RouteGenericInterface, Server>;
      /** The decision, at once when the warm path made it (no promise step); a throw is `getToken`'s. */
      const decideOn = (request: Req, body: Readable | undefined): Decision | Promise<Decision> => {
        // node:http2's compatibility request has every field of an IncomingMessage that keyward reads.
        const raw = request.raw as WithRawBody & { originalUrl?: string };
        // The target the client sent: Fastify's `rewriteUrl` routes by another, and keeps this one as `originalUrl`.
        return decide(edge, route, nodeEdgeRequest(request, raw, raw.originalUrl ?? raw.url ?? "/", body));
      };
      const admit = (request: Req, reply: Reply, decision: AllowedDecision, origin: string | null): void => {
        request.keyward = decision;
        setFields(reply, allowHeaders(edge, decision, origin));
      };
      /**
       * Decides, then puts the decision on the request or answers the denial.
       * `body`: the payload stream, when Fastify has not read it yet;
       * `decided`: what {@link decideOn} already answered, if it was asked.
       */
      const guard = async (request: Req, reply: Reply, body?: Readable, decided?: Decision | Promise<Decision>): Promise<void> => {
        const origin = edge.cors ? header(request, "origin") : null;
        let decision: Decision;
        try {
          const answer = decided ?? decideOn(request, body);
          decision = answer instanceof Promise ? await answer : answer;
          const raw = request.raw as WithRawBody;
          if (!decision.ok) closeUnreadBody(raw, decision, (name, value) => reply.header(name, value));
          if (!decision.ok && onDenied) {
            let onward = false;
            const denied = decision;
            const sent = await answers(reply, () =>
              onDenied(denied, request, reply, () => {
                onward = true;
              }),
            );
            // Answered, or let on; a hook that did neither (it only logs) lets nothing through.
            if (onward || sent) return;
          }
        } catch (err) {
          if (!onError) throw err;
          // An onError that answered nothing lets nothing through: the error goes on to Fastify's error handler.
          if (!(await answers(reply, () => onError(err, request, reply)))) throw err;
          return;
        }
        if (decision.ok) return admit(request, reply, decision, origin);
        await refuse(reply, denialParts(edge, decision, origin, request.method));
      };
      const preHandler = (request: Req, reply: Reply) => guard(request, reply);
      const preParsing: EarlyGuard = (request, reply, payload, done) => {
        const req = request as Req;
        let decided: Decision | Promise<Decision>;
        try {
          decided = decideOn(req, payload);
        } catch (err) {
          // getToken threw: the guard answers the error its way (onError).
          decided = Promise.reject(err);
        }
        if (!(decided instanceof Promise) && decided.ok) {
          admit(req, reply as Reply, decided, edge.cors ? header(request, "origin") : null);
          done(null, parsedOf(request.raw, payload));
          return;
        }
        // Once a reply was sent, Fastify goes no further.
        return guard(req, reply as Reply, payload, decided).then(() => (reply.sent ? payload : parsedOf(request.raw, payload)));
      };
      earlyForm.set(preHandler, preParsing);
      return preHandler;
    },
  };
}

/**
 * A route's guard before parsing: in Fastify's callback form (`done`) when
 * the warm path allowed the request at once, so that no promise is made per
 * request; otherwise the promise of the whole guard, which Fastify waits for
 * instead of `done` (as for an async hook).
 */
type EarlyGuard = (...args: Parameters<preParsingHookHandler>) => undefined | Promise<RequestPayload>;

/** The preParsing form of each guard `requireToken` made, which the plugin runs instead of the preHandler on the guard's routes. */
const earlyForm = new WeakMap<object, EarlyGuard>();

/** A route's guards that run before parsing, in its config: the plugin runs them, and reads no signed body ahead of them. */
const GUARDED_EARLY = Symbol("keyward.guardedEarly");

/**
 * Runs a route's early guards from the plugin's preParsing hook: the one a
 * route has, as a rule, in the hook's own form; several one after another,
 * each with the payload the one before handed on, as Fastify runs hooks.
 */
function runEarly(guards: readonly EarlyGuard[], ...[request, reply, payload, done]: Parameters<preParsingHookHandler>): undefined | Promise<RequestPayload> {
  if (guards.length === 1) return guards[0]!(request, reply, payload, done);
  return guards.reduce<Promise<RequestPayload>>(
    (previous, guard) =>
      previous.then((given) =>
        reply.sent
          ? given
          : new Promise<RequestPayload>((resolve, reject) => {
              const answered = guard(request, reply, given, (err, next) => (err ? reject(err) : resolve(next ?? given)));
              answered?.then(resolve, reject);
            }),
      ),
    Promise.resolve(payload),
  );
}

/**
 * Runs a hook that may answer (`onDenied`, `onError`); whether it did. One
 * that sent the reply without returning it (`reply.send(…)`, not `return
 * reply.send(…)`) answered too: its reply is waited for, as {@link refuse}
 * waits for its own. Before, `reply.sent`, false while an async onSend hook
 * runs, had the default answer sent after it (401 over the hook's status,
 * Fastify warning "Reply was already sent").
 */
async function answers<Server extends RawServerBase>(reply: FastifyReply<RouteGenericInterface, Server>, hook: () => unknown): Promise<boolean> {
  let sending = false;
  const send = reply.send;
  // Own property for the hook's run, over the prototype's (redirect and view plugins send through it too).
  reply.send = function (this: typeof reply, payload?: unknown) {
    sending = true;
    return send.call(this, payload);
  };
  try {
    await hook();
  } finally {
    delete (reply as { send?: unknown }).send;
  }
  if (sending && !reply.sent) await reply;
  return sending || reply.sent;
}

/**
 * Sends a denial and waits until it has gone out, as Fastify asks of an
 * async hook that answers: until then (async onSend hooks included),
 * `reply.sent` is false, and Fastify would go on to parse the body and run
 * the handler. The body goes as bytes: Fastify adds `charset=utf-8` to the
 * content type of a string, which the other adapters do not send.
 */
async function refuse<Server extends RawServerBase>(reply: FastifyReply<RouteGenericInterface, Server>, answer: ReturnType<typeof denialParts>): Promise<void> {
  await setFields(reply.code(answer.status), answer.headers).send(Buffer.from(answer.body));
}

/** Sets an answer's fields, allowed, denied or a preflight's; Vary merged: reply.headers would replace one an earlier hook set (Accept-Language, say). */
function setFields<Server extends RawServerBase>(reply: FastifyReply<RouteGenericInterface, Server>, fields: Record<string, string>): FastifyReply<RouteGenericInterface, Server> {
  const { vary, ...rest } = fields;
  reply.headers(rest);
  return vary === undefined ? reply : reply.header("vary", varyOf(reply.getHeader("vary"), vary));
}

/** A route's hooks of one stage, as a list. */
function hooksOf(hooks: unknown): object[] {
  return hooks === undefined || hooks === null ? [] : Array.isArray(hooks) ? hooks : [hooks as object];
}

/** What Fastify parses after a route's early guard: the signed body the verifier read (to its end), else the payload. */
function parsedOf(raw: WithRawBody, payload: RequestPayload): RequestPayload {
  const kept = raw.rawBody;
  return kept === undefined ? payload : replay(kept, null);
}

/** The payload Fastify parses: the bytes keyward read, then the rest of the stream, if any. */
function replay(bytes: Uint8Array, rest: AsyncIterable<Buffer> | null): Readable {
  const stream = Object.assign(Readable.from(chain(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))), { receivedEncodedLength: 0 });
  async function* chain(head: Buffer) {
    stream.receivedEncodedLength += head.byteLength;
    yield head;
    if (rest === null) return;
    for await (const chunk of rest) {
      stream.receivedEncodedLength += chunk.byteLength;
      yield chunk;
    }
  }
  return stream;
}

/**
 * The payload as Fastify's parser reads it, pulled only as it reads (keyward
 * reads nothing ahead), with a copy of its bytes kept as `req.rawBody` once
 * it ended: all of them, or past `maxBytes`, those up to the first chunk
 * past it (so at most one chunk more), which the verifier refuses as too large.
 * A parser that hands the stream on unread (`done(null, payload)`, for the
 * handler to read) lets a late guard run first: it read the body itself, to
 * its end, and the stream gives those bytes. The stream tells Fastify the
 * encoded length the payload's own stream counted, if it counts one (a
 * preParsing hook's stream before the plugin's), else the bytes it passed on.
 */
function copied(payload: AsyncIterable<Buffer> & { receivedEncodedLength?: unknown }, req: WithRawBody, maxBytes: number): Readable {
  const stream = Object.assign(Readable.from(copy()), { receivedEncodedLength: 0 });
  async function* copy() {
    const read = req.rawBody;
    if (read !== undefined) {
      stream.receivedEncodedLength += read.byteLength;
      yield Buffer.from(read.buffer, read.byteOffset, read.byteLength);
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of payload) {
      const upstream = payload.receivedEncodedLength;
      stream.receivedEncodedLength = typeof upstream === "number" ? upstream : stream.receivedEncodedLength + chunk.byteLength;
      if (total <= maxBytes) {
        chunks.push(chunk);
        total += chunk.byteLength;
      }
      yield chunk;
    }
    req.rawBody = joined(chunks);
  }
  return stream;
}

function header(request: Pick<FastifyRequest, "headers">, name: string): string | null {
  const v = request.headers[name];
  return typeof v === "string" ? v : Array.isArray(v) ? v.join(", ") : null;
}

export type { ProblemDetails } from "../http/problem.js";
