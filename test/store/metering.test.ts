// Metering through Keyward: all or nothing across rate limit and credits,
// and the rate limit's promise, on the request path.
import { Keyward, MemoryStore } from "keyward";
import { describe, expect, it } from "vitest";

const T0 = Date.UTC(2025, 0, 1);

describe("metering", () => {
  it("a request denied for credits uses no rate-limit capacity (credit limit 1, rate limit 2)", async () => {
    const clock = { now: T0 };
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", now: () => clock.now });
    const { token } = await kw.tokens.create({
      owner: "o",
      kind: "secret",
      credits: { limit: 1 },
      rateLimit: { limit: 2, windowMs: 60_000 },
    });
    const answers = [];
    for (let i = 0; i < 4; i++) {
      clock.now += 10;
      const d = await kw.check({ token });
      answers.push(d.ok ? "OK" : d.code);
    }
    // Before: OK, CREDITS_EXHAUSTED, RATE_LIMITED, … (the denied request used the second hit).
    expect(answers).toEqual(["OK", "CREDITS_EXHAUSTED", "CREDITS_EXHAUSTED", "CREDITS_EXHAUSTED"]);
  });

  it("a rate-limited request spends no credits", async () => {
    const clock = { now: T0 };
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", now: () => clock.now });
    const { token } = await kw.tokens.create({
      owner: "o",
      kind: "secret",
      credits: { limit: 10 },
      rateLimit: { limit: 1, windowMs: 60_000 },
    });
    expect((await kw.check({ token })).remaining).toBe(9);
    for (let i = 0; i < 5; i++) expect((await kw.check({ token })).code).toBe("RATE_LIMITED");
    clock.now += 120_000;
    expect((await kw.check({ token })).remaining).toBe(8);
  });

  it("at most `limit` requests in any windowMs: 100 per 60 s never allows 150 within a 60 s span", async () => {
    const clock = { now: T0 };
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", now: () => clock.now });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret", rateLimit: { limit: 100, windowMs: 60_000 } });
    // The reproduction: 100 at the end of one fixed minute, then as many as allowed right after.
    const allowedAt: number[] = [];
    clock.now = T0 + 59_000;
    for (let i = 0; i < 100; i++) if ((await kw.check({ token })).ok) allowedAt.push(clock.now);
    for (let s = 60_000; s < 119_000; s += 1_000) {
      clock.now = T0 + s;
      for (let i = 0; i < 5; i++) if ((await kw.check({ token })).ok) allowedAt.push(clock.now);
    }
    for (const end of allowedAt) {
      expect(allowedAt.filter((t) => t > end - 60_000 && t <= end).length).toBeLessThanOrEqual(100);
    }
    expect(allowedAt.length).toBeGreaterThanOrEqual(100);
  });
});
