import { singleFlight } from './workers.ts';

/**
 * Runs `work` on batches: the first call starts a batch at once; calls made while it runs queue,
 * and the next batch takes them all. No timer, so a lone call waits for nothing. `work` answers
 * one result per item, in order; if it throws, every call of that batch rejects with the error.
 */
export function coalesced<Item, Result>(work: (items: Item[]) => Promise<Result[]>): (item: Item) => Promise<Result> {
  type Waiting = { item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void };
  let queue: Waiting[] = [];
  const batches = singleFlight(async () => {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        const results = await work(batch.map(({ item }) => item));
        for (const [index, waiting] of batch.entries()) waiting.resolve(results[index]!);
      } catch (error) {
        for (const waiting of batch) waiting.reject(error);
      }
    }
  });
  return (item) =>
    new Promise<Result>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      void batches.kick();
    });
}
