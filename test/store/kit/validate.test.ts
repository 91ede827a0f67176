import { describe, expect, it } from "vitest";
import { InvalidInputError, TokenExistsError } from "../../../src/errors.js";
import type { StoredToken } from "../../../src/model/types.js";
import {
  checkCreditsPolicy,
  checkMeterRequest,
  checkNonceKey,
  checkToken,
  checkUsageEvents,
} from "../../../src/store/kit/validate.js";
import { makeStoredToken } from "../../../src/testing/fixtures.js";

describe("store input checks", () => {
  it("name the offending field", () => {
    const t = makeStoredToken();
    expect(() => checkToken({ ...t, previous: [{ hash: 1 }] } as unknown as StoredToken, "token")).toThrow(
      expect.objectContaining({ field: "token.previous[0].hash" }),
    );
    expect(() => checkCreditsPolicy({ limit: -1, refill: null }, "p")).toThrow(expect.objectContaining({ field: "p.limit" }));
    expect(() => checkCreditsPolicy({ limit: 1, refill: { amount: 1, intervalMs: 0 } }, "p")).toThrow(
      expect.objectContaining({ field: "p.refill.intervalMs" }),
    );
    expect(() =>
      checkMeterRequest({ tokenId: "t", cost: 1.5, rateLimit: null, credits: null }),
    ).toThrow(expect.objectContaining({ field: "request.cost" }));
    expect(() =>
      checkMeterRequest({ tokenId: "t", cost: 1, rateLimit: { limit: 1, windowMs: 0 }, credits: null }),
    ).toThrow(expect.objectContaining({ field: "request.rateLimit.windowMs" }));
    expect(() => checkNonceKey({ tokenId: "t", nonce: "" })).toThrow(InvalidInputError);
    expect(() => checkUsageEvents([{ tokenId: "t", at: 0, ok: true, cost: 1 }, { tokenId: "t", at: 0, ok: true, cost: -1 }])).toThrow(
      expect.objectContaining({ field: "events[1].cost" }),
    );
  });

  it("a record that repeats one of its hashes is TOKEN_ALREADY_EXISTS", () => {
    const t = makeStoredToken();
    expect(() => checkToken({ ...t, previous: [{ hash: t.hash, expiresAt: 0 }] }, "token")).toThrow(TokenExistsError);
  });
});
