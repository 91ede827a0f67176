// Request targets the URL parser reshapes (`/a/../b`, `%2e` segments, a
// backslash read as a slash). Express and Fastify route such a target as
// received, so a guard the application mounted on a path in front of the
// handler never sees the path the URL parser makes of it: the handler must
// not serve it there (404 NOT_FOUND, nothing done), as the request-side
// middleware verifies such a target at a URL no signature holds for.
// Browsers and fetch reshape before sending: only raw clients send these.
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminHandler, toNodeHandler } from "../../src/admin/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";

let kw: Keyward;
let port: number;
let close: () => Promise<void>;
const guarded: string[] = [];

beforeAll(async () => {
  kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
  const admin = createAdminHandler({ keyward: kw, basePath: "/account/tokens", authorize: () => "acct_1" });
  const app = express();
  // The application's own guard on member changes, in front of the handler.
  app.use("/account/tokens/members", (req, res) => {
    guarded.push(req.originalUrl);
    res.status(403).end();
  });
  app.use("/account/tokens", toNodeHandler(admin));
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  port = (server.address() as AddressInfo).port;
  close = () => new Promise((resolve) => server.close(() => resolve()));
});
afterAll(() => close?.());

/** The answer to a raw request (the target sent as it is): status and problem code. */
async function rawRequest(method: string, target: string, body?: string): Promise<[number, string | undefined]> {
  const { request } = await import("node:http");
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = body === undefined ? {} : { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) };
    const req = request({ host: "127.0.0.1", port, method, path: target, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve([res.statusCode ?? 0, text.startsWith("{") ? (JSON.parse(text) as { code?: string }).code : undefined]));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("a request target the URL parser reshapes, behind Express", () => {
  it("is not served at the reshaped path: 404 NOT_FOUND, and no change made past the application's guard", async () => {
    await kw.accounts.members.set("acct_1", "acct_1", "owner", { actor: "signup" });
    const answers = [
      await rawRequest("PUT", "/account/tokens/tokens/../members/mallory", '{"role":"owner"}'),
      await rawRequest("PUT", "/account/tokens/tokens/%2e%2e/members/mallory", '{"role":"owner"}'),
      await rawRequest("PUT", "/account/tokens/tokens/%2E./members/mallory", '{"role":"owner"}'),
      await rawRequest("PUT", "/account/tokens/./members/mallory", '{"role":"owner"}'),
      await rawRequest("PUT", "/account/tokens/x\\..\\members/mallory", '{"role":"owner"}'),
    ];
    expect(answers).toEqual(answers.map(() => [404, "NOT_FOUND"]));
    expect(await kw.accounts.members.list("acct_1")).toEqual([{ id: "acct_1", role: "owner" }]);
    // The target as sent reaches the guard.
    expect(await rawRequest("PUT", "/account/tokens/members/mallory", '{"role":"owner"}')).toEqual([403, undefined]);
    expect(guarded).toEqual(["/account/tokens/members/mallory"]);
  });

  it("a token changed through a reshaped target is not changed; the plain target and its query are served as ever", async () => {
    const { record } = await kw.tokens.create({ owner: "acct_1", kind: "publishable" });
    expect(await rawRequest("DELETE", `/account/tokens/tokens/x/../${record.id}`)).toEqual([404, "NOT_FOUND"]);
    expect(await kw.tokens.get(record.id)).not.toBeNull();
    // Dots that are no segment of their own, and dots in the query, are no reshaping.
    expect(await rawRequest("GET", `/account/tokens/tokens/${record.id}/usage?from=..&granularity=day`)).toEqual([400, "INVALID_INPUT"]);
    expect(await rawRequest("GET", "/account/tokens/openapi.json?x=/../")).toEqual([200, undefined]);
    expect(await rawRequest("GET", `/account/tokens/tokens/${record.id}`)).toEqual([200, undefined]);
  });
});
