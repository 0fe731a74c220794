import { builder } from './builder.ts';
import { describe } from './common.ts';
import { type OrganizationSettingsRecord, readSettings, updateSettings } from '../organizations/service.ts';
import { SeatChangeTimingEnum } from './seats.ts';

const OrganizationSettingsRef = builder.objectRef<OrganizationSettingsRecord>('OrganizationSettings').implement({
  description:
    "How your organization wants seatgate to behave, in the key's mode: live and test keep their own settings, so a test key can try one without changing live behaviour.",
  fields: (t) => ({
    seatDecreaseTiming: t.field({
      type: SeatChangeTimingEnum,
      description:
        'The timing of a decrease whose removeSeats, setSeats or bulkSetSeats names none, REST calls included: IMMEDIATELY (the default) or AT_PERIOD_END. A request that names a timing uses its own.',
      resolve: (settings) => settings.seatDecreaseTiming,
    }),
    livemode: t.boolean({ description: describe.livemode, resolve: (settings) => settings.mode === 'live' }),
  }),
});

const UpdateOrganizationSettingsInput = builder.inputType('UpdateOrganizationSettingsInput', {
  description: 'The settings to change; those omitted keep their value.',
  fields: (t) => ({
    seatDecreaseTiming: t.field({
      type: SeatChangeTimingEnum,
      required: false,
      description: 'The timing of decreases that name none, from the next request on. Decreases already scheduled stay scheduled.',
    }),
  }),
});

builder.queryFields((t) => ({
  organizationSettings: t.field({
    type: OrganizationSettingsRef,
    description: "Your organization's settings in the key's mode; the defaults until updateOrganizationSettings changes one.",
    resolve: (_root, _args, ctx) => readSettings(ctx.em, ctx.tenant),
  }),
}));

builder.mutationFields((t) => ({
  updateOrganizationSettings: t.field({
    type: OrganizationSettingsRef,
    description:
      "Changes your organization's settings in the key's mode only, and answers them all. The same input again changes nothing, so it needs no idempotency key. Errors: validation_error.",
    args: { input: t.arg({ type: UpdateOrganizationSettingsInput, description: 'The settings to change.' }) },
    resolve: (_root, { input }, ctx) => updateSettings(ctx.em, ctx.tenant, input),
  }),
}));
