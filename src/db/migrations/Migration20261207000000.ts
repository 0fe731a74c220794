import { Migration } from '@mikro-orm/migrations';

export class Migration20261207000000 extends Migration {

  override async up(): Promise<void> {
    // Webhook fairness and automatic disabling (issue 21). An endpoint keeps its failure streak:
    // attempts failed in a row, and when the first of them was made; a worker disables it, with
    // a reason its owner reads, once the streak is too long or has lasted too many hours.
    this.addSql(`alter table "webhook_endpoint" add column "disabled_reason" text null, add column "consecutive_failures" int not null default 0, add column "failing_since" timestamptz null;`);
    // Endpoints that disabled themselves before this migration have no reason to show; say so.
    this.addSql(`update "webhook_endpoint" set "disabled_reason" = 'Disabled with disableWebhookEndpoint. enableWebhookEndpoint turns it back on.' where "disabled_at" is not null;`);
    // The fair claim walks the endpoints with pending deliveries, one index probe each, and takes
    // each one's oldest due deliveries (CLAIM_DUE in src/webhooks/store.ts).
    this.addSql(`create index "webhook_delivery_pending_endpoint_index" on "webhook_delivery" ("endpoint_id", "next_attempt_at") where status = 'pending';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "webhook_delivery_pending_endpoint_index";`);
    this.addSql(`alter table "webhook_endpoint" drop column "failing_since", drop column "consecutive_failures", drop column "disabled_reason";`);
  }

}
