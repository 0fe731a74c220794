import { describe, expect, test } from 'vitest';
import { periodic, singleFlight, startWorkers, type Worker } from '../src/common/workers.ts';

/** A promise and the function that settles it, to hold a run open until the test lets it go. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('singleFlight', () => {
  test('runs one at a time: kicks during a run make exactly one more run after it', async () => {
    const gates = [gate(), gate()];
    let runs = 0;
    let concurrent = 0;
    let mostConcurrent = 0;
    const flight = singleFlight(async () => {
      const run = runs++;
      concurrent++;
      mostConcurrent = Math.max(mostConcurrent, concurrent);
      await gates[run]?.opened;
      concurrent--;
    });
    const first = flight.kick();
    expect(runs).toBe(1);
    const joined = [flight.kick(), flight.kick(), flight.kick()];
    expect(runs).toBe(1);
    gates[0]!.open();
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toBe(2);
    gates[1]!.open();
    await Promise.all([first, ...joined]);
    expect(runs).toBe(2);
    expect(mostConcurrent).toBe(1);
    await flight.idle();
    await flight.kick();
    expect(runs).toBe(3);
  });

  test('idle resolves at once when nothing runs, and after the run under way otherwise', async () => {
    const held = gate();
    let ended = false;
    const flight = singleFlight(async () => {
      await held.opened;
      ended = true;
    });
    await flight.idle();
    void flight.kick();
    const idle = flight.idle().then(() => ended);
    held.open();
    expect(await idle).toBe(true);
  });
});

describe('startWorkers', () => {
  const recorder = () => {
    const log: string[] = [];
    const worker = (name: string, failStart = false): Worker => ({
      name,
      start() {
        if (failStart) throw new Error(`${name} cannot start`);
        log.push(`start ${name}`);
      },
      async stop() {
        log.push(`stop ${name}`);
      },
    });
    return { log, worker };
  };

  test('starts in order and stops in the reverse order', async () => {
    const { log, worker } = recorder();
    const stop = await startWorkers([worker('a'), worker('b'), worker('c')]);
    await stop();
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });

  test('a worker that fails to start stops those already started, newest first, and the error goes on', async () => {
    const { log, worker } = recorder();
    await expect(startWorkers([worker('a'), worker('b'), worker('c', true), worker('d')])).rejects.toThrow('c cannot start');
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });
});

test('periodic runs its task at start, never two at once, and stopping waits for the run under way', async () => {
  const held = gate();
  let runs = 0;
  let finished = 0;
  const worker = periodic(
    'test',
    60_000,
    async () => {
      runs++;
      await held.opened;
      finished++;
    },
    () => undefined,
  );
  worker.start();
  expect(runs).toBe(1);
  const stopped = Promise.resolve(worker.stop()).then(() => finished);
  held.open();
  expect(await stopped).toBe(1);
  expect(runs).toBe(1);
});
