import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/**
 * CPU time spent (user + system, milliseconds) by this process and by the local PostgreSQL
 * server's processes (every process named `postgres`: backends, WAL writer, checkpointer), so a
 * rate can be read as CPU a request. On a 2-core machine a rate is bounded by 2,000 ms a second
 * over the CPU milliseconds each request costs both sides, whatever the latency of one.
 */
export interface CpuSpent {
  gatehouse_ms: number;
  /** null where the server's processes cannot be read (another host, no /proc). */
  server_ms: number | null;
  /** The API's load generator, in its own process (api-throughput only). */
  load_ms?: number | null;
}

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of each process named `postgres`, in clock ticks; null without /proc. */
function serverTicks(): Map<number, number> | null {
  const ticks = new Map<number, number>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return null;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
    // Fields after the command: state is field 3, utime 14 and stime 15 (proc(5)).
    const fields = stat.slice(close + 2).split(' ');
    ticks.set(Number(name), Number(fields[11]) + Number(fields[12]));
  }
  return ticks.size === 0 ? null : ticks;
}

/**
 * Starts counting; `stop(n)` gives the CPU spent since, per unit of `n`. A server on another host
 * (or PGlite, which runs inside this process) reports `server_ms: null`. The server's share is
 * summed over its processes alive at the end (from zero for those started since): a process that
 * ended in between (a parallel worker, a closed connection) is not counted, so it is a floor.
 */
export function cpuWatch(local: boolean): { stop(units: number): CpuSpent } {
  const startServer = local ? serverTicks() : null;
  const startSelf = process.cpuUsage();
  return {
    stop(units) {
      const self = process.cpuUsage(startSelf);
      const endServer = startServer ? serverTicks() : null;
      let server: number | null = null;
      if (startServer && endServer) {
        let ticks = 0;
        for (const [pid, t] of endServer) ticks += t - (startServer.get(pid) ?? 0);
        server = (ticks * 1000) / clockTicks() / units;
      }
      return {
        gatehouse_ms: perUnit((self.user + self.system) / 1000, units),
        server_ms: server === null ? null : round3(server),
      };
    },
  };
}

/** Whether the server in `url` runs on this machine, where its processes can be read. */
export function serverIsLocal(url: string | undefined): boolean {
  if (!url) return false;
  try {
    const host = new URL(url).hostname;
    return host === '' || host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  } catch {
    return false;
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Milliseconds over `units`, to the microsecond. */
export const perUnit = (ms: number, units: number) => round3(ms / units);

/** "Gatehouse 0.81 ms + server 0.82 ms", with the load generator's share where measured. */
export function cpuText(c: CpuSpent): string {
  const part = (name: string, v: number | null | undefined) =>
    v === null || v === undefined ? '' : ` + ${name} ${v.toFixed(2)} ms`;
  return `Gatehouse ${c.gatehouse_ms.toFixed(2)} ms${part('server', c.server_ms)}${part('load', c.load_ms)}`;
}
