// Origin and Referer edge cases across a real boundary: undici fetch to a
// node:http server on 127.0.0.1, which hands kw.verify a Fetch Request built
// from the raw header lines it received.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { Keyward, MemoryStore } from "keyward";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
let token = "";
let base = "";
/** The Origin and Referer header lines exactly as the server received them. */
let seen: { origin: string | null; referer: string | null } = { origin: null, referer: null };

function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  return new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers });
}

const server = createServer(async (req, res) => {
  const request = toRequest(req);
  seen = { origin: request.headers.get("origin"), referer: request.headers.get("referer") };
  const d = await kw.verify(request, { ip: req.socket.remoteAddress ?? null });
  res.writeHead(d.status, { "content-type": "text/plain" }).end(d.code);
});

beforeAll(async () => {
  ({ token } = await kw.tokens.create({ owner: "o", kind: "publishable", domains: ["app.example.com"] }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function call(headers: Record<string, string>): Promise<string> {
  const res = await fetch(`${base}/v1/prices`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  return res.text();
}

describe("Origin and Referer over HTTP (issue: malformed values are denied)", () => {
  it("a Referer of the allowed page passes; one with a backslash and userinfo does not", async () => {
    expect(await call({ referer: "https://app.example.com/pricing" })).toBe("OK");
    expect(await call({ referer: "https://app.example.com\\@evil.com/" })).toBe("DOMAIN_DENIED");
    expect(seen.referer).toBe("https://app.example.com\\@evil.com/");
    expect(await call({ referer: "https://user@app.example.com/" })).toBe("DOMAIN_DENIED");
  });

  it("an empty Origin line is authoritative: no fallback to a good Referer", async () => {
    expect(await call({ origin: "", referer: "https://app.example.com/" })).toBe("DOMAIN_DENIED");
    expect(seen).toEqual({ origin: "", referer: "https://app.example.com/" });
    expect(await call({ origin: "https://app.example.com", referer: "https://evil.com/" })).toBe("OK");
  });
});
