#!/usr/bin/env node
// The `keyward` bin (Node only): see docs/cli.md.
import { fstatSync, statSync } from "node:fs";
import { CliError, EXIT, reportWarning, systemReason } from "./io.js";
import { main, wantsJson } from "./main.js";

/**
 * Writes to a stream whose reader may leave early (`keyward list … | head -1`):
 * EPIPE ends the output, quietly, not the command, which finishes and exits
 * with its own code (docs/cli.md, "Exit codes"). Any other write error
 * (ENOSPC: stdout on a full disk) ends the output too, and `flushed` rejects
 * with it: the command reports it (exit 6), never a stack trace.
 */
function writerTo(stream: NodeJS.WriteStream, name: string): { write: (text: string) => void; flushed: () => Promise<boolean> } {
  let ended = false;
  let failure: CliError | undefined;
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (!(err.code === "EPIPE" || (ended && err.code === "ERR_STREAM_DESTROYED"))) {
      failure ??= new CliError(`cannot write to ${name}: ${typeof err.errno === "number" ? systemReason(err) : (err.code ?? err.message)}`, EXIT.IO);
    }
    ended = true;
  });
  return {
    write: (text) => {
      if (!ended) stream.write(text);
    },
    flushed: () =>
      new Promise((resolve, reject) => {
        const settle = () => (failure ? reject(failure) : resolve(!ended));
        if (ended) return settle();
        // Called once every earlier write is done; on a failure, before the stream's error event: settle after it.
        stream.write("", (err) => (err ? setImmediate(settle) : resolve(true)));
      }),
  };
}

/** Whether the file descriptor is the null device (where Node also reopens one the shell closed). */
function isNullDevice(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isCharacterDevice() && stat.rdev === statSync("/dev/null").rdev;
  } catch {
    return false;
  }
}

// node:sqlite, the default store, is in Node 22.13 and later.
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(`keyward: Node 22.13 or later is required (this is ${process.versions.node})\n`);
  process.exitCode = 5;
} else {
  const argv = process.argv.slice(2);
  const out = writerTo(process.stdout, "stdout");
  const err = writerTo(process.stderr, "stderr").write;
  // node:sqlite is flagged experimental on Node 22 and says so on every run;
  // the CLI's users did not choose it. Every other warning is still reported, as the CLI's own are.
  process.removeAllListeners("warning").on("warning", (w) => {
    if (w.name === "ExperimentalWarning" && w.message.includes("SQLite")) return;
    reportWarning({ err }, "keyward", { code: "NODE_WARNING", message: `${w.name}: ${w.message}`, fields: { name: w.name } }, wantsJson(argv));
  });
  process.exitCode = await main(argv, {
    out: out.write,
    err,
    errIsTTY: process.stderr.isTTY === true,
    outIsNull: isNullDevice(1),
    env: process.env,
    cwd: process.cwd(),
    flushOut: out.flushed,
  });
}
