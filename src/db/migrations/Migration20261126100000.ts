import { Migration } from '@mikro-orm/migrations';

export class Migration20261126100000 extends Migration {

  override async up(): Promise<void> {
    // Rate-limit buckets every process shares (issue 11). Unlogged: a crash empties them, which
    // only forgives some requests, and their updates write no WAL, so a commit waits on no flush.
    // full_at is when the bucket is full again, in epoch milliseconds (GCRA's theoretical arrival
    // time); granted is how many requests the last take let through. Room on each page for HOT
    // updates, and vacuumed often: every take rewrites its row.
    this.addSql(`create unlogged table "rate_limit_bucket" ("bucket" text not null, "full_at" double precision not null, "granted" int not null, constraint "rate_limit_bucket_pkey" primary key ("bucket")) with (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000);`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "rate_limit_bucket";`);
  }

}
