import { resolveNodes } from '@pothos/plugin-relay';
import { GraphQLError, type GraphQLResolveInfo, Kind, type ValueNode } from 'graphql';
import { builder } from './builder.ts';
import type { Context } from '../types.ts';
import { maxNodesPerQuery, parseGlobalId } from '../common/relay.ts';
import { opaqueIdRule } from '../common/validation.ts';
import { parseSeatBalanceId } from '../seats/balance-id.ts';

builder.queryType({
  description:
    'Reads. Every request needs an API key in the x-api-key header (unauthorized otherwise) and sees only the data of its organization and mode (live or test). Errors carry extensions.code, type, param (the argument or input field at fault) and details.',
});
builder.mutationType({
  description:
    'Changes. A request may hold one mutation field (validation_error otherwise); use bulkSetSeats to change several balances of one customer at once. Errors carry extensions.code, type, param (the input field at fault) and details.',
});

/** One number as a description shows it: 1,000,000. */
export const formatCount = (value: number): string => value.toLocaleString('en-US');

/** Wording shared by the fields and arguments of every domain schema, so it reads the same everywhere. */
export const describe = {
  livemode: 'True for data of live keys (ck_live_…), false for test keys (ck_test_…).',
  customerIdArg: 'The customer: its `cus_` id or its external id (your own), 1–200 characters; customer_not_found when there is none.',
  customerIdOut: 'The customer: its external id when it has one, else its `cus_` id.',
  featureCodeArg: 'The code of a seat feature: ^[a-z0-9_]+$, 1–50 characters.',
  featureCodeOut: 'The code of the seat feature.',
  currency: 'ISO 4217 code of the plan currency (such as EUR); amounts are in its minor units (cents for EUR).',
  createdAt: 'When it was created.',
  periodStart: 'Start of the billing period charged (inclusive).',
  periodEnd: 'End of the billing period charged (exclusive).',
} as const;

const isoDateTime = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Years this service can bill in; outside them dates are typos, and JS maps years below 100 oddly. */
const minYear = 1970;
const maxYear = 9999;

function parseDateTime(value: unknown, node?: ValueNode): Date {
  const parts = typeof value === 'string' ? isoDateTime.exec(value) : null;
  const date = parts ? new Date(value as string) : null;
  const [, year, month, day, hour, minute, second] = parts ?? [];
  // Date rolls Feb 30 over into March, and 24:00 into the next day; a calendar day or time of
  // day that does not exist is an error instead.
  const realDay = date && new Date(Date.UTC(Number(year), Number(month) - 1, Number(day))).getUTCDate() === Number(day);
  const realTime = Number(hour) <= 23 && Number(minute) <= 59 && (second === undefined || Number(second.slice(1, 3)) <= 59);
  if (!date || Number.isNaN(date.getTime()) || !realDay || !realTime || Number(month) > 12) {
    throw new GraphQLError('DateTime must be an ISO 8601 string with a time zone, such as 2026-03-15T00:00:00Z.', { nodes: node });
  }
  if (date.getUTCFullYear() < minYear || date.getUTCFullYear() > maxYear) {
    throw new GraphQLError(`DateTime must lie between the years ${minYear} and ${maxYear}.`, { nodes: node });
  }
  return date;
}

builder.scalarType('DateTime', {
  description: 'An instant, as an ISO 8601 string in UTC (2026-03-15T09:30:00.000Z).',
  serialize: (value) => (value instanceof Date ? value : new Date(value as string)).toISOString(),
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => {
    // The node lets the error point at the argument, so `param` can name it.
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string.', { nodes: ast });
    return parseDateTime(ast.value, ast);
  },
});

function parseSafeInt(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new GraphQLError('SafeInt must be an integer within ±(2^53 − 1).');
  return value;
}

builder.scalarType('SafeInt', {
  description: 'An integer within ±(2^53 − 1): amounts of money in minor units of their currency.',
  serialize: (value) => parseSafeInt(value),
  parseValue: parseSafeInt,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.INT) throw new GraphQLError('SafeInt must be an integer.', { nodes: ast });
    return parseSafeInt(Number(ast.value));
  },
});

const nodeTypes =
  'a customer (cus_), seat balance (sbal_), feature (feat_), plan (plan_), subscription (sub_), seat event (sev_), charge (chg_), webhook endpoint (we_) or webhook delivery (msg_)';

/** The type a global id names: a balance's (named by its customer and feature), or a row's by its prefix. */
const parseNodeId = (id: string) => (parseSeatBalanceId(id) ? { typename: 'SeatBalance', id } : parseGlobalId(id));

/**
 * Nodes by global id, in the order asked, through the loaders of their types: ids of one type
 * are read in one batch, scoped to the caller's organization and mode. An id of another tenant,
 * an unknown one, and one no object can have (no known prefix) all answer null alike.
 */
async function loadNodes(ctx: Context, info: GraphQLResolveInfo, ids: readonly string[]): Promise<unknown[]> {
  return Promise.all(await resolveNodes(builder, ctx, info, ids.map(parseNodeId)));
}

builder.queryFields((t) => ({
  node: t.field({
    type: builder.nodeInterfaceRef(),
    nullable: true,
    description: `Any object by its global id (its \`id\` field): ${nodeTypes}. Null when your organization and mode have no such object, whether it does not exist or belongs to another organization or mode. Errors: validation_error (an empty id, or one over ${opaqueIdRule.maxLength} characters).`,
    args: {
      id: t.arg.id({ description: `The object's \`id\`, such as cus_… or sev_…, at most ${opaqueIdRule.maxLength} characters.`, validate: opaqueIdRule }),
    },
    resolve: async (_root, { id }, ctx, info) => (await loadNodes(ctx, info, [String(id)]))[0] ?? null,
  }),
  nodes: t.field({
    type: [builder.nodeInterfaceRef()],
    nullable: { list: false, items: true },
    description: `Objects by global id, in the order asked, null where your organization and mode have no such object (at most ${maxNodesPerQuery} ids): ${nodeTypes}. Ids of one type are read together, so a hundred cost what one does. Errors: validation_error.`,
    args: {
      ids: t.arg.idList({
        description: `At most ${maxNodesPerQuery} ids, each an object's \`id\` of at most ${opaqueIdRule.maxLength} characters.`,
        validate: { maxLength: maxNodesPerQuery, items: opaqueIdRule },
      }),
    },
    resolve: (_root, { ids }, ctx, info) => loadNodes(ctx, info, ids.map(String)),
  }),
}));

type QueryFieldBuilder = Parameters<Parameters<typeof builder.queryFields>[0]>[0];

/** A list paged both ways and shown newest first, as its paging arguments describe it. */
export type PagedList = {
  /** What the list holds, plural: "events". */
  noun: string;
  max: number;
  defaultSize: number;
  /** Whose cursors the list takes: "this endpoint". */
  cursorOf: string;
  /** What a cursor of another list answers, said in a sentence. */
  foreignCursor: string;
  cursorMaxLength: number;
};

/** first/after/last/before of a connection: forwards to older items, backwards to newer ones. */
export function pagingArgs(t: QueryFieldBuilder, list: PagedList) {
  const cursor = (endCursor: 'endCursor' | 'startCursor', than: 'older' | 'newer') =>
    t.arg.string({
      required: false,
      description: `A cursor of ${list.cursorOf} (an edge cursor or pageInfo.${endCursor}): the page holds only ${list.noun} ${than} than it. ${list.foreignCursor}`,
      validate: { minLength: 1, maxLength: list.cursorMaxLength },
    });
  return {
    first: t.arg.int({
      required: false,
      description: `Forward paging: how many ${list.noun} to read, 1–${list.max}, going older from \`after\` (from the newest when after is omitted); ${list.defaultSize} when neither first nor last is given. Not with last (validation_error).`,
      validate: { min: 1, max: list.max },
    }),
    after: cursor('endCursor', 'older'),
    last: t.arg.int({
      required: false,
      description: `Backward paging: how many ${list.noun} to read, 1–${list.max}, going newer from \`before\` (from the oldest when before is omitted); the page is still shown newest first. Not with first (validation_error).`,
      validate: { min: 1, max: list.max },
    }),
    before: cursor('startCursor', 'newer'),
  };
}
