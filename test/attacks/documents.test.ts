import { describe, expect, test } from '../fixtures.ts';
import { balanceOf, expectLedgerWhole, graphql, seatScenario } from '../helpers.ts';

describe('a request changes state at most once', () => {
  test('a document with several mutation fields is refused before anything runs, pointing to bulkSetSeats', async ({ harness }) => {
    const s = await seatScenario(harness, { initialSeats: [{ featureCode: 'editor', count: 5 }] });
    const c = s.customerId;
    // The attack's document: an add, a remove that fails, an add on an unknown customer.
    const response = await graphql(
      harness,
      s.key,
      /* GraphQL */ `mutation {
        ok: addSeats(input: { customerId: "${c}", featureCode: "editor", count: 1 }) { id }
        bad: removeSeats(input: { customerId: "${c}", featureCode: "editor", count: 1000000 }) { id }
        bad2: addSeats(input: { customerId: "nope", featureCode: "editor", count: 1 }) { id }
      }`,
    );
    expect(response.data ?? null).toBeNull();
    expect(response.errors).toHaveLength(1);
    expect(response.errors![0]!.extensions).toMatchObject({ code: 'validation_error' });
    expect(response.errors![0]!.message).toContain('bulkSetSeats');
    expect(await balanceOf(harness, c, 'editor')).toBe(5);
    expect(await expectLedgerWhole(harness, c, 'editor')).toHaveLength(1);
  });

  test('fragments count: two mutation fields behind fragments are refused; one field with __typename runs', async ({ harness, scenario: s }) => {
    const add = `addSeats(input: { customerId: "${s.customerId}", featureCode: "editor", count: 1 }) { id }`;
    const hidden = await graphql(harness, s.key, /* GraphQL */ `mutation { ...A ... on Mutation { b: ${add} } } fragment A on Mutation { a: ${add} }`);
    expect(hidden.errors?.[0]?.extensions.code).toBe('validation_error');
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(0);
    const single = await graphql(harness, s.key, /* GraphQL */ `mutation { __typename ...A } fragment A on Mutation { ${add} }`);
    expect(single.errors).toBeUndefined();
    expect(await balanceOf(harness, s.customerId, 'editor')).toBe(1);
    // Queries may read as much as the other limits allow.
    const reads = await graphql(harness, s.key, /* GraphQL */ `{ a: features { code } b: plans { code } c: customer(id: "${s.customerId}") { id } }`);
    expect(reads.errors).toBeUndefined();
  });
});
