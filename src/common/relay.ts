import { validationError } from './errors.ts';

// Relay conventions without the schema builder (src/builder.ts reads these, so they may not import it).

/**
 * Global ids are the public ids themselves, Stripe style: each carries a prefix naming its type,
 * and is unique and unguessable, so `id` means the same in every field, in node(id:), and in a
 * client's normalised cache. The prefix says which type, and so which loader, an id is for.
 */
const nodeTypenameByPrefix: Readonly<Record<string, string>> = {
  cus: 'Customer',
  feat: 'Feature',
  plan: 'Plan',
  sub: 'PlanSubscription',
  sev: 'SeatEvent',
  chg: 'SeatCharge',
  we: 'WebhookEndpoint',
  msg: 'WebhookDelivery',
};

/** Every public id: a lower-case prefix, then 26 characters of Crockford base32 (src/ids.ts). */
const publicId = /^([a-z]+)_[0-9a-z]{26}$/;

/** nodes(ids:) takes at most this many ids. */
export const maxNodesPerQuery = 100;

/** The type an id names and the id to load it by; null for an id no object of this API can have. */
export function parseGlobalId(globalId: string): { typename: string; id: string } | null {
  const typename = nodeTypenameByPrefix[publicId.exec(globalId)?.[1] ?? ''];
  return typename ? { typename, id: globalId } : null;
}

/**
 * Nodes through a request's DataLoader: every id is asked for in the same tick, so one batch (one
 * statement) reads them all; null for the ids the caller's tenant has no object for.
 */
export const loadAll = <K, V>(loader: { load(key: K): Promise<V | null> }, keys: readonly K[]): Promise<(V | null)[]> =>
  Promise.all(keys.map((key) => loader.load(key)));

/** For arguments declared with t.arg.globalID: an id no object can have is the caller's mistake. */
export function decodeGlobalId(globalId: string): { typename: string; id: string } {
  const parsed = parseGlobalId(globalId);
  if (!parsed)
    throw validationError('id', `'${globalId.slice(0, 100)}' is not an id of this API: ids start with cus_, feat_, plan_, sub_, sev_, chg_, we_ or msg_.`);
  return parsed;
}

/**
 * A list's cursors: the public id of an item, tagged with the list (and its format's version),
 * in base64url. They say nothing a caller could not read from the page itself: no position in a
 * table other tenants write to. A cursor is resolved against the list it is used on, in the
 * statement that reads the page, so one of another organization, customer or endpoint is refused.
 */
export type CursorKind = { tag: string; idPrefix: string };

const encodeCursor = (kind: CursorKind, id: string): string => Buffer.from(`${kind.tag}:${id}`).toString('base64url');

/** The id a cursor names, or validation_error naming the argument. */
function decodeCursor(kind: CursorKind, cursor: string, param: string): string {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const [, tag, id] = /^([^:]+):(.*)$/.exec(text) ?? [];
  if (tag !== kind.tag || !id || publicId.exec(id)?.[1] !== kind.idPrefix) {
    throw validationError(
      param,
      `${param} is not a cursor this API returned for this list: pass an edge cursor, pageInfo.startCursor or pageInfo.endCursor of it.`,
    );
  }
  return id;
}

/** The refusal of a well-formed cursor that names no item of this list. */
export const foreignCursor = (param: string) =>
  validationError(param, `The ${param} cursor does not belong to this list: it was returned for another list, customer, endpoint, organization or mode.`);

export type ConnectionArgs = { first?: number | null; after?: string | null; last?: number | null; before?: string | null };

/**
 * One page to read: `limit` items (one more than asked, to learn whether more follow) from the
 * newest end (forward, first/after) or the oldest end (backward, last/before) of the range the
 * cursors leave, each cursor as the id it names.
 */
export type PageRequest = { backward: boolean; size: number; limit: number; afterId: string | null; beforeId: string | null };

export function pageRequest(args: ConnectionArgs, kind: CursorKind, sizes: { default: number; max: number }): PageRequest {
  if (args.first != null && args.last != null) {
    throw validationError('last', 'Pass first (forward paging) or last (backward paging), not both.', [
      { field: 'first', message: 'not with last' },
      { field: 'last', message: 'not with first' },
    ]);
  }
  const backward = args.last != null;
  const size = (backward ? args.last : args.first) ?? sizes.default;
  const param = backward ? 'last' : 'first';
  if (!Number.isSafeInteger(size) || size < 1 || size > sizes.max) throw validationError(param, `${param} is 1 to ${sizes.max}.`);
  return {
    backward,
    size,
    limit: size + 1,
    afterId: args.after != null ? decodeCursor(kind, args.after, 'after') : null,
    beforeId: args.before != null ? decodeCursor(kind, args.before, 'before') : null,
  };
}

type PageInfoShape = { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
export type Connection<T> = { edges: { cursor: string; node: T }[]; pageInfo: PageInfoShape };

/**
 * The connection of the rows a page read, in reading order (newest first forward, oldest first
 * backward), at most `limit` of them. Items are shown in list order either way. A cursor names an
 * item of the list, so paging from one means items lie beyond it: with `after`, the page has a
 * previous page; with `before`, a next one.
 */
export function connectionOf<T>(rows: T[], request: PageRequest, kind: CursorKind, idOf: (item: T) => string): Connection<T> {
  const more = rows.length > request.size;
  const page = rows.slice(0, request.size);
  if (request.backward) page.reverse();
  const edges = page.map((node) => ({ cursor: encodeCursor(kind, idOf(node)), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: request.backward ? request.beforeId !== null : more,
      hasPreviousPage: request.backward ? more : request.afterId !== null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

/** The items of a page without their cursors: a connection's `nodes` field. */
export const nodesOf = <T>(connection: Connection<T>): T[] => connection.edges.map((edge) => edge.node);
