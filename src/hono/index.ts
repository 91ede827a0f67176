/**
 * Hono middleware: `requireToken({ scope, cost })` checks the request with
 * `kw.verify` and sets the decision as `c.get("keyward")`; denials are
 * answered with RFC 9457 problem+json. Any runtime Hono runs on.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { type KeywardEnv, keywardHono } from "keyward/hono";
 * const app = new Hono<KeywardEnv>();
 * const guard = keywardHono(kw);
 * app.get("/v1/prices", guard.requireToken({ scope: "core:read" }), (c) => c.json({ token: c.get("keyward").tokenId }));
 * ```
 *
 * @module keyward/hono
 */
import type { Context, Env, MiddlewareHandler, Next } from "hono";
import type { StatusCode } from "hono/utils/http-status";
import { ConfigError } from "../errors.js";
import { allowHeaders, createEdge, createRoute, decide, denialParts, type EdgeOptions, isAnswer, preflightAnswer, type RouteOptions, withHeaders } from "../http/core.js";
import { fetchEdgeRequest, incomingHeaders } from "../http/fetch-request.js";
import type { Keyward } from "../keyward.js";
import { isThenable } from "../lib/thenable.js";
import type { AllowedDecision, Decision, DeniedDecision } from "../verify/decision.js";

/** The Hono environment `requireToken` sets: `c.get("keyward")` is the decision, an allowed one (its `token` is set). */
export interface KeywardEnv {
  /** `keyward`: the decision of the guard that let the request through (`c.get("keyward")`). */
  Variables: { keyward: AllowedDecision };
}

/**
 * The environment of a hook whose app named none: Hono's own default for a
 * `Context` (so a hook typed `(c: Context) => …` fits, as before hooks were
 * typed with the app's environment). Name yours instead:
 * `requireToken<AppEnv>(…)`.
 */
// biome-ignore lint/suspicious/noExplicitAny: Hono's Context defaults its environment to any
export type AnyEnv = any;

/**
 * Options of {@link keywardHono}; `E` is the app's environment (its
 * `Bindings` and `Variables`), as `getIp` sees it: `keywardHono<AppEnv>(kw, …)`.
 */
export interface KeywardHonoOptions<E extends Env = AnyEnv> extends EdgeOptions {
  /**
   * The client's socket address. Default: what @hono/node-server, Bun and
   * Deno put in `c.env`; null elsewhere (a token with IP rules is then denied).
   */
  getIp?: ((c: Context<E>) => string | null | undefined) | undefined;
}

/**
 * Options of one `requireToken` route; `E` is the app's environment as its
 * hooks (`getToken`, `onDenied`, `onError`) see it: `requireToken<AppEnv>(…)`.
 */
export interface HonoRouteOptions<E extends Env = AnyEnv> extends RouteOptions<Context<E>> {
  /**
   * Answers a denial instead of the problem+json default. One that answers
   * nothing (it only logs: no `Response`, nothing set as `c.res`) gets the
   * default answer.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a hook that only logs returns void.
  onDenied?: ((decision: DeniedDecision, c: Context<E>) => Response | void | Promise<Response | void>) | undefined;
  /**
   * Answers an error of keyward's part of the request: `getToken` or
   * `onDenied` throwing or rejecting (and, in the handler form, the
   * handler's own errors). Default, and when it answers nothing (no
   * `Response`, nothing set as `c.res`): thrown to Hono's `onError`.
   */
  onError?: ((err: unknown, c: Context<E>) => Response | Promise<Response>) | undefined;
}

/**
 * A route handler that `requireToken(options, handler)` runs for allowed
 * requests (`c.get("keyward")` is set), in the app's environment `E` (its
 * `Bindings` and `Variables`) with the decision.
 */
export type GuardedHonoHandler<E extends Env = Env> = (c: Context<E & KeywardEnv>) => Response | Promise<Response>;

/** What {@link keywardHono} returns. */
export interface KeywardHono {
  /**
   * Middleware that lets a request through only with a token allowed for the
   * route. Name the app's environment (`E`) for the hooks to see its
   * `Bindings` and `Variables`: `guard.requireToken<AppEnv>({ onDenied: (d, c) => … c.get("requestId") … })`.
   */
  requireToken<E extends Env = AnyEnv>(options?: HonoRouteOptions<E>): MiddlewareHandler<KeywardEnv>;
  /**
   * The route handler itself, run only for requests with a token allowed for
   * the route: the same checks as the middleware, without Hono's middleware
   * chain, so a warm check with a synchronous handler answers at once (the
   * faster form on @hono/node-server). Name the app's environment (`E`)
   * for the handler and the hooks of `options` to see its `Bindings` and
   * `Variables`: `guard.requireToken<AppEnv>(options, (c) => … c.env.DB …)`.
   *
   * @example
   * ```ts
   * app.get("/v1/prices", guard.requireToken({ scope: "core:read" }, (c) => c.json({ token: c.get("keyward").tokenId })));
   * ```
   */
  requireToken<E extends Env = Env>(options: HonoRouteOptions<E>, handler: GuardedHonoHandler<E>): (c: Context<E>) => Response | Promise<Response>;
  /** Answers CORS preflights (with `cors: true`); other requests go on. */
  preflight: MiddlewareHandler;
}

function rethrow(err: unknown): never {
  throw err;
}

/** onError's answer; when it answered nothing, the error goes on to Hono's onError: never a request let through. */
function answeredOr(c: Context, answer: Response | undefined, err: unknown): Response {
  if (isAnswer(answer)) return answer;
  if (c.finalized) return c.res;
  throw err;
}

/**
 * Keyward's own answer (a denial's, a preflight's) with its fields; Vary
 * merged, as on an allowed answer: given to c.body, it would replace one set
 * before the guard (Accept-Language, say).
 */
function answerWith(c: Context, body: string | null, status: number, headers: Record<string, string>): Response {
  const { vary, ...fields } = headers;
  const res = c.newResponse(body, status as StatusCode, fields);
  return vary === undefined ? res : withHeaders(res, { vary });
}

/** The socket address as @hono/node-server (`incoming`), Bun (`requestIP`) and Deno (`remoteAddr`) expose it. */
function runtimeIp(c: Context): string | null {
  const env = c.env as {
    incoming?: { socket?: { remoteAddress?: string } };
    requestIP?: (r: Request) => { address?: string } | null;
    remoteAddr?: { hostname?: string };
  } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? env?.requestIP?.(c.req.raw)?.address ?? env?.remoteAddr?.hostname ?? null;
}

/**
 * Hono middleware over one {@link Keyward}.
 *
 * @param kw the Keyward instance
 * @param options realm, publicOrigin, cors, problemTypeBase, getIp (name the app's environment, `keywardHono<AppEnv>`, for `getIp` to see it)
 * @returns `requireToken` and `preflight`
 * @throws {ConfigError} `INVALID_CONFIG` naming a bad or unknown option (and from `requireToken`, a malformed scope)
 */
export function keywardHono<E extends Env = AnyEnv>(kw: Keyward, options: KeywardHonoOptions<E> = {}): KeywardHono {
  if (options === null || typeof options !== "object") throw new ConfigError("", "options must be an object");
  const edge = createEdge(kw, options, ["getIp"]);
  // E types the hook for the app; every Context the middleware is called with is the app's.
  const { getIp = runtimeIp } = options as KeywardHonoOptions;
  if (typeof getIp !== "function") throw new ConfigError("getIp", "must be a function");
  /** The answer to a preflight; null when the request is not one (or CORS is off: nothing is read). */
  const preflightOf = (c: Context): Response | null => {
    if (!edge.cors) return null;
    const answer = preflightAnswer(edge, c.req.method, (name) => c.req.header(name) ?? null);
    return answer === null ? null : answerWith(c, null, answer.status, answer.headers);
  };
  const preflight: MiddlewareHandler = async (c, next) => preflightOf(c) ?? next();
  return {
    preflight,
    requireToken: ((routeOptions: HonoRouteOptions = {}, handler?: GuardedHonoHandler) => {
      const route = createRoute(routeOptions);
      if (handler !== undefined && typeof handler !== "function") throw new ConfigError("handler", "must be a function: requireToken(options, handler)");
      const { onDenied, onError } = routeOptions;
      const decideFor = (c: Context) => decide(edge, route, fetchEdgeRequest(c, c.req.raw, getIp(c) ?? null, incomingHeaders(c.env)));
      /** The answer to a denial: onDenied's (whose throw or rejection goes to `failed`), or problem+json. */
      const refuse = (
        c: Context,
        decision: DeniedDecision,
        origin: string | null,
        failed: (err: unknown) => Response | Promise<Response>,
      ): Response | Promise<Response> => {
        const problem = () => {
          const answer = denialParts(edge, decision, origin, c.req.method);
          return answerWith(c, answer.body, answer.status, answer.headers);
        };
        if (!onDenied) return problem();
        const or = (answered: unknown): Response => (isAnswer(answered) ? answered : c.finalized ? c.res : problem());
        try {
          const answered = onDenied(decision, c);
          return isThenable(answered) ? Promise.resolve(answered).then(or).catch(failed) : or(answered);
        } catch (err) {
          return failed(err);
        }
      };
      /**
       * Sets the decision and its header fields on an allowed request, before
       * the handler, for the answers Hono builds (c.json, c.text); returns the
       * fields, which a Response of the handler's own gets after (withHeaders).
       * Vary only after: c.header would replace one set before the guard
       * (Accept-Language, say), withHeaders merges it.
       */
      const admit = (c: Context, decision: AllowedDecision, origin: string | null): Record<string, string> => {
        c.set("keyward", decision);
        const fields = allowHeaders(edge, decision, origin);
        for (const name in fields) if (name !== "vary") c.header(name, fields[name]);
        return fields;
      };
      if (handler !== undefined) {
        // Hono answers a throw and a rejection alike (its onError). What the
        // handler throws or rejects goes to onError too, as in keyward/fetch.
        const failed = (c: Context, err: unknown): Response | Promise<Response> => {
          if (!onError) throw err;
          const answered: Response | undefined | Promise<Response | undefined> = onError(err, c);
          return isThenable(answered) ? Promise.resolve(answered).then((a) => answeredOr(c, a, err)) : answeredOr(c, answered, err);
        };
        // onDenied's errors reach `failed`, with the handler's.
        const finish = (c: Context, origin: string | null, decision: Decision): Response | Promise<Response> => {
          if (!decision.ok) return refuse(c, decision, origin, rethrow);
          const fields = admit(c, decision, origin);
          const res = handler(c as Context<Env & KeywardEnv>);
          return isThenable(res) ? Promise.resolve(res).then((r) => withHeaders(r, fields)) : withHeaders(res, fields);
        };
        return (c: Context<Env & KeywardEnv>): Response | Promise<Response> => {
          try {
            const pre = preflightOf(c);
            if (pre !== null) return pre;
            const origin = edge.cors ? (c.req.header("origin") ?? null) : null;
            const decided = decideFor(c);
            const answered = decided instanceof Promise ? decided.then((d) => finish(c, origin, d)) : finish(c, origin, decided);
            return answered instanceof Promise ? answered.catch((err) => failed(c, err)) : answered;
          } catch (err) {
            return failed(c, err);
          }
        };
      }
      const failed = async (c: Context, err: unknown): Promise<Response> => {
        if (!onError) throw err;
        return answeredOr(c, await onError(err, c), err);
      };
      // What next() rejects with is the app's (Hono's onError), not keyward's.
      const proceed = (c: Context, next: Next, origin: string | null, decision: Decision): Response | ReturnType<MiddlewareHandler> => {
        if (!decision.ok) return refuse(c, decision, origin, (err) => failed(c, err));
        const fields = admit(c, decision, origin);
        // No fields to add (no limits, no CORS): no promise step after the handler.
        if (Object.keys(fields).length === 0) return next();
        // Hono applies c.header only to the answers it builds: a Response of the handler's own gets what it lacks.
        return next().then(() => {
          const res = withHeaders(c.res, fields);
          if (res === c.res) return;
          // A copy of a Response with immutable headers (a fetch() of an upstream): Hono's setter copies
          // the fields of the one it replaces over it, Vary without Origin among them; its copy takes them again.
          c.res = res;
          withHeaders(c.res, fields);
        });
      };
      // Not an async function: an allowed request returns Hono's own `next()`,
      // with no promise of ours around it (Hono awaits what a middleware returns),
      // and no function made for it: those above take the request.
      const middleware: MiddlewareHandler<KeywardEnv> = (c, next) => {
        const pre = preflightOf(c);
        if (pre !== null) return Promise.resolve(pre);
        const origin = edge.cors ? (c.req.header("origin") ?? null) : null;
        let decided: Decision | Promise<Decision>;
        try {
          decided = decideFor(c);
        } catch (err) {
          return failed(c, err);
        }
        // The warm path decides at once: no promise step.
        if (decided instanceof Promise) return decided.then((d) => proceed(c, next, origin, d), (err) => failed(c, err));
        const answer = proceed(c, next, origin, decided);
        return answer instanceof Promise ? answer : Promise.resolve(answer);
      };
      return middleware;
    }) as KeywardHono["requireToken"],
  };
}

export type { ProblemDetails } from "../http/problem.js";
