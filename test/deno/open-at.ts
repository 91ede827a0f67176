// Run by Deno (test/deno/deno.test.ts), bundled: opens the SQLite store at
// the path given, with busyTimeoutMs as given, at the instant given (epoch
// ms), while the test's own process holds a read on the database. Prints one
// JSON line: "opened", or the error's code and message.
import { sqliteStore } from "../../src/sqlite/index.js";

const [path, busyTimeoutMs, at] = process.argv.slice(2);
await new Promise((r) => setTimeout(r, Math.max(0, Number(at) - Date.now())));
try {
  await sqliteStore(path!, { busyTimeoutMs: Number(busyTimeoutMs) }).close();
  console.log(JSON.stringify("opened"));
} catch (err) {
  console.log(JSON.stringify({ code: (err as { code?: string }).code, message: (err as Error).message }));
}
