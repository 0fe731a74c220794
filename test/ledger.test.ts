import fc from 'fast-check';
import { expect, test } from './fixtures.ts';
import { expectLedgerWhole, mutations, queries, seatScenario } from './helpers.ts';

/** seatScenario's default catalog, as the contract reads it. */
const terms: Record<string, { includedSeats: number; capped: boolean }> = {
  editor: { includedSeats: 5, capped: false }, // overage allowed
  viewer: { includedSeats: 2, capped: true }, // no overage
  admin: { includedSeats: 0, capped: false }, // unlimited
};

type Op = 'addSeats' | 'removeSeats' | 'setSeats';

/**
 * The contract's rules for one balance (docs/api.md, "Rules worth knowing"), written out here: a count
 * below 1 for add and remove is bad input; a balance never goes below zero; a capped feature
 * never rises above its included seats; lowering always works. The maxima are out of reach of
 * these counts (test/rules.test.ts covers them).
 */
function modelChange(current: number, op: Op, count: number, featureCode: string): { balance: number } | { code: string } {
  if (op !== 'setSeats' && count < 1) return { code: 'validation_error' };
  const wanted = op === 'addSeats' ? current + count : op === 'removeSeats' ? current - count : count;
  if (wanted < 0) return { code: 'insufficient_seats' };
  const { includedSeats, capped } = terms[featureCode]!;
  if (capped && wanted > current && wanted > includedSeats) return { code: 'seat_limit_exceeded' };
  return { balance: wanted };
}

const feature = fc.constantFrom('editor', 'viewer', 'admin');
const operation = fc.oneof(
  // Count 0 is out of range for add and remove: the model must predict the validation_error too.
  fc.record({
    op: fc.constantFrom('addSeats' as const, 'removeSeats' as const),
    featureCode: feature,
    count: fc.oneof({ arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: 8 }), weight: 4 }),
  }),
  fc.record({ op: fc.constant('setSeats' as const), featureCode: feature, count: fc.integer({ min: 0, max: 8 }) }),
  fc.record({
    op: fc.constant('bulkSetSeats' as const),
    seats: fc.uniqueArray(fc.record({ featureCode: feature, count: fc.integer({ min: 0, max: 8 }) }), {
      selector: (e) => e.featureCode,
      minLength: 1,
      maxLength: 3,
    }),
  }),
);

test('after a random sequence of operations, every ledger chains and ends at the balance a model predicts', async ({ harness }) => {
  await fc.assert(
    fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 30 }), async (operations) => {
      const s = await seatScenario(harness);
      const model: Record<string, number> = { editor: 0, viewer: 0, admin: 0 };
      for (const operation of operations) {
        if (operation.op === 'bulkSetSeats') {
          // All or nothing: the first entry the rules refuse fails the call, naming that entry.
          const next = { ...model };
          let refused: { code: string; param: string } | null = null;
          for (const [index, entry] of operation.seats.entries()) {
            const outcome = modelChange(model[entry.featureCode]!, 'setSeats', entry.count, entry.featureCode);
            if ('code' in outcome) {
              refused = { code: outcome.code, param: `seats.${index}.count` };
              break;
            }
            next[entry.featureCode] = outcome.balance;
          }
          const response = await s.client.run(mutations.bulkSetSeats, { input: { customerId: s.customerId, seats: operation.seats } });
          if (refused) {
            expect(response.errors?.[0]?.extensions).toMatchObject(refused);
          } else {
            expect(response.errors).toBeUndefined();
            expect(response.data.bulkSetSeats.map((e: any) => [e.featureCode, e.previousBalance, e.newBalance])).toEqual(
              operation.seats.map((entry) => [entry.featureCode, model[entry.featureCode], next[entry.featureCode]]),
            );
            Object.assign(model, next);
          }
          continue;
        }
        const { featureCode, count } = operation;
        const outcome = modelChange(model[featureCode]!, operation.op, count, featureCode);
        const response = await s.client.run(mutations[operation.op], { input: { customerId: s.customerId, featureCode, count } });
        if ('code' in outcome) {
          expect(response.errors?.[0]?.extensions).toMatchObject({ code: outcome.code, param: 'count' });
        } else {
          expect(response.errors).toBeUndefined();
          expect(response.data[operation.op]).toMatchObject({ previousBalance: model[featureCode], newBalance: outcome.balance });
          model[featureCode] = outcome.balance;
        }
      }
      const { seatBalances } = await s.client.ok(queries.seatBalances, { customerId: s.customerId });
      expect(Object.fromEntries(seatBalances.map((b: any) => [b.featureCode, b.current]))).toEqual(model);
      for (const code of Object.keys(model)) await expectLedgerWhole(harness, s.customerId, code);
    }),
    { numRuns: 15 },
  );
});
