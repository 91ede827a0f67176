// A Fetch API Request as the core sees it: the Hono adapter and the Fetch
// wrapper. Runtime-agnostic.
import type { EdgeRequest } from "./core.js";

/**
 * @param raw the framework's request, for `getToken`
 * @param request the Fetch request
 * @param ip the client's socket address, when the runtime tells it
 */
export function fetchEdgeRequest<Req>(raw: Req, request: Request, ip: string | null): EdgeRequest<Req> {
  return {
    raw,
    method: request.method,
    url: request.url,
    header: (name) => request.headers.get(name),
    ip,
    request,
    async toRequest(url) {
      // Same URL: keyward reads a clone of the body, the application the original.
      if (url === request.url) return { request, body: undefined };
      const body = request.body === null ? null : request.clone().body;
      return { request: new Request(url, { method: request.method, headers: request.headers, body, duplex: "half" } as RequestInit), body: undefined };
    },
  };
}
