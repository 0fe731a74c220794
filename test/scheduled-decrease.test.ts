import { describe, expect, test } from './fixtures.ts';
import { type Client, expectLedgerWhole, type Harness, ledgerOf, newTenant } from './helpers.ts';

// Seat decreases at the period end, through GraphQL on test clocks: scheduled and visible, applied
// by the renewal before the next advance, cancelled, replaced, refused, told, and replayed.

const EVENT = 'id kind count previousBalance newBalance ts scheduled';
const BALANCE = 'current scheduledChange { count effectiveAt }';
const CHARGE = 'kind featureCode quantity unitPrice amount periodStart';
const change = {
  removeSeats: /* GraphQL */ `mutation($input: RemoveSeatsInput!) { removeSeats(input: $input) { ${EVENT} } }`,
  setSeats: /* GraphQL */ `mutation($input: SetSeatsInput!) { setSeats(input: $input) { ${EVENT} } }`,
  addSeats: /* GraphQL */ `mutation($input: AddSeatsInput!) { addSeats(input: $input) { ${EVENT} } }`,
  bulkSetSeats: /* GraphQL */ `mutation($input: BulkSetSeatsInput!) { bulkSetSeats(input: $input) { featureCode ${EVENT} } }`,
};
const balanceQuery = /* GraphQL */ `query($featureCode: String!) { seatBalance(customerId: "co", featureCode: $featureCode) { ${BALANCE} } }`;
const eventsQuery = /* GraphQL */ `query($featureCode: String) { seatEvents(customerId: "co", featureCode: $featureCode, first: 100) { nodes { ${EVENT} } } }`;
const chargesQuery = /* GraphQL */ `query { seatCharges(customerId: "co") { ${CHARGE} } }`;
const invoiceQuery = /* GraphQL */ `query { upcomingInvoice(customerId: "co") { lines { kind featureCode quantity amount } } }`;
const nodeQuery = /* GraphQL */ `query($id: ID!) { node(id: $id) { ... on SeatEvent { ${EVENT} } } }`;
const settingsQuery = /* GraphQL */ `query { organizationSettings { seatDecreaseTiming livemode } }`;
const updateSettings = /* GraphQL */ `mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) { seatDecreaseTiming livemode } }`;
const advance = /* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`;

/** The plan's terms, from which the tests compute each advance on their own. */
const editor = { included: 5, unitPrice: 3000, minimum: 2 };
const viewer = { included: 0, unitPrice: 1000 };
/** A full period's advance: billable seats × unitPrice (no proration for a whole period). */
const advanceOf = (terms: { included: number; unitPrice: number }, seats: number) => Math.max(0, seats - terms.included) * terms.unitPrice;

const start = '2030-01-01T00:00:00.000Z';
const periodEnd = '2030-02-01T00:00:00.000Z';

/** A test tenant at 11 January 2030, with customer `co` on a month plan from 1 January: 9 editors, 4 viewers. */
async function decreaseScenario(harness: Harness) {
  const tenant = await newTenant(harness, 'test');
  const { client } = tenant;
  await client.ok(advance, { input: { to: start } });
  await client.ok(/* GraphQL */ `mutation { createFeature(input: { code: "editor", name: "Editor", type: SEATS }) { id } }`);
  await client.ok(/* GraphQL */ `mutation { createFeature(input: { code: "viewer", name: "Viewer", type: SEATS }) { id } }`);
  await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
    input: {
      code: 'team',
      name: 'Team',
      currency: 'EUR',
      interval: 'MONTH',
      seatFeatures: [
        { featureCode: 'editor', includedSeats: editor.included, overageEnabled: true, unitPrice: editor.unitPrice, minimumSeats: editor.minimum },
        { featureCode: 'viewer', includedSeats: viewer.included, overageEnabled: true, unitPrice: viewer.unitPrice },
      ],
    },
  });
  const { createCustomer } = await client.ok(/* GraphQL */ `mutation { createCustomer(input: { externalId: "co", name: "Co" }) { id } }`);
  await client.ok(/* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { id } }`, {
    input: {
      customerId: 'co',
      planCode: 'team',
      startAt: start,
      initialSeats: [
        { featureCode: 'editor', count: 9 },
        { featureCode: 'viewer', count: 4 },
      ],
    },
  });
  await client.ok(advance, { input: { to: '2030-01-11T00:00:00Z' } });
  // The ledger helpers read across tenants: the customer's own id names it alone.
  return { ...tenant, customerRowId: createCustomer.id as string, moveTo: (to: string) => client.ok(advance, { input: { to } }) };
}

const balanceOf = async (client: Client, featureCode = 'editor') => (await client.ok(balanceQuery, { featureCode })).seatBalance;
const eventsOf = async (client: Client, featureCode = 'editor') => (await client.ok(eventsQuery, { featureCode })).seatEvents.nodes as any[];
const chargesOf = async (client: Client) => (await client.ok(chargesQuery)).seatCharges as any[];
const schedule = (client: Client, op: 'removeSeats' | 'setSeats', count: number, extra: Record<string, unknown> = {}) =>
  client.ok(change[op], { input: { customerId: 'co', featureCode: 'editor', count, timing: 'AT_PERIOD_END', ...extra } }).then((data) => data[op]);

/** The tenant's outbox rows of one type, oldest first. */
async function outboxOf(harness: Harness, organizationId: string, type: string) {
  return harness.orm.em
    .fork()
    .getConnection()
    .execute<{ feature_code: string; payload: any }[]>(`select feature_code, payload from outbox_event where organization_id = ? and type = ? order by seq`, [
      organizationId,
      type,
    ]);
}

describe('a decrease at period end', () => {
  test('is visible, records and bills nothing now, and is applied at the end before the advance, which bills the lower count', async ({ harness }) => {
    const { client, moveTo, organizationId, customerRowId } = await decreaseScenario(harness);
    const chargesBefore = await chargesOf(client);

    const scheduled = await schedule(client, 'removeSeats', 3);
    // removeSeats counts from the balance now: 9 − 3; the answer is the SET the renewal will record.
    expect(scheduled).toEqual({ id: expect.stringMatching(/^sev_/), kind: 'SET', count: 6, previousBalance: 9, newBalance: 6, ts: periodEnd, scheduled: true });
    expect(await balanceOf(client)).toEqual({ current: 9, scheduledChange: { count: 6, effectiveAt: periodEnd } });
    expect(await eventsOf(client)).toHaveLength(1);
    expect((await client.ok(nodeQuery, { id: scheduled.id })).node).toBeNull();
    expect(await chargesOf(client)).toEqual(chargesBefore);
    // The upcoming invoice bills the next advance at the lower count.
    expect((await client.ok(invoiceQuery)).upcomingInvoice.lines).toContainEqual({
      kind: 'ADVANCE',
      featureCode: 'editor',
      quantity: 6 - editor.included,
      amount: advanceOf(editor, 6),
    });

    const [told] = await outboxOf(harness, organizationId, 'seat.change_scheduled');
    expect(told).toEqual({
      feature_code: 'editor',
      payload: {
        balance: expect.objectContaining({ customerId: 'co', featureCode: 'editor', current: 9, scheduledChange: { count: 6, effectiveAt: periodEnd } }),
      },
    });

    await moveTo('2030-02-02T00:00:00Z');
    expect(await balanceOf(client)).toEqual({ current: 6, scheduledChange: null });
    const [applied] = await eventsOf(client);
    expect(applied).toEqual({ ...scheduled, scheduled: false });
    expect((await client.ok(nodeQuery, { id: scheduled.id })).node).toEqual(applied);
    const februaryAdvances = (await chargesOf(client)).filter((charge) => charge.periodStart === periodEnd);
    expect(februaryAdvances).toEqual([
      {
        kind: 'ADVANCE',
        featureCode: 'editor',
        quantity: 6 - editor.included,
        unitPrice: editor.unitPrice,
        amount: advanceOf(editor, 6),
        periodStart: periodEnd,
      },
      { kind: 'ADVANCE', featureCode: 'viewer', quantity: 4, unitPrice: viewer.unitPrice, amount: advanceOf(viewer, 4), periodStart: periodEnd },
    ]);
    expect((await expectLedgerWhole(harness, customerRowId, 'editor')).map((e) => [e.kind, e.quantity, e.previous_balance, e.new_balance])).toEqual([
      ['SET', 9, 0, 9],
      ['SET', 6, 9, 6],
    ]);
    const changed = (await outboxOf(harness, organizationId, 'seat.changed')).at(-1)!;
    expect(changed.payload.event).toMatchObject({ id: scheduled.id, kind: 'SET', count: 6, ts: periodEnd });
    // Nothing is scheduled any more: the field is left out, as in every seat.changed before decreases could be scheduled.
    expect(changed.payload.balance).toMatchObject({ current: 6 });
    expect(changed.payload.balance).not.toHaveProperty('scheduledChange');
  });

  test('sending the current count cancels it, with either timing; the renewal then bills the full count', async ({ harness }) => {
    const { client, moveTo, customerRowId } = await decreaseScenario(harness);
    await schedule(client, 'setSeats', 6);
    const cancelled = await schedule(client, 'setSeats', 9);
    expect(cancelled).toMatchObject({ kind: 'SET', count: 9, previousBalance: 9, newBalance: 9, scheduled: false });
    expect(await balanceOf(client)).toEqual({ current: 9, scheduledChange: null });

    await schedule(client, 'setSeats', 7);
    await client.ok(change.setSeats, { input: { customerId: 'co', featureCode: 'editor', count: 9, timing: 'IMMEDIATELY' } });
    expect(await balanceOf(client)).toEqual({ current: 9, scheduledChange: null });

    await moveTo('2030-02-02T00:00:00Z');
    expect(await balanceOf(client)).toEqual({ current: 9, scheduledChange: null });
    expect((await chargesOf(client)).find((c) => c.featureCode === 'editor' && c.periodStart === periodEnd)).toMatchObject({ amount: advanceOf(editor, 9) });
    expect((await expectLedgerWhole(harness, customerRowId, 'editor')).map((e) => e.new_balance)).toEqual([9, 9, 9]);
  });

  test('a change applied now replaces it', async ({ harness }) => {
    const { client, moveTo, customerRowId } = await decreaseScenario(harness);
    await schedule(client, 'removeSeats', 3);
    expect((await client.ok(change.addSeats, { input: { customerId: 'co', featureCode: 'editor', count: 1 } })).addSeats).toMatchObject({
      newBalance: 10,
      scheduled: false,
    });
    expect(await balanceOf(client)).toEqual({ current: 10, scheduledChange: null });

    await schedule(client, 'removeSeats', 4);
    await client.ok(change.removeSeats, { input: { customerId: 'co', featureCode: 'editor', count: 1 } });
    expect(await balanceOf(client)).toEqual({ current: 9, scheduledChange: null });

    await moveTo('2030-02-02T00:00:00Z');
    expect(await balanceOf(client)).toEqual({ current: 9, scheduledChange: null });
    expect((await expectLedgerWhole(harness, customerRowId, 'editor')).map((e) => e.new_balance)).toEqual([9, 10, 9]);
  });

  test('a second scheduled decrease replaces the first; only the second is applied', async ({ harness }) => {
    const { client, moveTo, customerRowId } = await decreaseScenario(harness);
    const first = await schedule(client, 'setSeats', 6);
    const second = await schedule(client, 'removeSeats', 2);
    expect(second).toMatchObject({ count: 7, previousBalance: 9, scheduled: true });
    expect(second.id).not.toBe(first.id);
    expect(await balanceOf(client)).toEqual({ current: 9, scheduledChange: { count: 7, effectiveAt: periodEnd } });

    await moveTo('2030-02-02T00:00:00Z');
    expect(await balanceOf(client)).toEqual({ current: 7, scheduledChange: null });
    const events = await eventsOf(client);
    expect(events.map((e) => e.id)).toContain(second.id);
    expect(events.map((e) => e.id)).not.toContain(first.id);
    expect((await chargesOf(client)).find((c) => c.featureCode === 'editor' && c.periodStart === periodEnd)).toMatchObject({ amount: advanceOf(editor, 7) });
    await expectLedgerWhole(harness, customerRowId, 'editor');
  });

  test('an increase with AT_PERIOD_END applies now, with its true-up', async ({ harness }) => {
    const { client } = await decreaseScenario(harness);
    await schedule(client, 'setSeats', 6);
    const raised = await schedule(client, 'setSeats', 11);
    expect(raised).toMatchObject({ kind: 'SET', count: 11, previousBalance: 9, newBalance: 11, ts: '2030-01-11T00:00:00.000Z', scheduled: false });
    expect(await balanceOf(client)).toEqual({ current: 11, scheduledChange: null });
    // 2 seats above the mark, 21 of 31 days: round_half_up(2 × 3000 × 21 / 31).
    expect((await chargesOf(client)).filter((c) => c.kind === 'TRUE_UP')).toEqual([
      { kind: 'TRUE_UP', featureCode: 'editor', quantity: 2, unitPrice: 3000, amount: Math.round((2 * 3000 * 21) / 31), periodStart: start },
    ]);
  });

  test('bulkSetSeats with AT_PERIOD_END schedules its decreases and applies its increases now', async ({ harness }) => {
    const { client, moveTo, customerRowId } = await decreaseScenario(harness);
    const { bulkSetSeats } = await client.ok(change.bulkSetSeats, {
      input: {
        customerId: 'co',
        timing: 'AT_PERIOD_END',
        seats: [
          { featureCode: 'editor', count: 6 },
          { featureCode: 'viewer', count: 5 },
        ],
      },
    });
    expect(bulkSetSeats).toMatchObject([
      { featureCode: 'editor', count: 6, previousBalance: 9, ts: periodEnd, scheduled: true },
      { featureCode: 'viewer', count: 5, previousBalance: 4, ts: '2030-01-11T00:00:00.000Z', scheduled: false },
    ]);
    expect(await balanceOf(client, 'editor')).toEqual({ current: 9, scheduledChange: { count: 6, effectiveAt: periodEnd } });
    expect(await balanceOf(client, 'viewer')).toEqual({ current: 5, scheduledChange: null });

    await moveTo('2030-02-02T00:00:00Z');
    expect(await balanceOf(client, 'editor')).toEqual({ current: 6, scheduledChange: null });
    expect((await chargesOf(client)).filter((c) => c.periodStart === periodEnd).map((c) => [c.featureCode, c.amount])).toEqual([
      ['editor', advanceOf(editor, 6)],
      ['viewer', advanceOf(viewer, 5)],
    ]);
    await expectLedgerWhole(harness, customerRowId, 'editor');
    await expectLedgerWhole(harness, customerRowId, 'viewer');
  });

  test('limits are checked when scheduling: a refusal schedules and records nothing, in bulk too', async ({ harness }) => {
    const { client, organizationId, customerRowId } = await decreaseScenario(harness);
    const belowMinimum = await client.fails(change.setSeats, {
      input: { customerId: 'co', featureCode: 'editor', count: 1, timing: 'AT_PERIOD_END' },
    });
    expect(belowMinimum.extensions).toMatchObject({ code: 'seat_limit_exceeded', details: [{ limit: 'MINIMUM', value: editor.minimum }] });
    const tooMany = await client.fails(change.removeSeats, {
      input: { customerId: 'co', featureCode: 'editor', count: 10, timing: 'AT_PERIOD_END' },
    });
    expect(tooMany.extensions).toMatchObject({ code: 'insufficient_seats' });
    const bulk = await client.fails(change.bulkSetSeats, {
      input: {
        customerId: 'co',
        timing: 'AT_PERIOD_END',
        seats: [
          { featureCode: 'viewer', count: 1 },
          { featureCode: 'editor', count: 1 },
        ],
      },
    });
    expect(bulk.extensions).toMatchObject({ code: 'seat_limit_exceeded', param: 'seats.1.count' });

    expect(await balanceOf(client, 'editor')).toEqual({ current: 9, scheduledChange: null });
    expect(await balanceOf(client, 'viewer')).toEqual({ current: 4, scheduledChange: null });
    expect(await ledgerOf(harness, customerRowId, 'editor')).toHaveLength(1);
    expect(await outboxOf(harness, organizationId, 'seat.change_scheduled')).toEqual([]);
  });

  test('a scheduled cancellation at the same period end wins: the subscription ends, the decrease is not applied', async ({ harness }) => {
    const { client, moveTo, customerRowId } = await decreaseScenario(harness);
    await schedule(client, 'setSeats', 6);
    await client.ok(/* GraphQL */ `mutation { cancelSubscription(input: { customerId: "co", timing: AT_PERIOD_END }) { id } }`);
    await moveTo('2030-02-02T00:00:00Z');
    expect(await balanceOf(client)).toEqual({ current: 9, scheduledChange: null });
    expect(await ledgerOf(harness, customerRowId, 'editor')).toHaveLength(1);
    expect((await chargesOf(client)).filter((c) => c.periodStart === periodEnd)).toEqual([]);
    const refused = await client.fails(change.removeSeats, { input: { customerId: 'co', featureCode: 'editor', count: 1, timing: 'AT_PERIOD_END' } });
    expect(refused.extensions).toMatchObject({ code: 'no_active_subscription' });
  });
});

describe('with a plan change at the same period end', () => {
  test('the decrease applies first, under the plan it was asked under, then the plan change clamps what is left; the advance bills the new plan', async ({
    harness,
  }) => {
    const { client, customerRowId, moveTo } = await decreaseScenario(harness);
    // Small allows at most 5 editors, 1 included, at 500.
    await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
      input: {
        code: 'small',
        name: 'Small',
        currency: 'EUR',
        interval: 'MONTH',
        seatFeatures: [
          { featureCode: 'editor', includedSeats: 1, overageEnabled: true, unitPrice: 500, maximumSeats: 5 },
          { featureCode: 'viewer', includedSeats: 0, overageEnabled: true, unitPrice: 1000 },
        ],
      },
    });
    await schedule(client, 'setSeats', 7);
    await client.ok(/* GraphQL */ `mutation($input: ChangePlanInput!) { changePlan(input: $input) { id } }`, {
      input: { customerId: 'co', planCode: 'small', timing: 'AT_PERIOD_END' },
    });
    await moveTo('2030-02-02T00:00:00Z');
    // Newest first: the clamp to Small's maximum after the decrease, both at the period end.
    expect((await eventsOf(client)).slice(0, 2).map(({ previousBalance, newBalance, ts }) => ({ previousBalance, newBalance, ts }))).toEqual([
      { previousBalance: 7, newBalance: 5, ts: periodEnd },
      { previousBalance: 9, newBalance: 7, ts: periodEnd },
    ]);
    await expectLedgerWhole(harness, customerRowId, 'editor');
    expect(await balanceOf(client)).toEqual({ current: 5, scheduledChange: null });
    const february = (await chargesOf(client)).filter((charge) => charge.periodStart === periodEnd);
    expect(february.map(({ kind, featureCode, quantity, unitPrice, amount }) => ({ kind, featureCode, quantity, unitPrice, amount }))).toEqual([
      { kind: 'ADVANCE', featureCode: 'editor', quantity: 4, unitPrice: 500, amount: (5 - 1) * 500 },
      { kind: 'ADVANCE', featureCode: 'viewer', quantity: 4, unitPrice: 1000, amount: 4 * 1000 },
    ]);
  });
});

describe('the organization default', () => {
  test('starts IMMEDIATELY; set to AT_PERIOD_END it schedules decreases that name no timing, in its mode only', async ({ harness }) => {
    const { client, organization } = await decreaseScenario(harness);
    expect((await client.ok(settingsQuery)).organizationSettings).toEqual({ seatDecreaseTiming: 'IMMEDIATELY', livemode: false });
    const now = (await client.ok(change.removeSeats, { input: { customerId: 'co', featureCode: 'editor', count: 1 } })).removeSeats;
    expect(now).toMatchObject({ kind: 'REMOVE', newBalance: 8, scheduled: false });

    const updated = (await client.ok(updateSettings, { input: { seatDecreaseTiming: 'AT_PERIOD_END' } })).updateOrganizationSettings;
    expect(updated).toEqual({ seatDecreaseTiming: 'AT_PERIOD_END', livemode: false });
    // The same input again changes nothing; an empty one keeps every setting.
    expect((await client.ok(updateSettings, { input: { seatDecreaseTiming: 'AT_PERIOD_END' } })).updateOrganizationSettings).toEqual(updated);
    expect((await client.ok(updateSettings, { input: {} })).updateOrganizationSettings).toEqual(updated);
    expect((await client.ok(settingsQuery)).organizationSettings).toEqual(updated);

    const later = (await client.ok(change.removeSeats, { input: { customerId: 'co', featureCode: 'editor', count: 2 } })).removeSeats;
    expect(later).toMatchObject({ kind: 'SET', count: 6, previousBalance: 8, scheduled: true });
    expect(await balanceOf(client)).toEqual({ current: 8, scheduledChange: { count: 6, effectiveAt: periodEnd } });
    // A timing named in the request wins over the default.
    const named = (await client.ok(change.removeSeats, { input: { customerId: 'co', featureCode: 'editor', count: 1, timing: 'IMMEDIATELY' } })).removeSeats;
    expect(named).toMatchObject({ kind: 'REMOVE', newBalance: 7, scheduled: false });
    expect(await balanceOf(client)).toEqual({ current: 7, scheduledChange: null });

    // Live mode keeps its own setting.
    const live = await newTenant(harness, 'live', organization);
    expect((await live.client.ok(settingsQuery)).organizationSettings).toEqual({ seatDecreaseTiming: 'IMMEDIATELY', livemode: true });
  });
});

describe('idempotency', () => {
  test('a repeat returns the scheduled event and schedules nothing more, even after it was replaced; once applied, the ledger event', async ({ harness }) => {
    const { client, moveTo, organizationId, customerRowId } = await decreaseScenario(harness);
    const input = { customerId: 'co', featureCode: 'editor', count: 3, timing: 'AT_PERIOD_END', idempotencyKey: 'drop-3' };
    const first = (await client.ok(change.removeSeats, { input })).removeSeats;
    const again = (await client.ok(change.removeSeats, { input })).removeSeats;
    expect(again).toEqual(first);
    expect(await outboxOf(harness, organizationId, 'seat.change_scheduled')).toHaveLength(1);
    const other = await client.fails(change.removeSeats, { input: { ...input, timing: 'IMMEDIATELY' } });
    expect(other.extensions).toMatchObject({ code: 'idempotency_key_mismatch' });

    // Replaced by another decrease: a repeat still answers what the first call was told, and changes nothing.
    await schedule(client, 'setSeats', 8);
    expect((await client.ok(change.removeSeats, { input })).removeSeats).toEqual(first);
    expect(await balanceOf(client)).toEqual({ current: 9, scheduledChange: { count: 8, effectiveAt: periodEnd } });

    // A key whose decrease was applied answers the ledger's event, under the same id.
    const kept = { ...input, count: 2, idempotencyKey: 'drop-2' };
    const keptFirst = (await client.ok(change.removeSeats, { input: kept })).removeSeats;
    await moveTo('2030-02-02T00:00:00Z');
    expect((await client.ok(change.removeSeats, { input: kept })).removeSeats).toEqual({ ...keptFirst, scheduled: false });
    expect(await balanceOf(client)).toEqual({ current: 7, scheduledChange: null });
    await expectLedgerWhole(harness, customerRowId, 'editor');
  });
});

describe('under concurrency', () => {
  test('decreases scheduled side by side with changes applied now: one scheduled change at most, and the renewal applies what is left', async ({ harness }) => {
    const { client, moveTo, organizationId, customerRowId } = await decreaseScenario(harness);
    const counts = [3, 4, 5, 6, 7, 8];
    const responses = await Promise.all([
      ...counts.map((count) => schedule(client, 'setSeats', count)),
      client.ok(change.addSeats, { input: { customerId: 'co', featureCode: 'viewer', count: 1 } }),
    ]);
    const scheduled = responses.slice(0, counts.length) as any[];
    expect(scheduled.every((event) => event.scheduled && event.previousBalance === 9)).toBe(true);
    // The coalescer decides them in arrival order: the last one decided is the one left.
    const { scheduledChange } = await balanceOf(client);
    expect(counts).toContain(scheduledChange.count);
    expect(await outboxOf(harness, organizationId, 'seat.change_scheduled')).toHaveLength(counts.length);

    await moveTo('2030-02-02T00:00:00Z');
    expect(await balanceOf(client)).toEqual({ current: scheduledChange.count, scheduledChange: null });
    const applied = scheduled.find((event) => event.count === scheduledChange.count);
    expect((await eventsOf(client))[0]).toEqual({ ...applied, scheduled: false });
    await expectLedgerWhole(harness, customerRowId, 'editor');
    await expectLedgerWhole(harness, customerRowId, 'viewer');
  });
});
