import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A piece of background work a server process runs: started once at start-up, in list order,
 * and stopped once at shutdown, in the reverse order. `stop` resolves when its work has ended.
 */
export type Worker = { readonly name: string; start(): void | Promise<void>; stop(): void | Promise<void> };

/**
 * Starts the workers in order and answers the function that stops them, newest first. If one
 * fails to start, those already started are stopped before the error goes on: nothing is left
 * running.
 */
export async function startWorkers(workers: readonly Worker[]): Promise<() => Promise<void>> {
  const started: Worker[] = [];
  const stopAll = async () => {
    for (const worker of started.reverse()) await worker.stop();
  };
  try {
    for (const worker of workers) {
      await worker.start();
      started.push(worker);
    }
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
  return stopAll;
}

/** Runs `run` one at a time; see singleFlight. */
export type SingleFlight = {
  /**
   * Starts a run, or, while one runs, makes one more run follow it (never a second beside it).
   * Resolves when the runs it started or joined have ended.
   */
  kick(): Promise<void>;
  /** Resolves once no run is under way (at once when none is). */
  idle(): Promise<void>;
};

/**
 * The loop of "one run at a time; a kick during a run makes one more run after it" that the
 * relay, the feed, the webhook worker and the coalescer each need. `gatherMs` delays the first
 * run of each flight, so that kicks arriving together are served by one run. `run` handles its
 * own errors: it should not throw.
 */
export function singleFlight(run: () => Promise<void>, options: { gatherMs?: number } = {}): SingleFlight {
  let flight: Promise<void> | null = null;
  let again = false;
  const fly = async () => {
    if (options.gatherMs) await sleep(options.gatherMs);
    do {
      again = false;
      await run();
    } while (again);
  };
  return {
    kick() {
      if (flight) {
        again = true;
        return flight;
      }
      flight = fly().finally(() => (flight = null));
      return flight;
    },
    idle() {
      return flight ?? Promise.resolve();
    },
  };
}

/**
 * A worker that runs `task` at start and then every `everyMs`, for as long as the process runs
 * (its timer does not keep the process alive); runs never overlap. A failure goes to `onError`,
 * and the next round runs as planned. Stopping waits for a run under way.
 */
export function periodic(name: string, everyMs: number, task: () => Promise<unknown>, onError: (error: unknown) => void): Worker {
  const flight = singleFlight(() => task().then(() => undefined, onError));
  let timer: NodeJS.Timeout | null = null;
  return {
    name,
    start() {
      void flight.kick();
      timer = setInterval(() => void flight.kick(), everyMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await flight.idle();
    },
  };
}
