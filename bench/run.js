// `npm run bench`: builds, then prints every benchmark table (markdown).
// BENCH_MS sets the measuring time per case (default 1000 ms); BENCH_HTTP_SEC,
// BENCH_HTTP_RUNS and BENCH_HTTP_ONLY tune the HTTP middleware runs (bench/http.js).
import { cpus } from "node:os";
import { benchAccounts } from "./accounts.js";
import { benchPolicy } from "./policy.js";
import { benchHttp } from "./http.js";
import { benchPostgres } from "./postgres.js";
import { benchSigning } from "./signing.js";
import { benchStore } from "./store.js";
import { benchVerify, benchVerifyPeer } from "./verify.js";

const ms = Number(process.env.BENCH_MS ?? 1000);
console.log(`node ${process.version}, ${cpus()[0]?.model ?? "cpu"} x${cpus().length}, ${ms} ms per case\n`);
await benchVerify({ ms });
await benchSigning({ ms });
await benchPolicy({ ms });
await benchStore({ ms });
await benchAccounts({ ms });
await benchHttp();
await benchPostgres({ ms });
// Last: the peer's AsyncLocalStorage slows every promise of the process once loaded (see benchVerifyPeer).
await benchVerifyPeer({ ms });
