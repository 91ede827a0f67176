// A full HTTP request through each framework's middleware on a real server,
// next to the same framework's bare routes in the same run (a sync handler
// and an async one): autocannon in this process, the server in a child
// process. A no-op middleware of each framework's shape is measured too:
// what passing through any middleware costs there. Each route is measured
// BENCH_HTTP_RUNS times (default 3), round-robin over the routes in an order
// that alternates (forward, then backward), and the median requests/s is
// reported; so is the guarded route's share of the bare route within each
// round (median and range), which the host's drift between rounds moves
// less. BENCH_HTTP_SEC sets one run's length.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

// BENCH_HTTP_ONLY=hono,fetch limits the run to some frameworks.
const FRAMEWORKS = process.env.BENCH_HTTP_ONLY?.split(",") ?? ["hono", "hono-handler", "express", "fastify", "fetch"];
const LABEL = {
  hono: "Hono (@hono/node-server), middleware",
  "hono-handler": "Hono (@hono/node-server), requireToken(options, handler)",
  express: "Express 5",
  fastify: "Fastify 5",
  fetch: "keyward/fetch (@hono/node-server)",
};

async function startServer(framework) {
  const child = spawn(process.execPath, [new URL("./http-server.js", import.meta.url).pathname, framework], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = await once(child.stdout, "data");
  return { child, ...JSON.parse(String(line)) };
}

function load(url, token, seconds) {
  return autocannon({ url, connections: 32, pipelining: 1, duration: seconds, headers: { authorization: `Bearer ${token}` } });
}

const pct = (a, b) => `${((100 * a) / b).toFixed(0)} %`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchHttp({ seconds = Number(process.env.BENCH_HTTP_SEC ?? 3), runs = Number(process.env.BENCH_HTTP_RUNS ?? 3) } = {}) {
  const rows = [];
  for (const framework of FRAMEWORKS) {
    const { child, port, token } = await startServer(framework);
    try {
      const base = `http://127.0.0.1:${port}`;
      const guarded = await load(`${base}/guarded`, token, 1);
      if (guarded.non2xx > 0) throw new Error(`${framework}: the guarded route denied the benchmark token`);
      await load(`${base}/bare`, token, 1); // warm-up of the routes
      await load(`${base}/bare-async`, token, 1);
      await load(`${base}/noop`, token, 1);
      const rps = { bare: [], "bare-async": [], noop: [], guarded: [] };
      const cpu = { bare: [], "bare-async": [], noop: [], guarded: [] };
      const routes = Object.keys(rps);
      for (let i = 0; i < runs; i++) {
        for (const route of i % 2 === 0 ? routes : [...routes].reverse()) {
          const before = cpuMicros(child.pid);
          const r = await load(`${base}/${route}`, token, seconds);
          const used = cpuMicros(child.pid) - before;
          if (r.non2xx > 0 || r.errors > 0) throw new Error(`${framework} /${route}: ${r.non2xx} non-2xx, ${r.errors} errors`);
          rps[route].push(r.requests.average);
          cpu[route].push(used / r.requests.total);
        }
      }
      rows.push({
        framework,
        bare: median(rps.bare),
        bareAsync: median(rps["bare-async"]),
        noop: median(rps.noop),
        guarded: median(rps.guarded),
        cpuBare: median(cpu.bare),
        cpuNoop: median(cpu.noop),
        cpuGuarded: median(cpu.guarded),
        // The guarded route's share of the bare one, round by round.
        perRound: rps.guarded.map((g, i) => g / rps.bare[i]),
      });
    } finally {
      child.kill();
    }
  }
  const fmt = (n) => Math.round(n).toLocaleString("en-US");
  console.log(
    [
      `### A request through each middleware (warm bearer check, default options: usage metering on; 32 connections, median of ${runs} runs of ${seconds} s)`,
      "",
      "| framework | bare route req/s | bare async route req/s | no-op middleware req/s | requireToken req/s | guarded / bare | guarded / bare async | guarded / no-op middleware | guarded / bare within a round: median (range) |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...rows.map(
        (r) =>
          `| ${LABEL[r.framework]} | ${fmt(r.bare)} | ${fmt(r.bareAsync)} | ${fmt(r.noop)} | ${fmt(r.guarded)} | ${pct(r.guarded, r.bare)} | ${pct(r.guarded, r.bareAsync)} | ${pct(r.guarded, r.noop)} | ${pct(median(r.perRound), 1)} (${pct(Math.min(...r.perRound), 1)}–${pct(Math.max(...r.perRound), 1)}) |`,
      ),
      "",
      "Server CPU time per request (user + system, from /proc; the load generator shares the 2 cores, so this moves far less between runs than requests/s). Capacity = bare CPU / guarded CPU: the share of the bare route's throughput a CPU-bound server keeps.",
      "",
      "| framework | bare µs | no-op middleware µs | requireToken µs | capacity vs bare | capacity vs no-op middleware |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      ...rows.map(
        (r) =>
          `| ${LABEL[r.framework]} | ${r.cpuBare.toFixed(1)} | ${r.cpuNoop.toFixed(1)} | ${r.cpuGuarded.toFixed(1)} | ${pct(r.cpuBare, r.cpuGuarded)} | ${pct(r.cpuNoop, r.cpuGuarded)} |`,
      ),
      "",
    ].join("\n"),
  );
  return rows;
}

/** CPU time (user + system) a process has used, µs, from /proc (Linux); NaN elsewhere. */
function cpuMicros(pid) {
  try {
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** The kernel's clock ticks per second for /proc times (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

if (import.meta.url === `file://${process.argv[1]}`) await benchHttp();
