import DataLoader from 'dataloader';

/**
 * A request's loader of records by reference, keyed by whole lists of references: a list field
 * loads its hundred refs as one key, one promise where `loadMany` makes two hundred. Lists asked
 * for in one tick are still read in one batch; unlike a per-key loader, it caches nothing.
 */
export type RefListLoader<V> = DataLoader<readonly string[], (V | null)[]>;

export const refListLoader = <V>(find: (refs: readonly string[]) => Promise<Map<string, V>>): RefListLoader<V> =>
  new DataLoader(
    async (lists) => {
      const found = await find(lists.length === 1 ? lists[0]! : lists.flat());
      return lists.map((refs) => refs.map((ref) => found.get(ref) ?? null));
    },
    { cache: false },
  );

/** One record through a list loader; null when there is none. */
export const loadOne = async <V>(loader: RefListLoader<V>, ref: string): Promise<V | null> => (await loader.load([ref]))[0] ?? null;
