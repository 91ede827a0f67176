// The fleet scenario of shared anomaly state: two Keyward instances on one
// store, each with its own (injected) clock and its own memory. Run on
// every store that shares state (MemoryStore, SQLite, PostgreSQL).
import { type Anomaly, type AnomalyOptions, Keyward, type TokenStore } from "keyward";
import { expect } from "vitest";

const T0 = Date.UTC(2026, 0, 10);
const DAY = 86_400_000;

/**
 * Runs the scenario on two instances over `stores` (two handles on one
 * database, or one store twice) and checks that each alert is raised once
 * per fleet; with `shared: false`, that each process reports what it did
 * not see itself.
 */
export async function fleetScenario(
  stores: [TokenStore, TokenStore],
  mode: Pick<AnomalyOptions, "shared"> = {},
): Promise<[Anomaly["kind"], string, Anomaly["detail"]][]> {
  let now = T0;
  const alerts: [string, Anomaly][] = [];
  const instance = (name: string, store: TokenStore) =>
    new Keyward({
      store,
      prefix: "acme",
      env: "test",
      now: () => now,
      usage: { enabled: false },
      anomalies: { spike: false, idle: { afterMs: 7 * DAY }, ...mode, onAnomaly: (a) => alerts.push([name, a]) },
    });
  const a = instance("A", stores[0]);
  const b = instance("B", stores[1]);
  const { token } = await a.tokens.create({ owner: "acct_1", kind: "secret" });
  const check = async (kw: Keyward, ip: string) => {
    expect((await kw.check({ token, ip })).ok).toBe(true);
    await kw.flush();
  };
  await check(a, "192.0.2.1"); // first use anywhere: nothing to compare with
  now += 1_000;
  await check(b, "192.0.2.1"); // B's first use, from an IP A saw
  await check(b, "198.51.100.2"); // new to the fleet
  await check(a, "198.51.100.2"); // B saw it
  now += 8 * DAY;
  await check(a, "192.0.2.1"); // idle for 8 days
  now += 60_000;
  await check(b, "192.0.2.1"); // A used it a minute ago
  await a.close();
  await b.close();
  return alerts.map(([name, x]) => [x.kind, name, x.detail]);
}

/** What the scenario raises with shared state: each alert once in the fleet. */
export const SHARED_ALERTS = [
  ["new-ip", "B", { ip: "198.51.100.2" }],
  ["idle-use", "A", { idleMs: 8 * DAY }],
];

/** What it raises per process: each instance judges from what it saw itself. */
export const PER_PROCESS_ALERTS = [
  ["new-ip", "B", { ip: "198.51.100.2" }],
  ["new-ip", "A", { ip: "198.51.100.2" }],
  ["idle-use", "A", { idleMs: 8 * DAY }],
  ["idle-use", "B", { idleMs: 8 * DAY + 60_000 }],
];
