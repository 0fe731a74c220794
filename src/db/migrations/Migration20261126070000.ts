import { Migration } from '@mikro-orm/migrations';

export class Migration20261126070000 extends Migration {

  override async up(): Promise<void> {
    // The transactional outbox, and webhook endpoints, deliveries and attempts (issue 10).
    this.addSql(`create table "outbox_event" ("id" text not null, "seq" bigserial, "position" bigint null, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "type" text check ("type" in ('seat.changed', 'charge.created', 'seat.limit_reached')) not null, "customer_id" text not null, "feature_code" text not null, "payload" jsonb not null, "created_at" timestamptz not null default now(), constraint "outbox_event_pkey" primary key ("id"));`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_seq_unique" unique ("seq");`);
    this.addSql(`create table "webhook_endpoint" ("id" text not null, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "url" text not null, "events" text[] not null, "description" text not null default '', "secret" text not null, "disabled_at" timestamptz null, "created_at" timestamptz not null default now(), constraint "webhook_endpoint_pkey" primary key ("id"));`);
    this.addSql(`create table "webhook_delivery" ("id" text not null, "endpoint_id" text not null, "event_id" text not null, "organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "status" text check ("status" in ('pending', 'succeeded', 'failed')) not null default 'pending', "attempts" int not null default 0, "next_attempt_at" timestamptz not null, "last_status_code" int null, "last_error" text null, "created_at" timestamptz not null default now(), "completed_at" timestamptz null, constraint "webhook_delivery_pkey" primary key ("id"));`);
    this.addSql(`alter table "webhook_delivery" add constraint "webhook_delivery_endpoint_event_unique" unique ("endpoint_id", "event_id");`);
    this.addSql(`create table "webhook_attempt" ("id" text not null, "delivery_id" text not null, "attempted_at" timestamptz not null, "status_code" int null, "latency_ms" int not null, "error" text null, constraint "webhook_attempt_pkey" primary key ("id"));`);
    this.addSql(`create index "webhook_attempt_delivery_index" on "webhook_attempt" ("delivery_id", "attempted_at");`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_customer_id_foreign" foreign key ("customer_id") references "customer" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "webhook_endpoint" add constraint "webhook_endpoint_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "webhook_delivery" add constraint "webhook_delivery_endpoint_id_foreign" foreign key ("endpoint_id") references "webhook_endpoint" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "webhook_delivery" add constraint "webhook_delivery_event_id_foreign" foreign key ("event_id") references "outbox_event" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "webhook_delivery" add constraint "webhook_delivery_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "webhook_attempt" add constraint "webhook_attempt_delivery_id_foreign" foreign key ("delivery_id") references "webhook_delivery" ("id") on update cascade on delete cascade;`);

    // The relay publishes what has no position yet, in insertion order; readers follow positions.
    // Positions are indexed only once given: an unpublished row is in the one small index the
    // relay scans, and publishing it does not leave a dead entry where readers look.
    this.addSql(`create index "outbox_event_unpublished_index" on "outbox_event" ("seq") where "position" is null;`);
    this.addSql(`create unique index "outbox_event_position_unique" on "outbox_event" ("position") where "position" is not null;`);
    this.addSql(`create index "outbox_event_tenant_position_index" on "outbox_event" ("organization_id", "mode", "position") where "position" is not null;`);
    // A queue's rows die fast (each is published once, each delivery settled once): vacuum them
    // often, or the scans for what is pending wade through dead entries.
    this.addSql(`alter table "outbox_event" set (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000);`);
    this.addSql(`alter table "webhook_delivery" set (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000);`);
    this.addSql(`create index "outbox_event_customer_index" on "outbox_event" ("customer_id");`);
    this.addSql(`create index "outbox_event_created_at_index" on "outbox_event" ("created_at");`);
    // Wakes every process's relay when outbox rows commit (a notification of a transaction that
    // rolls back is never delivered). Once per statement: a flush of 100 events notifies once.
    this.addSql(`create or replace function seatgate_outbox_written() returns trigger language plpgsql as $$
      begin
        perform pg_notify('seatgate_outbox', '');
        return null;
      end $$;`);
    this.addSql(`create trigger outbox_event_written after insert on "outbox_event" for each statement execute function seatgate_outbox_written();`);

    this.addSql(`create index "webhook_endpoint_tenant_index" on "webhook_endpoint" ("organization_id", "mode") where "disabled_at" is null;`);
    this.addSql(`create index "webhook_delivery_due_index" on "webhook_delivery" ("next_attempt_at") where "status" = 'pending';`);
    this.addSql(`create index "webhook_delivery_endpoint_index" on "webhook_delivery" ("endpoint_id", "created_at" desc, "id" desc);`);
    // Pruning an event cascades to its deliveries, and asks whether one is still pending.
    this.addSql(`create index "webhook_delivery_event_index" on "webhook_delivery" ("event_id");`);
    this.addSql(`alter table "webhook_endpoint" add constraint webhook_endpoint_url_check check (length(url) <= 2048);`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "webhook_attempt";`);
    this.addSql(`drop table if exists "webhook_delivery";`);
    this.addSql(`drop table if exists "webhook_endpoint";`);
    this.addSql(`drop table if exists "outbox_event";`);
    this.addSql(`drop function if exists seatgate_outbox_written();`);
  }

}
