// CPU time of the workerd process Miniflare started for this benchmark, from /proc (Linux). Throughput on a
// shared machine swings by tens of percent from one second to the next; the CPU time a run costs hardly
// does, so CPU per request is the steadier measure of what each Worker's code costs. It covers all of
// workerd: the Worker and the local D1 and KV simulators, which are the same for both Workers.
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ, the unit of /proc/<pid>/stat's utime and stime on Linux

function statOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // after the name: state, ppid, ..., utime is field 14 and stime field 15 of the whole line
  return { name, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** The workerd child of this process (null where /proc is not available). */
export function findWorkerd() {
  try {
    for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
      try {
        const { name, ppid } = statOf(pid);
        if (ppid === process.pid && name === "workerd") return Number(pid);
      } catch {
        // the process ended while we looked
      }
    }
  } catch {
    // no /proc
  }
  return null;
}

/** Milliseconds of CPU (user + system) the process has used so far. */
export function cpuMs(pid) {
  return (statOf(pid).ticks * 1000) / TICKS_PER_SECOND;
}
