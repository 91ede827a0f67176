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
    const receiver = createLeakReceiver({
      keyward: kw,
      publicKeys: async (signal) => (await (await fetch(`${meta.url}/meta/public_keys/secret_scanning`, { signal })).json()).public_keys,
      // Long enough that the 20 forged alerts below, however spread, cost one load.
      refreshIntervalMs: 500,
      keyMaxAgeMs: 1000,
    });
    const server = await listen(receiver);
    const post = (request: Request) => send(`${server.url}/leaks/github`, request);
    try {
      // Signed with the key that is not current, while GitHub lists it: taken (an alert in flight during a rotation).
      // The receiver's load starts between these two instants: its keys' age is known within them.
      const sentAt = performance.now();
      expect((await post(alert(JSON.stringify([match(first.token)]), other))).status).toBe(200);
      const answeredAt = performance.now();
      expect(fetches).toBe(1);
      // GitHub drops `other`. Alerts under the key still held, within keyMaxAgeMs: no load.
      listed = [github.publicKey];
      let lastSentAt = 0;
      for (let i = 0; i < 5; i++) {
        lastSentAt = performance.now();
        expect((await post(alert(`[${JSON.stringify(match(`x${i}`))}]`))).status).toBe(200);
      }
      // On a slow machine the keys may have come of age meanwhile: then one load more.
      if (performance.now() - sentAt < 1000) expect(fetches).toBe(1);
      else if (lastSentAt - answeredAt >= 1000) expect(fetches).toBe(2);
      else expect([1, 2]).toContain(fetches);
      // Past keyMaxAgeMs (from the latest instant the load can have started), alerts forged with the
      // dropped key are refused, and revoke nothing: one load.
      await sleep(1050 - (performance.now() - answeredAt));
      const before = fetches;
      const forged = await Promise.all(Array.from({ length: 20 }, () => post(alert(JSON.stringify([match(second.token)]), other))));
      expect(forged.map((r) => r.status)).toEqual(Array(20).fill(401));
      expect(fetches).toBe(before + 1);
      expect((await kw.check({ token: second.token })).ok).toBe(true);
      // GitHub's current key is still taken.
      expect((await post(alert(JSON.stringify([match(second.token)])))).status).toBe(200);
      expect(fetches).toBe(before + 1);
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
    const receiver = createLeakReceiver({
      keyward: kw,
      publicKeys: async () => {
        if (answer === "fail") throw new Error("api.github.com: 502");
        if (answer === "hang") return new Promise<never>(() => {});
        return answer === "keys" ? [github.publicKey, other.publicKey] : [github.publicKey];
      },
      refreshIntervalMs: 150,
      keyMaxAgeMs: 100,
      keyLoadTimeoutMs: 100,
      onKeyError: (e) => void errors.push(String(e)),
    });
    expect((await receiver(alert(`[${JSON.stringify(match("a"))}]`, other))).status).toBe(200);
    answer = "fail";
    await sleep(200);
    expect((await receiver(alert(`[${JSON.stringify(match("b"))}]`, other))).status).toBe(200);
    answer = "hang";
    await sleep(200);
    expect((await receiver(alert(`[${JSON.stringify(match("c"))}]`, other))).status).toBe(200);
    expect(errors).toEqual(["Error: api.github.com: 502", "Error: options.publicKeys() did not settle within keyLoadTimeoutMs (100 ms)"]);
    // While that load is late, the alerts after it use the key at once, without waiting keyLoadTimeoutMs each.
    const t0 = performance.now();
    expect((await receiver(alert(`[${JSON.stringify(match("d"))}]`, other))).status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(80);
    answer = "rotated";
    await sleep(200);
    expect((await receiver(alert(JSON.stringify([match(live.token)]), other))).status).toBe(401);
    expect((await kw.check({ token: live.token })).ok).toBe(true);
  });
});
