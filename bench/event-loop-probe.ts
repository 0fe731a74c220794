// Preloaded into seatgate by the bench (node --import): measures how long the event loop is held.
// SIGUSR2 prints the longest delay since the previous SIGUSR2 (on stdout, as one line) and resets.
import { monitorEventLoopDelay } from 'node:perf_hooks';

const delays = monitorEventLoopDelay({ resolution: 1 });
delays.enable();
process.on('SIGUSR2', () => {
  process.stdout.write(`event-loop max ${(delays.max / 1e6).toFixed(1)} ms\n`);
  delays.reset();
});
