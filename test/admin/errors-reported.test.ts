// The server's own failures (5xx) are reported to the operator, never only
// answered: onError, else telemetry.logger, else one console.error line; and
// authorize, the application's function, is waited for no longer than the store.
import { afterEach, describe, expect, it, vi } from "vitest";
import { type AdminErrorContext, createAdminHandler } from "../../src/admin/index.js";
import type { AuthorizeResult } from "../../src/admin/options.js";
import { type LogRecord, MemoryStore, type TokenStore } from "../../src/index.js";
import { type AdminServer, startAdminServer } from "./server.js";

/** A session credential and a token-shaped string an application's error might quote: neither is ever logged by keyward. */
const SESSION = "s_sessionsecret_7f3a9c";
const TOKEN_IN_MESSAGE = "acme_sk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

interface Reported {
  error: unknown;
  context: AdminErrorContext;
}

const servers: AdminServer[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A server whose authorize answers `who` for the session, and whose onError (unless `onError: undefined`) records what it is handed. */
async function serve(who: () => AuthorizeResult | Promise<AuthorizeResult>, options: Parameters<typeof startAdminServer>[0] = {}) {
  const reported: Reported[] = [];
  const srv = await startAdminServer({
    authorize: (request) => (request.headers.get("authorization") === `Bearer ${SESSION}` ? who() : null),
    onError: (error, context) => {
      reported.push({ error, context });
    },
    ...options,
  });
  servers.push(srv);
  const call = (path: string, init: { method?: string; json?: unknown; session?: string } = {}) =>
    fetch(srv.url + path, {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${init.session ?? SESSION}`, ...(init.json !== undefined && { "content-type": "application/json" }) },
      body: init.json === undefined ? null : JSON.stringify(init.json),
      // A request the handler never answers fails here, not at the test's timeout.
      signal: AbortSignal.timeout(5_000),
    });
  return { srv, reported, call };
}

const codeOf = async (res: Response) => ((await res.json()) as { code: string }).code;

/** A MemoryStore whose account reads (every API request makes one) throw like a driver that lost its connection. */
function failingStore(): TokenStore {
  const store = new MemoryStore();
  return new Proxy(store, {
    get(target, key) {
      if (key === "getAccount") return () => Promise.reject(new Error("connection reset"));
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("onError", () => {
  it("is handed the cause of a 500: authorize throwing, with the operation, method, status and code", async () => {
    const thrown = new Error("session store refused");
    const { reported, call } = await serve(() => {
      throw thrown;
    });
    const res = await call("/tokens");
    expect(res.status).toBe(500);
    expect(await codeOf(res)).toBe("INTERNAL_ERROR");
    expect(reported).toEqual([{ error: thrown, context: { operation: "tokens.list", method: "GET", status: 500, code: "INTERNAL_ERROR" } }]);
  });

  it("is handed the error of a principal keyward refuses (a blank owner): the bug behind the documented 500", async () => {
    const { reported, call } = await serve(() => ({ owner: "   ", actor: "user:1" }));
    const res = await call("/tokens", { method: "POST", json: { kind: "secret", name: "x" } });
    expect(res.status).toBe(500);
    expect(reported).toHaveLength(1);
    expect(reported[0]!.error).toBeInstanceOf(TypeError);
    expect(String((reported[0]!.error as Error).message)).toMatch(/authorize must return/);
    expect(reported[0]!.context).toEqual({ operation: "tokens.create", method: "POST", status: 500, code: "INTERNAL_ERROR" });
  });

  it("is handed a store's failure (503 STORE_UNAVAILABLE)", async () => {
    const { reported, call } = await serve(() => "acct_1", { keyward: { store: failingStore() } });
    const res = await call("/tokens");
    expect(res.status).toBe(503);
    expect(reported).toHaveLength(1);
    expect(reported[0]!.error).toMatchObject({ name: "StoreUnavailableError", code: "STORE_UNAVAILABLE" });
    expect(reported[0]!.context).toEqual({ operation: "tokens.list", method: "GET", status: 503, code: "STORE_UNAVAILABLE" });
  });

  it("is not called for the client's errors (4xx)", async () => {
    const { reported, call } = await serve(() => "acct_1");
    expect((await call("/tokens", { session: "nobody" })).status).toBe(401);
    expect((await call("/tokens/tok_unknown")).status).toBe(404);
    expect((await call("/nowhere")).status).toBe(404);
    expect((await call("/tokens", { method: "POST", json: { kind: "nonsense" } })).status).toBe(400);
    expect((await call("/tokens?limit=x")).status).toBe(400);
    expect((await call("/tokens", { method: "PUT" })).status).toBe(405);
    expect(reported).toEqual([]);
    // The server works: a token made is listed.
    expect((await call("/tokens", { method: "POST", json: { kind: "secret", name: "x", scopes: ["core:read"] } })).status).toBe(201);
    expect(reported).toEqual([]);
  });

  it("that throws, or rejects, changes nothing of the answer", async () => {
    for (const onError of [
      () => {
        throw new Error("the logger is down");
      },
      () => Promise.reject(new Error("the async logger is down")),
    ]) {
      const { call } = await serve(
        () => {
          throw new Error("bug");
        },
        { onError },
      );
      const res = await call("/tokens");
      expect(res.status).toBe(500);
      expect(await codeOf(res)).toBe("INTERNAL_ERROR");
    }
  });

  it("must be a function", async () => {
    const kw = (await serve(() => "acct_1")).srv.kw;
    for (const onError of [1, "log", {}]) {
      // @ts-expect-error: not a function
      expect(() => createAdminHandler({ keyward: kw, authorize: () => "x", onError })).toThrow(expect.objectContaining({ code: "INVALID_CONFIG", field: "onError" }));
    }
  });
});

describe("authorize that does not answer", () => {
  it("is answered 503 STORE_UNAVAILABLE after storeTimeoutMs, a read or a change, and onError is handed a timeout error", async () => {
    let calls = 0;
    const { reported, call } = await serve(
      () => {
        calls++;
        return new Promise<never>(() => {});
      },
      { storeTimeoutMs: 200 },
    );
    for (const [method, json, operation] of [
      ["GET", undefined, "tokens.list"],
      ["POST", { kind: "secret", name: "x" }, "tokens.create"],
    ] as const) {
      const started = performance.now();
      const res = await call("/tokens", { method, json });
      const took = performance.now() - started;
      expect(took).toBeGreaterThanOrEqual(190);
      expect(took).toBeLessThan(3_000);
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      const body = (await res.json()) as { code: string; detail: string };
      // Nothing was done: the answer says to retry, not that a change may have been made.
      expect(body).toMatchObject({ code: "STORE_UNAVAILABLE", detail: "Your sign-in could not be checked in time; retry later." });
      expect(reported.at(-1)!.context).toEqual({ operation, method, status: 503, code: "STORE_UNAVAILABLE" });
      expect(reported.at(-1)!.error).toMatchObject({ code: "STORE_UNAVAILABLE", message: "authorize did not answer within 200 ms" });
    }
    expect(calls).toBe(2);
    expect(reported).toHaveLength(2);
  });
});

describe("a call given up on at storeTimeoutMs that fails later", () => {
  /** A promise that settles after `ms`: rejected with `error`, else resolved with `value`. */
  const later = <T>(ms: number, outcome: { error: Error } | { value: T }) =>
    new Promise<T>((resolve, reject) => setTimeout(() => ("error" in outcome ? reject(outcome.error) : resolve(outcome.value)), ms));
  const settled = () => new Promise((r) => setTimeout(r, 600));

  it("authorize: its failure is reported too, once it comes, marked late (the client had its 503); a late answer is not", async () => {
    const outcomes: ({ error: Error } | { value: AuthorizeResult })[] = [{ error: new Error("session store: connection refused") }, { value: "acct_1" }, { value: null }];
    const { reported, call } = await serve(() => later(400, outcomes.shift()!), { storeTimeoutMs: 200 });
    expect((await call("/tokens")).status).toBe(503);
    await settled();
    // Before: only the timeout was reported; the cause that came after it, nowhere.
    expect(reported.map((r) => [r.context, (r.error as Error).message])).toEqual([
      [{ operation: "tokens.list", method: "GET", status: 503, code: "STORE_UNAVAILABLE" }, "authorize did not answer within 200 ms"],
      [{ operation: "tokens.list", method: "GET", status: 503, code: "STORE_UNAVAILABLE", late: true }, "session store: connection refused"],
    ]);
    for (let i = 0; i < 2; i++) expect((await call("/tokens")).status).toBe(503);
    await settled();
    expect(reported).toHaveLength(4);
  });

  it("authorize rejecting late with a value whose class cannot be read: no report, and no unhandled rejection", async () => {
    const hostile = new Proxy(
      {},
      {
        getPrototypeOf() {
          throw new Error("no prototype");
        },
      },
    );
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const { reported, call } = await serve(() => new Promise<never>((_, reject) => setTimeout(() => reject(hostile), 400)), { storeTimeoutMs: 200 });
      expect((await call("/tokens")).status).toBe(503);
      await settled();
      expect(reported).toHaveLength(1);
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("the store: a read or change that fails after its 503 is reported, marked late", async () => {
    const slow = new Proxy(new MemoryStore(), {
      get(target, key) {
        if (key === "getAccount") return () => later(400, { error: new Error("connection reset") });
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const { reported, call } = await serve(() => "acct_1", { keyward: { store: slow }, storeTimeoutMs: 200 });
    expect((await call("/tokens", { method: "POST", json: { kind: "secret", name: "x" } })).status).toBe(503);
    await settled();
    expect(reported.map((r) => [r.context, (r.error as Error).message])).toEqual([
      [{ operation: "tokens.create", method: "POST", status: 503, code: "STORE_UNAVAILABLE" }, "the store did not answer an admin request within 200 ms"],
      [{ operation: "tokens.create", method: "POST", status: 503, code: "STORE_UNAVAILABLE", late: true }, "token store unavailable: connection reset"],
    ]);
  });
});

describe("without onError", () => {
  const failing = () => {
    throw new Error(`session ${SESSION} has ${TOKEN_IN_MESSAGE}`);
  };

  it("tells telemetry.logger, when keyward has one: one error record, with codes and no message", async () => {
    const records: LogRecord[] = [];
    const error = vi.spyOn(console, "error");
    const { call } = await serve(failing, { onError: undefined, keyward: { telemetry: { logger: (r) => records.push(r) } } });
    expect((await call("/tokens")).status).toBe(500);
    const admin = records.filter((r) => r.event === "admin.error");
    expect(admin).toEqual([
      {
        level: "error",
        event: "admin.error",
        message: "admin request failed: 500 INTERNAL_ERROR (Error)",
        fields: { operation: "tokens.list", method: "GET", status: 500, code: "INTERNAL_ERROR", error: "Error" },
      },
    ]);
    expect(JSON.stringify(records)).not.toMatch(/sessionsecret|acme_sk_live/);
    expect(error).not.toHaveBeenCalled();
  });

  it("writes one console.error line per 5xx, with the codes and no secret; none for a 4xx", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const { call } = await serve(failing, { onError: undefined });
    expect((await call("/tokens")).status).toBe(500);
    expect((await call("/tokens", { session: "nobody" })).status).toBe(401);
    expect(error).toHaveBeenCalledTimes(1);
    const line = error.mock.calls[0]!.map(String).join(" ");
    expect(line).toMatch(/^keyward admin: GET tokens\.list answered 500 INTERNAL_ERROR \(Error\)/);
    expect(line).not.toMatch(/sessionsecret|acme_sk_live|connection/);
  });

  it("answers 500 all the same for a thrown value whose name and code throw when read", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error("no");
        },
      },
    );
    const { call } = await serve(
      () => {
        throw hostile;
      },
      { onError: undefined },
    );
    const res = await call("/tokens");
    expect(res.status).toBe(500);
    expect(await codeOf(res)).toBe("INTERNAL_ERROR");
    expect(String(error.mock.calls[0]![0])).toMatch(/^keyward admin: GET tokens\.list answered 500 INTERNAL_ERROR \(unknown\)/);
  });

  it("writes no token an error's own name or code holds (the application's values, as its message is)", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const records: LogRecord[] = [];
    const named = Object.assign(new Error("x"), { name: TOKEN_IN_MESSAGE });
    const coded = Object.assign(new Error("x"), { code: TOKEN_IN_MESSAGE });
    for (const thrown of [named, coded]) {
      for (const keyward of [{}, { telemetry: { logger: (r: LogRecord) => records.push(r) } }]) {
        const { call } = await serve(
          () => {
            throw thrown;
          },
          { onError: undefined, keyward },
        );
        expect((await call("/tokens")).status).toBe(500);
      }
    }
    expect(error).toHaveBeenCalledTimes(2);
    expect(records.filter((r) => r.event === "admin.error")).toHaveLength(2);
    const written = JSON.stringify([error.mock.calls, records]);
    expect(written).not.toContain("AAAAAAAAAA");
    expect(written).toContain("acme_sk_live_[redacted]");
  });

  it("names a store failure's code on the console line", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const { call } = await serve(() => "acct_1", { onError: undefined, keyward: { store: failingStore() } });
    expect((await call("/tokens")).status).toBe(503);
    expect(error).toHaveBeenCalledTimes(1);
    expect(String(error.mock.calls[0]![0])).toMatch(/^keyward admin: GET tokens\.list answered 503 STORE_UNAVAILABLE \(StoreUnavailableError STORE_UNAVAILABLE\)/);
  });
});
