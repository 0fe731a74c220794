import { Migration } from '@mikro-orm/migrations';

export class Migration20261207300000 extends Migration {

  override async up(): Promise<void> {
    // Plan changes. Periods are counted from a billing anchor: existing subscriptions keep counting from their start.
    this.addSql(`alter table "subscription" add "billing_anchor" timestamptz null, add "scheduled_plan_id" text null, add "scheduled_plan_requested_at" timestamptz null;`);
    this.addSql(`update "subscription" set "billing_anchor" = "start_at";`);
    this.addSql(`alter table "subscription" alter column "billing_anchor" set not null;`);
    this.addSql(`alter table "subscription" add constraint "subscription_scheduled_plan_id_foreign" foreign key ("scheduled_plan_id") references "plan" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "subscription" add constraint "subscription_scheduled_plan_check" check ((scheduled_plan_id is null) = (scheduled_plan_requested_at is null) and (scheduled_plan_id is null or (status = 'ACTIVE' and not cancel_at_period_end)));`);
    // The new plan's charge of an immediate change has a kind of its own; several plan changes in one period each credit it.
    this.addSql(`alter table "seat_charge" drop constraint "seat_charge_kind_check";`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_kind_check" check ("kind" in ('ADVANCE', 'TRUE_UP', 'CREDIT', 'PLAN_CHANGE'));`);
    this.addSql(`drop index "seat_charge_one_credit_per_period";`);
    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('seat.changed', 'charge.created', 'seat.limit_reached', 'subscription.cancellation_scheduled', 'subscription.cancellation_revoked', 'subscription.canceled', 'subscription.plan_changed', 'subscription.plan_change_scheduled', 'subscription.plan_change_revoked'));`);
  }

  override async down(): Promise<void> {
    this.addSql(`delete from "outbox_event" where "type" like 'subscription.plan_change%';`);
    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('seat.changed', 'charge.created', 'seat.limit_reached', 'subscription.cancellation_scheduled', 'subscription.cancellation_revoked', 'subscription.canceled'));`);
    this.addSql(`create unique index "seat_charge_one_credit_per_period" on "seat_charge" ("subscription_id", "feature_id", "period_start") where kind = 'CREDIT';`);
    this.addSql(`alter table "seat_charge" drop constraint "seat_charge_kind_check";`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_kind_check" check ("kind" in ('ADVANCE', 'TRUE_UP', 'CREDIT'));`);
    this.addSql(`alter table "subscription" drop constraint "subscription_scheduled_plan_check", drop constraint "subscription_scheduled_plan_id_foreign";`);
    this.addSql(`alter table "subscription" drop column "billing_anchor", drop column "scheduled_plan_id", drop column "scheduled_plan_requested_at";`);
  }

}
