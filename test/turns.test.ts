import { expect, test } from 'vitest';
import { turnstile } from '../src/common/turns.ts';

/** Runs `callers` through a turnstile of `perTurn` at once, and tells the turn of the event loop in which each passed. */
async function turnsOf(callers: number, perTurn: number): Promise<number[]> {
  let turn = 0;
  let ticking = true;
  const tick = () => {
    turn++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const admit = turnstile(perTurn);
  const passed = await Promise.all(
    Array.from({ length: callers }, async () => {
      await admit();
      return turn;
    }),
  );
  ticking = false;
  return passed;
}

test.for([
  [7, 3],
  [250, 100],
  [1, 100],
])('%i callers at once pass at most %i per turn of the event loop, in the order they came, none left behind', async ([callers, perTurn]) => {
  const turns = await turnsOf(callers!, perTurn!);
  expect(turns).toHaveLength(callers!);
  const perTurnCounts = new Map<number, number>();
  for (const turn of turns) perTurnCounts.set(turn, (perTurnCounts.get(turn) ?? 0) + 1);
  expect(Math.max(...perTurnCounts.values())).toBeLessThanOrEqual(perTurn!);
  expect(perTurnCounts.size).toBe(Math.ceil(callers! / perTurn!));
  expect(turns).toEqual([...turns].sort((a, b) => a - b));
  // The first ones pass in the turn they came in.
  expect(turns.filter((turn) => turn === 0)).toHaveLength(Math.min(callers!, perTurn!));
});
