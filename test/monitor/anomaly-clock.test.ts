// Anomaly windows against the clock the instance is given (`now`): at their exact boundaries, when it
// stands still, and when it steps back (an NTP correction, a clock set by hand): a window is never held
// for the time the clock takes to catch up, silencing a token's alerts meanwhile.
import { describe, expect, it } from "vitest";
import { type Anomaly, Keyward, MemoryStore } from "../../src/index.js";
import { AnomalyDetector } from "../../src/monitor/anomalies.js";
import { ev, T0 } from "../support/decision-event.js";

const SEC = 1_000;
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const denied = (at: number) => ev({ at, ok: false, code: "SCOPE_DENIED", status: 403 });
const kinds = (d: AnomalyDetector) => d.list().map((a) => [a.kind, a.at - T0]);

describe("anomaly windows and the clock", () => {
  it("alert limit: the window ends at exactly windowMs after its first alert", () => {
    const d = new AnomalyDetector({ alertLimit: { count: 1, windowMs: HOUR } });
    d.leaked(T0, "tok_a", "acct_1", "scanner");
    d.leaked(T0 + HOUR - 1, "tok_a", "acct_1", "scanner");
    d.leaked(T0 + HOUR, "tok_a", "acct_1", "scanner");
    expect(kinds(d)).toEqual([
      ["leaked", 0],
      ["leaked", HOUR],
    ]);
    expect(d.list()[0]!.suppressed).toBe(1);
  });

  it("alert limit: a clock stepped back starts a window afresh; one a little behind (requests out of order) counts in the window", () => {
    const d = new AnomalyDetector({ alertLimit: { count: 1, windowMs: HOUR } });
    d.leaked(T0, "tok_a", "acct_1", "scanner");
    d.leaked(T0 - 5 * SEC, "tok_a", "acct_1", "scanner");
    // Before: a day back, the token's alerts were suppressed for the day and the hour it took the clock to catch up.
    d.leaked(T0 - DAY, "tok_a", "acct_1", "scanner");
    d.leaked(T0 - DAY + MIN, "tok_a", "acct_1", "scanner");
    expect(kinds(d)).toEqual([
      ["leaked", 0],
      ["leaked", -DAY],
    ]);
    expect(d.list().map((a) => a.suppressed)).toEqual([1, 1]);
  });

  it("denial burst: denials exactly windowMs apart are not in one window; a still clock puts all in one", () => {
    const d = new AnomalyDetector({ denialBurst: { count: 3, windowMs: MIN } });
    for (const at of [T0, T0 + MIN / 2, T0 + MIN]) d.observe(denied(at));
    expect(kinds(d)).toEqual([]);
    d.observe(denied(T0 + MIN + 1));
    expect(kinds(d)).toEqual([["denial-burst", MIN + 1]]);
    const still = new AnomalyDetector({ denialBurst: { count: 3, windowMs: MIN } });
    for (let i = 0; i < 10; i++) still.observe(denied(T0));
    expect(kinds(still)).toEqual([["denial-burst", 0]]);
  });

  it("denial burst: after a clock stepped back, a burst is reported, and denials of before the step are not counted with later ones", () => {
    const d = new AnomalyDetector({ denialBurst: { count: 3, windowMs: MIN } });
    for (const at of [T0, T0 + 1, T0 + 2]) d.observe(denied(at));
    expect(kinds(d)).toEqual([["denial-burst", 2]]);
    // A day back: two denials are not a burst of three (before, the ones of T0 were counted with them) …
    d.observe(denied(T0 - DAY));
    d.observe(denied(T0 - DAY + 1));
    expect(kinds(d)).toHaveLength(1);
    // … a third is, and is reported (before: silenced until the clock passed T0 + 1 minute again).
    d.observe(denied(T0 - DAY + 2));
    expect(kinds(d)).toEqual([
      ["denial-burst", 2],
      ["denial-burst", -DAY + 2],
    ]);
  });

  it("denial burst: a denial decided longer ago than a short window (a signed body sent slowly) does not start the window afresh", () => {
    // A decision's time is when it began: a signed request's body may take up to signatures.bodyTimeoutMs
    // (10 s by default, up to 10 min) to arrive, and the client chooses how long. Before, a denial decided
    // more than windowMs before the latest cleared the window: two fast denials and a slow one, again and
    // again, never made a burst of three.
    const d = new AnomalyDetector({ denialBurst: { count: 3, windowMs: 5 * SEC } });
    d.observe(denied(T0));
    d.observe(denied(T0 + 1));
    d.observe(denied(T0 - 9 * SEC));
    expect(kinds(d)).toEqual([["denial-burst", -9 * SEC]]);
    // With a body timeout of 10 minutes, as long ago as that, whatever the window.
    const long = new AnomalyDetector({ denialBurst: { count: 3, windowMs: MIN } });
    long.observe(denied(T0));
    long.observe(denied(T0 + 1));
    long.observe(denied(T0 - 9 * MIN));
    expect(kinds(long)).toEqual([["denial-burst", -9 * MIN]]);
  });

  it("denial burst: a slow denial between fast ones, or the first of a window after an allowed use, counts in it: the next denial does not take its time for the window's end", () => {
    // Before: the denial after the slow one found the latest denial a window away, and dropped every one before it.
    const d = new AnomalyDetector({ denialBurst: { count: 4, windowMs: MIN } });
    d.observe(denied(T0));
    d.observe(denied(T0 + 1));
    d.observe(denied(T0 - 9 * MIN));
    d.observe(denied(T0 + 2));
    expect(kinds(d)).toEqual([["denial-burst", 2]]);
    // One burst per window still: the slow denial does not open another.
    d.observe(denied(T0 - 9 * MIN));
    d.observe(denied(T0 + 3));
    expect(kinds(d)).toHaveLength(1);
    // The token's latest decision was allowed: a slow denial then counts with the denials after it.
    const after = new AnomalyDetector({ denialBurst: { count: 4, windowMs: MIN }, newIp: false });
    after.observe(ev({ at: T0 }));
    after.observe(denied(T0 - 9 * MIN));
    for (const at of [T0 + 1, T0 + 2, T0 + 3]) after.observe(denied(at));
    expect(kinds(after)).toEqual([["denial-burst", 3]]);
    // Past the margin, a clock stepped back: the denials before it are not counted with the later ones.
    const stepped = new AnomalyDetector({ denialBurst: { count: 3, windowMs: MIN } });
    stepped.observe(denied(T0));
    stepped.observe(denied(T0 + 1));
    stepped.observe(denied(T0 - 12 * MIN));
    stepped.observe(denied(T0 - 12 * MIN + 1));
    expect(kinds(stepped)).toEqual([]);
  });

  it("denial burst: slow denials that come one by one, minutes apart, count when each came (the instance's clock then), not all at the token's latest decision", () => {
    const clock = { now: T0 };
    const d = new AnomalyDetector({ denialBurst: { count: 3, windowMs: MIN } }, null, 10_000, () => clock.now);
    d.observe(denied(T0));
    // Begun 9 and 7 minutes before it, their bodies came 1 and 3 minutes after it: never 3 denials within a minute.
    clock.now = T0 + MIN;
    d.observe(denied(T0 - 9 * MIN));
    clock.now = T0 + 3 * MIN;
    d.observe(denied(T0 - 7 * MIN));
    // Before: both counted at T0, with the fast one: a burst of 3.
    expect(kinds(d)).toEqual([]);
    // Slow ones that come together (the clock where it was) count in the window with the last: a burst.
    d.observe(denied(T0 - 6 * MIN));
    d.observe(denied(T0 - 5 * MIN));
    expect(kinds(d)).toEqual([["denial-burst", -5 * MIN]]);
  });

  /** Five requests a minute for `minutes` minutes from `from`, then `burst` in the next minute. */
  function traffic(d: AnomalyDetector, from: number, minutes: number, burst: number): void {
    for (let m = 0; m < minutes; m++) for (let i = 0; i < 5; i++) d.observe(ev({ at: from + m * MIN + i }));
    for (let i = 0; i < burst; i++) d.observe(ev({ at: from + minutes * MIN + i }));
  }
  const spike = { intervalMs: MIN, alpha: 0.5, factor: 3, minCount: 10, warmupIntervals: 3 };

  it("spike: intervals are UTC minutes (an event at the boundary opens the next one); a still clock makes one interval", () => {
    const d = new AnomalyDetector({ spike, newIp: false });
    traffic(d, T0, 4, 0);
    // 15 at the last millisecond of a minute, 15 at the first of the next: two intervals of 15, no spike (≤ 3 × 5).
    for (let i = 0; i < 15; i++) d.observe(ev({ at: T0 + 5 * MIN - 1 }));
    for (let i = 0; i < 15; i++) d.observe(ev({ at: T0 + 5 * MIN }));
    expect(kinds(d)).toEqual([]);
    const still = new AnomalyDetector({ spike, newIp: false });
    for (let i = 0; i < 1_000; i++) still.observe(ev({}));
    expect(kinds(still)).toEqual([]);
  });

  it("spike: after a clock stepped back, intervals go on from the new time and a spike is reported", () => {
    const d = new AnomalyDetector({ spike, newIp: false });
    traffic(d, T0, 4, 20);
    expect(kinds(d)).toEqual([["spike", 4 * MIN + 15]]);
    // Before: every request of the day the clock took to catch up fell in the interval of T0 + 4 min, spiked already.
    traffic(d, T0 - DAY, 4, 20);
    expect(kinds(d)).toEqual([
      ["spike", 4 * MIN + 15],
      // The baseline went on from the 20 of T0 + 4 min, down to 5.47 by these 5 a minute: 3 × 5.47 < 17.
      ["spike", -DAY + 4 * MIN + 16],
    ]);
  });

  it("idle use: measured from the last use at the clock's time after a step back", () => {
    const d = new AnomalyDetector({ idle: { afterMs: HOUR }, spike: false });
    d.observe(ev({ at: T0 }));
    d.observe(ev({ at: T0 - DAY }));
    // Before: the last use stayed T0, and a use idle two hours (by the clock) raised nothing.
    d.observe(ev({ at: T0 - DAY + 2 * HOUR }));
    // A use a little behind the last (requests out of order) does not move it back.
    d.observe(ev({ at: T0 - DAY + 2 * HOUR - 5 * SEC }));
    d.observe(ev({ at: T0 - DAY + 2 * HOUR + 30 * MIN }));
    expect(d.list().map((a) => [a.kind, a.detail.idleMs])).toEqual([["idle-use", 2 * HOUR]]);
  });

  it("idle use with state shared through the store (the default), which keeps the later time: measured from this process's last use after a step back", async () => {
    let now = T0;
    const seen: Anomaly[] = [];
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", now: () => now, anomalies: { idle: { afterMs: HOUR }, spike: false, onAnomaly: (a) => seen.push(a) } });
    const { token } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    for (const at of [T0, T0 - DAY, T0 - DAY + 2 * HOUR, T0 - DAY + 2 * HOUR + 10 * MIN]) {
      now = at;
      await kw.check({ token });
      await kw.flush();
    }
    // Before: the store answered T0 for every use until the clock passed it again, and no idle use was raised.
    expect(seen.map((a) => [a.kind, a.detail.idleMs])).toEqual([["idle-use", 2 * HOUR]]);
    await kw.close();
  });
});
