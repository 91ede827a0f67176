// A real server for the admin tests: keyward on SQLite in a temp dir, the
// admin handler behind node:http (through toNodeHandler) on 127.0.0.1, and
// sessions as an application would have them: a cookie or a bearer token
// that the server maps to an owner.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { createServer as createH2cServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, type MockInstance, vi } from "vitest";
import { type AdminErrorContext, type AdminHandlerOptions, createAdminHandler, toNodeHandler } from "../../src/admin/index.js";
import { Keyward, type KeywardOptions, type TokenStore } from "../../src/index.js";
import { sqliteStore } from "../../src/sqlite/index.js";

export interface AdminServer {
  kw: Keyward;
  /** The store under kw, to write rows as an earlier version did. */
  store: TokenStore;
  /** The origin, e.g. http://127.0.0.1:40123 */
  origin: string;
  /** origin + basePath */
  url: string;
  /** A session id per owner: send it as `Cookie: session=…` or `Authorization: Bearer …`. */
  session(owner: string): string;
  /** Holds the `nth` next call of a store method (see {@link holdable}): to interleave requests where a race would. */
  hold(method: "get" | "getAccount" | "update" | "revoke", nth?: number): StoreHold;
  /** Settles once `authorize` is next called: the request's head is in, its body not read yet. */
  nextAuthorize(): Promise<void>;
  /** The next request's answer, once the Node server is done with it: as the handler made it, and as Node has it (one request at a time). */
  nextAnswer(): Promise<Answered>;
  close(): Promise<void>;
}

/** An answer as a log would record it: the handler's status and code, the Node response's status, and whether any of it was written. */
export interface Answered {
  method: string;
  status: number;
  code: string | undefined;
  nodeStatus: number;
  written: boolean;
}

export async function startAdminServer(
  options: { basePath?: string; keyward?: Partial<KeywardOptions>; http2?: boolean } & Partial<Omit<AdminHandlerOptions, "keyward">> = {},
): Promise<AdminServer> {
  const dir = await mkdtemp(join(tmpdir(), "keyward-admin-"));
  const store = sqliteStore(join(dir, "keyward.db"));
  const held = holdable(store);
  const kw = new Keyward({ store: held.store, prefix: "acme", revocationBoundMs: 1000, ...options.keyward });
  const sessions = new Map<string, string>();
  const { keyward: _, basePath = "/account/tokens", http2 = false, ...rest } = options;
  const authorizing: (() => void)[] = [];
  const answering: ((answer: Answered) => void)[] = [];
  const handler = createAdminHandler({
    keyward: kw,
    basePath,
    datasets: ["prices", "news"],
    authorize: (request) => {
      authorizing.shift()?.();
      const cookie = /(?:^|;\s*)session=([A-Za-z0-9_-]+)/.exec(request.headers.get("cookie") ?? "")?.[1];
      const bearer = /^Bearer ([A-Za-z0-9_-]+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
      const owner = sessions.get(cookie ?? bearer ?? "");
      return owner === undefined ? null : { owner, actor: `user:${owner}` };
    },
    ...rest,
  });
  // The handler's answer to the request the Node server is serving (nextAnswer is for one request at a time).
  const last: { made?: { status: number; code: string | undefined } | undefined } = {};
  const node = toNodeHandler(async (request) => {
    const response = await handler(request);
    const problem = response.body !== null && response.headers.get("content-type") === "application/problem+json" ? ((await response.clone().json()) as { code?: string }) : undefined;
    last.made = { status: response.status, code: problem?.code };
    return response;
  });
  const listener = async (req: Parameters<typeof node>[0], res: Parameters<typeof node>[1]) => {
    await node(req, res);
    const { made } = last;
    last.made = undefined;
    answering.shift()?.({ method: req.method ?? "", status: made?.status ?? 0, code: made?.code, nodeStatus: res.statusCode, written: res.headersSent });
  };
  // Cleartext HTTP/2 (h2c, as under Fastify({ http2: true }) without TLS), or HTTP/1.1.
  const server = http2 ? createH2cServer(listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    kw,
    store,
    origin,
    url: origin + basePath,
    session(owner) {
      const id = `s_${owner}_${sessions.size}`;
      sessions.set(id, owner);
      return id;
    },
    hold: (method, nth) => held.hold(method, nth),
    nextAuthorize: () => new Promise<void>((resolve) => authorizing.push(resolve)),
    nextAnswer: () => new Promise<Answered>((resolve) => answering.push(resolve)),
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await kw.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A hold on one store call: `reached` once the call has its answer, which it returns only after `release()`. */
export interface StoreHold {
  reached: Promise<void>;
  release(): void;
}

/**
 * A real store whose calls can be held, to interleave two requests exactly
 * where a race would: `hold(method, nth)` holds the `nth` call of `method`
 * from then on (once), after the store answered it.
 */
export function holdable<S extends object>(store: S): { store: S; hold(method: keyof S & string, nth?: number): StoreHold } {
  let armed: { method: string; left: number; reached: () => void; released: Promise<void> } | null = null;
  const proxy = new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      if (armed?.method !== key) return value.bind(target);
      return async (...args: unknown[]) => {
        const answer = await value.apply(target, args);
        if (armed?.method === key && --armed.left === 0) {
          const h = armed;
          armed = null;
          h.reached();
          await h.released;
        }
        return answer;
      };
    },
  });
  return {
    store: proxy,
    hold(method, nth = 1) {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      const reached = new Promise<void>((resolve) => {
        armed = { method, left: nth, reached: resolve, released };
      });
      return { reached, release };
    },
  };
}

/**
 * Fails each test of the file that writes a console.error line: a 5xx a test
 * provokes on purpose is asserted on through `onError` (see {@link errorsSeen}),
 * not left to the default report, which would print it.
 */
export function noConsoleErrors(): void {
  let spy: MockInstance<typeof console.error>;
  beforeEach(() => {
    spy = vi.spyOn(console, "error");
  });
  afterEach(() => {
    const calls = spy.mock.calls.map((c) => c.map(String).join(" "));
    spy.mockRestore();
    expect(calls).toEqual([]);
  });
}

/** An `onError` that keeps what it is handed, as `[error class, context]`, to assert on. */
export function errorsSeen(): { onError: NonNullable<AdminHandlerOptions["onError"]>; seen: [string, AdminErrorContext][] } {
  const seen: [string, AdminErrorContext][] = [];
  return { seen, onError: (error, context) => void seen.push([(error as Error)?.constructor?.name ?? typeof error, context]) };
}
