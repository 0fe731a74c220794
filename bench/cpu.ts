import { readdir, readFile } from 'node:fs/promises';

const ticksPerMs = 100 / 1000; // USER_HZ is 100 on Linux

/** CPU time (user + system) a process has used, in ms, from /proc; 0 when it is gone. */
async function cpuMsOf(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerMs;
  } catch {
    return 0;
  }
}

/** Every PostgreSQL process on the machine (the bench's server, and any other). */
async function postgresPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'postgres') pids.push(Number(entry));
  }
  return pids;
}

/**
 * CPU time of one server process and of PostgreSQL over a run: on a saturated machine, the work
 * a request costs, which the machine's noise moves far less than the throughput it allows.
 * A PostgreSQL backend that ends mid-run takes its time with it, so the figure is a lower bound.
 */
export async function cpuMeter(serverPid: number): Promise<() => Promise<{ serverMs: number; postgresMs: number }>> {
  const pids = await postgresPids();
  const read = async () => ({ server: await cpuMsOf(serverPid), postgres: (await Promise.all(pids.map(cpuMsOf))).reduce((a, b) => a + b, 0) });
  const before = await read();
  return async () => {
    const after = await read();
    return { serverMs: after.server - before.server, postgresMs: after.postgres - before.postgres };
  };
}
