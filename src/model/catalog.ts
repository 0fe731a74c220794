import { Collection, EntitySchema, type Opt, PrimaryKeyProp } from '@mikro-orm/core';
import { Organization } from './auth.js';
import type { Mode } from './tenant.js';

export type FeatureType = 'SEATS';
export type PlanInterval = 'MONTH' | 'YEAR';

export class Feature {
  id!: string;
  organization!: Organization;
  mode!: Mode;
  code!: string;
  name!: string;
  type!: FeatureType;
  createdAt: Opt<Date> = new Date();
}

export class Plan {
  id!: string;
  organization!: Organization;
  mode!: Mode;
  code!: string;
  name!: string;
  currency!: string;
  interval!: PlanInterval;
  seatFeatures = new Collection<PlanSeatFeature>(this);
  createdAt: Opt<Date> = new Date();
}

/** A plan's terms for one seat feature. Plans are immutable, so these never change either. */
export class PlanSeatFeature {
  [PrimaryKeyProp]?: ['plan', 'feature'];
  plan!: Plan;
  feature!: Feature;
  includedSeats!: number;
  unlimited!: boolean;
  overageEnabled!: boolean;
  /** Minor units of the plan currency for one extra seat over one full period. */
  unitPrice!: number;
}

export const FeatureSchema = new EntitySchema<Feature>({
  class: Feature,
  tableName: 'feature',
  properties: {
    id: { type: 'text', primary: true },
    organization: { kind: 'm:1', entity: () => Organization, deleteRule: 'restrict' },
    mode: { enum: true, items: ['live', 'test'] },
    code: { type: 'text' },
    name: { type: 'text' },
    type: { enum: true, items: ['SEATS'] },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
  uniques: [{ name: 'feature_tenant_code_unique', properties: ['organization', 'mode', 'code'] }],
  checks: [{ name: 'feature_code_check', expression: "code ~ '^[a-z0-9_]{1,50}$'" }],
});

export const PlanSchema = new EntitySchema<Plan>({
  class: Plan,
  tableName: 'plan',
  properties: {
    id: { type: 'text', primary: true },
    organization: { kind: 'm:1', entity: () => Organization, deleteRule: 'restrict' },
    mode: { enum: true, items: ['live', 'test'] },
    code: { type: 'text' },
    name: { type: 'text' },
    currency: { type: 'text' },
    interval: { enum: true, items: ['MONTH', 'YEAR'] },
    seatFeatures: { kind: '1:m', entity: () => PlanSeatFeature, mappedBy: 'plan' },
    createdAt: { type: 'datetime', columnType: 'timestamptz', defaultRaw: 'now()' },
  },
  uniques: [{ name: 'plan_tenant_code_unique', properties: ['organization', 'mode', 'code'] }],
  checks: [{ name: 'plan_currency_check', expression: "currency ~ '^[A-Z]{3}$'" }],
});

export const PlanSeatFeatureSchema = new EntitySchema<PlanSeatFeature>({
  class: PlanSeatFeature,
  tableName: 'plan_seat_feature',
  properties: {
    plan: { kind: 'm:1', entity: () => Plan, primary: true, deleteRule: 'restrict' },
    feature: { kind: 'm:1', entity: () => Feature, primary: true, deleteRule: 'restrict' },
    includedSeats: { type: 'integer' },
    unlimited: { type: 'boolean' },
    overageEnabled: { type: 'boolean' },
    unitPrice: { type: 'integer' },
  },
  checks: [
    { name: 'plan_seat_feature_included_seats_check', expression: 'included_seats >= 0' },
    { name: 'plan_seat_feature_unit_price_check', expression: 'unit_price >= 0' },
  ],
});
