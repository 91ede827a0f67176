// Clients that hold a server up, and a watch on the event loop while one works.
import { connect } from "node:net";
import { cpuClock } from "./cpu.js";

/**
 * Sends `chunks` on a raw connection to 127.0.0.1:`port`, then keeps it open
 * (sending `drip` every 50 ms when given: a body that never ends): the status
 * line of the answer, or "no answer" when none came within `waitMs`.
 */
export function statusLine(port: number, chunks: (string | Buffer)[], { drip, waitMs }: { drip?: string; waitMs: number }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const dripping = drip === undefined ? undefined : setInterval(() => socket.write(drip), 50);
    const done = () => {
      clearInterval(dripping);
      clearTimeout(timer);
      socket.destroy();
      resolve(answer.split("\r\n", 1)[0] || "no answer");
    };
    const timer = setTimeout(done, waitMs);
    socket.on("error", () => {});
    socket.on("data", (chunk) => {
      answer += chunk;
      if (answer.includes("\r\n\r\n")) done();
    });
    for (const chunk of chunks) socket.write(chunk);
  });
}

/**
 * Counts turns of the event loop (setImmediate callbacks) until `stop()`, and
 * the most CPU time spent between two of them (ms): what a long read lets other
 * requests do, and the longest step of work that holds them up. CPU time, not
 * wall time, so that a loaded machine's pauses do not count as work.
 */
export function watchEventLoop(): { stop(): { turns: number; gap: number } } {
  const cpu = cpuClock();
  let turns = 0;
  let watching = true;
  let last = 0;
  let gap = 0;
  const lap = () => {
    const now = cpu();
    gap = Math.max(gap, now - last);
    last = now;
  };
  const spin = () => {
    turns++;
    lap();
    if (watching) setImmediate(spin);
  };
  setImmediate(spin);
  return {
    stop() {
      watching = false;
      lap();
      return { turns, gap };
    },
  };
}
