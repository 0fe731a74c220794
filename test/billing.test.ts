import { describe, expect, test } from './fixtures.ts';
import { defaultApiKeyCacheMs } from '../src/auth/cache.ts';
import { type Client, expectLedgerWhole, graphql, type Harness, mutations, newTenant, seatScenario } from './helpers.ts';

const CHARGE = 'kind quantity unitPrice daysRemaining daysInPeriod periodStart periodEnd amount currency ts eventId';
const advance = /* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now livemode } }`;
const charges = /* GraphQL */ `query($customerId: String!) { seatCharges(customerId: $customerId) { id ${CHARGE} featureCode } }`;
const invoice = /* GraphQL */ `query($customerId: String!) {
  upcomingInvoice(customerId: $customerId) {
    currency billingDate currentPeriodStart currentPeriodEnd nextPeriodStart nextPeriodEnd total
    lines { kind featureCode quantity unitPrice daysRemaining daysInPeriod periodStart periodEnd amount chargeId }
  }
}`;
const change = (op: 'addSeats' | 'removeSeats' | 'setSeats') =>
  /* GraphQL */ `mutation($input: ${op[0]!.toUpperCase()}${op.slice(1)}Input!) { ${op}(input: $input) { id previousBalance newBalance ts charge { ${CHARGE} } } }`;
const preview = /* GraphQL */ `query($input: PreviewSeatChangeInput!) {
  previewSeatChange(input: $input) { previousBalance newBalance charge { ${CHARGE.replace(' eventId', '')} } error { code type param } }
}`;

/** A test tenant on a monthly EUR plan: editor 5 included at 3000 per extra seat, viewer capped at 2. */
async function billingScenario(harness: Harness) {
  const s = await seatScenario(harness, {
    features: [
      { code: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: 3000 },
      { code: 'viewer', includedSeats: 2, overageEnabled: false, unitPrice: 900 },
    ],
    initialSeats: [],
  });
  return s;
}

async function moveClock(client: Client, input: { to?: string; days?: number }) {
  return (await client.ok(advance, { input })).advanceTestClock.now as string;
}

async function subscribe(client: Client, externalId: string, startAt: string, initialSeats: { featureCode: string; count: number }[]) {
  await client.ok(/* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
    input: { name: 'Billing Co', externalId },
  });
  return (
    await client.ok(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { currentPeriodStart currentPeriodEnd } }`, {
      input: { customerId: externalId, planCode: 'team', startAt, initialSeats },
    })
  ).createSubscription;
}

describe('charges through three renewals', () => {
  test('every true-up, advance and upcoming invoice matches hand-computed figures', async ({ harness }) => {
    const s = await billingScenario(harness);
    const c = s.client;
    const seats = (op: 'addSeats' | 'removeSeats' | 'setSeats', count: number) =>
      c.ok(change(op), { input: { customerId: 'billing-co', featureCode: 'editor', count } }).then((data) => data[op]);

    await moveClock(c, { to: '2030-01-31T12:00:00Z' });
    // Period 1: Jan 31 12:00 → Feb 28 12:00 (clamped), touching 29 UTC days. 7 seats: 2 billable in advance.
    const subscription = await subscribe(c, 'billing-co', '2030-01-31T12:00:00Z', [{ featureCode: 'editor', count: 7 }]);
    expect(subscription).toEqual({ currentPeriodStart: '2030-01-31T12:00:00.000Z', currentPeriodEnd: '2030-02-28T12:00:00.000Z' });

    await moveClock(c, { days: 10 }); // Feb 10: 19 days remain (Feb 10..28).
    const up = await seats('addSeats', 3); // 10 seats: billable 5, mark 2 → 3 × 3000 × 19/29 = 5896.55
    expect(up.charge).toMatchObject({
      kind: 'TRUE_UP',
      quantity: 3,
      unitPrice: 3000,
      daysRemaining: 19,
      daysInPeriod: 29,
      amount: 5897,
      currency: 'EUR',
      eventId: up.id,
    });
    expect((await seats('removeSeats', 4)).charge).toBeNull(); // 6: no credit, the mark stays at 5
    expect((await seats('addSeats', 2)).charge).toBeNull(); // 8: billable 3, under the mark
    const set = await seats('setSeats', 12); // billable 7: 2 over the mark → 2 × 3000 × 19/29 = 3931.03
    expect(set.charge).toMatchObject({ kind: 'TRUE_UP', quantity: 2, amount: 3931 });

    let next = (await c.ok(invoice, { customerId: 'billing-co' })).upcomingInvoice;
    expect(next).toMatchObject({
      currency: 'EUR',
      billingDate: '2030-02-28T12:00:00.000Z',
      nextPeriodStart: '2030-02-28T12:00:00.000Z',
      nextPeriodEnd: '2030-03-31T12:00:00.000Z',
      total: 5897 + 3931 + 21000,
    });
    expect(next.lines.map((l: any) => [l.kind, l.quantity, l.amount, l.chargeId === null])).toEqual([
      ['TRUE_UP', 3, 5897, false],
      ['TRUE_UP', 2, 3931, false],
      ['ADVANCE', 7, 21000, true],
    ]);

    // Renewal 1 on Mar 5: period Feb 28 → Mar 31, 7 billable seats in advance; the mark resets to 7.
    await moveClock(c, { to: '2030-03-05T12:00:00Z' });
    expect((await seats('removeSeats', 5)).charge).toBeNull(); // 7 seats, billable 2
    expect((await seats('addSeats', 1)).charge).toBeNull(); // billable 3 ≤ 7
    next = (await c.ok(invoice, { customerId: 'billing-co' })).upcomingInvoice;
    expect(next).toMatchObject({ currentPeriodStart: '2030-02-28T12:00:00.000Z', nextPeriodEnd: '2030-04-30T12:00:00.000Z', total: 9000 });

    // Renewal 2 on Apr 2: period Mar 31 → Apr 30 (31 days touched), 3 billable in advance.
    await moveClock(c, { days: 28 });
    const late = await seats('addSeats', 4); // 12 seats: billable 7, mark 3 → 4 × 3000 × 29/31 = 11225.81
    expect(late.charge).toMatchObject({ quantity: 4, daysRemaining: 29, daysInPeriod: 31, amount: 11226 });

    // Renewal 3 on May 1: period Apr 30 → May 31, 7 billable in advance.
    await moveClock(c, { to: '2030-05-01T00:00:00Z' });
    const all = (await c.ok(charges, { customerId: 'billing-co' })).seatCharges;
    expect(all.map((ch: any) => [ch.kind, ch.featureCode, ch.quantity, ch.amount, ch.periodStart, ch.ts])).toEqual([
      ['ADVANCE', 'editor', 2, 6000, '2030-01-31T12:00:00.000Z', '2030-01-31T12:00:00.000Z'],
      ['TRUE_UP', 'editor', 3, 5897, '2030-01-31T12:00:00.000Z', up.ts],
      ['TRUE_UP', 'editor', 2, 3931, '2030-01-31T12:00:00.000Z', set.ts],
      ['ADVANCE', 'editor', 7, 21000, '2030-02-28T12:00:00.000Z', '2030-02-28T12:00:00.000Z'],
      ['ADVANCE', 'editor', 3, 9000, '2030-03-31T12:00:00.000Z', '2030-03-31T12:00:00.000Z'],
      ['TRUE_UP', 'editor', 4, 11226, '2030-03-31T12:00:00.000Z', late.ts],
      ['ADVANCE', 'editor', 7, 21000, '2030-04-30T12:00:00.000Z', '2030-04-30T12:00:00.000Z'],
    ]);
    expect(all.filter((ch: any) => ch.kind === 'ADVANCE').every((ch: any) => ch.eventId === null || ch.periodStart === '2030-01-31T12:00:00.000Z')).toBe(true);
    expect(all.reduce((sum: number, ch: any) => sum + ch.amount, 0)).toBe(78054);

    next = (await c.ok(invoice, { customerId: 'billing-co' })).upcomingInvoice;
    expect(next).toMatchObject({ currentPeriodStart: '2030-04-30T12:00:00.000Z', nextPeriodStart: '2030-05-31T12:00:00.000Z', total: 21000 });
    const { customer } = await c.ok(/* GraphQL */ `{ customer(id: "billing-co") { subscription { currentPeriodStart currentPeriodEnd } } }`);
    expect(customer.subscription).toEqual({ currentPeriodStart: '2030-04-30T12:00:00.000Z', currentPeriodEnd: '2030-05-31T12:00:00.000Z' });
    await expectLedgerWhole(harness, 'billing-co', 'editor');
  });

  test('a feature without overage never charges, and seatCharges filters by time', async ({ harness }) => {
    const s = await billingScenario(harness);
    await moveClock(s.client, { to: '2031-06-01T00:00:00Z' });
    await subscribe(s.client, 'capped-co', '2031-06-01T00:00:00Z', [{ featureCode: 'viewer', count: 2 }]);
    await s.client.ok(change('setSeats'), { input: { customerId: 'capped-co', featureCode: 'editor', count: 6 } });
    await moveClock(s.client, { days: 40 });
    const list = async (from?: string, to?: string) =>
      (
        await s.client.ok(
          /* GraphQL */ `query($c: String!, $from: DateTime, $to: DateTime) { seatCharges(customerId: $c, from: $from, to: $to) { kind featureCode amount ts } }`,
          { c: 'capped-co', from, to },
        )
      ).seatCharges;
    expect((await list()).map((ch: any) => [ch.kind, ch.featureCode, ch.amount])).toEqual([
      ['TRUE_UP', 'editor', 3000],
      ['ADVANCE', 'editor', 3000],
    ]);
    expect(await list('2031-07-01T00:00:00Z')).toEqual([{ kind: 'ADVANCE', featureCode: 'editor', amount: 3000, ts: '2031-07-01T00:00:00.000Z' }]);
    expect((await list(undefined, '2031-07-01T00:00:00Z')).map((ch: any) => ch.kind)).toEqual(['TRUE_UP']);
  });

  test('a clock that jumps several periods ahead catches up: one advance per period entered', async ({ harness }) => {
    const s = await billingScenario(harness);
    await moveClock(s.client, { to: '2032-01-15T00:00:00Z' });
    await subscribe(s.client, 'backdated', '2032-01-15T00:00:00Z', [{ featureCode: 'editor', count: 6 }]);
    await moveClock(s.client, { to: '2032-04-10T00:00:00Z' });
    const { customer } = await s.client.ok(/* GraphQL */ `{ customer(id: "backdated") { subscription { currentPeriodStart currentPeriodEnd } } }`);
    expect(customer.subscription).toEqual({ currentPeriodStart: '2032-03-15T00:00:00.000Z', currentPeriodEnd: '2032-04-15T00:00:00.000Z' });
    const all = (await s.client.ok(charges, { customerId: 'backdated' })).seatCharges;
    expect(all.map((ch: any) => [ch.kind, ch.periodStart, ch.amount, ch.daysInPeriod])).toEqual([
      ['ADVANCE', '2032-01-15T00:00:00.000Z', 3000, 31],
      ['ADVANCE', '2032-02-15T00:00:00.000Z', 3000, 29],
      ['ADVANCE', '2032-03-15T00:00:00.000Z', 3000, 31],
    ]);
  });
});

describe('renewals', () => {
  test('concurrent requests noticing the same rollover record one advance', async ({ harness }) => {
    const s = await billingScenario(harness);
    await moveClock(s.client, { to: '2033-01-10T00:00:00Z' });
    await subscribe(s.client, 'racer', '2033-01-10T00:00:00Z', [{ featureCode: 'editor', count: 9 }]);
    // Move the clock behind the service's back, so that no renewal has run yet.
    await harness.orm.em
      .fork()
      .getConnection()
      .execute(`update test_clock set frozen_at = frozen_at + interval '45 days' where organization_id = ?`, [s.organizationId]);
    // A clock moved outside this server is seen once its cached key expires.
    harness.passTime(defaultApiKeyCacheMs + 1);
    const requests = Array.from({ length: 12 }, (_, i) =>
      i % 3 === 0
        ? s.client.run(/* GraphQL */ `mutation { renewDueSubscriptions { subscriptions periods } }`)
        : i % 3 === 1
          ? s.client.run(invoice, { customerId: 'racer' })
          : s.client.run(mutations.addSeats, { input: { customerId: 'racer', featureCode: 'viewer', count: 1 } }),
    );
    const responses = await Promise.all(requests);
    for (const [i, response] of responses.entries()) {
      if (i % 3 === 2) expect(['seat_limit_exceeded', undefined]).toContain(response.errors?.[0]?.extensions.code);
      else expect(response.errors).toBeUndefined();
    }
    const advances = (await s.client.ok(charges, { customerId: 'racer' })).seatCharges.filter((ch: any) => ch.kind === 'ADVANCE');
    expect(advances.map((ch: any) => ch.periodStart)).toEqual(['2033-01-10T00:00:00.000Z', '2033-02-10T00:00:00.000Z']);
    const renewedAgain = await s.client.ok(/* GraphQL */ `mutation { renewDueSubscriptions { subscriptions periods } }`);
    expect(renewedAgain.renewDueSubscriptions).toEqual({ subscriptions: 0, periods: 0 });
  });
});

describe('previews', () => {
  test('a preview gives the charge the real change then makes, and writes nothing', async ({ harness }) => {
    const s = await billingScenario(harness);
    await moveClock(s.client, { to: '2034-03-01T00:00:00Z' });
    await subscribe(s.client, 'previewed', '2034-03-01T00:00:00Z', [{ featureCode: 'editor', count: 5 }]);
    await moveClock(s.client, { to: '2034-03-15T10:00:00Z' });
    const input = { customerId: 'previewed', featureCode: 'editor', count: 5 };
    const before = await harness.orm.em
      .fork()
      .getConnection()
      .execute(`select (select count(*) from seat_event) as events, (select count(*) from seat_charge) as charges`);
    const { previewSeatChange } = await s.client.ok(preview, { input: { ...input, kind: 'ADD' } });
    // The contract's second worked example, at 3000: 5 × 3000 × 17/31 = 8225.81.
    expect(previewSeatChange).toMatchObject({
      previousBalance: 5,
      newBalance: 10,
      error: null,
      charge: { kind: 'TRUE_UP', quantity: 5, daysRemaining: 17, daysInPeriod: 31, amount: 8226 },
    });
    const after = await harness.orm.em
      .fork()
      .getConnection()
      .execute(`select (select count(*) from seat_event) as events, (select count(*) from seat_charge) as charges`);
    expect(after).toEqual(before);

    const { addSeats } = await s.client.ok(change('addSeats'), { input });
    expect(addSeats).toMatchObject({ previousBalance: 5, newBalance: 10 });
    // Everything but the instant (the test clock ticks between the two requests) is the same.
    const { eventId: _eventId, ts: _chargedAt, ...charged } = addSeats.charge;
    const { ts: _previewedAt, ...quoted } = previewSeatChange.charge;
    expect(charged).toEqual(quoted);
  });

  test('a preview of an invalid change answers the real change’s error code and changes nothing', async ({ harness }) => {
    const s = await billingScenario(harness);
    await subscribe(s.client, 'refused', new Date(Date.now() - 60_000).toISOString(), [
      { featureCode: 'editor', count: 1 },
      { featureCode: 'viewer', count: 2 },
    ]);
    for (const [kind, featureCode, count, op] of [
      ['REMOVE', 'editor', 2, 'removeSeats'],
      ['ADD', 'viewer', 1, 'addSeats'],
      ['SET', 'auditor', 1, 'setSeats'],
      ['ADD', 'ghost', 1, 'addSeats'],
    ] as const) {
      const { previewSeatChange } = await s.client.ok(preview, { input: { customerId: 'refused', featureCode, kind, count } });
      const real = await s.client.fails(change(op), { input: { customerId: 'refused', featureCode, count } });
      expect(previewSeatChange.error).toEqual({ code: real.extensions.code, type: real.extensions.type, param: real.extensions.param });
      expect(previewSeatChange.newBalance).toBeNull();
    }
    const events = await expectLedgerWhole(harness, 'refused', 'editor');
    expect(events).toHaveLength(1);
  });
});

describe('the test clock', () => {
  test('starts at real time, only moves forward, and belongs to test mode', async ({ harness }) => {
    const { client } = await newTenant(harness);
    const { testClock } = await client.ok(/* GraphQL */ `{ testClock { now livemode } }`);
    expect(Math.abs(new Date(testClock.now).getTime() - Date.now())).toBeLessThan(60_000);
    expect(testClock.livemode).toBe(false);
    const later = await moveClock(client, { days: 3 });
    expect(new Date(later).getTime() - new Date(testClock.now).getTime()).toBeGreaterThanOrEqual(3 * 86_400_000);

    const back = await client.fails(advance, { input: { to: testClock.now } });
    expect(back.extensions).toMatchObject({ code: 'validation_error', param: 'to' });
    const both = await client.fails(advance, { input: { to: '2040-01-01T00:00:00Z', days: 1 } });
    expect(both.extensions.code).toBe('validation_error');
    const none = await client.fails(advance, { input: {} });
    expect(none.extensions.code).toBe('validation_error');

    const live = await newTenant(harness, 'live');
    expect((await live.client.fails(/* GraphQL */ `{ testClock { now } }`)).extensions.code).toBe('validation_error');
    expect((await live.client.fails(advance, { input: { days: 1 } })).extensions.code).toBe('validation_error');
  });

  test('event timestamps and new subscriptions read the organization’s clock; other organizations keep real time', async ({ harness }) => {
    const s = await billingScenario(harness);
    const now = await moveClock(s.client, { to: '2035-08-20T09:00:00Z' });
    await subscribe(s.client, 'timed', now, []);
    const { addSeats } = await s.client.ok(change('addSeats'), { input: { customerId: 'timed', featureCode: 'editor', count: 1 } });
    expect(addSeats.ts.startsWith('2035-08-20T09:0')).toBe(true);
    const other = await seatScenario(harness);
    const response = await graphql(harness, other.key, mutations.addSeats, { input: { customerId: other.customerId, featureCode: 'editor', count: 1 } });
    expect(Math.abs(new Date(response.data.addSeats.ts).getTime() - Date.now())).toBeLessThan(60_000);
  });
});

describe('append-only ledger', () => {
  test.for(['seat_event', 'seat_charge'])('%s refuses updates, deletes and truncation from any SQL client', async (table, { harness }) => {
    const s = await billingScenario(harness);
    await subscribe(s.client, `ledger-${table}`, new Date(Date.now() - 1000).toISOString(), [{ featureCode: 'editor', count: 8 }]);
    const connection = harness.orm.em.fork().getConnection();
    for (const sql of [
      `update ${table} set created_at = now() where organization_id = ?`,
      `delete from ${table} where organization_id = ?`,
      `truncate ${table} cascade`,
    ]) {
      await expect(connection.execute(sql, sql.includes('?') ? [s.organizationId] : [])).rejects.toThrow(/append-only/);
    }
    // Without cascade, the foreign keys between the two refuse first.
    await expect(connection.execute(`truncate ${table}`)).rejects.toThrow(/append-only|cannot truncate a table referenced/);
    const rows = await connection.execute<{ n: number }[]>(`select count(*)::int as n from ${table} where organization_id = ?`, [s.organizationId]);
    expect(rows[0]?.n).toBe(1);
  });
});

test("docs/billing.md's worked example answers what the page says", async ({ harness }) => {
  const readme = (await import('node:fs')).readFileSync(new URL('../docs/billing.md', import.meta.url), 'utf8');
  const block = /### A worked example to reproduce in GraphiQL[\s\S]*?```graphql\n([\s\S]*?)```/.exec(readme)![1]!;
  // Each operation of the block, by name, sent in order as a reader would in GraphiQL.
  const names = [...block.matchAll(/^(?:mutation|query) (\w)/gm)].map((m) => m[1]!);
  expect(names).toEqual(['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H']);
  const { key } = await newTenant(harness);
  const results: Record<string, any> = {};
  for (const name of names) {
    const sent = await harness.yoga.fetch('http://seatgate.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ query: block, operationName: name }),
    });
    const body = await sent.json();
    expect(body.errors, `${name}: ${JSON.stringify(body.errors)}`).toBeUndefined();
    results[name] = body.data;
  }
  expect(results.G.addSeats).toEqual({
    newBalance: 10,
    charge: { quantity: 5, unitPrice: 5000, daysRemaining: 17, daysInPeriod: 31, amount: 13710, currency: 'EUR' },
  });
  expect(results.H.upcomingInvoice).toEqual({
    total: 38710,
    lines: [
      { kind: 'TRUE_UP', quantity: 5, amount: 13710 },
      { kind: 'ADVANCE', quantity: 5, amount: 25000 },
    ],
  });
});

test('one bulk set charges each feature that rises above its mark, on its own event', async ({ harness }) => {
  const s = await seatScenario(harness, {
    features: [
      { code: 'editor', includedSeats: 5, overageEnabled: true, unitPrice: 3000 },
      { code: 'viewer', includedSeats: 1, overageEnabled: true, unitPrice: 700 },
      { code: 'admin', includedSeats: 0, overageEnabled: false, unlimited: true, unitPrice: 9999 },
    ],
    initialSeats: [],
  });
  await moveClock(s.client, { to: '2036-04-01T00:00:00Z' });
  await subscribe(s.client, 'bulk-co', '2036-04-01T00:00:00Z', []);
  await moveClock(s.client, { to: '2036-04-21T06:00:00Z' }); // 10 of 30 days remain
  const { bulkSetSeats } = await s.client.ok(
    /* GraphQL */ `mutation($input: BulkSetSeatsInput!) { bulkSetSeats(input: $input) { id featureCode charge { quantity amount eventId } } }`,
    {
      input: {
        customerId: 'bulk-co',
        seats: [
          { featureCode: 'viewer', count: 4 },
          { featureCode: 'admin', count: 50 },
          { featureCode: 'editor', count: 7 },
        ],
      },
    },
  );
  expect(bulkSetSeats.map((e: any) => [e.featureCode, e.charge && { ...e.charge, eventId: e.charge.eventId === e.id }])).toEqual([
    ['viewer', { quantity: 3, amount: 700, eventId: true }], // 3 × 700 × 10/30
    ['admin', null], // unlimited never charges
    ['editor', { quantity: 2, amount: 2000, eventId: true }], // 2 × 3000 × 10/30
  ]);
});
