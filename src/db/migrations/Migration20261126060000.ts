import { Migration } from '@mikro-orm/migrations';

export class Migration20261126060000 extends Migration {

  override async up(): Promise<void> {
    // A test clock now stands still at the instant it was advanced to, as Stripe's do, instead
    // of ticking on from an offset; null means real time.
    this.addSql(`alter table "test_clock" add column "frozen_at" timestamptz null;`);
    this.addSql(`update "test_clock" set "frozen_at" = now() + "offset_ms" * interval '1 millisecond' where "offset_ms" > 0;`);
    this.addSql(`alter table "test_clock" drop constraint test_clock_offset_check;`);
    this.addSql(`alter table "test_clock" drop column "offset_ms";`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "test_clock" add column "offset_ms" bigint not null default 0;`);
    this.addSql(`update "test_clock" set "offset_ms" = greatest(0, (extract(epoch from "frozen_at" - now()) * 1000)::bigint) where "frozen_at" is not null;`);
    this.addSql(`alter table "test_clock" add constraint test_clock_offset_check check (offset_ms >= 0);`);
    this.addSql(`alter table "test_clock" drop column "frozen_at";`);
  }

}
