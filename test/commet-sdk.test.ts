import { Commet, CommetAPIError, CommetValidationError } from '@commet/node';
import { afterAll } from 'vitest';
import { describe, expect, test } from './fixtures.ts';
import { balanceOf, createScenarioPlan, expectLedgerWhole, queries, seatScenario } from './helpers.ts';

// Commet's own Node SDK, unchanged, against seatgate over real HTTP: the acceptance test of the
// REST door. The SDK has no base-URL option and always calls https://commet.co/api/v1/…, so the
// test points that origin at seatgate, as a hosts entry or proxy does for a deployed client.

const commetOrigin = 'https://commet.co';

const realFetch = globalThis.fetch;
test.beforeAll(({ http }) => {
  const seatgate = new URL(http.endpoint).origin;
  globalThis.fetch = (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    return realFetch(url.startsWith(commetOrigin) ? seatgate + url.slice(commetOrigin.length) : input, init);
  };
});
afterAll(() => {
  globalThis.fetch = realFetch;
});

const commet = (apiKey: string) => new Commet({ apiKey, telemetry: false, retries: 0 });

/** The error the SDK throws for `call`. */
async function sdkError(call: Promise<unknown>) {
  const error = await call.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(Error);
  return error as CommetAPIError & CommetValidationError;
}

describe('the Commet Node SDK, pointed at seatgate', () => {
  test('adds, removes, sets, bulk sets and reads balances; GraphQL shows the same ledger', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 2 }] });
    const client = commet(s.key);
    const { customerId } = s;

    const added = await client.seats.add({ customerId, featureCode: 'editor', count: 3 });
    expect(added).toEqual({
      success: true,
      data: {
        id: expect.stringMatching(/^sev_/),
        customerId,
        featureCode: 'editor',
        previousBalance: 2,
        newBalance: 5,
        ts: expect.any(String),
        createdAt: expect.any(String),
        object: 'seat',
        livemode: false,
      },
    });
    expect((await client.seats.remove({ customerId, featureCode: 'editor', count: 1 })).data).toMatchObject({ previousBalance: 5, newBalance: 4 });
    expect((await client.seats.set({ customerId, featureCode: 'editor', count: 6 })).data).toMatchObject({ previousBalance: 4, newBalance: 6 });
    const bulk = await client.seats.setAll({ customerId, seats: { viewer: 1, editor: 8 } });
    expect(bulk.data?.map((event) => [event.featureCode, event.previousBalance, event.newBalance])).toEqual([
      ['viewer', 0, 1],
      ['editor', 6, 8],
    ]);

    const one = await client.seats.getBalance({ customerId, featureCode: 'editor' });
    const { seatBalance } = await s.client.ok(queries.seatBalance, { customerId, featureCode: 'editor' });
    expect(one.data).toEqual({ current: 8, asOf: seatBalance.asOf, object: 'seat', livemode: false });
    const all = await client.seats.getAllBalances({ customerId });
    expect(all.data).toMatchObject({ object: 'seat', livemode: false, editor: { current: 8 }, viewer: { current: 1 }, admin: { current: 0 } });

    expect(await balanceOf(harness, customerId, 'editor')).toBe(8);
    expect(await expectLedgerWhole(harness, customerId, 'editor')).toHaveLength(5);
  });

  test('sees Commet error shapes: insufficient_seats, customer_not_found, a bad key, a validation error', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 2 }] });
    const client = commet(s.key);

    const insufficient = await sdkError(client.seats.remove({ customerId: s.customerId, featureCode: 'editor', count: 3 }));
    expect(insufficient).toBeInstanceOf(CommetAPIError);
    expect(insufficient).toMatchObject({ statusCode: 400, code: 'insufficient_seats', type: 'billing_error', param: 'count' });
    // The doc_url is a page seatgate serves.
    const page = await globalThis.fetch(insufficient.docUrl!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('insufficient_seats');

    const notFound = await sdkError(client.seats.getBalance({ customerId: 'nobody', featureCode: 'editor' }));
    expect(notFound).toMatchObject({ statusCode: 404, code: 'customer_not_found', type: 'not_found_error', param: 'customerId' });

    const badKey = await sdkError(commet('ck_test_not_a_key').seats.add({ customerId: s.customerId, featureCode: 'editor', count: 1 }));
    expect(badKey).toMatchObject({ statusCode: 401, code: 'unauthorized', type: 'authentication_error' });

    const invalid = await sdkError(client.seats.add({ customerId: s.customerId, featureCode: 'Editor', count: 0 }));
    expect(invalid).toBeInstanceOf(CommetValidationError);
    expect(Object.keys(invalid.validationErrors).sort()).toEqual(['count', 'featureCode']);

    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);
  });

  test('an idempotency key given to the SDK makes its retry apply once', async ({ harness, scenario: s }) => {
    const client = commet(s.key);
    const change = { customerId: s.customerId, featureCode: 'editor', count: 2 };
    const first = await client.seats.add(change, { idempotencyKey: 'order-1234' });
    const retry = await client.seats.add(change, { idempotencyKey: 'order-1234' });
    expect(retry.data?.id).toBe(first.data?.id);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(2);
  });

  describe('subscriptions', () => {
    const SUBSCRIPTION = 'id status cancelAtPeriodEnd endedAt currentPeriodEnd cancellation { reason comment requestedAt effectiveAt }';
    const subscriptionOf = async (s: Awaited<ReturnType<typeof seatScenario>>) =>
      (await s.client.ok(/* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { ${SUBSCRIPTION} } } }`, { id: s.customerId })).customer
        .subscription;
    const creditsOf = async (s: Awaited<ReturnType<typeof seatScenario>>) =>
      (await s.client.ok(/* GraphQL */ `query($c: String!) { seatCharges(customerId: $c) { kind quantity amount } }`, { c: s.customerId })).seatCharges.filter(
        (charge: { kind: string }) => charge.kind === 'CREDIT',
      );

    test('cancel at the period end, uncancel, then cancel immediately with the credit GraphQL shows; a keyed retry answers the same', async ({ harness }) => {
      // editor: 5 included, 7 held: 2 paid seats to credit.
      const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 7 }] });
      const client = commet(s.key);
      const { id, currentPeriodEnd } = await subscriptionOf(s);

      const scheduled = await client.subscriptions.cancel({ id, reason: 'too_expensive' });
      const cancellation = (await subscriptionOf(s)).cancellation;
      expect(scheduled).toEqual({
        success: true,
        data: {
          id,
          customerId: s.customerId,
          status: 'active',
          canceledAt: cancellation.requestedAt,
          cancelReason: 'too_expensive',
          scheduledCancellationDate: currentPeriodEnd,
          updatedAt: cancellation.requestedAt,
          object: 'subscription',
          livemode: false,
        },
      });
      expect(cancellation).toMatchObject({ reason: 'TOO_EXPENSIVE', comment: null });

      const uncanceled = await client.subscriptions.uncancel({ id });
      expect(uncanceled).toEqual({
        success: true,
        data: { id, customerId: s.customerId, status: 'active', updatedAt: expect.any(String), object: 'subscription', livemode: false },
      });
      expect(await subscriptionOf(s)).toMatchObject({ status: 'ACTIVE', cancelAtPeriodEnd: false, cancellation: null });

      const params = { id, immediate: true, reason: 'Switched to a competitor' };
      const ended = await client.subscriptions.cancel(params, { idempotencyKey: 'cancel-1234' });
      expect(ended.data).toMatchObject({ id, status: 'canceled', cancelReason: 'Switched to a competitor' });
      expect(ended.data?.scheduledCancellationDate).toBe(ended.data?.canceledAt);
      expect(await subscriptionOf(s)).toMatchObject({ status: 'CANCELED', cancellation: { reason: 'OTHER', comment: 'Switched to a competitor' } });
      const [credit, ...more] = await creditsOf(s);
      expect(more).toEqual([]);
      expect(credit).toMatchObject({ quantity: 2 });
      expect(credit.amount).toBeLessThan(0);

      const retry = await client.subscriptions.cancel(params, { idempotencyKey: 'cancel-1234' });
      expect(retry).toEqual(ended);
      expect(await creditsOf(s)).toHaveLength(1);
    });

    test('sees subscription_not_found, no_active_subscription and a validation error as the SDK’s errors', async ({ harness }) => {
      const s = await seatScenario(harness);
      const client = commet(s.key);
      const { id } = await subscriptionOf(s);

      const unknown = await sdkError(client.subscriptions.cancel({ id: 'sub_nope', immediate: true }));
      expect(unknown).toBeInstanceOf(CommetAPIError);
      expect(unknown).toMatchObject({ statusCode: 404, code: 'subscription_not_found', type: 'not_found_error', param: 'id' });
      const page = await globalThis.fetch(unknown.docUrl!);
      expect(page.status).toBe(200);

      const invalid = await sdkError(client.subscriptions.cancel({ id, reason: 'x'.repeat(501) }));
      expect(invalid).toBeInstanceOf(CommetValidationError);
      expect(Object.keys(invalid.validationErrors)).toEqual(['reason']);
      expect((await subscriptionOf(s)).cancelAtPeriodEnd).toBe(false);

      await client.subscriptions.cancel({ id, immediate: true });
      for (const call of [() => client.subscriptions.cancel({ id }), () => client.subscriptions.uncancel({ id })]) {
        expect(await sdkError(call())).toMatchObject({ statusCode: 404, code: 'no_active_subscription', param: 'id' });
      }
    });

    describe('plan changes', () => {
      type Scenario = Awaited<ReturnType<typeof seatScenario>>;
      const PLAN_CHANGE =
        'planCode currentPeriodStart currentPeriodEnd scheduledPlanChange { planCode effectiveAt seatLimitWarnings { featureCode current limit } }';
      const planStateOf = async (s: Scenario) =>
        (await s.client.ok(/* GraphQL */ `query($id: String!) { customer(id: $id) { subscription { id ${PLAN_CHANGE} } } }`, { id: s.customerId })).customer
          .subscription;
      const chargesAt = async (s: Scenario, ts: string) =>
        (
          await s.client.ok(
            /* GraphQL */ `query($c: String!) { seatCharges(customerId: $c) { kind featureCode quantity unitPrice daysRemaining daysInPeriod amount ts } }`,
            {
              c: s.customerId,
            },
          )
        ).seatCharges.filter((charge: { ts: string }) => charge.ts === ts);

      /**
       * team (editor: 5 included, 2500 each above) with 7 editors, ten days into the period on
       * the test clock, and plans to move to: business (dearer: 2 included at 5000), starter
       * (cheaper: 3 included, no overage, so 7 editors are over its limit), capped (dearer, but
       * at most 4 editors), team_yearly (the same terms, yearly).
       */
      async function planScenario(harness: Parameters<typeof seatScenario>[0]) {
        const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 7 }] });
        const plans: Record<string, { id: string; name: string }> = {};
        const create = async (code: string, interval: 'MONTH' | 'YEAR', editor: Record<string, unknown>) => {
          plans[code] = await createScenarioPlan(s.client, code, editor, { interval, name: `The ${code} plan` });
        };
        await create('business', 'MONTH', { includedSeats: 2, overageEnabled: true, unitPrice: 5000 });
        await create('starter', 'MONTH', { includedSeats: 3, overageEnabled: false, unitPrice: 0 });
        await create('capped', 'MONTH', { includedSeats: 0, overageEnabled: true, unitPrice: 9000, maximumSeats: 4 });
        await create('team_yearly', 'YEAR', { includedSeats: 5, overageEnabled: true, unitPrice: 2500 });
        const before = await planStateOf(s);
        const at = new Date(Date.parse(before.currentPeriodStart) + 10 * 86_400_000).toISOString();
        await s.client.ok(/* GraphQL */ `mutation($input: AdvanceTestClockInput!) { advanceTestClock(input: $input) { now } }`, { input: { to: at } });
        const { plans: catalog } = await s.client.ok(/* GraphQL */ `{ plans { id code name } }`);
        const team = catalog.find((plan: { code: string }) => plan.code === 'team');
        const all: Record<string, { id: string; name: string }> = { ...plans, team: { id: team.id, name: team.name } };
        return { ...s, plans: all, before, at, sdk: commet(s.key) };
      }

      test('an upgrade applies now: preview and change answer the credit and charge GraphQL then shows', async ({ harness }) => {
        const s = await planScenario(harness);
        const { id } = s.before;

        // By code for the preview, by id for the change: the same plan.
        const preview = await s.sdk.subscriptions.previewChange({ id, planId: 'business', billingInterval: 'monthly' });
        const changed = await s.sdk.subscriptions.changePlan({ id, newPlanId: s.plans.business!.id, successUrl: 'https://example.com/thanks' });

        const charges = await chargesAt(s, s.at);
        const credits = charges.filter((charge: { kind: string }) => charge.kind === 'CREDIT');
        const planCharges = charges.filter((charge: { kind: string }) => charge.kind === 'PLAN_CHANGE');
        expect(credits.map((c: { featureCode: string; quantity: number }) => [c.featureCode, c.quantity])).toEqual([['editor', 2]]);
        expect(planCharges.map((c: { featureCode: string; quantity: number }) => [c.featureCode, c.quantity])).toEqual([['editor', 5]]);
        const [credit, charge] = [credits[0], planCharges[0]];
        expect(credit.daysRemaining).toBe(credit.daysInPeriod - 10);
        expect(credit.amount).toBe(-Math.round((2 * 2500 * credit.daysRemaining) / credit.daysInPeriod));
        expect(charge.amount).toBe(Math.round((5 * 5000 * charge.daysRemaining) / charge.daysInPeriod));

        expect(preview).toEqual({
          success: true,
          data: {
            currency: 'EUR',
            currentPlanCredit: -credit.amount,
            newPlanCharge: charge.amount,
            estimatedTotal: charge.amount + credit.amount,
            effectiveDate: s.at,
            daysRemaining: credit.daysRemaining,
            totalDays: credit.daysInPeriod,
            isUpgrade: true,
            object: 'subscription',
            livemode: false,
          },
        });
        expect(changed).toEqual({
          success: true,
          data: {
            id,
            scheduled: false,
            customerId: s.customerId,
            newPlanId: s.plans.business!.id,
            newPlanName: 'The business plan',
            newBillingInterval: 'monthly',
            previousPlan: { id: s.plans.team!.id, name: 'Team' },
            // 7 editors, 2 included, at 5000.
            currentPlan: { id: s.plans.business!.id, name: 'The business plan', price: 25_000 },
            billingInterval: 'monthly',
            billing: {
              credit: -credit.amount,
              creditsApplied: 0,
              charge: charge.amount,
              taxAmount: 0,
              netAmount: charge.amount + credit.amount,
              totalCharged: charge.amount + credit.amount,
              remainingCreditBalance: 0,
            },
            object: 'subscription',
            livemode: false,
          },
        });
        expect(await planStateOf(s)).toMatchObject({ planCode: 'business', scheduledPlanChange: null });
      });

      test("a downgrade is scheduled for the period end, with the seat limit it breaks; its preview answers plan_change_scheduled, as Commet's does", async ({
        harness,
      }) => {
        const s = await planScenario(harness);
        const { id, currentPeriodEnd } = s.before;

        // As Commet: a downgrade is not prorated, so its preview answers plan_change_scheduled.
        expect(await sdkError(s.sdk.subscriptions.previewChange({ id, planId: s.plans.starter!.id }))).toMatchObject({
          statusCode: 400,
          code: 'plan_change_scheduled',
          type: 'billing_error',
          param: 'planId',
        });

        const changed = await s.sdk.subscriptions.changePlan({ id, newPlanId: 'starter', newBillingInterval: 'monthly' });
        expect(changed.data).toEqual({
          id,
          scheduled: true,
          scheduledFor: currentPeriodEnd,
          changeType: 'subscription.plan_downgrade',
          customerId: s.customerId,
          newPlanId: s.plans.starter!.id,
          newPlanName: 'The starter plan',
          newBillingInterval: 'monthly',
          // Still team until then: 7 editors, 5 included, at 2500.
          currentPlan: { id: s.plans.team!.id, name: 'Team', price: 5000 },
          billingInterval: 'monthly',
          seatLimitWarning: {
            featureCode: 'editor',
            featureName: 'editor',
            currentSeats: 7,
            included: 3,
            newPlanName: 'The starter plan',
            effectiveDate: currentPeriodEnd,
          },
          object: 'subscription',
          livemode: false,
        });
        expect(await planStateOf(s)).toMatchObject({
          planCode: 'team',
          scheduledPlanChange: { planCode: 'starter', effectiveAt: currentPeriodEnd, seatLimitWarnings: [{ featureCode: 'editor', current: 7, limit: 3 }] },
        });
        expect(await chargesAt(s, s.at)).toEqual([]);
      });

      test('a longer interval applies now and starts a yearly period; a keyed retry applies once', async ({ harness }) => {
        const s = await planScenario(harness);
        const { id } = s.before;
        const params = { id, newPlanId: 'team_yearly', newBillingInterval: 'yearly' as const };
        const changed = await s.sdk.subscriptions.changePlan(params, { idempotencyKey: 'yearly-1' });
        expect(changed.data).toMatchObject({
          scheduled: false,
          newBillingInterval: 'yearly',
          billingInterval: 'yearly',
          previousPlan: { id: s.plans.team!.id },
        });
        const charges = await chargesAt(s, s.at);
        const yearly = charges.find((charge: { kind: string }) => charge.kind === 'PLAN_CHANGE');
        // The new plan's first period starts now and is charged whole: 2 editors above 5 included.
        expect(yearly).toMatchObject({ quantity: 2, amount: 5000, daysRemaining: yearly.daysInPeriod });
        expect(changed.data!.billing).toMatchObject({ charge: 5000, credit: -charges.find((c: { kind: string }) => c.kind === 'CREDIT').amount });

        // The retry answers the change as it stands, without the billing of the first answer, and records nothing.
        const retry = await s.sdk.subscriptions.changePlan(params, { idempotencyKey: 'yearly-1' });
        const { billing: _billing, previousPlan: _previous, ...rest } = changed.data!;
        expect(retry.data).toEqual(rest);
        expect(await chargesAt(s, s.at)).toEqual(charges);
        expect(await planStateOf(s)).toMatchObject({ planCode: 'team_yearly', currentPeriodStart: s.at });
      });

      test('refusals through the envelope: unknown plan or subscription, a bad interval, a seat limit with its details', async ({ harness }) => {
        const s = await planScenario(harness);
        const { id } = s.before;

        // One call at a time: a second refusal sent before the first is awaited would be unhandled meanwhile.
        for (const newPlanId of ['nope', 'plan_nope']) {
          expect(await sdkError(s.sdk.subscriptions.changePlan({ id, newPlanId }))).toMatchObject({
            statusCode: 404,
            code: 'plan_not_found',
            type: 'not_found_error',
            param: 'newPlanId',
          });
        }
        expect(await sdkError(s.sdk.subscriptions.previewChange({ id, planId: 'nope' }))).toMatchObject({
          statusCode: 404,
          code: 'plan_not_found',
          param: 'planId',
        });
        for (const call of [
          () => s.sdk.subscriptions.changePlan({ id: 'sub_nope', newPlanId: 'business' }),
          () => s.sdk.subscriptions.previewChange({ id: 'sub_nope', planId: 'business' }),
        ]) {
          expect(await sdkError(call())).toMatchObject({ statusCode: 404, code: 'subscription_not_found', param: 'id' });
        }

        const yearlyOfMonthly = await sdkError(s.sdk.subscriptions.changePlan({ id, newPlanId: 'business', newBillingInterval: 'yearly' }));
        expect(yearlyOfMonthly).toBeInstanceOf(CommetValidationError);
        expect(yearlyOfMonthly.validationErrors).toEqual({ newBillingInterval: [expect.stringContaining('bills monthly')] });
        for (const interval of ['weekly', 'quarterly', 'one_time'] as const) {
          const refused = await sdkError(s.sdk.subscriptions.previewChange({ id, planId: 'business', billingInterval: interval }));
          expect(refused.validationErrors).toEqual({ billingInterval: [expect.stringContaining('monthly or yearly')] });
        }

        // capped is dearer, so it would apply now, but holds at most 4 editors.
        const refusal = { statusCode: 400, code: 'seat_limit_exceeded', type: 'billing_error', param: 'newPlanId' };
        const details = [{ field: 'newPlanId', featureCode: 'editor', limit: 'MAXIMUM', value: 4, message: expect.any(String) }];
        expect(await sdkError(s.sdk.subscriptions.changePlan({ id, newPlanId: 'capped' }))).toMatchObject({ ...refusal, details });
        expect(await sdkError(s.sdk.subscriptions.previewChange({ id, planId: 'capped' }))).toMatchObject({
          ...refusal,
          param: 'planId',
          details: [{ ...details[0], field: 'planId' }],
        });

        expect(await planStateOf(s)).toMatchObject({ planCode: 'team', scheduledPlanChange: null });
        expect(await chargesAt(s, s.at)).toEqual([]);
      });
    });
  });
});
