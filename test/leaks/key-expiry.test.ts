// GitHub drops a signing key from its list (rotated out, or revoked after a compromise): a receiver that
// loads the list stops trusting that key, though no alert ever names a key it does not hold.
import { setTimeout as sleep } from "node:timers/promises";
import { Keyward, MemoryStore } from "keyward";
import { createLeakReceiver } from "keyward/leaks";
import { describe, expect, it } from "vitest";
import { alert, github, listen, match, other, send } from "../support/github-alerts.js";

describe("createLeakReceiver's loaded keys expire", () => {
  it("a key GitHub no longer lists is refused once keyMaxAgeMs has passed: the next alert loads the list again (real key endpoint, real server)", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const first = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    const second = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    // GitHub's key endpoint on 127.0.0.1: both keys, then `other` dropped (its private key leaked, say).
    let listed = [github.publicKey, other.publicKey];
    let fetches = 0;
    const meta = await listen(async () => {
      fetches++;
      return Response.json({ public_keys: listed.map((k) => ({ ...k, is_current: k === github.publicKey })) });
    });
    /** When the receiver started each load (what its intervals count from; the request reaches the endpoint later). */
    const loads: number[] = [];
    const interval = 500;
    const receiver = createLeakReceiver({
      keyward: kw,
      publicKeys: async (signal) => {
        loads.push(performance.now());
        return (await (await fetch(`${meta.url}/meta/public_keys/secret_scanning`, { signal })).json()).public_keys;
      },
      refreshIntervalMs: interval,
      keyMaxAgeMs: 1000,
    });
    const server = await listen(receiver);
    const post = (request: Request) => send(`${server.url}/leaks/github`, request);
    try {
      // Signed with the key that is not current, while GitHub lists it: taken (an alert in flight during a rotation).
      expect((await post(alert(JSON.stringify([match(first.token)]), other))).status).toBe(200);
      expect([loads.length, fetches]).toEqual([1, 1]);
      const loadedAt = loads[0]!;
      // GitHub drops `other`. Alerts under the key still held, within keyMaxAgeMs: no load.
      listed = [github.publicKey];
      let lastSentAt = 0;
      for (let i = 0; i < 5; i++) {
        lastSentAt = performance.now();
        expect((await post(alert(`[${JSON.stringify(match(`x${i}`))}]`))).status).toBe(200);
      }
      // On a slow machine the keys may have come of age meanwhile: then one load more.
      if (performance.now() - loadedAt < 1000) expect(loads).toHaveLength(1);
      else if (lastSentAt - loadedAt >= 1000) expect(loads).toHaveLength(2);
      else expect([1, 2]).toContain(loads.length);
      // Past keyMaxAgeMs and refreshIntervalMs, alerts forged with the dropped key are refused, and revoke
      // nothing: one load (on a slow machine, spread over more than refreshIntervalMs, one per interval).
      await sleep(1050 - (performance.now() - loads.at(-1)!));
      const before = loads.length;
      const forgedAt = performance.now();
      const forged = await Promise.all(Array.from({ length: 20 }, () => post(alert(JSON.stringify([match(second.token)]), other))));
      const spread = performance.now() - forgedAt;
      expect(forged.map((r) => r.status)).toEqual(Array(20).fill(401));
      expect(loads.length - before).toBeGreaterThanOrEqual(1);
      expect(loads.length - before).toBeLessThanOrEqual(1 + Math.floor(spread / interval));
      for (let i = before; i < loads.length; i++) expect(loads[i]! - loads[i - 1]!).toBeGreaterThan(interval - 20); // both instants taken right after the receiver's own
      expect(fetches).toBe(loads.length);
      expect((await kw.check({ token: second.token })).ok).toBe(true);
      // GitHub's current key is still taken: without a load while the keys are younger than keyMaxAgeMs.
      const loaded = loads.length;
      const sentAt = performance.now();
      expect((await post(alert(JSON.stringify([match(second.token)])))).status).toBe(200);
      if (performance.now() - loads.at(-1)! < 1000) expect(loads).toHaveLength(loaded);
      else if (sentAt - loads.at(-1)! >= 1000) expect(loads).toHaveLength(loaded + 1);
      else expect([loaded, loaded + 1]).toContain(loads.length);
    } finally {
      await server.close();
      await meta.close();
    }
  });

  it("an expired key is used still when the load fails or hangs (GitHub down), and refused after the next load that succeeds without it", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const live = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    let answer: "keys" | "fail" | "hang" | "rotated" = "keys";
    const errors: string[] = [];
    /** When the receiver started each load. */
    const loads: number[] = [];
    // The interval, long beside keyLoadTimeoutMs: an alert right after a late load's wait comes within it.
    const interval = 1500;
    const late = 200;
    const receiver = createLeakReceiver({
      keyward: kw,
      publicKeys: async () => {
        loads.push(performance.now());
        if (answer === "fail") throw new Error("api.github.com: 502");
        if (answer === "hang") return new Promise<never>(() => {});
        return answer === "keys" ? [github.publicKey, other.publicKey] : [github.publicKey];
      },
      refreshIntervalMs: interval,
      keyMaxAgeMs: 100,
      keyLoadTimeoutMs: late,
      onKeyError: (e) => void errors.push(String(e)),
    });
    /** Until the interval has passed since the last load: the next alert under the expired key loads again. */
    const pastInterval = () => sleep(interval + 20 - (performance.now() - loads.at(-1)!));
    expect((await receiver(alert(`[${JSON.stringify(match("a"))}]`, other))).status).toBe(200);
    answer = "fail";
    await pastInterval();
    expect((await receiver(alert(`[${JSON.stringify(match("b"))}]`, other))).status).toBe(200);
    answer = "hang";
    await pastInterval();
    expect((await receiver(alert(`[${JSON.stringify(match("c"))}]`, other))).status).toBe(200);
    expect(loads).toHaveLength(3);
    expect(errors).toEqual(["Error: api.github.com: 502", `Error: options.publicKeys() did not settle within keyLoadTimeoutMs (${late} ms)`]);
    // While that load is late, the alerts after it use the key at once, without waiting keyLoadTimeoutMs each
    // (and within the interval, without a load); past the interval (a slow machine), one load replaces it.
    const sentAt = performance.now();
    expect((await receiver(alert(`[${JSON.stringify(match("d"))}]`, other))).status).toBe(200);
    const answeredAt = performance.now();
    if (answeredAt - loads[2]! < interval) expect([loads.length, answeredAt - sentAt < late]).toEqual([3, true]);
    else if (sentAt - loads[2]! >= interval) expect(loads).toHaveLength(4);
    else expect([3, 4]).toContain(loads.length);
    answer = "rotated";
    await pastInterval();
    expect((await receiver(alert(JSON.stringify([match(live.token)]), other))).status).toBe(401);
    expect((await kw.check({ token: live.token })).ok).toBe(true);
  });
});
