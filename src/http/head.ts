// HEAD, answered as GET without its content, by every Fetch handler keyward
// makes, and by the answer of a decision made on a HEAD request.

/**
 * The answer to a request of `method`: a HEAD's is the GET's status and fields
 * without its content (RFC 9110 §9.3.2), whatever serves the `Response` (Deno,
 * Bun and workers call a Fetch handler directly; Node's server drops it itself).
 */
export function answerFor(method: string, response: Response): Response {
  return method === "HEAD" ? new Response(null, { status: response.status, headers: response.headers }) : response;
}

/**
 * The answer to a HEAD request from the GET's answer, whose content is in
 * memory (text or bytes, not a stream of unknown length): its status and
 * fields, with the `Content-Length` of its content (RFC 9110 §8.6, §9.3.2)
 * as the GET's carries it, and no content.
 */
export async function headAnswerOf(response: Response): Promise<Response> {
  const headers = new Headers(response.headers);
  headers.set("content-length", String((await response.arrayBuffer()).byteLength));
  return new Response(null, { status: response.status, statusText: response.statusText, headers });
}

/**
 * The header fields of an answer with the text `body` to a request of
 * `method`: a HEAD's gain the `Content-Length` of the GET's content (RFC
 * 9110 §8.6), as Node, Express and Fastify send it for a GET route, which
 * a server cannot count from an answer without content.
 */
export function fieldsFor(method: string | undefined, body: string, headers: Record<string, string>): Record<string, string> {
  return method === "HEAD" ? { ...headers, "content-length": String(new TextEncoder().encode(body).byteLength) } : headers;
}

/** The answer with the text `body` to a request of `method`: a HEAD's has the status and fields ({@link fieldsFor}), no content. */
export function textAnswer(method: string | undefined, body: string, init: { status: number; headers: Record<string, string> }): Response {
  return method === "HEAD" ? new Response(null, { status: init.status, headers: fieldsFor(method, body, init.headers) }) : new Response(body, init);
}

/** The decisions made on a HEAD request (by `kw.verify`): their answer has no content unless told otherwise. */
const madeOnHead = new WeakSet<object>();

/** Marks a decision as made on a HEAD request; returns it. */
export function onHead<T extends object>(decision: T): T {
  madeOnHead.add(decision);
  return decision;
}

/** The method a decision's answer is for: the one given, else HEAD for a decision made on one, else none (the answer has its content). */
export function answeredMethod(decision: object, given: string | undefined): string | undefined {
  return given ?? (madeOnHead.has(decision) ? "HEAD" : undefined);
}
