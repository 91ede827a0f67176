// A client that goes before its body is in: the request is recorded as what
// it is (499, the client closed it), not as a 500 of the server's that nobody
// receives, and nothing is written to the connection it left.
import { connect as connectH2, constants } from "node:http2";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AdminServer, startAdminServer } from "./server.js";

let srv: AdminServer;
let session: string;

beforeAll(async () => {
  srv = await startAdminServer();
  session = srv.session("acct_gone");
});
afterAll(() => srv?.close());

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
    const handler = createAdminHandler({ keyward: srv.kw, authorize: () => "acct_gone" });
    const request = new Request("http://x/tokens", { method: "POST", headers: { "content-type": "application/json" }, body: '{"kind":"publishable"}' });
    await request.text();
    const res = await handler(request);
    expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([500, "INTERNAL_ERROR"]);
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
