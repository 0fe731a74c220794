import { Migration } from '@mikro-orm/migrations';

export class Migration20261126050000 extends Migration {

  override async up(): Promise<void> {
    // The renewal sweeper looks for active subscriptions whose period has ended.
    this.addSql(`create index subscription_active_period_end_index on subscription (current_period_end) where status = 'ACTIVE';`);

    // deleteTestData may remove test-mode rows of the ledger, in its own transaction only (it sets
    // seatgate.delete_test_data there); live rows stay append-only for every SQL client.
    this.addSql(`create or replace function seatgate_refuse_ledger_change() returns trigger language plpgsql as $$
      begin
        if tg_op = 'DELETE' and old.mode = 'test' and current_setting('seatgate.delete_test_data', true) = 'on' then
          return old;
        end if;
        raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = 'restrict_violation';
      end $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists subscription_active_period_end_index;`);
    this.addSql(`create or replace function seatgate_refuse_ledger_change() returns trigger language plpgsql as $$
      begin
        raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = 'restrict_violation';
      end $$;`);
  }

}
