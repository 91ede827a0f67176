// HEAD, answered as GET without its content, by every Fetch handler keyward makes.

/**
 * The answer to a request of `method`: a HEAD's is the GET's status and fields
 * without its content (RFC 9110 §9.3.2), whatever serves the `Response` (Deno,
 * Bun and workers call a Fetch handler directly; Node's server drops it itself).
 */
export function answerFor(method: string, response: Response): Response {
  return method === "HEAD" ? new Response(null, { status: response.status, headers: response.headers }) : response;
}
