import { Migration } from '@mikro-orm/migrations';

export class Migration20261207100000 extends Migration {

  override async up(): Promise<void> {
    // Seat limits per plan feature: existing plans keep no minimum and no maximum.
    this.addSql(`alter table "plan_seat_feature" add "minimum_seats" int not null default 0, add "maximum_seats" int null;`);
    this.addSql(`alter table "plan_seat_feature" add constraint "plan_seat_feature_seat_limits_check" check (minimum_seats >= 0 and (maximum_seats is null or (maximum_seats >= minimum_seats and maximum_seats >= included_seats)));`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "plan_seat_feature" drop constraint "plan_seat_feature_seat_limits_check";`);
    this.addSql(`alter table "plan_seat_feature" drop column "minimum_seats", drop column "maximum_seats";`);
  }

}
