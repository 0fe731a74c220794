import { Collection, EntitySchema, PrimaryKeyProp } from '@mikro-orm/core';
import { TenantEntity, TenantEntitySchema } from './base.ts';
import { DomainError } from '../common/errors.ts';

export type FeatureType = 'SEATS';
export type PlanInterval = 'MONTH' | 'YEAR';

export const featureNotFound = (code: string, param = 'featureCode'): DomainError =>
  new DomainError('feature_not_found', `No feature with code '${code}'.`, { param });

/**
 * A plan's terms for one seat feature: what it includes, whether more may be added, the price of
 * each extra seat (minor units, per period), and the fewest and most seats a balance may hold
 * (`maximumSeats` null: no maximum).
 */
export type SeatTerms = {
  includedSeats: number;
  unlimited: boolean;
  overageEnabled: boolean;
  unitPrice: number;
  minimumSeats: number;
  maximumSeats: number | null;
};

/** The part of a feature's terms that bounds its balance. */
export type SeatLimits = Pick<SeatTerms, 'includedSeats' | 'unlimited' | 'overageEnabled' | 'minimumSeats' | 'maximumSeats'>;

export class Feature extends TenantEntity {
  id!: string;
  code!: string;
  name!: string;
  type!: FeatureType;
}

export class Plan extends TenantEntity {
  id!: string;
  code!: string;
  name!: string;
  currency!: string;
  interval!: PlanInterval;
  seatFeatures = new Collection<PlanSeatFeature>(this);
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
  /** The fewest seats a balance may hold; a new balance starts there. */
  minimumSeats!: number;
  /** The most seats a balance may hold; null for no maximum. */
  maximumSeats!: number | null;
}

export const FeatureSchema = new EntitySchema<Feature, TenantEntity>({
  class: Feature,
  extends: TenantEntitySchema,
  tableName: 'feature',
  properties: {
    id: { type: 'text', primary: true },
    code: { type: 'text' },
    name: { type: 'text' },
    type: { enum: true, items: ['SEATS'] },
  },
  uniques: [{ name: 'feature_tenant_code_unique', properties: ['organization', 'mode', 'code'] }],
  checks: [{ name: 'feature_code_check', expression: "code ~ '^[a-z0-9_]{1,50}$'" }],
});

export const PlanSchema = new EntitySchema<Plan, TenantEntity>({
  class: Plan,
  extends: TenantEntitySchema,
  tableName: 'plan',
  properties: {
    id: { type: 'text', primary: true },
    code: { type: 'text' },
    name: { type: 'text' },
    currency: { type: 'text' },
    interval: { enum: true, items: ['MONTH', 'YEAR'] },
    seatFeatures: { kind: '1:m', entity: () => PlanSeatFeature, mappedBy: 'plan' },
  },
  uniques: [{ name: 'plan_tenant_code_unique', properties: ['organization', 'mode', 'code'] }],
  checks: [{ name: 'plan_currency_check', expression: "currency ~ '^[A-Z]{3}$'" }],
});

export const PlanSeatFeatureSchema = new EntitySchema<PlanSeatFeature>({
  class: PlanSeatFeature,
  tableName: 'plan_seat_feature',
  properties: {
    plan: { kind: 'm:1', entity: () => Plan, primary: true, deleteRule: 'restrict', updateRule: 'cascade' },
    feature: { kind: 'm:1', entity: () => Feature, primary: true, deleteRule: 'restrict', updateRule: 'cascade' },
    includedSeats: { type: 'integer' },
    unlimited: { type: 'boolean' },
    overageEnabled: { type: 'boolean' },
    unitPrice: { type: 'integer' },
    minimumSeats: { type: 'integer', default: 0 },
    maximumSeats: { type: 'integer', nullable: true },
  },
  checks: [
    { name: 'plan_seat_feature_included_seats_check', expression: 'included_seats >= 0' },
    { name: 'plan_seat_feature_unit_price_check', expression: 'unit_price >= 0' },
    {
      name: 'plan_seat_feature_seat_limits_check',
      expression: 'minimum_seats >= 0 and (maximum_seats is null or (maximum_seats >= minimum_seats and maximum_seats >= included_seats))',
    },
  ],
});
