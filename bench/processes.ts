import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Log lines alike (same level, message and error message), counted, with the first in full. */
type LogGroup = { kind: string; count: number; first: string };

/** A server running as a child process, with what it wrote to stderr (its log) kept in brief. */
export type Child = {
  name: string;
  pid: number;
  url: string;
  /** Its log, grouped: a flood of one failure shows as one line with a count. */
  logs: LogGroup[];
  /** Sends `signal` and resolves with the next line on stdout that matches `pattern`. */
  query(signal: NodeJS.Signals, pattern: RegExp): Promise<RegExpExecArray>;
  /** Freezes it (SIGSTOP) or lets it run again (SIGCONT): an idle seatgate still wakes for every commit. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
};

const maxLogGroups = 20;

/** "error unexpected error: aborted" for a JSON log line; lines that are not JSON are "other". */
function kindOf(line: string): string {
  try {
    const entry = JSON.parse(line) as { level?: unknown; message?: unknown; error?: { message?: unknown } };
    const error = typeof entry.error?.message === 'string' ? `: ${entry.error.message.split('\n')[0]}` : '';
    return `${String(entry.level)} ${String(entry.message)}${error}`;
  } catch {
    return 'other (not a JSON log line)';
  }
}
const startTimeoutMs = 60_000;
const stopTimeoutMs = 20_000;

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts `node ...args` in `cwd` and resolves once a stdout line matches `ready` (its first group
 * is the URL). Fails with the tail of stderr when the process exits or stays silent instead.
 */
export async function startChild(
  name: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; ready: RegExp; logFile?: number },
): Promise<Child> {
  // stdin stays an open pipe: the baseline exits when it closes, that is, when the runner dies.
  // A child logging every request writes to a file, as to a log shipper: the runner, which also
  // generates the load, would spend its own CPU reading the lines.
  const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', options.logFile ?? 'pipe'] });
  const logs: LogGroup[] = [];
  const tail: string[] = [];
  if (child.stderr)
    createInterface({ input: child.stderr }).on('line', (line) => {
      const kind = logs.length < maxLogGroups ? kindOf(line) : 'more kinds';
      const group = logs.find((g) => g.kind === kind);
      if (group) group.count++;
      else logs.push({ kind, count: 1, first: line });
      tail.push(line);
      if (tail.length > 20) tail.shift();
    });

  // Lines the child writes after it is ready, for `query`.
  const listeners = new Set<(line: string) => void>();
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(`did not print its URL within ${startTimeoutMs / 1000} s`), startTimeoutMs);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${name} ${why}:\n${tail.join('\n')}`));
    };
    child.once('exit', (code, signal) => fail(`exited before it was ready (${signal ?? `code ${code}`})`));
    child.once('error', (error) => fail(`could not start: ${error.message}`));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      for (const listener of listeners) listener(line);
      const match = options.ready.exec(line);
      if (match?.[1]) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(match[1]);
      }
    });
  });

  return {
    name,
    pid: child.pid!,
    url,
    logs,
    query(signal, pattern) {
      return new Promise((resolve) => {
        const listener = (line: string) => {
          const match = pattern.exec(line);
          if (!match) return;
          listeners.delete(listener);
          resolve(match);
        };
        listeners.add(listener);
        child.kill(signal);
      });
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // A frozen process would take SIGTERM only once thawed.
      child.kill('SIGCONT');
      // SIGTERM lets seatgate drain and close its pool; SIGKILL only when it does not exit in time.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      await exited(child);
      clearTimeout(timer);
    },
  };
}

/** The flags `npm start` gives node: V8's semi-spaces as the start script sets them. */
export const seatgateFlags = ['--max-semi-space-size=32'];

/**
 * seatgate's environment as the bench runs its long-lived process: as deployed
 * (NODE_ENV=production: no graphql-js development checks on every value), and bare: warnings
 * only, no metrics, no rate limits, 10 database connections, any free port. The bench's webhook
 * receivers listen on loopback, which production refuses unless allowed.
 */
export const bareSeatgateEnv = (databaseUrl: string): NodeJS.ProcessEnv => ({
  ...process.env,
  NODE_ENV: 'production',
  DATABASE_URL: databaseUrl,
  PORT: '0',
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_SECOND: '0',
  AUTH_FAILURES_PER_MINUTE: '0',
  DB_POOL_MAX: '10',
  WEBHOOK_ALLOW_LOOPBACK: 'true',
});
