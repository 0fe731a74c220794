import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Lets at most `perTurn` callers through per turn of the event loop; the rest wait for the next
 * turns, in order. Work that arrives all at once (a thousand clients reconnecting after a
 * deploy) then runs over several turns, and timers and other requests get their turn between.
 */
export function turnstile(perTurn: number): () => Promise<void> {
  let passed = 0;
  let turnEnds: Promise<void> | null = null;
  const nextTurnStarts = () => {
    turnEnds ??= nextTurn().then(() => {
      passed = 0;
      turnEnds = null;
    });
    return turnEnds;
  };
  return async () => {
    while (passed >= perTurn) await nextTurnStarts();
    passed++;
    void nextTurnStarts();
  };
}
