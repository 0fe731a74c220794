import { Migration } from '@mikro-orm/migrations';

export class Migration20261207400000 extends Migration {

  override async up(): Promise<void> {
    // Settings per organization and mode; no row means every default, so existing tenants keep immediate decreases.
    this.addSql(`create table "organization_settings" ("organization_id" text not null, "mode" text not null, "seat_decrease_timing" text not null default 'IMMEDIATELY', "updated_at" timestamptz not null default now(), primary key ("organization_id", "mode"));`);
    this.addSql(`alter table "organization_settings" add constraint "organization_settings_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "organization_settings" add constraint "organization_settings_mode_check" check ("mode" in ('live', 'test'));`);
    this.addSql(`alter table "organization_settings" add constraint "organization_settings_seat_decrease_timing_check" check ("seat_decrease_timing" in ('IMMEDIATELY', 'AT_PERIOD_END'));`);
    // A decrease scheduled for the period end, on its balance: existing balances have none.
    this.addSql(`alter table "seat_balance" add "scheduled_count" int null, add "scheduled_effective_at" timestamptz null, add "scheduled_event_id" text null;`);
    this.addSql(`alter table "seat_balance" add constraint "seat_balance_scheduled_check" check ((scheduled_count is null and scheduled_effective_at is null and scheduled_event_id is null) or (scheduled_count >= 0 and scheduled_effective_at is not null and scheduled_event_id is not null));`);
    // Each decrease as it was scheduled, for replays of its idempotent call.
    this.addSql(`create table "seat_scheduled_change" ("id" text not null, "organization_id" text not null, "mode" text not null, "created_at" timestamptz not null default now(), "customer_id" text not null, "feature_id" text not null, "subscription_id" text not null, "count" int not null, "previous_balance" int not null, "effective_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "seat_scheduled_change" add constraint "seat_scheduled_change_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_scheduled_change" add constraint "seat_scheduled_change_customer_id_foreign" foreign key ("customer_id") references "customer" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "seat_scheduled_change" add constraint "seat_scheduled_change_feature_id_foreign" foreign key ("feature_id") references "feature" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_scheduled_change" add constraint "seat_scheduled_change_subscription_id_foreign" foreign key ("subscription_id") references "subscription" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "seat_scheduled_change" add constraint "seat_scheduled_change_count_check" check (count >= 0 and count < previous_balance);`);
    this.addSql(`alter table "seat_scheduled_change" add constraint "seat_scheduled_change_mode_check" check ("mode" in ('live', 'test'));`);
    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('seat.changed', 'charge.created', 'seat.limit_reached', 'subscription.cancellation_scheduled', 'subscription.cancellation_revoked', 'subscription.canceled', 'subscription.plan_changed', 'subscription.plan_change_scheduled', 'subscription.plan_change_revoked', 'seat.change_scheduled'));`);
  }

  override async down(): Promise<void> {
    this.addSql(`delete from "outbox_event" where "type" = 'seat.change_scheduled';`);
    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('seat.changed', 'charge.created', 'seat.limit_reached', 'subscription.cancellation_scheduled', 'subscription.cancellation_revoked', 'subscription.canceled', 'subscription.plan_changed', 'subscription.plan_change_scheduled', 'subscription.plan_change_revoked'));`);
    this.addSql(`drop table "seat_scheduled_change";`);
    this.addSql(`alter table "seat_balance" drop constraint "seat_balance_scheduled_check";`);
    this.addSql(`alter table "seat_balance" drop column "scheduled_count", drop column "scheduled_effective_at", drop column "scheduled_event_id";`);
    this.addSql(`drop table "organization_settings";`);
  }

}
