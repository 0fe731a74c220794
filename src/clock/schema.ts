import { builder } from '../builder.js';
import { renewDueSubscriptions } from '../billing/service.js';
import { advanceTestClock, maxAdvanceDays, readTestClock } from './service.js';

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

builder.mutationFields((t) => ({
  advanceTestClock: t.field({
    type: TestClockRef,
    description: 'Moves the test clock forward and renews the subscriptions whose periods it ended. Test mode only.',
    args: { input: t.arg({ type: AdvanceTestClockInput }) },
    resolve: async (_root, { input }, ctx) => {
      const now = await advanceTestClock(ctx.em, ctx.tenant, ctx.clock, input);
      await renewDueSubscriptions(ctx.em, ctx.tenant, now);
      return { now };
    },
  }),
}));
