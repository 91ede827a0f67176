// A client that goes before its body is in: the request is recorded as what
// it is (499, the client closed it), not as a 500 of the server's that nobody
// receives, and nothing is written to the connection it left.
import { createServer } from "node:http";
import { connect as connectH2, constants, createServer as createH2cServer } from "node:http2";
import { type AddressInfo, connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminHandler, toNodeHandler } from "../../src/admin/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";
import { type AdminServer, errorsSeen, noConsoleErrors, startAdminServer } from "./server.js";

let srv: AdminServer;
let session: string;

beforeAll(async () => {
  srv = await startAdminServer();
  session = srv.session("acct_gone");
});
afterAll(() => srv?.close());
noConsoleErrors();

/** Sends the head of POST /tokens and part of its body on a raw connection, then drops the connection. */
async function dropMidBody(): Promise<void> {
  const { port, host } = new URL(srv.origin);
  const authorized = srv.nextAuthorize();
  const socket = connect(Number(port), "127.0.0.1");
  socket.on("error", () => {});
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(
    `POST /account/tokens/tokens HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${session}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"kind":`,
  );
  await authorized;
  socket.destroy();
}

describe("a client that closes its request mid-body (real server)", () => {
  it("over HTTP/1.1: recorded 499 CLIENT_CLOSED_REQUEST, nothing written back, nothing stored", async () => {
    const answered = srv.nextAnswer();
    await dropMidBody();
    expect(await answered).toEqual({ method: "POST", status: 499, code: "CLIENT_CLOSED_REQUEST", nodeStatus: 499, written: false });
    expect((await srv.kw.tokens.list("acct_gone")).items).toEqual([]);
    // The next request on another connection is answered as any.
    const res = await fetch(`${srv.url}/tokens`, { method: "POST", headers: { authorization: `Bearer ${session}`, "content-type": "application/json" }, body: '{"kind":"publishable"}' });
    expect(res.status).toBe(201);
    await srv.kw.tokens.delete(((await res.json()) as { record: { id: string } }).record.id);
  });

  it("a body the server side read before the handler is still its own error: 500, not the client's 499", async () => {
    const { createAdminHandler } = await import("../../src/admin/index.js");
    const { onError, seen } = errorsSeen();
    const handler = createAdminHandler({ keyward: srv.kw, authorize: () => "acct_gone", onError });
    const request = new Request("http://x/tokens", { method: "POST", headers: { "content-type": "application/json" }, body: '{"kind":"publishable"}' });
    await request.text();
    const res = await handler(request);
    expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([500, "BODY_ALREADY_READ"]);
    expect(seen).toEqual([["AdminAnswer", { operation: "tokens.create", method: "POST", status: 500, code: "BODY_ALREADY_READ" }]]);
  });

  it("a client that goes once its body is in: its change is made, and recorded with the status it was answered", async () => {
    const { port, host } = new URL(srv.origin);
    const held = srv.hold("getAccount");
    const answered = srv.nextAnswer();
    const socket = connect(Number(port), "127.0.0.1");
    socket.on("error", () => {});
    const body = '{"kind":"publishable","name":"gone"}';
    socket.write(
      `POST /account/tokens/tokens HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer ${session}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    await held.reached;
    socket.destroy();
    held.release();
    expect(await answered).toMatchObject({ method: "POST", status: 201, code: undefined, nodeStatus: 201 });
    const { items } = await srv.kw.tokens.list("acct_gone");
    expect(items.map((t) => t.name)).toEqual(["gone"]);
    await srv.kw.tokens.delete(items[0]!.id);
  });

  it("over HTTP/2: a stream the client resets mid-body is recorded 499 too, nothing written, nothing stored", async () => {
    const h2 = await startAdminServer({ http2: true });
    const client = connectH2(h2.origin);
    client.on("error", () => {});
    try {
      const h2Session = h2.session("acct_gone2");
      const authorized = h2.nextAuthorize();
      const answered = h2.nextAnswer();
      const stream = client.request({
        ":method": "POST",
        ":path": "/account/tokens/tokens",
        authorization: `Bearer ${h2Session}`,
        "content-type": "application/json",
        "content-length": "100",
      });
      stream.on("error", () => {});
      stream.write('{"kind":');
      await authorized;
      stream.close(constants.NGHTTP2_CANCEL);
      expect(await answered).toEqual({ method: "POST", status: 499, code: "CLIENT_CLOSED_REQUEST", nodeStatus: 499, written: false });
      expect((await h2.kw.tokens.list("acct_gone2")).items).toEqual([]);
    } finally {
      client.close();
      await h2.close();
    }
  });
});

describe("a logger that reads the status when the connection closes (pino-http's res 'close', morgan's on-finished socket 'close')", () => {
  /** A node:http server whose request listener, as a logging middleware does, listens before the admin handler runs. */
  async function loggedServer(
    http2 = false,
  ): Promise<{ port: number; kw: Keyward; logged: Promise<{ res: number; socket: number | undefined; after: number }>; authorized: Promise<void>; close(): Promise<void> }> {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    let authorized!: () => void;
    const authorizing = new Promise<void>((resolve) => (authorized = resolve));
    const admin = toNodeHandler(
      createAdminHandler({
        keyward: kw,
        authorize: () => {
          authorized();
          return { owner: "acct_logged" };
        },
      }),
    );
    let logged!: (seen: { res: number; socket: number | undefined; after: number }) => void;
    const seen = new Promise<{ res: number; socket: number | undefined; after: number }>((resolve) => (logged = resolve));
    const listener = async (req: Parameters<typeof admin>[0], res: Parameters<typeof admin>[1]) => {
      const at: { socket?: number } = {};
      const closed = new Promise<number>((resolve) => res.on("close", () => resolve(res.statusCode)));
      // HTTP/2 shares the socket between streams: a stream's logger listens on the response (its stream) only.
      if (!http2) req.socket.on("close", () => (at.socket = res.statusCode));
      await admin(req, res);
      logged({ res: await closed, socket: at.socket, after: res.statusCode });
    };
    const server = http2 ? createH2cServer(listener) : createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return {
      port: (server.address() as AddressInfo).port,
      kw,
      logged: seen,
      authorized: authorizing,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  it("over HTTP/2, a stream the client resets mid-body: the logger sees 499 when the response closes", async () => {
    const srv = await loggedServer(true);
    const client = connectH2(`http://127.0.0.1:${srv.port}`);
    client.on("error", () => {});
    try {
      const stream = client.request({ ":method": "POST", ":path": "/tokens", "content-type": "application/json", "content-length": "100" });
      stream.on("error", () => {});
      stream.write('{"kind":');
      await srv.authorized;
      stream.close(constants.NGHTTP2_CANCEL);
      expect(await srv.logged).toEqual({ res: 499, socket: undefined, after: 499 });
      expect((await srv.kw.tokens.list("acct_logged")).items).toEqual([]);
    } finally {
      client.close();
      await srv.close();
    }
  });

  it("a request whose body is in is logged with the status it is answered, not 499", async () => {
    const srv = await loggedServer();
    try {
      const res = await fetch(`http://127.0.0.1:${srv.port}/tokens`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"kind":"publishable"}' });
      expect(res.status).toBe(201);
      await res.arrayBuffer();
      // The connection stays open (keep-alive): the response's close is the logger's.
      expect(await srv.logged).toEqual({ res: 201, socket: undefined, after: 201 });
    } finally {
      await srv.close();
    }
  });

  it("over HTTP/1.1, a client that goes mid-body: the logger sees 499, the status keyward records, when the connection closes", async () => {
    const srv = await loggedServer();
    try {
      const socket = connect(srv.port, "127.0.0.1");
      socket.on("error", () => {});
      await new Promise((resolve) => socket.once("connect", resolve));
      socket.write(`POST /tokens HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"kind":`);
      await srv.authorized;
      socket.destroy();
      expect(await srv.logged).toEqual({ res: 499, socket: 499, after: 499 });
      expect((await srv.kw.tokens.list("acct_logged")).items).toEqual([]);
    } finally {
      await srv.close();
    }
  });
});
