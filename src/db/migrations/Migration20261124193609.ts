import { Migration } from '@mikro-orm/migrations';

export class Migration20261124193609 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "organization" ("id" text not null, "name" text not null, "created_at" timestamptz not null default now(), constraint "organization_pkey" primary key ("id"));`);
    this.addSql(`alter table "organization" add constraint "organization_name_unique" unique ("name");`);

    this.addSql(`create table "feature" ("id" text not null, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "code" text not null, "name" text not null, "type" text check ("type" in ('SEATS')) not null, "created_at" timestamptz not null default now(), constraint "feature_pkey" primary key ("id"), constraint feature_code_check check (code ~ '^[a-z0-9_]{1,50}\$'));`);
    this.addSql(`alter table "feature" add constraint "feature_tenant_code_unique" unique ("organization_id", "mode", "code");`);

    this.addSql(`create table "customer" ("id" text not null, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "external_id" text null, "name" text not null, "created_at" timestamptz not null default now(), constraint "customer_pkey" primary key ("id"));`);
    this.addSql(`alter table "customer" add constraint "customer_tenant_external_id_unique" unique ("organization_id", "mode", "external_id");`);

    this.addSql(`create table "api_key" ("id" text not null, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "key_hash" text not null, "key_prefix" text not null, "created_at" timestamptz not null default now(), "revoked_at" timestamptz null, constraint "api_key_pkey" primary key ("id"));`);
    this.addSql(`alter table "api_key" add constraint "api_key_key_hash_unique" unique ("key_hash");`);

    this.addSql(`create table "plan" ("id" text not null, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "code" text not null, "name" text not null, "currency" text not null, "interval" text check ("interval" in ('MONTH', 'YEAR')) not null, "created_at" timestamptz not null default now(), constraint "plan_pkey" primary key ("id"), constraint plan_currency_check check (currency ~ '^[A-Z]{3}\$'));`);
    this.addSql(`alter table "plan" add constraint "plan_tenant_code_unique" unique ("organization_id", "mode", "code");`);

    this.addSql(`create table "plan_seat_feature" ("plan_id" text not null, "feature_id" text not null, "included_seats" int not null, "unlimited" boolean not null, "overage_enabled" boolean not null, "unit_price" int not null, constraint "plan_seat_feature_pkey" primary key ("plan_id", "feature_id"), constraint plan_seat_feature_included_seats_check check (included_seats >= 0), constraint plan_seat_feature_unit_price_check check (unit_price >= 0));`);

    this.addSql(`create table "seat_balance" ("customer_id" text not null, "feature_id" text not null, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "current" int not null, "as_of" timestamptz not null, constraint "seat_balance_pkey" primary key ("customer_id", "feature_id"), constraint seat_balance_current_check check (current >= 0));`);

    this.addSql(`create table "subscription" ("id" text not null, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "customer_id" text not null, "plan_id" text not null, "status" text check ("status" in ('ACTIVE', 'CANCELED')) not null default 'ACTIVE', "start_at" timestamptz not null, "current_period_start" timestamptz not null, "current_period_end" timestamptz not null, "created_at" timestamptz not null default now(), constraint "subscription_pkey" primary key ("id"), constraint subscription_period_check check (current_period_start < current_period_end));`);
    this.addSql(`create unique index subscription_one_active_per_customer on subscription (customer_id) where status = 'ACTIVE';`);

    this.addSql(`create table "seat_event" ("id" text not null, "seq" bigserial, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "customer_id" text not null, "feature_id" text not null, "subscription_id" text not null, "kind" text check ("kind" in ('ADD', 'REMOVE', 'SET')) not null, "quantity" int not null, "previous_balance" int not null, "new_balance" int not null, "ts" timestamptz not null, "created_at" timestamptz not null default now(), constraint "seat_event_pkey" primary key ("id"), constraint seat_event_balances_check check (previous_balance >= 0 and new_balance >= 0), constraint seat_event_change_check check ((kind = 'ADD' and quantity > 0 and new_balance = previous_balance + quantity) or (kind = 'REMOVE' and quantity > 0 and new_balance = previous_balance - quantity) or (kind = 'SET' and quantity >= 0 and new_balance = quantity)));`);
    this.addSql(`alter table "seat_event" add constraint "seat_event_seq_unique" unique ("seq");`);
    this.addSql(`create index "seat_event_customer_seq_index" on "seat_event" ("customer_id", "seq");`);
    this.addSql(`create index "seat_event_customer_feature_seq_index" on "seat_event" ("customer_id", "feature_id", "seq");`);

    this.addSql(`alter table "feature" add constraint "feature_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "customer" add constraint "customer_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "api_key" add constraint "api_key_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "plan" add constraint "plan_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "plan_seat_feature" add constraint "plan_seat_feature_plan_id_foreign" foreign key ("plan_id") references "plan" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "plan_seat_feature" add constraint "plan_seat_feature_feature_id_foreign" foreign key ("feature_id") references "feature" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "seat_balance" add constraint "seat_balance_customer_id_foreign" foreign key ("customer_id") references "customer" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_balance" add constraint "seat_balance_feature_id_foreign" foreign key ("feature_id") references "feature" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_balance" add constraint "seat_balance_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "subscription" add constraint "subscription_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "subscription" add constraint "subscription_customer_id_foreign" foreign key ("customer_id") references "customer" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "subscription" add constraint "subscription_plan_id_foreign" foreign key ("plan_id") references "plan" ("id") on update cascade on delete restrict;`);

    this.addSql(`alter table "seat_event" add constraint "seat_event_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_event" add constraint "seat_event_customer_id_foreign" foreign key ("customer_id") references "customer" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_event" add constraint "seat_event_feature_id_foreign" foreign key ("feature_id") references "feature" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "seat_event" add constraint "seat_event_subscription_id_foreign" foreign key ("subscription_id") references "subscription" ("id") on update cascade on delete restrict;`);
  }

}
