import { describe, expect, test } from './fixtures.ts';
import { deleteIdempotencyKeysBefore } from '../src/idempotency/service.ts';
import { balanceOf, expectLedgerWhole, graphql, mutations, seatScenario, uniqueName } from './helpers.ts';

const add = (customerId: string, count: number, idempotencyKey?: string) => ({
  input: { customerId, featureCode: 'editor', count, ...(idempotencyKey ? { idempotencyKey } : {}) },
});

describe('idempotency keys', () => {
  test('a repeat returns the original event and records nothing', async ({ harness, scenario: s }) => {
    const key = uniqueName('retry');
    const first = await s.client.ok(mutations.addSeats, add(s.customerId, 3, key));
    const again = await s.client.ok(mutations.addSeats, add(s.customerId, 3, key));
    expect(again.addSeats).toEqual(first.addSeats);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(3);
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);

    // Without a key, the same call is a new change.
    await s.client.ok(mutations.addSeats, add(s.customerId, 3));
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(6);
  });

  test('bulkSetSeats repeats return every original event, in order', async ({ harness, scenario: s }) => {
    const input = {
      customerId: s.customerId,
      idempotencyKey: 'bulk-1',
      seats: [
        { featureCode: 'viewer', count: 1 },
        { featureCode: 'editor', count: 4 },
      ],
    };
    const first = await s.client.ok(mutations.bulkSetSeats, { input });
    await s.client.ok(mutations.setSeats, { input: { customerId: s.customerId, featureCode: 'editor', count: 9 } });
    const again = await s.client.ok(mutations.bulkSetSeats, { input });
    expect(again.bulkSetSeats).toEqual(first.bulkSetSeats);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(9);
  });

  test('the same key with another input or another operation answers idempotency_key_mismatch and changes nothing', async ({ harness, scenario: s }) => {
    await s.client.ok(mutations.addSeats, add(s.customerId, 3, 'k1'));
    const otherCount = await s.client.fails(mutations.addSeats, add(s.customerId, 4, 'k1'));
    expect(otherCount.extensions).toMatchObject({ code: 'idempotency_key_mismatch', type: 'conflict_error', param: 'idempotencyKey' });
    const otherOperation = await s.client.fails(mutations.removeSeats, add(s.customerId, 3, 'k1'));
    expect(otherOperation.extensions.code).toBe('idempotency_key_mismatch');
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(3);
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);
  });

  test('concurrent repeats apply once and all answer the same event', async ({ harness, scenario: s }) => {
    const responses = await Promise.all(Array.from({ length: 25 }, () => s.client.run(mutations.addSeats, add(s.customerId, 2, 'burst'))));
    const ids = new Set(
      responses.map((response) => {
        expect(response.errors).toBeUndefined();
        return response.data.addSeats.id;
      }),
    );
    expect(ids.size).toBe(1);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(2);
    expect(await expectLedgerWhole(harness, s.customerId, 'editor')).toHaveLength(1);
  });

  test('a call that failed did not use up its key: the retry runs', async ({ scenario: s }) => {
    const refused = await s.client.fails(mutations.removeSeats, add(s.customerId, 2, 'after-topup'));
    expect(refused.extensions.code).toBe('insufficient_seats');
    await s.client.ok(mutations.addSeats, add(s.customerId, 5));
    const { removeSeats } = await s.client.ok(mutations.removeSeats, add(s.customerId, 2, 'after-topup'));
    expect(removeSeats).toMatchObject({ previousBalance: 5, newBalance: 3 });
  });

  test('keys belong to one organization and mode', async ({ harness }) => {
    const a = await seatScenario(harness);
    const b = await seatScenario(harness);
    const one = await a.client.ok(mutations.addSeats, add(a.customerId, 1, 'shared'));
    const two = await b.client.ok(mutations.addSeats, add(b.customerId, 1, 'shared'));
    expect(two.addSeats.id).not.toBe(one.addSeats.id);
    expect(await balanceOf(harness, b.customerId, 'editor')).toBe(1);
  });

  test('the Idempotency-Key header works like the argument, for a request with one mutation', async ({ harness, scenario: s }) => {
    const viaHeader = () => graphql(harness, s.key, mutations.addSeats, add(s.customerId, 1), { 'idempotency-key': 'hdr-1' });
    const first = await viaHeader();
    const again = await viaHeader();
    expect(again.data.addSeats.id).toBe(first.data.addSeats.id);
    const asArgument = await s.client.ok(mutations.addSeats, add(s.customerId, 1, 'hdr-1'));
    expect(asArgument.addSeats.id).toBe(first.data.addSeats.id);
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(1);

    const two = await graphql(
      harness,
      s.key,
      /* GraphQL */ `mutation($a: AddSeatsInput!, $b: AddSeatsInput!) { a: addSeats(input: $a) { id } b: addSeats(input: $b) { id } }`,
      { a: add(s.customerId, 1).input, b: add(s.customerId, 1).input },
      { 'idempotency-key': 'hdr-2' },
    );
    // Refused before it runs, as every request with two mutations is (test/attacks/documents.test.ts).
    expect(two.data ?? null).toBeNull();
    expect(two.errors?.[0]?.extensions).toMatchObject({ code: 'validation_error' });
    const contradicting = await graphql(harness, s.key, mutations.addSeats, add(s.customerId, 1, 'arg'), { 'idempotency-key': 'hdr-3' });
    expect(contradicting.errors?.[0]?.extensions).toMatchObject({ code: 'validation_error', param: 'idempotencyKey' });
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(1);
  });

  test('the cleanup forgets keys older than its cut-off and keeps the rest', async ({ harness, tenant }) => {
    const connection = harness.orm.em.fork().getConnection();
    await connection.execute(
      `insert into idempotency_key (organization_id, mode, key, operation, request_hash, created_at)
       values (?, 'test', 'old', 'addSeats', 'x', now() - interval '49 hours'), (?, 'test', 'recent', 'addSeats', 'x', now() - interval '23 hours')`,
      [tenant.organizationId, tenant.organizationId],
    );
    const deleted = await deleteIdempotencyKeysBefore(harness.orm.em.fork(), new Date(Date.now() - 48 * 3_600_000));
    expect(deleted).toBeGreaterThanOrEqual(1);
    const left = await connection.execute<{ key: string }[]>(`select key from idempotency_key where organization_id = ? order by key`, [tenant.organizationId]);
    expect(left.map((row) => row.key)).toEqual(['recent']);
  });
});
