import { expect, test } from './fixtures.ts';

/**
 * What MikroORM would change to make the migrated database match the entities: only the objects
 * the migrations keep by hand, which the entities do not describe (partial and expression indexes,
 * an unlogged table, checks PostgreSQL rewrites). Anything else means an entity and the
 * migrations disagree: a column, type, default, key or constraint added to one and not the other.
 */
const keptByMigrations = [
  'alter table "seat_charge" add constraint "seat_charge_days_check" check (days_remaining between 1 and days_in_period);',
  'alter table "seat_charge" drop constraint "seat_charge_days_check";',
  'alter table "webhook_endpoint" drop constraint "webhook_endpoint_url_check";',
  'drop index "outbox_event_created_at_index";',
  'drop index "outbox_event_customer_index";',
  'drop index "outbox_event_position_unique";',
  'drop index "outbox_event_tenant_position_index";',
  'drop index "outbox_event_unpublished_index";',
  'drop index "webhook_delivery_due_index";',
  'drop index "webhook_delivery_endpoint_index";',
  'drop index "webhook_endpoint_tenant_index";',
  'drop table if exists "rate_limit_bucket" cascade;',
];

test('the entities describe the migrated database: the schema diff holds only what the migrations keep by hand', async ({ harness }) => {
  const diff = await harness.orm.schema.getUpdateSchemaSQL({ wrap: false });
  const statements = diff
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .sort();
  expect(statements).toEqual(keptByMigrations);
});
