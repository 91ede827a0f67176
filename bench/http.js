// A full HTTP request through each framework's middleware on a real server,
// next to the same framework's bare routes in the same run (a sync handler
// and an async one): autocannon in this process, the server in a child
// process. A no-op middleware of each framework's shape is measured too:
// what passing through any middleware costs there. Each route is measured
// BENCH_HTTP_RUNS times (default 3), round-robin over the routes, and the
// median requests/s is reported. BENCH_HTTP_SEC sets one run's length.
import { spawn } from "node:child_process";
import { once } from "node:events";
import autocannon from "autocannon";

// BENCH_HTTP_ONLY=hono,fetch limits the run to some frameworks.
const FRAMEWORKS = process.env.BENCH_HTTP_ONLY?.split(",") ?? ["hono", "express", "fastify", "fetch"];
const LABEL = { hono: "Hono (@hono/node-server)", express: "Express 5", fastify: "Fastify 5", fetch: "keyward/fetch (@hono/node-server)" };

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
      for (let i = 0; i < runs; i++) {
        for (const route of Object.keys(rps)) {
          const r = await load(`${base}/${route}`, token, seconds);
          if (r.non2xx > 0 || r.errors > 0) throw new Error(`${framework} /${route}: ${r.non2xx} non-2xx, ${r.errors} errors`);
          rps[route].push(r.requests.average);
        }
      }
      rows.push({ framework, bare: median(rps.bare), bareAsync: median(rps["bare-async"]), noop: median(rps.noop), guarded: median(rps.guarded) });
    } finally {
      child.kill();
    }
  }
  const fmt = (n) => Math.round(n).toLocaleString("en-US");
  console.log(
    [
      `### A request through each middleware (warm bearer check, 32 connections, median of ${runs} runs of ${seconds} s)`,
      "",
      "| framework | bare route req/s | bare async route req/s | no-op middleware req/s | requireToken req/s | guarded / bare | guarded / bare async | guarded / no-op middleware |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
      ...rows.map(
        (r) =>
          `| ${LABEL[r.framework]} | ${fmt(r.bare)} | ${fmt(r.bareAsync)} | ${fmt(r.noop)} | ${fmt(r.guarded)} | ${pct(r.guarded, r.bare)} | ${pct(r.guarded, r.bareAsync)} | ${pct(r.guarded, r.noop)} |`,
      ),
      "",
    ].join("\n"),
  );
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchHttp();
