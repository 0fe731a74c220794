import { EntitySchema, type Opt } from '@mikro-orm/core';
import { TenantEntity, TenantEntitySchema } from './base.ts';
import { Plan } from './catalog.ts';
import { Customer } from './customers.ts';

export type SubscriptionStatus = 'ACTIVE' | 'CANCELED';

export class Subscription extends TenantEntity {
  id!: string;
  customer!: Customer;
  plan!: Plan;
  status: Opt<SubscriptionStatus> = 'ACTIVE';
  startAt!: Date;
  currentPeriodStart!: Date;
  currentPeriodEnd!: Date;
}

export const SubscriptionSchema = new EntitySchema<Subscription, TenantEntity>({
  class: Subscription,
  extends: TenantEntitySchema,
  tableName: 'subscription',
  properties: {
    id: { type: 'text', primary: true },
    customer: { kind: 'm:1', entity: () => Customer, deleteRule: 'restrict', updateRule: 'cascade' },
    plan: { kind: 'm:1', entity: () => Plan, deleteRule: 'restrict', updateRule: 'cascade' },
    status: { enum: true, items: ['ACTIVE', 'CANCELED'] },
    startAt: { type: 'datetime', columnType: 'timestamptz' },
    currentPeriodStart: { type: 'datetime', columnType: 'timestamptz' },
    currentPeriodEnd: { type: 'datetime', columnType: 'timestamptz' },
  },
  indexes: [
    {
      name: 'subscription_one_active_per_customer',
      expression: "create unique index subscription_one_active_per_customer on subscription (customer_id) where status = 'ACTIVE'",
    },
    {
      // The renewal sweeper's search for ended periods.
      name: 'subscription_active_period_end_index',
      expression: "create index subscription_active_period_end_index on subscription (current_period_end) where status = 'ACTIVE'",
    },
  ],
  checks: [{ name: 'subscription_period_check', expression: 'current_period_start < current_period_end' }],
});
