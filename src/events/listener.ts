import pg from 'pg';
import type { Logger } from '../common/logger.ts';

/**
 * A connection of its own that LISTENs on PostgreSQL channels (a pooled connection cannot: it
 * goes back to the pool). When it drops, it reconnects with backoff and calls `onConnect` again,
 * so its owner can catch up on what was sent while it was away.
 */
export class PgListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private retryMs = 100;
  private timer: NodeJS.Timeout | null = null;

  private readonly databaseUrl: string;
  private readonly channels: readonly string[];
  private readonly handlers: { onNotify(channel: string, payload: string): void; onConnect(): void };
  private readonly logger: Logger;

  constructor(
    databaseUrl: string,
    channels: readonly string[],
    handlers: { onNotify(channel: string, payload: string): void; onConnect(): void },
    logger: Logger,
  ) {
    this.databaseUrl = databaseUrl;
    this.channels = channels;
    this.handlers = handlers;
    this.logger = logger;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: 'seatgate-listener' });
    client.on('notification', (message) => this.handlers.onNotify(message.channel, message.payload ?? ''));
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, null));
    try {
      await client.connect();
      for (const channel of this.channels) await client.query(`listen ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      await client.end().catch(() => {});
      return this.lost(client, error);
    }
    if (this.stopped) return void (await client.end().catch(() => {}));
    this.client = client;
    this.retryMs = 100;
    this.handlers.onConnect();
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.stopped || (this.client !== client && this.client !== null) || this.timer) return;
    this.client = null;
    this.logger.warn('event listener lost its database connection; reconnecting', { error, retryMs: this.retryMs });
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, this.retryMs);
    this.timer.unref();
    this.retryMs = Math.min(this.retryMs * 2, 5000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }
}
