// The CPU time a test's own work costs, whatever else the machine runs.

/**
 * Starts a CPU clock of this process (user + system, every thread of it: test
 * files run in a process of their own). Unlike wall time it does not count the
 * time this process waits for a core, so a bound on it holds on a loaded CI
 * machine: it counts the work done, within the noise of a garbage collection.
 *
 * @returns a function giving the milliseconds of CPU spent since the start.
 * @example
 * ```ts
 * const cpu = cpuClock();
 * parseIp(long);
 * expect(cpu()).toBeLessThan(50);
 * ```
 */
export function cpuClock(): () => number {
  const start = process.cpuUsage();
  return () => {
    const { user, system } = process.cpuUsage(start);
    return (user + system) / 1000;
  };
}
