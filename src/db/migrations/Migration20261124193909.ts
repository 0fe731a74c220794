import { Migration } from '@mikro-orm/migrations';

export class Migration20261124193909 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "idempotency_key" ("organization_id" text not null, "mode" text check ("mode" in ('live', 'test')) not null, "key" text not null, "operation" text not null, "request_hash" text not null, "event_ids" text[] not null default '{}', "created_at" timestamptz not null default now(), constraint "idempotency_key_pkey" primary key ("organization_id", "mode", "key"));`);
    this.addSql(`create index "idempotency_key_created_at_index" on "idempotency_key" ("created_at");`);

    this.addSql(`alter table "idempotency_key" add constraint "idempotency_key_organization_id_foreign" foreign key ("organization_id") references "organization" ("id") on update cascade on delete restrict;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "idempotency_key" cascade;`);
  }

}
