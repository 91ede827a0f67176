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

/**
 * Measures each case (warm-up, throughput, latency) and prints a table with
 * ops/s, p50 and p99 in microseconds, and ops/s as a ratio to the baseline row.
 */
export async function runGroup(title, cases, { ms = 1000, baseline = 0 } = {}) {
  const rows = [];
  for (const c of cases) {
    await throughput(c.fn, Math.min(300, ms / 3)); // warm-up: JIT, caches
    globalThis.gc?.();
    const opsPerSec = await throughput(c.fn, ms);
    const { p50, p99 } = await latencies(c.fn, Math.max(200, ms / 2));
    rows.push({ name: c.name, opsPerSec, p50, p99 });
  }
  const base = rows[baseline].opsPerSec;
  const fmt = (n) => Math.round(n).toLocaleString("en-US");
  const ratio = (r) => (r >= 0.1 ? r.toFixed(2) : r.toPrecision(2));
  const lines = [
    `### ${title}`,
    "",
    "| case | ops/s | p50 µs | p99 µs | vs. baseline |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r, i) =>
        `| ${r.name}${i === baseline ? " (baseline)" : ""} | ${fmt(r.opsPerSec)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${ratio(r.opsPerSec / base)}x |`,
    ),
    "",
  ];
  console.log(lines.join("\n"));
  return rows;
}
