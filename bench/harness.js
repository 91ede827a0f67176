// A small benchmark harness: throughput over a fixed time (no per-op timer in
// the loop), then latency percentiles from a separate per-op-timed run.
// Plain JS, run by the pinned Node against the built package (dist/).

const now = () => process.hrtime.bigint();

export async function throughput(fn, ms) {
  let ops = 0;
  const end = performance.now() + ms;
  const t0 = now();
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++) {
      const r = fn();
      if (r instanceof Promise) await r;
    }
    ops += 256;
  }
  return ops / (Number(now() - t0) / 1e9);
}

async function latencies(fn, ms) {
  const samples = [];
  const end = performance.now() + ms;
  while (performance.now() < end && samples.length < 2_000_000) {
    const t0 = now();
    const r = fn();
    if (r instanceof Promise) await r;
    samples.push(Number(now() - t0));
  }
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] / 1000;
  return { p50: at(0.5), p99: at(0.99) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Measures each case and prints a table: the median ops/s of `rounds` runs
 * (default 3, BENCH_ROUNDS), their spread ((max - min) / median), p50 and p99
 * latency in microseconds, and the median as a ratio to the baseline row's.
 * Rounds alternate the order of the cases (forward, then backward), so no row
 * is always measured right after the same neighbour or at the same heat.
 */
export async function runGroup(title, cases, { ms = 1000, baseline = 0, rounds = Number(process.env.BENCH_ROUNDS ?? 3) } = {}) {
  for (const c of cases) await throughput(c.fn, Math.min(300, ms / 3)); // warm-up: JIT, caches
  const runs = cases.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const order = cases.map((_, i) => (round % 2 === 0 ? i : cases.length - 1 - i));
    for (const i of order) {
      globalThis.gc?.();
      runs[i].push(await throughput(cases[i].fn, ms));
    }
  }
  const rows = [];
  for (const [i, c] of cases.entries()) {
    const { p50, p99 } = await latencies(c.fn, Math.max(200, ms / 2));
    const opsPerSec = median(runs[i]);
    rows.push({ name: c.name, opsPerSec, spread: (Math.max(...runs[i]) - Math.min(...runs[i])) / opsPerSec, runs: runs[i], p50, p99 });
  }
  const base = rows[baseline].opsPerSec;
  const fmt = (n) => Math.round(n).toLocaleString("en-US");
  const ratio = (r) => (r >= 0.1 ? r.toFixed(2) : r.toPrecision(2));
  const lines = [
    `### ${title}`,
    "",
    `median of ${rounds} runs of ${ms} ms each, rounds in alternating order`,
    "",
    "| case | ops/s (median) | spread | p50 µs | p99 µs | vs. baseline |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r, i) =>
        `| ${r.name}${i === baseline ? " (baseline)" : ""} | ${fmt(r.opsPerSec)} | ±${((r.spread * 100) / 2).toFixed(1)} % | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${ratio(r.opsPerSec / base)}x |`,
    ),
    "",
  ];
  console.log(lines.join("\n"));
  return rows;
}
