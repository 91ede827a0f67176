import { inspect } from "node:util";
import {
  Keyward,
  MemoryStore,
  RevisionConflictError,
  StoreUnavailableError,
  type StoredToken,
  TokenExistsError,
  TokenNotFoundError,
  TokenRevokedError,
} from "keyward";
import { makeStoredToken } from "keyward/testing";
import { describe, expect, it } from "vitest";
import { guardStore } from "../../src/store/guard.js";
import type { TokenStore } from "../../src/store/types.js";

/** A driver error the way drivers write them: the statement and its parameters in the message. */
class DriverError extends Error {
  code = "SQLITE_IOERR";
  constructor(params: unknown[]) {
    super(`disk I/O error while running INSERT INTO tokens VALUES (${params.map((p) => JSON.stringify(p)).join(", ")})`);
  }
}

/** A MemoryStore whose writes fail like a driver that echoes its parameters. */
class LeakyStore extends MemoryStore {
  override async insert(token: Parameters<MemoryStore["insert"]>[0]): Promise<void> {
    throw new DriverError([token.id, token.hash, token.signing]);
  }
  override async findByHash(hash: string): Promise<null> {
    throw new StoreUnavailableError("lookup failed", { cause: new DriverError([hash]) });
  }
}

describe("guardStore", () => {
  it("returns a guarded store as is", () => {
    const g = guardStore(new MemoryStore());
    expect(guardStore(g)).toBe(g);
    expect(() => guardStore({} as TokenStore)).toThrow(TypeError);
  });

  it("validates before the adapter sees a call", async () => {
    let calls = 0;
    class Counting extends MemoryStore {
      override async get(id: string) {
        calls++;
        return super.get(id);
      }
    }
    const g = guardStore(new Counting());
    await expect(g.get("")).rejects.toMatchObject({ code: "INVALID_INPUT", field: "id" });
    await expect(g.list("o", { limit: 0 })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "limit" });
    await expect(g.list("o", { cursor: "%%%" })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "cursor" });
    await expect(g.meter({ tokenId: "t", cost: -1, rateLimit: null, credits: null }, 0)).rejects.toMatchObject({
      field: "request.cost",
    });
    await expect(g.rememberNonce({ tokenId: "t", nonce: "n" }, Number.NaN, 0)).rejects.toMatchObject({ field: "expiresAt" });
    await expect(g.update(makeStoredToken(), 1.5)).rejects.toMatchObject({ field: "expectedRevision" });
    expect(calls).toBe(0);
  });

  it("reports a driver error without its parameters: no hash or sealed key in message, cause or inspect", async () => {
    const sealed = { alg: "hmac-sha256" as const, sealed: { keyId: "k1", iv: "AAECAwQFBgcICQoL", ciphertext: "c2VjcmV0LXNpZ25pbmcta2V5LWJ5dGVzLXNlYWxlZA" } };
    const t = makeStoredToken({ signing: sealed } as never);
    const g = guardStore(new LeakyStore());
    const err = await g.insert(t).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreUnavailableError);
    const e = err as StoreUnavailableError;
    expect(e.code).toBe("STORE_UNAVAILABLE");
    expect(e.driverCode).toBe("SQLITE_IOERR");
    expect(e.message).toContain("disk I/O error");
    expect(e.cause).toBeUndefined();
    const shown = `${inspect(e, { depth: 10, showHidden: true })} ${JSON.stringify(e)} ${e.stack}`;
    for (const secret of [t.hash, sealed.sealed.ciphertext, sealed.sealed.iv]) expect(shown).not.toContain(secret);

    const hash = "f".repeat(64);
    const e2 = (await g.findByHash(hash).catch((x: unknown) => x)) as StoreUnavailableError;
    expect(e2).toMatchObject({ code: "STORE_UNAVAILABLE", driverCode: "SQLITE_IOERR" });
    expect(inspect(e2, { depth: 10, showHidden: true })).not.toContain(hash);
  });

  it("keeps a coded error's class and drops its cause", async () => {
    class Conflicted extends MemoryStore {
      override async revoke(id: string): Promise<never> {
        const err = new TokenNotFoundError(id);
        Object.defineProperty(err, "cause", { value: new DriverError(["secret-param-xyz"]), configurable: true });
        throw err;
      }
    }
    const err = await guardStore(new Conflicted()).revoke("tok_1", 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenNotFoundError);
    expect(inspect(err, { showHidden: true })).not.toContain("secret-param-xyz");
  });

  it("Keyward uses it: an admin call reports the sanitized error, a request is denied 503", async () => {
    const kw = new Keyward({ store: new LeakyStore(), prefix: "acme" });
    const err = await kw.tokens.create({ owner: "o", kind: "secret" }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "STORE_UNAVAILABLE", driverCode: "SQLITE_IOERR" });
    expect((err as Error).cause).toBeUndefined();
    const d = await kw.check({ token: "acme_sk_live_0000000000000000000000000000000000000000000000" });
    expect(d.ok).toBe(false);
  });

  it("rebuilds the contract's coded errors of another copy of keyward as this copy's, by shape", async () => {
    // A second copy of keyward's errors, as an adapter depending on its own install of keyward loads them
    // (Vite makes one module instance per query string).
    // @ts-expect-error: the query string is Vite's, not a path TypeScript resolves
    const other = (await import("../../src/errors.js?second-copy")) as typeof import("../../src/errors.js");
    expect(other.TokenExistsError).not.toBe(TokenExistsError);
    const copies: Record<string, Error> = {
      TOKEN_ALREADY_EXISTS: new other.TokenExistsError(),
      REVISION_CONFLICT: new other.RevisionConflictError("tok_1", 3),
      TOKEN_NOT_FOUND: new other.TokenNotFoundError("tok_2"),
      TOKEN_REVOKED: new other.TokenRevokedError("tok_3"),
    };
    let thrown: Error = copies.TOKEN_ALREADY_EXISTS!;
    class OtherCopy extends MemoryStore {
      override async revoke(): Promise<never> {
        throw thrown;
      }
    }
    const store = guardStore(new OtherCopy());
    const expected = {
      TOKEN_ALREADY_EXISTS: [TokenExistsError, {}],
      REVISION_CONFLICT: [RevisionConflictError, { tokenId: "tok_1", expectedRevision: 3 }],
      TOKEN_NOT_FOUND: [TokenNotFoundError, { tokenId: "tok_2" }],
      TOKEN_REVOKED: [TokenRevokedError, { tokenId: "tok_3" }],
    } as const;
    for (const [code, [cls, fields]] of Object.entries(expected)) {
      thrown = copies[code]!;
      const err = await store.revoke("tok_1", 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(cls);
      expect(err).toMatchObject({ code, message: thrown.message, ...fields });
    }
    // A plain Error with one of these codes is read the same way; any other code stays a driver's.
    thrown = Object.assign(new Error("conflict"), { code: "REVISION_CONFLICT", tokenId: 5, expectedRevision: "x" });
    expect(await store.revoke("tok_1", 1).catch((e: unknown) => e)).toMatchObject({ code: "REVISION_CONFLICT", tokenId: "", expectedRevision: -1 });
    thrown = Object.assign(new Error("busy"), { code: "SQLITE_BUSY" });
    expect(await store.revoke("tok_1", 1).catch((e: unknown) => e)).toMatchObject({ code: "STORE_UNAVAILABLE", driverCode: "SQLITE_BUSY" });
  });

  it("reports what cannot even be read (a revoked Proxy, throwing getters) as STORE_UNAVAILABLE", async () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const rejections: unknown[] = [
      revoked.proxy,
      {
        get code() {
          throw new RangeError("getter");
        },
      },
      Object.defineProperty(new Error("x"), "code", {
        get() {
          throw new RangeError("getter");
        },
      }),
      {
        get message() {
          throw new RangeError("getter");
        },
      },
    ];
    let next: unknown;
    class Unreadable extends MemoryStore {
      override insert(): Promise<void> {
        return Promise.reject(next);
      }
    }
    const kw = new Keyward({ store: new Unreadable(), prefix: "acme" });
    for (const rejection of rejections) {
      next = rejection;
      const err = await kw.tokens.create({ owner: "o", kind: "secret" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
    }
  });

  it("an update or revoke that answers no record of the token is STORE_UNAVAILABLE", async () => {
    let answer: (saved: StoredToken) => unknown = () => undefined;
    class Answers extends MemoryStore {
      override async update(...args: Parameters<MemoryStore["update"]>): Promise<StoredToken> {
        return answer(await super.update(...args)) as StoredToken;
      }
      override async revoke(...args: Parameters<MemoryStore["revoke"]>): Promise<StoredToken> {
        return answer(await super.revoke(...args)) as StoredToken;
      }
    }
    const inner = new Answers();
    const store = guardStore(inner);
    const t = makeStoredToken();
    await store.insert(t);
    for (const bad of [() => undefined, () => null, (s: StoredToken) => ({ ...s, policy: null }), (s: StoredToken) => ({ ...s, id: "tok_other" })]) {
      answer = bad;
      const current = (await store.get(t.id))!;
      const err = await store.update({ ...current, name: "n" }, current.revision).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toContain("update answered no well-formed record");
    }
    answer = () => undefined;
    expect(await store.revoke(t.id, Date.now()).catch((e: unknown) => e)).toBeInstanceOf(StoreUnavailableError);
    answer = (s) => s;
    expect((await store.revoke(t.id, Date.now())).revokedAt).not.toBeNull();
  });
});
