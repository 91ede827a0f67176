// Methods per path: 405 with an Allow field that names HEAD wherever GET is,
// and HEAD answered as GET is, without a body (RFC 9110 §9.3.2, §15.5.6).
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminHandler } from "../../src/admin/index.js";
import { type AdminServer, startAdminServer } from "./server.js";

let srv: AdminServer;
let session: string;
let tokenId: string;

/** One request on a real connection: its status, header fields, and how many body bytes came. */
function ask(method: string, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: number }> {
  const { hostname, port } = new URL(srv.origin);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method, path: new URL(srv.url + path).pathname, headers: { authorization: `Bearer ${session}` } }, (res) => {
      let bytes = 0;
      res.on("data", (d: Buffer) => (bytes += d.byteLength)).on("end", () => resolve({ status: res.statusCode!, headers: res.headers, bytes }));
    });
    req.on("error", reject).end();
  });
}

/** Every path, with the methods it takes. */
const PATHS = (): [string, string[]][] => [
  ["", ["GET"]],
  ["/", ["GET"]],
  ["/console.js", ["GET"]],
  ["/openapi.json", ["GET"]],
  ["/config", ["GET"]],
  ["/audit", ["GET"]],
  ["/members", ["GET"]],
  ["/members/user%3A2", ["PUT", "DELETE"]],
  ["/tokens", ["GET", "POST"]],
  [`/tokens/${tokenId}`, ["GET", "PATCH", "DELETE"]],
  [`/tokens/${tokenId}/usage`, ["GET"]],
  [`/tokens/${tokenId}/audit`, ["GET"]],
  [`/tokens/${tokenId}/revoke`, ["POST"]],
];

beforeAll(async () => {
  srv = await startAdminServer();
  session = srv.session("acct_methods");
  tokenId = (await srv.kw.tokens.create({ owner: "acct_methods", kind: "publishable" })).record.id;
});
afterAll(() => srv?.close());

describe("methods of each path (real server)", () => {
  it("a method a path does not take is 405 with Allow naming exactly those it takes, HEAD wherever GET is", async () => {
    for (const [path, methods] of PATHS()) {
      const allowed = methods.flatMap((m) => (m === "GET" ? ["GET", "HEAD"] : [m]));
      for (const method of ["PUT", "POST", "PATCH", "DELETE", "OPTIONS", "TRACE"].filter((m) => !methods.includes(m))) {
        const res = await ask(method, path);
        expect({ path, method, status: res.status }).toEqual({ path, method, status: 405 });
        expect(String(res.headers.allow).split(", ").sort()).toEqual(allowed.sort());
        expect(res.headers["content-type"]).toBe("application/problem+json");
      }
    }
  });

  it("HEAD is answered as GET is, with its status and header fields, and no body", async () => {
    for (const [path, methods] of PATHS()) {
      const head = await ask("HEAD", path);
      const get = await ask(methods.includes("GET") ? "GET" : "HEAD", path);
      expect({ path, status: head.status, type: head.headers["content-type"], allow: head.headers.allow }).toEqual({
        path,
        status: get.status,
        type: get.headers["content-type"],
        allow: get.headers.allow,
      });
      expect(head.bytes).toBe(0);
      // With the GET's Content-Length (RFC 9110 §8.6): 405 and 404 answers too.
      const asGet = methods.includes("GET") ? get : await ask("GET", path);
      expect({ path, length: head.headers["content-length"] }).toEqual({ path, length: String(asGet.bytes) });
      if (methods.includes("GET")) expect(get.status).toBe(200);
    }
  });

  it("the Fetch handler itself answers HEAD without a body, under any runtime or framework that would send it", async () => {
    const handler = createAdminHandler({ keyward: srv.kw, authorize: () => "acct_methods" });
    for (const path of ["/", "/openapi.json", "/tokens", `/tokens/${tokenId}`, "/nope", "/members/x"]) {
      const get = await handler(new Request(`http://x${path}`));
      const head = await handler(new Request(`http://x${path}`, { method: "HEAD" }));
      expect({ path, status: head.status, type: head.headers.get("content-type"), body: head.body }).toEqual({ path, status: get.status, type: get.headers.get("content-type"), body: null });
      expect({ path, length: head.headers.get("content-length") }).toEqual({ path, length: String((await get.arrayBuffer()).byteLength) });
    }
  });
});
