import { afterAll, beforeAll, inject, vi } from 'vitest';
import { describe, expect, test } from './fixtures.ts';
import { openOrm, type Orm } from '../src/db/orm.ts';
import { EventHub } from '../src/events/hub.ts';
import { deliveryQueue } from '../src/webhooks/service.ts';
import { createLogger } from '../src/common/logger.ts';
import { type Client, graphql, type Harness, mutations, newTenant, seatScenario, type SeatScenario } from './helpers.ts';

// This file's own relay publishes the outbox, so webhook deliveries get queued (no worker sends
// them). It has a connection pool of its own: the statements counted below are the requests' only.
let hubOrm: Orm;
let hub: EventHub;
beforeAll(async () => {
  hubOrm = await openOrm(inject('databaseUrl'), { poolMax: 2 });
  hub = new EventHub(
    hubOrm,
    createLogger('warn', () => {}),
    deliveryQueue(null),
  );
  await hub.start();
});
afterAll(async () => {
  await hub?.stop();
  await hubOrm?.close();
});

const eventually = <T>(check: () => Promise<T> | T) => vi.waitFor(check, { timeout: 30_000, interval: 50 });

const sql = <T = any>(harness: Harness, query: string, params: unknown[] = []) => harness.orm.em.fork().getConnection().execute<T[]>(query, params);

/** What each Node type is compared on: fields that do not change between two reads. */
const fragments = `
  __typename id
  ... on Customer { externalId name livemode }
  ... on Feature { code name type }
  ... on Plan { code currency interval seatFeatures { featureCode includedSeats } }
  ... on PlanSubscription { customerId planCode status currentPeriodStart }
  ... on SeatEvent { customerId featureCode kind count previousBalance newBalance ts }
  ... on SeatCharge { customerId featureCode chargeKind: kind quantity amount causedBy: eventId }
  ... on WebhookEndpoint { url events enabled }
  ... on WebhookDelivery { eventId eventType }
`;
const nodeQuery = /* GraphQL */ `query($id: ID!) { node(id: $id) { ${fragments} } }`;
const nodesQuery = /* GraphQL */ `query($ids: [ID!]!) { nodes(ids: $ids) { ${fragments} } }`;

type Found = { __typename: string; id: string; [field: string]: unknown };

/**
 * One object of every Node type, read through the fields clients use today (not node): a
 * subscribed customer with seats over its included ones (so an advance and a true-up charge),
 * and a webhook endpoint with one delivery.
 */
async function everyType(s: SeatScenario): Promise<Found[]> {
  const { createWebhookEndpoint } = await s.client.ok(
    /* GraphQL */ `mutation { createWebhookEndpoint(input: { url: "http://127.0.0.1:9/relay", events: [SEAT_CHANGED] }) { endpoint { __typename id url events enabled } } }`,
  );
  const endpoint = createWebhookEndpoint.endpoint as Found;
  const { addSeats } = await s.client.ok(
    /* GraphQL */ `mutation($input: AddSeatsInput!) { addSeats(input: $input) { __typename id customerId featureCode kind count previousBalance newBalance ts } }`,
    {
      input: { customerId: s.customerId, featureCode: 'editor', count: 2 },
    },
  );
  const read = await s.client.ok(
    /* GraphQL */ `query($c: String!) {
      customer(id: $c) { __typename id externalId name livemode subscription { __typename id customerId planCode status currentPeriodStart } }
      features { __typename id code name type }
      plans { __typename id code currency interval seatFeatures { featureCode includedSeats } }
      seatCharges(customerId: $c) { __typename id customerId featureCode chargeKind: kind quantity amount causedBy: eventId }
    }`,
    { c: s.customerId },
  );
  const delivery = await eventually(async () => {
    const { webhookDeliveries } = await s.client.ok(
      /* GraphQL */ `query($e: ID!) { webhookDeliveries(endpointId: $e) { nodes { __typename id eventId eventType } } }`,
      {
        e: endpoint.id,
      },
    );
    // The addSeats event's (the subscription's own events may have been published after the endpoint was made, too).
    const found = (webhookDeliveries.nodes as Found[]).find((d) => d.eventId && d.eventType === 'SEAT_CHANGED');
    expect(found).toBeDefined();
    return found!;
  });
  const { subscription, ...customer } = read.customer;
  expect(read.seatCharges.map((charge: Found) => charge.chargeKind)).toEqual(['ADVANCE', 'TRUE_UP']);
  return [customer, read.features[0], read.plans[0], subscription, addSeats, read.seatCharges[0], read.seatCharges[1], endpoint, delivery];
}

const nodeTypes = ['Customer', 'Feature', 'Plan', 'PlanSubscription', 'SeatEvent', 'SeatCharge', 'WebhookEndpoint', 'WebhookDelivery'];

describe('node(id:) and nodes(ids:)', () => {
  test('node(id:) gives back the same object for every Node type, by the id its own field shows', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 6 }] });
    const objects = await everyType(s);
    expect(new Set(objects.map((o) => o.__typename))).toEqual(new Set(nodeTypes));
    for (const object of objects) {
      const { node } = await s.client.ok(nodeQuery, { id: object.id });
      expect(node, object.__typename).toEqual(object);
    }
    // The ids are the ones every other field shows, unchanged: cus_, sev_, … (Stripe-style global ids).
    expect(objects.map((o) => o.id.slice(0, o.id.indexOf('_')))).toEqual(['cus', 'feat', 'plan', 'sub', 'sev', 'chg', 'chg', 'we', 'msg']);
  });

  test("nodes(ids:) answers in the order asked, with null for unknown ids and for another organization's or mode's", async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 6 }] });
    const mine = await everyType(s);
    const stranger = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 6 }] });
    const theirs = await everyType(stranger);
    const unknown = ['cus_00000000000000000000000000', 'sev_zzzzzzzzzzzzzzzzzzzzzzzzzz', 'xyz_00000000000000000000000000', 'nobody', s.customerId];

    const ids = [theirs[0]!.id, ...mine.map((o) => o.id).reverse(), ...unknown, ...theirs.map((o) => o.id), mine[0]!.id];
    const { nodes } = await s.client.ok(nodesQuery, { ids });
    expect(nodes).toEqual([null, ...[...mine].reverse(), ...unknown.map(() => null), ...theirs.map(() => null), mine[0]]);

    // The same organization's other mode sees none of them either, and one by one the answer is the same.
    const live = await newTenant(harness, 'live', s.organization);
    expect((await live.client.ok(nodesQuery, { ids: mine.map((o) => o.id) })).nodes).toEqual(mine.map(() => null));
    for (const id of [theirs[4]!.id, ...unknown]) expect(await s.client.ok(nodeQuery, { id })).toEqual({ node: null });
  });

  test('a seat balance is a node: one id wherever it shows, and node(id:) finds it only for its own organization and mode', async ({ harness }) => {
    const balanceFields = '__typename id customerId featureCode current includedSeats unlimited livemode';
    const read = async (s: SeatScenario) =>
      s.client.ok(
        /* GraphQL */ `query($c: String!) {
          seatBalances(customerId: $c) { ${balanceFields} }
          seatBalance(customerId: $c, featureCode: "editor") { ${balanceFields} }
          customer(id: $c) { seatBalances { ${balanceFields} } seatBalance(featureCode: "editor") { ${balanceFields} } }
        }`,
        { c: s.customerId },
      );
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 6 }] });
    const mine = await read(s);
    const editor = mine.seatBalances.find((b: Found) => b.featureCode === 'editor');
    expect(editor).toMatchObject({ __typename: 'SeatBalance', id: expect.stringMatching(/^sbal_/), current: 6, includedSeats: 5 });
    expect(mine.seatBalance).toEqual(editor);
    expect(mine.customer.seatBalances).toEqual(mine.seatBalances);
    expect(mine.customer.seatBalance).toEqual(editor);
    expect(new Set(mine.seatBalances.map((b: Found) => b.id)).size).toBe(3);

    // A change answers under the same id; node(id:) reads the balance as it now stands.
    const { addSeats } = await s.client.ok(
      /* GraphQL */ `mutation($input: AddSeatsInput!) { addSeats(input: $input) { balance { ${balanceFields} } customer { id } } }`,
      { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } },
    );
    expect(addSeats).toEqual({ balance: { ...editor, current: 7 }, customer: { id: s.customer.id } });
    expect((await s.client.ok(nodeQuery, { id: editor.id })).node).toMatchObject({ __typename: 'SeatBalance', id: editor.id });
    const { nodes } = await s.client.ok(/* GraphQL */ `query($ids: [ID!]!) { nodes(ids: $ids) { ... on SeatBalance { ${balanceFields} } } }`, {
      ids: mine.seatBalances.map((b: Found) => b.id),
    });
    expect(nodes).toEqual(mine.seatBalances.map((b: Found) => (b.id === editor.id ? { ...b, current: 7 } : b)));

    // The same external id in another organization is another customer: its balances have other ids.
    const stranger = await seatScenario(harness, { externalId: s.customerId, initialSeats: [{ featureCode: 'editor', count: 6 }] });
    const theirs = await read(stranger);
    expect(theirs.seatBalance.customerId).toBe(s.customerId);
    expect(theirs.seatBalance.id).not.toBe(editor.id);
    const live = await newTenant(harness, 'live', s.organization);
    const unknown = [
      editor.id.replace(/_editor$/, '_auditor'), // a feature outside the plan
      editor.id.replace(/_editor$/, '_nothing'),
      'sbal_00000000000000000000000000_editor',
      'sbal_editor',
      `sbal_${'0'.repeat(26)}_${'a'.repeat(60)}`,
    ];
    for (const [client, id] of [
      [s.client, theirs.seatBalance.id],
      [stranger.client, editor.id],
      [live.client, editor.id],
      ...unknown.map((id) => [s.client, id] as const),
    ] as const) {
      expect(await client.ok(nodeQuery, { id }), id).toEqual({ node: null });
      expect(await client.ok(nodesQuery, { ids: [id] }), id).toEqual({ nodes: [null] });
    }
  });

  test('ids that break the rules answer validation_error naming the argument', async ({ tenant: s }) => {
    for (const [query, variables, param] of [
      [nodeQuery, { id: '' }, 'id'],
      [nodeQuery, { id: `cus_${'0'.repeat(200)}` }, 'id'],
      [nodesQuery, { ids: Array.from({ length: 101 }, (_, i) => `cus_${i}`) }, 'ids'],
      [nodesQuery, { ids: ['cus_00000000000000000000000000', ''] }, 'ids.1'],
    ] as const) {
      const error = await s.client.fails(query, variables);
      expect(error.extensions, JSON.stringify(error)).toMatchObject({ code: 'validation_error', param });
    }
  });

  test('nodes(ids:) costs the same statements for 1, 10 and 60 ids of a type, and one batch per type', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 6 }] });
    const objects = await everyType(s);
    await seed(s, 59);
    const events: string[] = (await sql(harness, `select e.id from seat_event e where e.customer_id = ? order by e.seq`, [s.customer.id])).map((row) => row.id);
    const statementsFor = async (ids: string[]) => {
      const { result, statements } = await harness.countStatements(() =>
        graphql(harness, s.key, /* GraphQL */ `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`, { ids }),
      );
      expect(result.errors).toBeUndefined();
      expect(result.data.nodes.map((node: Found) => node.id)).toEqual(ids);
      return statements;
    };
    await statementsFor([events[0]!]); // warms the key cache and the prepared statement

    // Seat events by id: one statement, whatever their number.
    for (const n of [1, 10, 60]) expect(await statementsFor(events.slice(0, n))).toHaveLength(1);

    // Every type at once: one statement per type (a plan joins its seat features), and one more
    // for the deliveries' attempts, however many ids of each.
    const one = await statementsFor(objects.map((o) => o.id));
    const many = await statementsFor([...objects.map((o) => o.id), ...events.slice(0, 40), ...objects.map((o) => o.id).reverse()]);
    expect(one).toHaveLength(nodeTypes.length + 1);
    expect(many).toHaveLength(one.length);
  });
});

/** `count` ADD events on the customer's unlimited feature, sent 100 at a time, so the coalescer writes them in a few transactions. */
async function seed(s: SeatScenario, count: number) {
  for (let sent = 0; sent < count; sent += 100) {
    const wave = Array.from({ length: Math.min(100, count - sent) }, () =>
      s.client.run(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'admin', count: 1 } }),
    );
    for (const response of await Promise.all(wave)) expect(response.errors).toBeUndefined();
  }
}

const pageQuery = /* GraphQL */ `query($c: String!, $f: String, $first: Int, $after: String, $last: Int, $before: String) {
  seatEvents(customerId: $c, featureCode: $f, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

type Page = {
  edges: { cursor: string; node: { id: string } }[];
  nodes: { id: string }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
};

async function page(client: Client, variables: Record<string, unknown>): Promise<Page> {
  const { seatEvents } = await client.ok<{ seatEvents: Page }>(pageQuery, variables);
  // Edges and nodes agree, and the page's cursors are those of its ends.
  expect(seatEvents.nodes).toEqual(seatEvents.edges.map((edge) => edge.node));
  expect(seatEvents.pageInfo.startCursor).toBe(seatEvents.edges[0]?.cursor ?? null);
  expect(seatEvents.pageInfo.endCursor).toBe(seatEvents.edges.at(-1)?.cursor ?? null);
  return seatEvents;
}

const decode = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8');

describe('seatEvents pages both ways', () => {
  test('forwards and backwards over 1,000 events, each event is visited once, in order, with the right PageInfo at both ends', async ({
    harness,
    scenario: s,
  }) => {
    await seed(s, 1000);
    // The ledger's order, newest first, as the table keeps it.
    const ledger: string[] = (await sql(harness, `select id from seat_event where customer_id = ? order by seq desc`, [s.customer.id])).map((row) => row.id);
    expect(ledger).toHaveLength(1000);
    const c = s.customerId;

    // Forwards: first/after, from the newest, 100 a page.
    const forward: string[] = [];
    const pages: Page[] = [];
    let after: string | null = null;
    do {
      const p: Page = await page(s.client, { c, first: 100, after });
      expect(p.edges).toHaveLength(100);
      expect(p.pageInfo.hasPreviousPage).toBe(after !== null);
      pages.push(p);
      forward.push(...p.edges.map((edge) => edge.node.id));
      after = p.pageInfo.hasNextPage ? p.pageInfo.endCursor : null;
    } while (after);
    expect(pages).toHaveLength(10);
    expect(forward).toEqual(ledger);

    // Backwards: last/before, from the oldest, 64 a page (the newest page holds the 40 left), each page newest first.
    const backward: string[][] = [];
    let before: string | null = null;
    let count = 0;
    for (;;) {
      const p: Page = await page(s.client, { c, last: 64, before });
      expect(p.pageInfo.hasNextPage).toBe(before !== null);
      backward.unshift(p.edges.map((edge) => edge.node.id));
      count++;
      if (!p.pageInfo.hasPreviousPage) {
        expect(p.edges).toHaveLength(1000 - 15 * 64);
        break;
      }
      expect(p.edges).toHaveLength(64);
      before = p.pageInfo.startCursor;
    }
    expect(count).toBe(16);
    expect(backward.flat()).toEqual(ledger);

    // Turning round: before the start of forward page 4 lies page 3; after the end of page 3, page 4.
    expect((await page(s.client, { c, last: 100, before: pages[3]!.pageInfo.startCursor })).edges).toEqual(pages[2]!.edges);
    expect((await page(s.client, { c, first: 100, after: pages[2]!.pageInfo.endCursor })).edges).toEqual(pages[3]!.edges);
    // A window between two cursors: the 98 events strictly between page 3's ends.
    const window = await page(s.client, { c, first: 100, after: pages[2]!.pageInfo.startCursor, before: pages[2]!.pageInfo.endCursor });
    expect(window.edges.map((edge) => edge.node.id)).toEqual(ledger.slice(201, 299));
    expect(window.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });

    // Past both ends: empty pages, without cursors, that still say where they lie.
    const oldest = pages[9]!.pageInfo.endCursor;
    const newest = pages[0]!.pageInfo.startCursor;
    expect((await page(s.client, { c, first: 10, after: oldest })).pageInfo).toEqual({
      hasNextPage: false,
      hasPreviousPage: true,
      startCursor: null,
      endCursor: null,
    });
    expect((await page(s.client, { c, last: 10, before: newest })).pageInfo).toEqual({
      hasNextPage: true,
      hasPreviousPage: false,
      startCursor: null,
      endCursor: null,
    });

    // Every page costs the same statements, the last as the first, forwards or backwards, and none skips rows by OFFSET.
    const statementsOf = async (variables: Record<string, unknown>) => (await harness.countStatements(() => page(s.client, { c, ...variables }))).statements;
    const firstPage = await statementsOf({ first: 100 });
    for (const variables of [{ first: 100, after: pages[8]!.pageInfo.endCursor }, { last: 100 }, { last: 100, before: pages[1]!.pageInfo.startCursor }]) {
      const statements = await statementsOf(variables);
      expect(statements).toHaveLength(firstPage.length);
      expect(statements.filter((text) => /\boffset\b/i.test(text))).toEqual([]);
    }

    // A cursor is the event's own public id and nothing else: no position in a table other tenants write to.
    for (const p of pages) for (const edge of p.edges) expect(decode(edge.cursor)).toBe(`ledger.v2:${edge.node.id}`);
  });

  test('the feature filter pages its own list, and takes only its own cursors', async ({ scenario: s }) => {
    await seed(s, 5);
    await s.client.ok(mutations.addSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 1 } });
    await seed(s, 5);
    const all = await page(s.client, { c: s.customerId, first: 100 });
    expect(all.edges).toHaveLength(11);
    const admin = await page(s.client, { c: s.customerId, f: 'admin', first: 4 });
    expect(admin.edges.map((edge) => edge.node.id)).toEqual(all.edges.slice(0, 4).map((edge) => edge.node.id));
    const rest = await page(s.client, { c: s.customerId, f: 'admin', first: 100, after: admin.pageInfo.endCursor });
    expect(rest.edges.map((edge) => edge.node.id)).toEqual([...all.edges.slice(4, 5), ...all.edges.slice(6)].map((edge) => edge.node.id));
    expect(rest.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });

    // The editor event is in the customer's list but not in the admin list.
    const editorCursor = all.edges[5]!.cursor;
    expect((await page(s.client, { c: s.customerId, first: 1, after: editorCursor })).edges).toEqual(all.edges.slice(6, 7));
    const refused = await s.client.fails(pageQuery, { c: s.customerId, f: 'admin', first: 1, after: editorCursor });
    expect(refused.extensions).toMatchObject({ code: 'validation_error', param: 'after' });
  });
});

describe('cursors belong to their list', () => {
  test("a cursor of one organization is refused in another, and so are another customer's and another mode's", async ({ harness }) => {
    const s = await seatScenario(harness);
    await seed(s, 3);
    const mine = await page(s.client, { c: s.customerId, first: 2 });

    const stranger = await seatScenario(harness);
    await seed(stranger, 3);
    const theirs = await page(stranger.client, { c: stranger.customerId, first: 2 });

    const sibling = await (async () => {
      const { createCustomer } = await s.client.ok(/* GraphQL */ `mutation { createCustomer(input: { name: "Sibling" }) { id } }`);
      await s.client.ok(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
        input: { customerId: createCustomer.id, planCode: 'team' },
      });
      return createCustomer.id as string;
    })();
    const live = await newTenant(harness, 'live', s.organization);
    const liveCustomer = (await live.client.ok(/* GraphQL */ `mutation { createCustomer(input: { name: "Live" }) { id } }`)).createCustomer.id;

    const attempts: [Client, string, Record<string, unknown>][] = [
      // Another organization's cursor, on this organization's own customer, either way.
      [s.client, s.customerId, { first: 2, after: theirs.pageInfo.endCursor }],
      [s.client, s.customerId, { last: 2, before: theirs.pageInfo.startCursor }],
      [stranger.client, stranger.customerId, { first: 2, after: mine.pageInfo.endCursor }],
      // Another customer's cursor, in the same organization.
      [s.client, sibling, { first: 2, after: mine.pageInfo.endCursor }],
      [s.client, sibling, { last: 2, before: mine.pageInfo.startCursor }],
      // The other mode of the same organization.
      [live.client, liveCustomer, { first: 2, after: mine.pageInfo.endCursor }],
    ];
    for (const [client, c, variables] of attempts) {
      const response = await client.run(pageQuery, { c, ...variables });
      expect(response.data ?? null).toBeNull();
      expect(response.errors).toHaveLength(1);
      const param = 'after' in variables ? 'after' : 'before';
      expect(response.errors![0]!.extensions).toMatchObject({ code: 'validation_error', type: 'validation_error', param });
      expect(response.errors![0]!.message).toMatch(/does not belong to this list/);
    }
    // The owner still pages with the same cursor.
    expect((await page(s.client, { c: s.customerId, first: 2, after: mine.pageInfo.endCursor })).edges).toHaveLength(1);
  });

  test('cursors say nothing about other tenants: each is the base64url of its own event id', async ({ harness }) => {
    const a = await seatScenario(harness);
    const b = await seatScenario(harness);
    await seed(a, 2);
    await seed(b, 2);
    await seed(a, 2);
    for (const s of [a, b]) {
      const p = await page(s.client, { c: s.customerId, first: 10 });
      for (const edge of p.edges) {
        expect(edge.node.id).toMatch(/^sev_[0-9a-z]{26}$/);
        expect(decode(edge.cursor)).toBe(`ledger.v2:${edge.node.id}`);
      }
    }
    // The table-wide sequence the cursors used to carry is in none of them.
    const seqs: string[] = (await sql(harness, `select seq::text as seq from seat_event where customer_id in (?, ?)`, [a.customer.id, b.customer.id])).map(
      (row) => row.seq,
    );
    const cursors = [...(await page(a.client, { c: a.customerId, first: 10 })).edges, ...(await page(b.client, { c: b.customerId, first: 10 })).edges].map(
      (edge) => decode(edge.cursor),
    );
    for (const cursor of cursors) expect(cursor.split(':').filter((part) => seqs.includes(part))).toEqual([]);
  });

  test('paging arguments that break the rules answer validation_error naming the argument', async ({ scenario: s }) => {
    await seed(s, 2);
    const { edges } = await page(s.client, { c: s.customerId, first: 1 });
    const cursorOf = (text: string) => Buffer.from(text).toString('base64url');
    for (const [variables, param] of [
      [{ first: 1, last: 1 }, 'last'],
      [{ first: 0 }, 'first'],
      [{ last: 0 }, 'last'],
      [{ last: 101 }, 'last'],
      [{ after: 'not a cursor' }, 'after'],
      [{ before: 'bm9wZQ' }, 'before'],
      [{ before: '' }, 'before'],
      [{ after: cursorOf('sev:12') }, 'after'],
      [{ before: cursorOf(`whd:${edges[0]!.node.id}`) }, 'before'],
      [{ after: cursorOf('ledger.v2:sev_00000000000000000000000000') }, 'after'],
    ] as const) {
      const error = await s.client.fails(pageQuery, { c: s.customerId, ...variables });
      expect(error.extensions, JSON.stringify(variables)).toMatchObject({ code: 'validation_error', param });
    }
  });

  test('webhookDeliveries pages both ways, and takes only its own endpoint’s cursors', async ({ harness }) => {
    const s = await seatScenario(harness);
    const create = /* GraphQL */ `mutation { createWebhookEndpoint(input: { url: "http://127.0.0.1:9/relay", events: [SEAT_CHANGED] }) { endpoint { id } } }`;
    const endpoint = (await s.client.ok(create)).createWebhookEndpoint.endpoint.id;
    const sibling = (await s.client.ok(create)).createWebhookEndpoint.endpoint.id;
    await seed(s, 5);
    const deliveries = /* GraphQL */ `query($e: ID!, $first: Int, $after: String, $last: Int, $before: String) {
      webhookDeliveries(endpointId: $e, first: $first, after: $after, last: $last, before: $before) {
        edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }`;
    const all = await eventually(async () => {
      const { webhookDeliveries } = await s.client.ok(deliveries, { e: endpoint, first: 100 });
      expect(webhookDeliveries.edges).toHaveLength(5);
      return webhookDeliveries;
    });
    const ids = all.edges.map((edge: { node: { id: string } }) => edge.node.id);
    expect(all.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: false });

    const oldest = (await s.client.ok(deliveries, { e: endpoint, last: 2 })).webhookDeliveries;
    expect(oldest.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual(ids.slice(3));
    expect(oldest.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    const newer = (await s.client.ok(deliveries, { e: endpoint, last: 2, before: oldest.pageInfo.startCursor })).webhookDeliveries;
    expect(newer.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual(ids.slice(1, 3));
    expect(newer.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });

    for (const variables of [
      { e: sibling, first: 1, after: all.pageInfo.endCursor },
      { e: sibling, last: 1, before: all.pageInfo.startCursor },
    ]) {
      const error = await s.client.fails(deliveries, variables);
      expect(error.extensions).toMatchObject({ code: 'validation_error', param: 'after' in variables ? 'after' : 'before' });
    }
    const stranger = await newTenant(harness);
    const theirs = (await stranger.client.ok(create)).createWebhookEndpoint.endpoint.id;
    expect((await stranger.client.fails(deliveries, { e: theirs, last: 1, before: all.pageInfo.startCursor })).extensions).toMatchObject({
      code: 'validation_error',
      param: 'before',
    });
    expect((await s.client.fails(deliveries, { e: endpoint, first: 1, last: 1 })).extensions).toMatchObject({ code: 'validation_error', param: 'last' });
  });
});
