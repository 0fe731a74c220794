import { Migration } from '@mikro-orm/migrations';

export class Migration20261207500000 extends Migration {

  override async up(): Promise<void> {
    // A seat change now publishes its own outbox rows before it commits when the publisher's lock
    // is free, so the relays need waking only for rows still unpublished at commit: a deferred
    // trigger asks then, once per transaction, instead of every insert notifying at once.
    this.addSql(`create or replace function seatgate_outbox_committing() returns trigger language plpgsql as $$
      begin
        if current_setting('seatgate.outbox_checked', true) is distinct from 'on' then
          perform set_config('seatgate.outbox_checked', 'on', true);
          if exists (select 1 from outbox_event where position is null) then
            perform pg_notify('seatgate_outbox', '');
          end if;
        end if;
        return null;
      end $$;`);
    this.addSql(`create constraint trigger outbox_event_committing after insert on "outbox_event" deferrable initially deferred for each row execute function seatgate_outbox_committing();`);
    this.addSql(`drop trigger if exists outbox_event_written on "outbox_event";`);
    this.addSql(`drop function if exists seatgate_outbox_written();`);
  }

  override async down(): Promise<void> {
    this.addSql(`create or replace function seatgate_outbox_written() returns trigger language plpgsql as $$
      begin
        perform pg_notify('seatgate_outbox', '');
        return null;
      end $$;`);
    this.addSql(`create trigger outbox_event_written after insert on "outbox_event" for each statement execute function seatgate_outbox_written();`);
    this.addSql(`drop trigger if exists outbox_event_committing on "outbox_event";`);
    this.addSql(`drop function if exists seatgate_outbox_committing();`);
  }

}
