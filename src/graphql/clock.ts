import { builder } from './builder.ts';
import { maxAdvanceDays, maxTestClock, readTestClock } from '../clock/service.ts';
import { maxPeriodsPerRenewal, maxRenewalStepsPerCall } from '../flows/renewal.ts';
import { advanceTestClock, deleteTestData, maxCustomersPerDeletion, type TestDataDeletion } from '../flows/test-mode.ts';

const TestClockRef = builder.objectRef<{ now: Date }>('TestClock').implement({
  description:
    "The test-mode clock of the key's organization, which every time-dependent rule of its test data reads. It is real time until first advanced; after advanceTestClock it stands still at the instant advanced to until the next advance. It only moves forward.",
  fields: (t) => ({
    now: t.expose('now', { type: 'DateTime', description: 'The instant the clock shows, in UTC.' }),
    livemode: t.boolean({ description: 'Always false: the clock exists only in test mode.', resolve: () => false }),
  }),
});

const AdvanceTestClockInput = builder.inputType('AdvanceTestClockInput', {
  description: 'Where to move the test clock: exactly one of `to` or `days`.',
  isOneOf: true,
  fields: (t) => ({
    to: t.field({
      type: 'DateTime',
      required: false,
      description: `An instant not before the clock's current one, at most ${maxAdvanceDays} days after it, and not after ${maxTestClock.toISOString()}.`,
    }),
    days: t.int({
      required: false,
      description: `Whole days forward, 1 to ${maxAdvanceDays}; the clock may not pass ${maxTestClock.toISOString()}.`,
      validate: { min: 1, max: maxAdvanceDays },
    }),
  }),
});

builder.queryFields((t) => ({
  testClock: t.field({
    type: TestClockRef,
    description: "The test clock of the key's organization. Test keys only: a live key answers validation_error.",
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
    description: `Moves the test clock forward and stops it there, and renews, in the same transaction, the subscriptions whose periods it ended (at most ${maxRenewalStepsPerCall} steps of ${maxPeriodsPerRenewal} periods; the server's sweeper finishes a longer catch-up). A failed advance moves nothing. Test keys only; answers validation_error for a live key, a target before the clock, more than ${maxAdvanceDays} days ahead, or past ${maxTestClock.toISOString()}.`,
    args: { input: t.arg({ type: AdvanceTestClockInput, description: 'Exactly one of to or days.' }) },
    resolve: async (_root, { input }, ctx) => {
      ctx.clock.set(await advanceTestClock(ctx.em, ctx.tenant, ctx.clock, input));
      return { now: ctx.clock.now() };
    },
  }),
}));
