/**
 * A Fetch API wrapper for Next.js route handlers, Deno, Bun and edge workers:
 * `requireToken({ scope, cost }, handler)` checks the request with
 * `kw.verify` and calls the handler with the decision; denials are answered
 * with RFC 9457 problem+json.
 *
 * @example
 * ```ts
 * import { keywardFetch } from "keyward/fetch";
 * const guard = keywardFetch(kw);
 * export const GET = guard.requireToken({ scope: "core:read" }, (request, decision) => Response.json({ token: decision.tokenId }));
 * ```
 *
 * @module keyward/fetch
 */
import { ConfigError } from "../errors.js";
import { allowHeaders, createEdge, createRoute, decide, denialParts, type EdgeOptions, isAnswer, preflightAnswer, type RouteOptions, withHeaders } from "../http/core.js";
import { fetchEdgeRequest, incomingHeaders } from "../http/fetch-request.js";
import { answerFor } from "../http/head.js";
import type { Keyward } from "../keyward.js";
import { isThenable } from "../lib/thenable.js";
import type { AllowedDecision, Decision, DeniedDecision } from "../verify/decision.js";

/** Options of {@link keywardFetch}. */
export interface KeywardFetchOptions<Rest extends unknown[] = unknown[]> extends EdgeOptions {
  /**
   * The client's socket address, from what the runtime passes after the
   * request: Deno `(req, info) => info.remoteAddr.hostname`, Bun
   * `(req, server) => server.requestIP(req)?.address`. Default: none (a
   * token with IP rules is then denied).
   */
  getIp?: ((request: Request, ...rest: Rest) => string | null | undefined) | undefined;
}

/** Options of one `requireToken` route. */
export interface FetchRouteOptions extends RouteOptions<Request> {
  /**
   * Answers a denial instead of the problem+json default. One that answers
   * nothing (no `Response`: it only logs) gets the default answer.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a hook that only logs returns void.
  onDenied?: ((decision: DeniedDecision, request: Request) => Response | void | Promise<Response | void>) | undefined;
  /**
   * Answers an error: `getToken`, `onDenied` or the handler throwing or
   * rejecting. Default, and when it answers nothing (no `Response`): the
   * error, as a rejection, to the runtime; what it throws itself is a
   * rejection too.
   */
  onError?: ((err: unknown, request: Request) => Response | Promise<Response>) | undefined;
}

/** A handler behind `requireToken`: the request, the allowing decision (its `token` is set), and what the runtime passed after the request. */
export type GuardedHandler<Rest extends unknown[]> = (request: Request, decision: AllowedDecision, ...rest: Rest) => Response | Promise<Response>;

/** What {@link keywardFetch} returns. */
export interface KeywardFetch<Rest extends unknown[]> {
  /** Wraps a handler so it runs only for requests with a token allowed for the route. */
  requireToken(options: FetchRouteOptions, handler: GuardedHandler<Rest>): (request: Request, ...rest: Rest) => Response | Promise<Response>;
  /** The answer to a CORS preflight (with `cors: true`), or null when the request is not one. @throws {TypeError} with `cors: true`, given no Fetch `Request` (a Node request). */
  preflight(request: Request): Response | null;
}

/**
 * A Fetch-handler wrapper over one {@link Keyward}.
 *
 * @param kw the Keyward instance
 * @param options realm, publicOrigin, cors, problemTypeBase, getIp
 * @returns `requireToken` and `preflight`
 * @throws {ConfigError} `INVALID_CONFIG` naming a bad or unknown option (and from `requireToken`, a malformed scope)
 */
export function keywardFetch<Rest extends unknown[] = unknown[]>(kw: Keyward, options: KeywardFetchOptions<Rest> = {}): KeywardFetch<Rest> {
  if (options === null || typeof options !== "object") throw new ConfigError("", "options must be an object");
  const edge = createEdge(kw, options, ["getIp"]);
  const { getIp } = options;
  if (getIp !== undefined && typeof getIp !== "function") throw new ConfigError("getIp", "must be a function");
  const preflight = (request: Request): Response | null => {
    if (!edge.cors) return null;
    // The application's mistake (a Node request), said as kw.verify says it, not as the TypeError of headers.get.
    if (typeof (request as Partial<Request> | null)?.headers?.get !== "function") {
      throw new TypeError("keyward/fetch expects a Fetch API Request (for Express or Fastify, use keyward/express or keyward/fastify)");
    }
    const answer = preflightAnswer(edge, request.method, (name) => request.headers.get(name));
    return answer === null ? null : new Response(null, answer);
  };
  return {
    preflight,
    requireToken(routeOptions, handler) {
      const route = createRoute(routeOptions);
      if (typeof handler !== "function") throw new ConfigError("handler", "must be a function: requireToken(options, handler)");
      const { onDenied, onError } = routeOptions;
      // Errors stay rejections (or onError's answer), as from an async function;
      // an onError that answered nothing lets nothing through.
      const failed = (request: Request, err: unknown): Response | Promise<Response> => {
        if (!onError) return Promise.reject(err);
        let answered: Response | undefined | Promise<Response | undefined>;
        try {
          answered = onError(err, request);
        } catch (thrown) {
          // One that logs and rethrows: a rejection too, not a throw out of the runtime's (or a bridge's) listener.
          return Promise.reject(thrown);
        }
        return isThenable(answered) ? Promise.resolve(answered).then((a) => (isAnswer(a) ? a : Promise.reject(err))) : isAnswer(answered) ? answered : Promise.reject(err);
      };
      const answer = (request: Request, args: Rest, origin: string | null, decision: Decision): Response | Promise<Response> => {
        if (!decision.ok) {
          const problem = () => {
            const parts = denialParts(edge, decision, origin, request.method);
            return answerFor(request.method, new Response(parts.body, parts));
          };
          if (!onDenied) return problem();
          const answered = onDenied(decision, request);
          return isThenable(answered) ? Promise.resolve(answered).then((a) => (isAnswer(a) ? a : problem())) : isAnswer(answered) ? answered : problem();
        }
        const res = handler(request, decision, ...args);
        return isThenable(res) ? Promise.resolve(res).then((r) => withHeaders(r, allowHeaders(edge, decision, origin))) : withHeaders(res, allowHeaders(edge, decision, origin));
      };
      return (request, ...args) => {
        try {
          const pre = preflight(request);
          if (pre !== null) return pre;
          const origin = edge.cors ? request.headers.get("origin") : null;
          const decided = decide(edge, route, fetchEdgeRequest(request, request, getIp?.(request, ...args) ?? null, incomingHeaders(args[0])));
          // The warm path decides at once, and a synchronous handler's Response is returned as it is:
          // runtimes (@hono/node-server among them) answer a Response faster than a promise.
          const answered = decided instanceof Promise ? decided.then((d) => answer(request, args, origin, d)) : answer(request, args, origin, decided);
          return isThenable(answered) ? Promise.resolve(answered).catch((err) => failed(request, err)) : answered;
        } catch (err) {
          return failed(request, err);
        }
      };
    },
  };
}

export { type ProblemDetails, type ProblemResponseOptions, problemResponse } from "../http/problem.js";
