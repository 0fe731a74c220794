import { builder } from '../builder.js';
import { advanceTestClock, deleteTestData, maxAdvanceDays, maxCustomersPerDeletion, readTestClock, type TestDataDeletion } from './service.js';

const TestClockRef = builder.objectRef<{ now: Date }>('TestClock').implement({
  description: "The test-mode clock of the key's organization. It starts at real time, ticks with it, and only moves forward.",
  fields: (t) => ({
    now: t.expose('now', { type: 'DateTime' }),
    livemode: t.boolean({ resolve: () => false }),
  }),
});

const AdvanceTestClockInput = builder.inputType('AdvanceTestClockInput', {
  description: 'Either `to` (an instant not before the clock) or `days` (whole days forward).',
  fields: (t) => ({
    to: t.field({ type: 'DateTime', required: false }),
    days: t.int({ required: false, validate: { min: 1, max: maxAdvanceDays } }),
  }),
});

builder.queryFields((t) => ({
  testClock: t.field({
    type: TestClockRef,
    description: 'Test mode only; a live key answers validation_error.',
    resolve: (_root, _args, ctx) => ({ now: readTestClock(ctx.tenant, ctx.clock) }),
  }),
}));

const TestDataDeletionRef = builder.objectRef<TestDataDeletion>('TestDataDeletion').implement({
  description: 'What one deleteTestData call removed.',
  fields: (t) => ({
    customers: t.exposeInt('customers', { description: 'Test customers deleted, each with its subscription, balances, ledger and charges.' }),
    complete: t.exposeBoolean('complete', {
      description: `True when no test customer is left; the idempotency keys are then forgotten and the clock is back at real time. Else call again (one call deletes at most ${maxCustomersPerDeletion} customers).`,
    }),
  }),
});

builder.mutationFields((t) => ({
  deleteTestData: t.field({
    type: TestDataDeletionRef,
    description: `Deletes this organization's test-mode customers, subscriptions, balances, ledger, charges and idempotency keys, and sets the test clock back to real time; features and plans stay. Test keys only: a live key answers validation_error, and live data is never touched. At most ${maxCustomersPerDeletion} customers per call: repeat until complete is true.`,
    resolve: async (_root, _args, ctx) => {
      const deletion = await deleteTestData(ctx.em, ctx.tenant);
      if (deletion.clock) ctx.clock.set(deletion.clock);
      return deletion;
    },
  }),
  advanceTestClock: t.field({
    type: TestClockRef,
    description: 'Moves the test clock forward and renews the subscriptions whose periods it ended. Test mode only.',
    args: { input: t.arg({ type: AdvanceTestClockInput }) },
    resolve: async (_root, { input }, ctx) => {
      ctx.clock.set(await advanceTestClock(ctx.em, ctx.tenant, ctx.clock, input));
      return { now: ctx.clock.now() };
    },
  }),
}));
