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
});
