import { describe, expect, test } from '../fixtures.ts';
import { maxPeriodsPerRenewal, maxRenewalStepsPerCall, sweepDueRenewals } from '../../src/flows/renewal.ts';
import { createLogger } from '../../src/common/logger.ts';
import { type Client, createCustomerWithSubscription, graphql, type Harness, mutations, newTenant } from '../helpers.ts';

const advance = /* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`;
const subscribe = /* GraphQL */ `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { currentPeriodStart currentPeriodEnd } }`;

/** A test tenant whose plan `wide` offers `features` seat features, each 1 seat included at 100. */
async function wideCatalog(client: Client, features: number) {
  const codes = Array.from({ length: features }, (_, i) => `f${i}`);
  for (const code of codes)
    await client.ok(/* GraphQL */ `mutation($input: CreateFeatureInput!) { createFeature(input: $input) { id } }`, {
      input: { code, name: code, type: 'SEATS' },
    });
  await client.ok(/* GraphQL */ `mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }`, {
    input: {
      code: 'wide',
      name: 'Wide',
      currency: 'EUR',
      interval: 'MONTH',
      seatFeatures: codes.map((featureCode) => ({ featureCode, includedSeats: 1, overageEnabled: true, unitPrice: 100 })),
    },
  });
  return codes;
}

const advancesOf = async (harness: Harness, organizationId: string) =>
  Number(
    (
      await harness.orm.em
        .fork()
        .getConnection()
        .execute<{ n: string }[]>(`select count(*) as n from seat_charge where organization_id = ? and kind = 'ADVANCE'`, [organizationId])
    )[0]!.n,
  );

describe('startAt', () => {
  test('may lie at most one billing period back: further answers validation_error naming the bound and writes nothing', async ({ harness }) => {
    const { client, organizationId } = await newTenant(harness);
    const codes = await wideCatalog(client, 3);
    await client.ok(advance, { input: { to: '2031-05-20T00:00:05Z' } });
    const initialSeats = codes.map((featureCode) => ({ featureCode, count: 3 }));
    await client.ok(/* GraphQL */ `mutation { createCustomer(input: { name: "Old", externalId: "old" }) { id } }`);
    for (const startAt of ['1970-01-01T00:00:00Z', '2031-04-19T23:59:59Z']) {
      const refused = await client.fails(subscribe, { input: { customerId: 'old', planCode: 'wide', startAt, initialSeats } });
      expect(refused.extensions).toMatchObject({ code: 'validation_error', param: 'startAt' });
      expect(refused.message).toContain('at most one billing period (one month) before now: 2031-04-20T00:00:0');
    }
    expect(await advancesOf(harness, organizationId)).toBe(0);
    // Inside the bound, the first period has not ended yet: no catch-up, one advance per feature.
    const { createSubscription } = await client.ok(subscribe, {
      input: { customerId: 'old', planCode: 'wide', startAt: '2031-04-20T00:00:06Z', initialSeats },
    });
    expect(createSubscription).toEqual({ currentPeriodStart: '2031-04-20T00:00:06.000Z', currentPeriodEnd: '2031-05-20T00:00:06.000Z' });
    expect(await advancesOf(harness, organizationId)).toBe(codes.length);
  });
});

describe('renewals after the clock jumps ten years', () => {
  test('go in bounded steps: the advance records at most its budget, a seat change answers conflict, the sweeper finishes', async ({ harness }) => {
    const { client, organizationId, key } = await newTenant(harness);
    const codes = await wideCatalog(client, 100);
    await client.ok(advance, { input: { to: '2036-01-01T00:00:00Z' } });
    const initialSeats = codes.map((featureCode) => ({ featureCode, count: 2 }));
    for (const externalId of ['a', 'b']) await createCustomerWithSubscription(client, { externalId, planCode: 'wide', initialSeats });
    const atStart = await advancesOf(harness, organizationId);
    expect(atStart).toBe(200);

    // 3660 days: 120 monthly periods for each of two subscriptions, 100 billable features each.
    const { statements } = await harness.countStatements(() => client.ok(advance, { input: { days: 3660 } }));
    const recorded = (await advancesOf(harness, organizationId)) - atStart;
    expect(recorded).toBe(maxRenewalStepsPerCall * maxPeriodsPerRenewal * 100);
    // Per step: lock, reads, inserts of at most 200 advances and of their 200 outbox rows (6 of
    // each for 1,200 advances), update, savepoint; bounded by the budget, not the gap.
    expect(statements.length).toBeLessThan(maxRenewalStepsPerCall * 22 + 20);

    // The second subscription is still years behind: a change on it waits for the catch-up.
    const behind = await graphql(harness, key, mutations.addSeats, { input: { customerId: 'b', featureCode: 'f0', count: 1 } });
    expect(behind.errors?.[0]?.extensions.code).toBe('conflict');

    let swept = 0;
    // Swept for this organization only: the other test files' tenants are theirs. Other files'
    // server processes sweep every tenant too, so a sweep may find the work taken: sweep until
    // no subscription of this organization is behind its clock.
    const behindClock = async () =>
      Number(
        (
          await harness.orm.em
            .fork()
            .getConnection()
            .execute<{ n: string }[]>(
              `select count(*) as n from subscription s join test_clock t on t.organization_id = s.organization_id
                where s.organization_id = ? and s.current_period_end <= t.frozen_at`,
              [organizationId],
            )
        )[0]!.n,
      );
    while ((await behindClock()) > 0) swept += await sweepDueRenewals(harness.orm, createLogger('silent'), { organizationId });
    expect(swept).toBeGreaterThan(0);
    expect((await advancesOf(harness, organizationId)) - atStart).toBe(2 * 120 * 100);
    const after = await graphql(harness, key, mutations.addSeats, { input: { customerId: 'b', featureCode: 'f0', count: 1 } });
    expect(after.errors).toBeUndefined();
  }, 120_000);
});

describe('the renewal sweeper', () => {
  test('logs a subscription that fails to renew and goes on with the others', async ({ harness }) => {
    const { client, organizationId } = await newTenant(harness);
    await wideCatalog(client, 1);
    for (const externalId of ['good', 'broken'])
      await createCustomerWithSubscription(client, { externalId, planCode: 'wide', initialSeats: [{ featureCode: 'f0', count: 2 }] });
    const sql = (query: string, params: unknown[]) => harness.orm.em.fork().getConnection().execute(query, params);
    // A period that ends before its subscription starts: nothing seatgate writes, but a careless hand might.
    await sql(
      `update subscription s set current_period_start = s.start_at - interval '2 days', current_period_end = s.start_at - interval '1 day'
         from customer c where c.id = s.customer_id and c.external_id = 'broken' and c.organization_id = ?`,
      [organizationId],
    );
    await sql(`insert into test_clock (organization_id, frozen_at) values (?, now() + interval '40 days')`, [organizationId]);
    const logs: string[] = [];
    expect(
      await sweepDueRenewals(
        harness.orm,
        createLogger('info', (line) => logs.push(line)),
        { organizationId },
      ),
    ).toBe(1);
    expect(logs.map((line) => JSON.parse(line))).toMatchObject([{ level: 'warn', message: 'a subscription failed to renew; the next sweep tries again' }]);
    expect(await advancesOf(harness, organizationId)).toBe(3);
  });
});
