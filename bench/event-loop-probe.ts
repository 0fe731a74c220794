// Preloaded into seatgate by the bench (node --import): measures how long the event loop is held.
// SIGUSR2 prints the longest delay since the previous SIGUSR2, and the resident memory and the
// JavaScript heap plus external buffers after a full garbage collection (on stdout, as one line),
// then resets.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// gc() without --expose-gc on the command line, which would make seatgate's flags differ from npm start's.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const delays = monitorEventLoopDelay({ resolution: 1 });
delays.enable();
process.on('SIGUSR2', () => {
  const maxMs = delays.max / 1e6;
  // Collected before the reset: its pause is not counted as a stall of the next period.
  collectGarbage();
  const memory = process.memoryUsage();
  const kb = (bytes: number) => Math.round(bytes / 1024);
  process.stdout.write(
    `event-loop max ${maxMs.toFixed(1)} ms, rss after gc ${kb(memory.rss)} kB, heap + external ${kb(memory.heapUsed + memory.external)} kB\n`,
  );
  delays.reset();
});
