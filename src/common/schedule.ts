/**
 * Runs `task` now and then every `everyMs`, for as long as the process runs (the timer does not
 * keep it alive). A failure goes to `onError`, and the next round runs as planned. Returns the
 * function that stops it.
 */
export function every(everyMs: number, task: () => Promise<unknown>, onError: (error: unknown) => void): () => void {
  const tick = () => void task().catch(onError);
  tick();
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
