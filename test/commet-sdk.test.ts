import { Commet, CommetAPIError, CommetValidationError } from '@commet/node';
import { afterAll } from 'vitest';
import { describe, expect, test } from './fixtures.ts';
import { balanceOf, expectLedgerWhole, queries, seatScenario } from './helpers.ts';

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
      for (const call of [client.subscriptions.cancel({ id }), client.subscriptions.uncancel({ id })]) {
        expect(await sdkError(call)).toMatchObject({ statusCode: 404, code: 'no_active_subscription', param: 'id' });
      }
    });
  });
});
