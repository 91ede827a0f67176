/**
 * Fastify 5 plugin: `requireToken({ scope, cost })` is a `preHandler` that
 * checks the request with `kw.verify` and puts the decision on
 * `request.keyward`; denials are answered with RFC 9457 problem+json. The
 * plugin keeps the raw body of signed requests for `Content-Digest` and lets
 * Fastify parse it as usual.
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
  preHandlerAsyncHookHandler,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerBase,
  RawServerDefault,
  RouteGenericInterface,
} from "fastify";
import {
  allowHeaders,
  bodyTimedOut,
  createEdge,
  createRoute,
  decide,
  denialParts,
  type EdgeOptions,
  preflightAnswer,
  type RouteOptions,
} from "../http/core.js";
import { hasBody, nodeEdgeRequest, readNodeBody, type WithRawBody } from "../http/node.js";
import type { Keyward } from "../keyward.js";
import type { AllowedDecision, Decision } from "../verify/decision.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The decision of `requireToken`, on allowed requests (its `token` is set; null before it ran). */
    keyward: AllowedDecision | null;
  }
}

/** Options of one `requireToken` route, on an app of `Server` (HTTP/1.1 by default; an HTTP/2 server too). */
export interface FastifyRouteOptions<Server extends RawServerBase = RawServerDefault> extends RouteOptions<FastifyRequest<RouteGenericInterface, Server>> {
  /** Answers a denial instead of the problem+json default. */
  onDenied?: (decision: Decision, request: FastifyRequest<RouteGenericInterface, Server>, reply: FastifyReply<RouteGenericInterface, Server>) => unknown;
  /**
   * Answers an error of keyward's part of the request: `getToken` or
   * `onDenied` throwing or rejecting. Default: thrown to Fastify's error
   * handler. (A signed upload aborted mid-body ends in the plugin's
   * `preParsing` hook, which Fastify answers itself.)
   */
  onError?: (err: unknown, request: FastifyRequest<RouteGenericInterface, Server>, reply: FastifyReply<RouteGenericInterface, Server>) => unknown;
}

/** What {@link keywardFastify} returns. */
export interface KeywardFastify {
  /** Register it (`app.register(guard.plugin)`) before the routes: decorates requests, keeps signed bodies, answers preflights. */
  plugin: (app: FastifyInstance) => Promise<void>;
  /**
   * A `preHandler` that lets a request through only with a token allowed for
   * the route; of the app's server type (HTTP/1.1 or HTTP/2), inferred from
   * where it is used.
   */
  requireToken<Server extends RawServerBase = RawServerDefault>(
    options?: FastifyRouteOptions<Server>,
  ): preHandlerAsyncHookHandler<Server, RawRequestDefaultExpression<Server>, RawReplyDefaultExpression<Server>>;
}

/**
 * Fastify middleware over one {@link Keyward}.
 *
 * @param kw the Keyward instance
 * @param options realm, publicOrigin, cors, problemTypeBase
 * @returns the plugin and `requireToken`
 * @throws {ConfigError} `INVALID_CONFIG` naming a bad option (and from `requireToken`, a malformed scope)
 */
export function keywardFastify(kw: Keyward, options?: EdgeOptions): KeywardFastify {
  const edge = createEdge(kw, options);
  const plugin = async (app: FastifyInstance) => {
    app.decorateRequest("keyward", null);
    // A signed body is read once here (within the instance's limits), kept as
    // rawBody, and handed on to Fastify's own parser. GET and HEAD bodies are
    // not verified (see toRequest): not read.
    app.addHook("preParsing", async (request, reply, payload) => {
      const { method, headers } = request;
      if (method === "GET" || method === "HEAD" || headers["signature-input"] === undefined || !hasBody(request.raw)) return payload;
      // Stopping at the limit must leave the rest of the stream to Fastify.
      const bytes = await readNodeBody(payload as Readable, edge.body);
      if (bytes === "late") {
        const answer = denialParts(edge, bodyTimedOut(), edge.cors ? header(request, "origin") : null);
        reply.code(answer.status).headers(answer.headers).send(answer.body);
        return payload;
      }
      (request.raw as WithRawBody).rawBody = bytes;
      // Fastify reads what keyward read, then the rest (past the limit keyward denies with 413 in preHandler).
      const replay = Object.assign(Readable.from(chain(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), payload)), {
        receivedEncodedLength: 0,
      });
      async function* chain(head: Buffer, rest: AsyncIterable<Buffer>) {
        replay.receivedEncodedLength += head.byteLength;
        yield head;
        for await (const chunk of rest) {
          replay.receivedEncodedLength += chunk.byteLength;
          yield chunk;
        }
      }
      return replay;
    });
    if (edge.cors) {
      app.addHook("onRequest", async (request, reply) => {
        const answer = preflightAnswer(edge, request.method, (name) => header(request, name));
        if (answer !== null) return reply.code(answer.status).headers(answer.headers).send();
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
      return async (request: FastifyRequest<RouteGenericInterface, Server>, reply: FastifyReply<RouteGenericInterface, Server>) => {
        const origin = edge.cors ? header(request, "origin") : null;
        let decision: Decision;
        try {
          // node:http2's compatibility request has every field of an IncomingMessage that keyward reads.
          const raw = request.raw as WithRawBody;
          const decided = decide(edge, route, nodeEdgeRequest(request, raw, raw.url ?? "/"));
          // The warm path decides at once: no promise step.
          decision = decided instanceof Promise ? await decided : decided;
          if (!decision.ok && onDenied) return void (await onDenied(decision, request, reply));
        } catch (err) {
          if (onError) return void (await onError(err, request, reply));
          throw err;
        }
        if (decision.ok) {
          request.keyward = decision;
          reply.headers(allowHeaders(edge, decision, origin));
          return;
        }
        const answer = denialParts(edge, decision, origin);
        return reply.code(answer.status).headers(answer.headers).send(answer.body);
      };
    },
  };
}

function header(request: Pick<FastifyRequest, "headers">, name: string): string | null {
  const v = request.headers[name];
  return typeof v === "string" ? v : Array.isArray(v) ? v.join(", ") : null;
}

export type { EdgeOptions as KeywardFastifyOptions } from "../http/core.js";
export type { ProblemDetails } from "../http/problem.js";
