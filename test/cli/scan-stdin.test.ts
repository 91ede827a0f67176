// keyward scan - through the real bin: standard input is waited for, not
// polled, even when it is a descriptor set non-blocking (a socket, a TTY
// another program left so): the CPU the process spends while its input is
// open and idle is counted from /proc.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { generateToken } from "keyward";
import { expect, it } from "vitest";
import { useCli } from "./helpers.js";

const cli = useCli();
const perl = spawnSync("perl", ["-e", "1"]).status === 0;
const TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;

/** The CPU time (ms, user + system) a process has spent so far, from /proc/<pid>/stat (Linux). */
function cpuOf(pid: number): number {
  // The fields after the command's name, in parentheses (which may hold spaces): the state, then 13 and 14 after
  // it, utime and stime (fields 14 and 15 of the whole line).
  const after = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ");
  return ((Number(after[11]) + Number(after[12])) * 1000) / TICKS_PER_SECOND;
}

it.runIf(perl && existsSync("/proc/self/stat"))("scan - waits for standard input set non-blocking without spending CPU, then scans it to its end", async () => {
  const secret = generateToken({ prefix: "acme", kind: "secret", env: "live" });
  const sk = secret.slice(0, "acme_sk_live_".length + 4);
  // perl sets the descriptor non-blocking (on the pipe's open file, which the CLI shares) and becomes the CLI.
  const nonBlocking = "use Fcntl; fcntl(STDIN, F_SETFL, fcntl(STDIN, F_GETFL, 0) | O_NONBLOCK) or die $!; exec @ARGV or die $!";
  const child = spawn("perl", ["-e", nonBlocking, process.execPath, cli.bin, "scan", "-"], { cwd: cli.dir, env: { PATH: process.env.PATH ?? "" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const closed = new Promise<number | null>((done) => child.on("close", done));
  try {
    // More than a chunk (1 MiB), a token first: its finding is printed once the first chunk is scanned, and the
    // CLI then waits for more.
    child.stdin.write(`key=${secret}\n${"x".repeat(1 << 20)}\n`);
    for (let waited = 0; !stdout.includes("[redacted]"); waited += 50) {
      if (waited > 30_000) throw new Error(`no finding printed: ${stderr}`);
      await sleep(50);
    }
    await sleep(500);
    const before = cpuOf(child.pid!);
    await sleep(2_000);
    // Idle and waiting: next to nothing. Retrying the read instead spent the whole 2 s (or the share of it that a
    // loaded machine gave it, 300 ms or more on 2 cores with 13 processes runnable).
    expect(cpuOf(child.pid!) - before).toBeLessThan(150);
    child.stdin.end(`then ${secret}\n`);
    expect(await closed).toBe(1);
    expect(stdout).toBe(`<stdin>:1:5  ${sk}…[redacted]  secret live\n<stdin>:3:6  ${sk}…[redacted]  secret live\n`);
    expect(stderr).toBe("scanned 1 files: 2 tokens found (2 secret)\n");
  } finally {
    child.kill("SIGKILL");
  }
});
