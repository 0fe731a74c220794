import { readFileSync } from 'node:fs';
import { parse, print, printSchema, visit } from 'graphql';
import { expect, test } from 'vitest';
import { schema } from '../src/graphql/schema.ts';

test('schema.graphql is what the code builds (run `npm run schema` after changing the schema)', () => {
  const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
  expect(committed).toBe(`${printSchema(schema)}\n`);
});

// Signatures as the contract writes them: without descriptions, graphql-js prints arguments on one line.
const sdl = print(
  visit(parse(printSchema(schema)), { enter: (node) => ('description' in node && node.description ? { ...node, description: undefined } : undefined) }),
);

test('the contract names are in the schema', () => {
  for (const name of [
    'addSeats(input: AddSeatsInput!): SeatEvent!',
    'removeSeats(input: RemoveSeatsInput!): SeatEvent!',
    'setSeats(input: SetSeatsInput!): SeatEvent!',
    'bulkSetSeats(input: BulkSetSeatsInput!): [SeatEvent!]!',
    'seatBalance(customerId: String!, featureCode: String!): SeatBalance!',
    'seatBalances(customerId: String!): [SeatBalance!]!',
    'customers(ids: [String!]!): [Customer]!',
    'createSubscription(input: CreateSubscriptionInput!): PlanSubscription!',
    'cancelSubscription(input: CancelSubscriptionInput!): PlanSubscription!',
    'resumeSubscription(input: ResumeSubscriptionInput!): PlanSubscription!',
    'cancelAtPeriodEnd: Boolean!',
    'cancellation: SubscriptionCancellation',
    'endedAt: DateTime',
  ]) {
    expect(sdl).toContain(name);
  }
});

test('Relay conventions: a Node interface on every refetchable type, node and nodes, full PageInfo, paging both ways', () => {
  for (const type of ['Customer', 'Feature', 'Plan', 'PlanSubscription', 'SeatEvent', 'SeatCharge', 'WebhookEndpoint', 'WebhookDelivery']) {
    expect(sdl).toContain(`type ${type} implements Node {`);
  }
  for (const name of [
    'interface Node {\n  id: ID!\n}',
    'node(id: ID!): Node',
    'nodes(ids: [ID!]!): [Node]!',
    'type PageInfo {\n  endCursor: String\n  hasNextPage: Boolean!\n  hasPreviousPage: Boolean!\n  startCursor: String\n}',
    // The contract's arguments all stay; graphql-js sorts them by name.
    'seatEvents(after: String, before: String, customerId: String!, featureCode: String, first: Int, last: Int): SeatEventConnection!',
    'webhookDeliveries(after: String, before: String, endpointId: ID!, first: Int, last: Int): WebhookDeliveryConnection!',
    'type SeatEventConnection {\n  edges: [SeatEventEdge!]!\n  nodes: [SeatEvent!]!\n  pageInfo: PageInfo!\n}',
    'type SeatEventEdge {\n  cursor: String!\n  node: SeatEvent!\n}',
    'customer(id: String!): Customer',
    'customers(ids: [String!]!): [Customer]!',
  ]) {
    expect(sdl).toContain(name);
  }
});
