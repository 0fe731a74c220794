import { describe, expect, test } from '../fixtures.ts';
import { defaultApiKeyCacheMs } from '../../src/auth/cache.ts';
import { maxTestClock } from '../../src/clock/service.ts';
import { balanceOf, graphql, type Harness, mutations, newTenant, seatScenario } from '../helpers.ts';

const advance = /* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`;
const clock = /* GraphQL */ `{ testClock { now } }`;
const sql = <T = any>(harness: Harness, query: string, params: unknown[] = []) => harness.orm.em.fork().getConnection().execute<T[]>(query, params);
const msPerDay = 86_400_000;

describe('the test clock', () => {
  test('stands still once advanced: a subscription started then, without startAt, has whole-day periods', async ({ harness, scenario: s }) => {
    await s.client.ok(advance, { input: { to: '2031-03-01T00:00:00Z' } });
    harness.passTime(20_000); // real time goes on; the test clock does not
    expect((await s.client.ok(clock)).testClock.now).toBe('2031-03-01T00:00:00.000Z');
    await s.client.ok(/* GraphQL */ `mutation { createCustomer(input: { name: "Midnight", externalId: "midnight" }) { id } }`);
    const { createSubscription } = await s.client.ok(
      /* GraphQL */ `mutation { createSubscription(input: { customerId: "midnight", planCode: "team" }) { currentPeriodStart currentPeriodEnd } }`,
    );
    expect(createSubscription).toEqual({ currentPeriodStart: '2031-03-01T00:00:00.000Z', currentPeriodEnd: '2031-04-01T00:00:00.000Z' });
    const { addSeats } = await s.client.ok(mutations.addSeats, { input: { customerId: 'midnight', featureCode: 'editor', count: 6 } });
    expect(addSeats).toMatchObject({ ts: '2031-03-01T00:00:00.000Z' });
    // The next advance moves it on from exactly there.
    expect((await s.client.ok(advance, { input: { days: 1 } })).advanceTestClock.now).toBe('2031-03-02T00:00:00.000Z');
  });

  test(`goes no further than ${maxTestClock.toISOString()}: beyond answers validation_error and moves nothing`, async ({ harness }) => {
    const { client, organizationId } = await newTenant(harness);
    // Set the clock five days short of its limit, as a long series of advances would.
    await sql(harness, `insert into test_clock (organization_id, frozen_at) values (?, ?)`, [organizationId, new Date(maxTestClock.getTime() - 5 * msPerDay)]);
    harness.passTime(defaultApiKeyCacheMs + 1);
    const before = (await client.ok(clock)).testClock.now;
    for (const input of [{ days: 10 }, { to: '9998-01-02T00:00:00Z' }, { to: '9999-12-31T00:00:00Z' }]) {
      const refused = await client.fails(advance, { input });
      expect(refused.extensions).toMatchObject({ code: 'validation_error', param: 'days' in input ? 'days' : 'to' });
    }
    const after = (await client.ok(clock)).testClock.now;
    expect(new Date(after).getTime() - new Date(before).getTime()).toBeLessThan(60_000);
    await client.ok(advance, { input: { days: 3 } });
  });

  test('an advance whose renewals fail moves nothing: the clock and the renewals commit together', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 7 }] });
    const tag = s.organizationId.replace(/\W/g, '_');
    await sql(
      harness,
      `create function fault_${tag}() returns trigger language plpgsql as $$
      begin
        if new.organization_id = '${s.organizationId}' and new.kind = 'ADVANCE' then raise exception 'injected fault'; end if;
        return new;
      end $$`,
    );
    await sql(harness, `create trigger fault_${tag} before insert on seat_charge for each row execute function fault_${tag}()`);
    try {
      const before = (await s.client.ok(clock)).testClock.now;
      const failed = await s.client.run(advance, { input: { days: 40 } });
      expect(failed.errors?.[0]?.extensions.code).toBe('internal_error');
      const after = (await s.client.ok(clock)).testClock.now;
      expect(new Date(after).getTime() - new Date(before).getTime()).toBeLessThan(60_000);
      const stored = await sql<{ n: string }>(harness, `select count(*) as n from test_clock where organization_id = ? and frozen_at is not null`, [
        s.organizationId,
      ]);
      expect(Number(stored[0]!.n)).toBe(0);
    } finally {
      await sql(harness, `drop trigger fault_${tag} on seat_charge`);
      await sql(harness, `drop function fault_${tag}()`);
    }
    // Once the fault is gone, the same advance goes through and renews.
    await s.client.ok(advance, { input: { days: 40 } });
    const { seatCharges } = await s.client.ok(/* GraphQL */ `query($c: String!) { seatCharges(customerId: $c) { kind } }`, { c: s.customerId });
    expect(seatCharges.map((charge: { kind: string }) => charge.kind)).toEqual(['ADVANCE', 'ADVANCE']);
  });
});

describe('deleteTestData', () => {
  test("removes the organization's test customers, ledger, charges, keys and clock; live data and the catalog stay", async ({ harness }) => {
    const test = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 7 }] });
    const live = await seatScenario(harness, { mode: 'live', initialSeats: [{ featureCode: 'editor', count: 7 }] });
    // The same organization in both modes: the live scenario's key belongs to the test one's organization.
    const sameOrg = await newTenant(harness, 'live', test.organization);
    await sameOrg.client.ok(/* GraphQL */ `mutation { createFeature(input: { code: "editor", name: "Editor", type: SEATS }) { id } }`);
    await test.client.ok(mutations.addSeats, { input: { customerId: test.customerId, featureCode: 'editor', count: 2, idempotencyKey: 'k' } });
    await test.client.ok(advance, { input: { days: 40 } });

    const refused = await live.client.fails(/* GraphQL */ `mutation { deleteTestData { customers complete } }`);
    expect(refused.extensions).toMatchObject({ code: 'validation_error' });
    const { deleteTestData } = await test.client.ok(/* GraphQL */ `mutation { deleteTestData { customers complete } }`);
    expect(deleteTestData).toEqual({ customers: 1, complete: true });

    const left = async (organizationId: string, mode: string) =>
      (
        await sql<{ t: string; n: string }>(
          harness,
          `select 'customer' as t, count(*) as n from customer where organization_id = ? and mode = ?
           union all select 'event', count(*) from seat_event where organization_id = ? and mode = ?
           union all select 'charge', count(*) from seat_charge where organization_id = ? and mode = ?
           union all select 'key', count(*) from idempotency_key where organization_id = ? and mode = ?
           union all select 'feature', count(*) from feature where organization_id = ? and mode = ?`,
          [organizationId, mode, organizationId, mode, organizationId, mode, organizationId, mode, organizationId, mode],
        )
      ).map((row) => [row.t, Number(row.n)]);
    expect(await left(test.organizationId, 'test')).toEqual([
      ['customer', 0],
      ['event', 0],
      ['charge', 0],
      ['key', 0],
      ['feature', 4],
    ]);
    expect(await left(test.organizationId, 'live')).toEqual([
      ['customer', 0],
      ['event', 0],
      ['charge', 0],
      ['key', 0],
      ['feature', 1],
    ]);
    expect(await left(live.organizationId, 'live')).toEqual([
      ['customer', 1],
      ['event', 1],
      ['charge', 1],
      ['key', 0],
      ['feature', 4],
    ]);
    expect(await balanceOf(harness, live.customerId, 'editor')).toBe(7);
    // The clock is back at real time, at once for this server.
    const { testClock } = await test.client.ok(clock);
    expect(Math.abs(new Date(testClock.now).getTime() - Date.now())).toBeLessThan(60_000);
    // The same customers can be made again.
    await test.client.ok(/* GraphQL */ `mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }`, {
      input: { name: 'Again', externalId: test.customerId },
    });
  });

  test('the ledger stays append-only outside deleteTestData, for test rows too, and always for live rows', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 1 }] });
    const live = await seatScenario(harness, { mode: 'live', initialSeats: [{ featureCode: 'editor', count: 1 }] });
    await expect(sql(harness, `delete from seat_event where organization_id = ?`, [s.organizationId])).rejects.toThrow(/append-only/);
    const connection = harness.orm.em.fork();
    await expect(
      connection.transactional(async (tx) => {
        await tx.execute(`set local seatgate.delete_test_data = 'on'`);
        await tx.execute(`delete from seat_event where organization_id = ?`, [live.organizationId]);
      }),
    ).rejects.toThrow(/append-only/);
    const response = await graphql(harness, live.key, /* GraphQL */ `{ seatEvents(customerId: "${live.customerId}") { edges { node { id } } } }`);
    expect(response.data.seatEvents.edges).toHaveLength(1);
  });
});
