// verifyRequest reads the body only once the key is resolved and the
// signature has verified, within maxBodyBytes and bodyTimeoutMs; a dripping
// body costs at most the deadline. Real streams, and a real node:http server
// receiving a dripping body from undici's fetch.
import { once } from "node:events";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { computeContentDigest, type SigningKey, signatureHeaders, verifyRequest } from "../../src/signing/index.js";
import { frozen, SHARED_SECRET } from "./helpers.js";

const T = 1_700_000_000;
const KEY = { alg: "hmac-sha256", secret: SHARED_SECRET } as const satisfies SigningKey;
const URL_ = "https://api.example.com/v1/items";
const enc = new TextEncoder();

/** A body that sends `chunk` every `everyMs`, forever, counting how often it is pulled. */
function dripping(everyMs = 20, chunk = "x") {
  const state = { pulls: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        state.pulls++;
        await new Promise((r) => setTimeout(r, everyMs));
        controller.enqueue(enc.encode(chunk));
      },
      cancel() {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, state };
}

/** Signature fields for a POST whose body is `body` (covered by content-digest unless `components` says otherwise). */
async function fieldsFor(body: string, components = ["@method", "@target-uri", "content-digest"], keyid = "k") {
  const signed = await signatureHeaders(new Request(URL_, { method: "POST", body }), { keyid, key: KEY, created: T, components });
  return { ...signed, "content-digest": computeContentDigest(body) };
}

/** A POST with the given signature fields and a streamed body (no Content-Length). */
const streamed = (fields: Record<string, string>, stream: ReadableStream<Uint8Array>) =>
  new Request(URL_, { method: "POST", headers: fields, body: stream, duplex: "half" } as RequestInit);

const verify = (request: Request, options: Record<string, unknown> = {}) =>
  verifyRequest(request, { resolveKey: (keyid) => (keyid === "k" ? KEY : null), now: frozen(T), ...options });

describe("verifyRequest: nothing is read from the body before the signature verifies", () => {
  it("an unknown keyid with a body that drips forever: refused at once, the body never pulled", async () => {
    for (const components of [["@method", "@target-uri", "content-digest"], ["@method", "@target-uri"]]) {
      const { stream, state } = dripping();
      const result = await verify(streamed(await fieldsFor("x", components, "no-such-key"), stream));
      expect(result).toMatchObject({ ok: false, code: "KEY_UNKNOWN" });
      expect(state.pulls).toBe(0);
    }
  });

  it("a wrong signature over an uncovered body of unknown length: refused without reading it", async () => {
    const { stream, state } = dripping();
    const fields = await fieldsFor("x", ["@method", "@target-uri"]);
    const result = await verify(streamed({ ...fields, signature: fields.signature.replace(/:.{4}/, ":AAAA") }, stream));
    expect(result).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
    expect(state.pulls).toBe(0);
  });

  it("an uncovered body of unknown length is read after verification: empty passes, content does not", async () => {
    const fields = await fieldsFor("", ["@method", "@target-uri"]);
    const empty = new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    expect((await verify(streamed(fields, empty))).ok).toBe(true);
    const full = new ReadableStream<Uint8Array>({
      start: (c) => {
        c.enqueue(enc.encode("swapped"));
        c.close();
      },
    });
    expect(await verify(streamed(fields, full))).toMatchObject({ ok: false, code: "COMPONENT_MISSING" });
  });
});

describe("verifyRequest: several signatures over a body of unknown length", () => {
  it("the one covering content-digest is chosen over one that needs an empty body", async () => {
    const body = "abc";
    const bare = await fieldsFor(body, ["@method", "@target-uri"]);
    const covered = await signatureHeaders(new Request(URL_, { method: "POST", body, headers: { "signature-input": bare["signature-input"], signature: bare.signature } }), {
      keyid: "k",
      key: KEY,
      created: T,
      label: "sig2",
    });
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        c.enqueue(enc.encode(body));
        c.close();
      },
    });
    expect(await verify(streamed({ ...covered, "content-digest": computeContentDigest(body) }, stream))).toMatchObject({ ok: true, label: "sig2" });
  });
});

describe("verifyRequest: a body given by the application", () => {
  it("is checked instead of the stream, which is never pulled nor cloned", async () => {
    const { stream, state } = dripping();
    const request = streamed(await fieldsFor("abc"), stream);
    expect((await verify(request, { body: enc.encode("abc") })).ok).toBe(true);
    expect(await verify(request, { body: enc.encode("abd") })).toMatchObject({ ok: false, code: "DIGEST_MISMATCH" });
    expect(state.pulls).toBe(0);
    expect(request.bodyUsed).toBe(false);
    expect(request.body!.locked).toBe(false);
  });
});

describe("verifyRequest: a body stream whose chunks are not bytes", () => {
  /** A POST signed over "hi!" whose body stream gives `chunks` (a Request an application built itself). */
  const withChunks = async (chunks: unknown[]) =>
    streamed(
      await fieldsFor("hi!"),
      new ReadableStream({
        start(c: ReadableStreamDefaultController<unknown>) {
          for (const chunk of chunks) c.enqueue(chunk);
          c.close();
        },
      }) as ReadableStream<Uint8Array>,
    );

  it("a string or an ArrayBuffer is refused with a stable code (never the body's text as the code), other views are their bytes", async () => {
    for (const chunks of [["hi!"], ["h", "i!"], [enc.encode("hi!").buffer]]) {
      const result = await verify(await withChunks(chunks));
      expect(result).toMatchObject({ ok: false, code: "SIGNATURE_INVALID" });
      expect((result as { cause?: unknown }).cause).toBeInstanceOf(TypeError);
    }
    const bytes = enc.encode("hi!");
    expect((await verify(await withChunks([new DataView(bytes.buffer, 0, 2), bytes.subarray(2)]))).ok).toBe(true);
  });
});

describe("verifyRequest: bodyTimeoutMs", () => {
  it("a valid signature over a dripping body: BODY_TIMEOUT once the deadline passes, and the read stops", async () => {
    const { stream, state } = dripping(10);
    const started = Date.now();
    const result = await verify(streamed(await fieldsFor("xxxx"), stream), { bodyTimeoutMs: 150 });
    expect(result).toMatchObject({ ok: false, code: "BODY_TIMEOUT", label: "sig1", keyid: "k" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const pulls = state.pulls;
    await new Promise((r) => setTimeout(r, 100));
    // The verifier's branch was cancelled: nothing pulls the source any more.
    expect(state.pulls).toBeLessThanOrEqual(pulls + 1);
  });

  it("an uncovered body of unknown length that drips: BODY_TIMEOUT", async () => {
    const { stream } = dripping(10);
    const result = await verify(streamed(await fieldsFor("", ["@method", "@target-uri"]), stream), { bodyTimeoutMs: 100 });
    expect(result).toMatchObject({ ok: false, code: "BODY_TIMEOUT" });
  });

  it("a body that ends in time passes, and bodyTimeoutMs is checked as an option", async () => {
    const body = "abc";
    const { stream } = (() => {
      let sent = 0;
      return {
        stream: new ReadableStream<Uint8Array>({
          async pull(c) {
            await new Promise((r) => setTimeout(r, 5));
            if (sent === body.length) c.close();
            else c.enqueue(enc.encode(body[sent++]!));
          },
        }),
      };
    })();
    expect((await verify(streamed(await fieldsFor(body), stream), { bodyTimeoutMs: 5_000 })).ok).toBe(true);
    await expect(verify(new Request(URL_), { bodyTimeoutMs: -1 })).rejects.toThrow(RangeError);
  });
});

describe("verifyRequest: a dripping body over a real connection", () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it("node:http server, undici fetch: the server answers BODY_TIMEOUT while the client is still sending", async () => {
    const server = createServer(async (req: IncomingMessage, res) => {
      const request = new Request(`http://${req.headers.host}${req.url}`, {
        method: req.method,
        headers: req.headers as Record<string, string>,
        body: Readable.toWeb(req) as ReadableStream<Uint8Array>,
        duplex: "half",
      } as RequestInit);
      const result = await verifyRequest(request, { resolveKey: () => KEY, now: frozen(T), bodyTimeoutMs: 200 });
      res.writeHead(result.ok ? 200 : 401, { connection: "close" }).end(result.ok ? "ok" : result.code);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    close = () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/items`;
    const fields = await signatureHeaders(new Request(url, { method: "POST", body: "xxxxxxxxxx" }), { keyid: "k", key: KEY, created: T });
    const { stream } = dripping(30);
    const client = new AbortController();
    const started = Date.now();
    const init = { method: "POST", headers: { ...fields }, body: stream, duplex: "half", signal: client.signal };
    const response = await fetch(url, init as RequestInit);
    expect(await response.text()).toBe("BODY_TIMEOUT");
    expect(response.status).toBe(401);
    expect(Date.now() - started).toBeLessThan(5_000);
    client.abort();
  });
});
