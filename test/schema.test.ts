import { readFileSync } from 'node:fs';
import { parse, print, printSchema, visit } from 'graphql';
import { expect, test } from 'vitest';
import { schema } from '../src/schema.js';

test('schema.graphql is what the code builds (run `npm run schema` after changing the schema)', () => {
  const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
  expect(committed).toBe(`${printSchema(schema)}\n`);
});

test('the contract names are in the schema', () => {
  // Signatures as the contract writes them: without descriptions, graphql-js prints arguments on one line.
  const sdl = print(visit(parse(printSchema(schema)), { enter: (node) => ('description' in node && node.description ? { ...node, description: undefined } : undefined) }));
  for (const name of [
    'addSeats(input: AddSeatsInput!): SeatEvent!',
    'removeSeats(input: RemoveSeatsInput!): SeatEvent!',
    'setSeats(input: SetSeatsInput!): SeatEvent!',
    'bulkSetSeats(input: BulkSetSeatsInput!): [SeatEvent!]!',
    'seatBalance(customerId: String!, featureCode: String!): SeatBalance!',
    'seatBalances(customerId: String!): [SeatBalance!]!',
    'customers(ids: [String!]!): [Customer]!',
    'createSubscription(input: CreateSubscriptionInput!): PlanSubscription!',
  ]) {
    expect(sdl).toContain(name);
  }
});
