/**
 * Express 5 middleware: `requireToken({ scope, cost })` checks the request
 * with `kw.verify` and puts the decision on `req.keyward`; denials are
 * answered with RFC 9457 problem+json.
 *
 * @example
 * ```ts
 * import express from "express";
 * import { keywardExpress } from "keyward/express";
 * const app = express();
 * const guard = keywardExpress(kw);
 * app.use(express.json({ verify: guard.rawBody })); // keeps the bytes a signature's Content-Digest covers
 * app.get("/v1/prices", guard.requireToken({ scope: "core:read" }), (req, res) => res.json({ token: req.keyward?.tokenId }));
 * ```
 *
 * @module keyward/express
 */
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { isEncoded } from "../http/content-coding.js";
import { allowHeaders, createEdge, createRoute, decide, denialParts, type EdgeOptions, preflightAnswer, type RouteOptions } from "../http/core.js";
import { closeUnreadBody, nodeEdgeRequest, varyOf, type WithRawBody } from "../http/node.js";
import type { Keyward } from "../keyward.js";
import { isThenable } from "../lib/thenable.js";
import type { AllowedDecision, Decision, DeniedDecision } from "../verify/decision.js";

declare module "express-serve-static-core" {
  interface Request {
    /** The decision of `requireToken`, on allowed requests (its `token` is set). */
    keyward?: AllowedDecision;
    /** The raw body bytes, when keyward captured them (signed requests, or `express.json({ verify: rawBody })`). */
    rawBody?: Uint8Array;
  }
}

/** Options of one `requireToken` route. */
export interface ExpressRouteOptions extends RouteOptions<Request> {
  /**
   * Answers a denial instead of the problem+json default, as any Express
   * middleware: it answers, now or later (a callback, `res.render`, a piped
   * stream), or calls `next()`, which lets the denied request on
   * (`req.keyward` stays unset). One that does neither leaves the request
   * unanswered: keyward cannot tell a hook that only logs from one that
   * answers later, and answering for it would make the later answer throw.
   */
  onDenied?: ((decision: DeniedDecision, req: Request, res: Response, next: NextFunction) => void) | undefined;
  /**
   * Handles an error of keyward's part of the request: `getToken` or
   * `onDenied` throwing or rejecting. (A signed upload aborted mid-body is
   * a denial, `SIGNATURE_INVALID`, as in `kw.verify`.)
   * Default `next(err)`; what `onError` itself throws or rejects goes to
   * `next` too, and so does the error when `onError` neither answered nor
   * called `next` by the time it returned (or its promise settled).
   */
  onError?: ((err: unknown, req: Request, res: Response, next: NextFunction) => void) | undefined;
}

/** What {@link keywardExpress} returns. */
export interface KeywardExpress {
  /** Middleware that lets a request through only with a token allowed for the route. */
  requireToken(options?: ExpressRouteOptions): RequestHandler;
  /** Answers CORS preflights (with `cors: true`); other requests go on. */
  preflight: RequestHandler;
  /**
   * The `verify` option of `express.json()` / `express.raw()`: keeps the body
   * bytes for `Content-Digest`. Not those of a compressed body
   * (`Content-Encoding`), which the parser decodes before this hook sees it.
   */
  rawBody: (req: Request, res: Response, buf: Uint8Array) => void;
}

/** Options of `keywardExpress`, shared by every route of the middleware: `realm`, `publicOrigin`, `cors`, `problemTypeBase`. */
export interface KeywardExpressOptions extends EdgeOptions {}

/**
 * Express middleware over one {@link Keyward}.
 *
 * @param kw the Keyward instance
 * @param options realm, publicOrigin, cors, problemTypeBase
 * @returns `requireToken`, `preflight` and `rawBody`
 * @throws {ConfigError} `INVALID_CONFIG` naming a bad or unknown option (and from `requireToken`, a malformed scope)
 */
export function keywardExpress(kw: Keyward, options?: KeywardExpressOptions): KeywardExpress {
  const edge = createEdge(kw, options);
  const preflight: RequestHandler = (req, res, next) => {
    const answer = preflightAnswer(edge, req.method, (name) => req.get(name) ?? null);
    if (answer === null) return next();
    setFields(res.status(answer.status), answer.headers).end();
  };
  return {
    preflight,
    rawBody: (req, _res, buf) => {
      // A parser hands the hook a compressed body decoded: not the bytes a
      // Content-Digest covers (RFC 9530 §2, the content as sent), so none are
      // kept, and a signed request is answered as one whose body the
      // application read first (BODY_ALREADY_READ), not as a client's mismatch.
      if (isEncoded(req.headers["content-encoding"])) return;
      (req as Request & WithRawBody).rawBody = buf;
    },
    requireToken(routeOptions = {}) {
      const route = createRoute(routeOptions);
      const { onDenied, onError } = routeOptions;
      // onError's own throw or rejection goes to Express's error handler:
      // never an unhandled rejection and a request left unanswered. So does
      // the error when onError answered nothing: never a request left hanging.
      const failed = (req: Request, res: Response, next: NextFunction, err: unknown): void => {
        if (!onError) {
          next(err);
          return;
        }
        let onward = false;
        const proceed = (given?: unknown) => {
          onward = true;
          next(given);
        };
        const unanswered = () => {
          if (!onward && !res.headersSent) next(err);
        };
        try {
          const handled: unknown = onError(err, req, res, proceed);
          if (isThenable(handled)) Promise.resolve(handled).then(unanswered, next);
          else unanswered();
        } catch (thrown) {
          next(thrown);
        }
      };
      const answer = (req: Request, res: Response, next: NextFunction, origin: string | null, decision: Decision): unknown => {
        if (decision.ok) {
          req.keyward = decision;
          const fields = allowHeaders(edge, decision, origin);
          if (fields.vary === undefined) res.set(fields);
          else {
            // Not res.set: it would replace a Vary set before the guard (Accept-Language, say).
            const { vary, ...rest } = fields;
            res.set(rest);
            keepVary(res, vary);
          }
          return next();
        }
        closeUnreadBody(req, decision, (name, value) => res.setHeader(name, value));
        if (onDenied) return onDenied(decision, req, res, next);
        const parts = denialParts(edge, decision, origin, req.method);
        setFields(res.status(parts.status), parts.headers).end(parts.body);
      };
      return (req, res, next) => {
        if (edge.cors && preflightAnswer(edge, req.method, (name) => req.get(name) ?? null)) return preflight(req, res, next);
        const origin = edge.cors ? (req.headers.origin ?? null) : null;
        try {
          const decided = decide(edge, route, nodeEdgeRequest(req, req, req.originalUrl));
          // The warm path decides at once: answered in this tick.
          if (decided instanceof Promise) decided.then((d) => answer(req, res, next, origin, d)).catch((err) => failed(req, res, next, err));
          else {
            const answered = answer(req, res, next, origin, decided);
            // onDenied may answer asynchronously: its rejection goes where a thrown error would.
            if (isThenable(answered)) Promise.resolve(answered).catch((err) => failed(req, res, next, err));
          }
        } catch (err) {
          failed(req, res, next, err);
        }
      };
    },
  };
}

/**
 * Sets the fields of keyward's own answer (a denial's, a preflight's); Vary
 * merged, as on an allowed answer: res.set would replace one set before the
 * guard (Accept-Language, say).
 */
function setFields(res: Response, fields: Record<string, string>): Response {
  const { vary, ...rest } = fields;
  res.set(rest);
  if (vary !== undefined) res.setHeader("vary", varyOf(res.getHeader("vary"), vary));
  return res;
}

/**
 * Adds `names` to the answer's Vary as the head is written, the way every
 * Node answer is sent (`res.writeHead`, explicit or implicit): merged with
 * the Vary set before the guard or by the handler (`res.set` replaces the
 * field), whichever the answer has then, and with one the handler gives
 * `res.writeHead` itself (whose headers replace those set before).
 */
function keepVary(res: Response, names: string): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: Response, ...args: unknown[]) {
    res.writeHead = writeHead;
    res.setHeader("vary", varyOf(res.getHeader("vary"), names));
    // writeHead(status, [message], headers): an object, or a flat array of names and values.
    const at = typeof args[1] === "string" ? 2 : 1;
    const given = args[at];
    if (Array.isArray(given)) {
      args[at] = given.map((v, i) => (i % 2 === 1 && String(given[i - 1]).toLowerCase() === "vary" ? varyOf(v, names) : v));
    } else if (given !== null && typeof given === "object") {
      const name = Object.keys(given).find((k) => k.toLowerCase() === "vary");
      if (name !== undefined) args[at] = { ...given, [name]: varyOf((given as Record<string, string>)[name], names) };
    }
    return writeHead.apply(this, args as Parameters<Response["writeHead"]>);
  } as Response["writeHead"];
}

export type { ProblemDetails } from "../http/problem.js";
