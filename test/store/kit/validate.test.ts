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
    const limits = (...windows: number[]) => windows.map((windowMs) => ({ limit: 1, windowMs }));
    const meter = { tokenId: "t", cost: 1, rateLimit: { limit: 1, windowMs: 1000 }, credits: null };
    expect(() => checkMeterRequest({ ...meter, rateLimits: [...limits(60_000), { limit: -1, windowMs: 5 }] })).toThrow(
      expect.objectContaining({ field: "request.rateLimits[1].limit" }),
    );
    expect(() => checkMeterRequest({ ...meter, rateLimits: limits(60_000, 0) })).toThrow(expect.objectContaining({ field: "request.rateLimits[1].windowMs" }));
    // The same window twice, or the window of `rateLimit` again.
    expect(() => checkMeterRequest({ ...meter, rateLimits: limits(60_000, 5, 60_000) })).toThrow(
      expect.objectContaining({ field: "request.rateLimits[2].windowMs", message: expect.stringMatching(/differ/) }),
    );
    expect(() => checkMeterRequest({ ...meter, rateLimits: limits(5, 1000) })).toThrow(expect.objectContaining({ field: "request.rateLimits[1].windowMs" }));
    expect(() => checkMeterRequest({ ...meter, rateLimit: null, rateLimits: limits(5, 1000, 60_000) })).not.toThrow();
    expect(() =>
      checkMeterRequest({ ...meter, account: { owner: "o", rateLimit: null, credits: { limit: 1, refill: null, reset: null, overage: 0.5 } } }),
    ).toThrow(expect.objectContaining({ field: "request.account.credits.overage" }));
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
