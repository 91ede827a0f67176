// keyward/express on a real Express 5 server (the shared suite in test/http/scenarios.ts).
import type { AddressInfo } from "node:net";
import express from "express";
import { describe, expect, it } from "vitest";
import { keywardExpress } from "../../src/express/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { describeMiddleware } from "../http/scenarios.js";

describeMiddleware(
  "Express 5",
  async (kw, options) => {
    const app = express();
    const guard = keywardExpress(kw, options);
    app.use(express.json({ verify: guard.rawBody }));
    app.options("/{*any}", guard.preflight);
    app.get("/prices", guard.requireToken({ scope: "core:read" }), (req, res) => {
      res.json({ token: req.keyward?.tokenId });
    });
    app.post("/orders", guard.requireToken({ scope: "orders:write", cost: 2 }), (req, res) => {
      res.json({ token: req.keyward?.tokenId, body: req.body });
    });
    app.get("/key", guard.requireToken({ getToken: (req) => req.get("x-api-key") }), (req, res) => {
      res.json({ token: req.keyward?.tokenId });
    });
    const onDenied = (d: { code: string }, _req: unknown, res: express.Response) => void res.status(418).json({ denied: d.code });
    app.get("/custom", guard.requireToken({ onDenied }), (req, res) => {
      res.json({ token: req.keyward?.tokenId });
    });
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
    };
  },
  (kw, options) => keywardExpress(kw).requireToken(options as never),
);

describe("keyward/express errors on a decision made at once", () => {
  it("an onDenied that rejects, or a getToken that throws, reaches onError (or Express's error handler) over real HTTP", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const app = express();
    const guard = keywardExpress(kw);
    const onError = (err: unknown, _req: unknown, res: express.Response) => void res.status(599).send(String((err as Error).message));
    app.get("/denied", guard.requireToken({ onDenied: async () => Promise.reject(new Error("denied handler failed")), onError }), (_req, res) => {
      res.send("never");
    });
    app.get("/token", guard.requireToken({ getToken: () => { throw new Error("getToken failed"); } }), (_req, res) => {
      res.send("never");
    });
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(598).send(err.message));
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const denied = await fetch(`${base}/denied`);
      expect([denied.status, await denied.text()]).toEqual([599, "denied handler failed"]);
      const token = await fetch(`${base}/token`);
      expect([token.status, await token.text()]).toEqual([598, "getToken failed"]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
