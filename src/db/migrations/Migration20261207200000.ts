import { Migration } from '@mikro-orm/migrations';

export class Migration20261207200000 extends Migration {

  override async up(): Promise<void> {
    // Cancellation: existing subscriptions have none scheduled and have not ended.
    this.addSql(`alter table "subscription" add "cancel_at_period_end" boolean not null default false, add "cancellation_reason" text null, add "cancellation_comment" text null, add "cancellation_requested_at" timestamptz null, add "cancellation_effective_at" timestamptz null, add "ended_at" timestamptz null;`);
    this.addSql(`alter table "subscription" add constraint "subscription_cancellation_reason_check" check ("cancellation_reason" in ('TOO_EXPENSIVE', 'MISSING_FEATURES', 'SWITCHED_SERVICE', 'UNUSED', 'CUSTOMER_SERVICE', 'LOW_QUALITY', 'TOO_COMPLEX', 'OTHER'));`);
    this.addSql(`alter table "subscription" add constraint "subscription_cancellation_check" check ((status = 'CANCELED') = (ended_at is not null) and (not cancel_at_period_end or (status = 'ACTIVE' and cancellation_requested_at is not null)) and char_length(cancellation_comment) <= 500);`);
    // Balances stay readable after the end, under the customer's latest subscription.
    this.addSql(`create index subscription_customer_latest_index on subscription (customer_id, ended_at desc nulls first);`);
    // Credits: a charge of kind CREDIT gives money back, so its amount is negative; every other kind's is not.
    this.addSql(`alter table "seat_charge" drop constraint "seat_charge_kind_check";`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_kind_check" check ("kind" in ('ADVANCE', 'TRUE_UP', 'CREDIT'));`);
    this.addSql(`alter table "seat_charge" drop constraint "seat_charge_amount_check";`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_amount_check" check (quantity > 0 and unit_price >= 0 and (kind = 'CREDIT') = (amount < 0));`);
    // At most one credit per feature and period: a subscription ends once.
    this.addSql(`create unique index "seat_charge_one_credit_per_period" on "seat_charge" ("subscription_id", "feature_id", "period_start") where kind = 'CREDIT';`);
    // Subscription events: about a whole subscription, so their feature code is the empty string.
    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('seat.changed', 'charge.created', 'seat.limit_reached', 'subscription.cancellation_scheduled', 'subscription.cancellation_revoked', 'subscription.canceled'));`);
  }

  override async down(): Promise<void> {
    this.addSql(`delete from "outbox_event" where "type" like 'subscription.%';`);
    this.addSql(`alter table "outbox_event" drop constraint "outbox_event_type_check";`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_type_check" check ("type" in ('seat.changed', 'charge.created', 'seat.limit_reached'));`);
    this.addSql(`drop index "seat_charge_one_credit_per_period";`);
    this.addSql(`alter table "seat_charge" drop constraint "seat_charge_amount_check";`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_amount_check" check (amount >= 0 and quantity > 0 and unit_price >= 0);`);
    this.addSql(`alter table "seat_charge" drop constraint "seat_charge_kind_check";`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_kind_check" check ("kind" in ('ADVANCE', 'TRUE_UP'));`);
    this.addSql(`drop index "subscription_customer_latest_index";`);
    this.addSql(`alter table "subscription" drop constraint "subscription_cancellation_check", drop constraint "subscription_cancellation_reason_check";`);
    this.addSql(`alter table "subscription" drop column "cancel_at_period_end", drop column "cancellation_reason", drop column "cancellation_comment", drop column "cancellation_requested_at", drop column "cancellation_effective_at", drop column "ended_at";`);
  }

}
