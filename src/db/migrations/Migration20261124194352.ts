import { Migration } from '@mikro-orm/migrations';

export class Migration20261124194352 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "seat_charge" ("id" text not null, "seq" bigserial, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "subscription_id" text not null, "customer_id" text not null, "feature_id" text not null, "event_id" text null, "kind" text check ("kind" in ('ADVANCE', 'TRUE_UP')) not null, "quantity" int not null, "unit_price" int not null, "days_remaining" int not null, "days_in_period" int not null, "period_start" timestamptz not null, "period_end" timestamptz not null, "amount" bigint not null, "currency" text not null, "ts" timestamptz not null, "created_at" timestamptz not null default now(), constraint "seat_charge_pkey" primary key ("id"), constraint seat_charge_amount_check check (amount >= 0 and quantity > 0 and unit_price >= 0), constraint seat_charge_days_check check (days_remaining between 1 and days_in_period), constraint seat_charge_period_check check (period_start < period_end));`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_seq_unique" unique ("seq");`);
    this.addSql(`create index "seat_charge_customer_ts_index" on "seat_charge" ("customer_id", "ts");`);
    this.addSql(`create index "seat_charge_subscription_period_index" on "seat_charge" ("subscription_id", "period_start");`);
    this.addSql(`create index "seat_charge_event_index" on "seat_charge" ("event_id");`);
    this.addSql(`create unique index seat_charge_one_advance_per_period on seat_charge (subscription_id, feature_id, period_start) where kind = 'ADVANCE';`);

    this.addSql(`create table "test_clock" ("organization_id" text not null, "offset_ms" bigint not null default 0, "updated_at" timestamptz not null default now(), constraint "test_clock_pkey" primary key ("organization_id"), constraint test_clock_offset_check check (offset_ms >= 0));`);

    this.addSql(`alter table "seat_charge" add constraint "seat_charge_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_subscription_id_foreign" foreign key ("subscription_id") references "subscription" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_customer_id_foreign" foreign key ("customer_id") references "customer" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_feature_id_foreign" foreign key ("feature_id") references "feature" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_charge" add constraint "seat_charge_event_id_foreign" foreign key ("event_id") references "seat_event" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "test_clock" add constraint "test_clock_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "seat_balance" add column "high_water_mark" int not null default 0;`);
    this.addSql(`alter table "seat_balance" add constraint seat_balance_high_water_mark_check check(high_water_mark >= 0);`);

    // The ledger and the charges are append-only for every SQL client, not only for this code.
    this.addSql(`create function seatgate_refuse_ledger_change() returns trigger language plpgsql as $$
      begin
        raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = 'restrict_violation';
      end $$;`);
    for (const table of ['seat_event', 'seat_charge']) {
      this.addSql(`create trigger ${table}_append_only before update or delete on "${table}" for each row execute function seatgate_refuse_ledger_change();`);
      this.addSql(`create trigger ${table}_no_truncate before truncate on "${table}" for each statement execute function seatgate_refuse_ledger_change();`);
    }
  }

  override async down(): Promise<void> {
    for (const table of ['seat_event', 'seat_charge']) {
      this.addSql(`drop trigger if exists ${table}_append_only on "${table}";`);
      this.addSql(`drop trigger if exists ${table}_no_truncate on "${table}";`);
    }
    this.addSql(`drop function if exists seatgate_refuse_ledger_change();`);
    this.addSql(`drop table if exists "seat_charge" cascade;`);

    this.addSql(`drop table if exists "test_clock" cascade;`);

    this.addSql(`alter table "seat_balance" drop constraint seat_balance_high_water_mark_check;`);
    this.addSql(`alter table "seat_balance" drop column "high_water_mark";`);
  }

}
