import fc from 'fast-check';
import { expect, test } from 'vitest';
import { nextBalance, type SeatTerms } from '../src/seats/rules.js';
import { expectLedgerWhole, mutations, queries, seatScenario, useHarness } from './helpers.js';

const harness = useHarness();

const terms: Record<string, SeatTerms> = {
  editor: { includedSeats: 5, unlimited: false, overageEnabled: true },
  viewer: { includedSeats: 2, unlimited: false, overageEnabled: false },
  admin: { includedSeats: 0, unlimited: true, overageEnabled: false },
};

const feature = fc.constantFrom('editor', 'viewer', 'admin');
const operation = fc.oneof(
  fc.record({ op: fc.constantFrom('addSeats' as const, 'removeSeats' as const), featureCode: feature, count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('setSeats' as const), featureCode: feature, count: fc.integer({ min: 0, max: 8 }) }),
  fc.record({
    op: fc.constant('bulkSetSeats' as const),
    seats: fc.uniqueArray(fc.record({ featureCode: feature, count: fc.integer({ min: 0, max: 8 }) }), { selector: (e) => e.featureCode, minLength: 1, maxLength: 3 }),
  }),
);

const kindOf = { addSeats: 'ADD', removeSeats: 'REMOVE', setSeats: 'SET' } as const;

test('after a random sequence of operations, every ledger chains and ends at the balance a model predicts', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 30 }), async (operations) => {
      const s = await seatScenario(harness);
      const model: Record<string, number> = { editor: 0, viewer: 0, admin: 0 };
      for (const operation of operations) {
        if (operation.op === 'bulkSetSeats') {
          let expected: Record<string, number> | string = { ...model };
          try {
            for (const entry of operation.seats) expected[entry.featureCode] = nextBalance(model[entry.featureCode]!, 'SET', entry.count, terms[entry.featureCode]!, entry.featureCode);
          } catch (error) {
            expected = (error as { code: string }).code;
          }
          const response = await s.client.run(mutations.bulkSetSeats, { input: { customerId: s.customerId, seats: operation.seats } });
          if (typeof expected === 'string') {
            expect(response.errors?.[0]?.extensions.code).toBe(expected);
          } else {
            expect(response.errors).toBeUndefined();
            Object.assign(model, expected);
          }
          continue;
        }
        const { featureCode, count } = operation;
        let expected: number | string;
        try {
          expected = nextBalance(model[featureCode]!, kindOf[operation.op], count, terms[featureCode]!, featureCode);
        } catch (error) {
          expected = (error as { code: string }).code;
        }
        const response = await s.client.run(mutations[operation.op], { input: { customerId: s.customerId, featureCode, count } });
        if (typeof expected === 'string') {
          expect(response.errors?.[0]?.extensions.code).toBe(expected);
        } else {
          expect(response.errors).toBeUndefined();
          expect(response.data[operation.op]).toMatchObject({ previousBalance: model[featureCode], newBalance: expected });
          model[featureCode] = expected;
        }
      }
      const { seatBalances } = await s.client.ok(queries.seatBalances, { customerId: s.customerId });
      expect(Object.fromEntries(seatBalances.map((b: any) => [b.featureCode, b.current]))).toEqual(model);
      for (const code of Object.keys(model)) await expectLedgerWhole(harness, s.customerId, code);
    }),
    { numRuns: 15 },
  );
});
