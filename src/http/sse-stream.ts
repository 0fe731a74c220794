import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

// The frames of graphql-sse's "distinct connections" mode, as graphql-yoga writes them.
export const sseHeaders = { 'content-type': 'text/event-stream', connection: 'keep-alive', 'cache-control': 'no-cache', 'content-encoding': 'none' };
/** A comment: the first bytes (some browsers wait for a body before they report the headers), and the keep-alive. */
const pingFrame = Buffer.from(':\n\n');
export const completeFrame = Buffer.from('event: complete\ndata:\n\n');
export const nextFrame = (json: string) => Buffer.from(`event: next\ndata: ${json}\n\n`);

/**
 * How long an ended stream's reader has to take its last bytes (why it ended), before its
 * connection is closed: well within the 15 s a stopping server drains for.
 */
const endGraceMs = 5000;

/** Bytes to send, and how many events they carry (pings and endings carry none). */
type Chunk = { bytes: Buffer; events: number };

/** Why a stream was cut off: it fell too far behind, or its socket took nothing for too long. */
export type CutOff = 'backlog' | 'timeout';

export type StreamLimits = {
  /** Events a stream may have unsent (queued here, or in its socket's buffer) before it is cut off. */
  maxBacklog: number;
  /** How long queued bytes may wait for the socket to take them. */
  writeTimeoutMs: number;
};

/**
 * One subscriber's server-sent events. Chunks wait in a queue until the body's reader (the
 * socket, through `pipe`, which stops reading while a write waits for `drain`) asks for more; a
 * chunk is the same Buffer every stream of its execution gets. The stream counts what it has not
 * sent yet, its queue and the unsent bytes of its socket together, and is cut off (`onCutOff`)
 * when that passes `maxBacklog` events, or when queued bytes wait `writeTimeoutMs` for the socket.
 */
export class SseStream {
  readonly body: Readable;
  /** Waiting for the reader to ask. */
  private queue: Chunk[] = [];
  private queuedEvents = 0;
  /** Handed to the body, oldest first; the newest ones may still sit in its buffers unsent. */
  private handed: Chunk[] = [];
  private handedBytes = 0;
  private handedEvents = 0;
  /** The reader asked and got nothing yet: the next chunk goes out at once. */
  private wanting = false;
  private ending = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private waiters: (() => void)[] = [];
  private response: ServerResponse | null = null;
  private readonly paceAt: number;

  private readonly limits: StreamLimits;
  private readonly onCutOff: (reason: CutOff) => void;
  private readonly onClose: () => void;

  constructor(limits: StreamLimits, onCutOff: (reason: CutOff) => void, onClose: () => void) {
    this.limits = limits;
    this.onCutOff = onCutOff;
    this.onClose = onClose;
    // A replay waits while this much is queued: well within the backlog that cuts a stream off.
    this.paceAt = Math.max(1, Math.min(64, Math.floor(limits.maxBacklog / 4)));
    this.body = new Readable({
      // Nothing is read ahead: what the socket has not asked for stays in the queue, counted.
      highWaterMark: 0,
      read: () => {
        this.wanting = true;
        this.flush();
      },
      destroy: (error, callback) => {
        this.close();
        callback(error);
      },
    });
    // Also the first thing sent: a response nobody starts reading is found out like a stuck one.
    this.queue.push({ bytes: pingFrame, events: 0 });
    this.arm(() => this.onCutOff('timeout'));
  }

  /** The socket's response, when the stream is served by Node's HTTP server: its unsent bytes count too. */
  attach(response: ServerResponse | undefined): void {
    this.response = response ?? null;
  }

  get isOpen(): boolean {
    return !this.ending && !this.closed;
  }

  /** Queues a chunk of `events` events; past the backlog, the stream is cut off instead. */
  write(bytes: Buffer, events: number): void {
    if (!this.isOpen) return;
    if (this.pendingEvents() + events > this.limits.maxBacklog) {
      this.onCutOff('backlog');
      return;
    }
    this.queue.push({ bytes, events });
    this.queuedEvents += events;
    this.flush();
    if (this.queue.length > 0) this.arm(() => this.onCutOff('timeout'));
  }

  /** A keep-alive comment, when nothing else waits: a socket that takes nothing is found out even when idle. */
  ping(): void {
    if (this.isOpen && this.queue.length === 0) this.write(pingFrame, 0);
  }

  /**
   * Sends `last` (an error, then `complete`, or `complete` alone) after what is queued, or instead
   * of it when `drop` (a cut-off stream's reader resumes with `after` from what it did get), then
   * ends. A reader that does not take it within 5 s is disconnected.
   */
  end(last: Buffer, drop = false): void {
    if (!this.isOpen) return;
    if (drop) {
      this.queue = [];
      this.queuedEvents = 0;
    }
    this.queue.push({ bytes: last, events: 0 });
    this.ending = true;
    this.disarm();
    this.arm(() => this.body.destroy(), endGraceMs);
    this.release();
    this.flush();
  }

  /** Resolves once the queue is short again (or the stream is gone): a replay's pace. */
  room(): Promise<void> | undefined {
    if (this.closed || this.ending || this.queuedEvents < this.paceAt) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Events not yet sent: queued, and handed to the socket but still in its buffers. */
  pendingEvents(): number {
    return this.queuedEvents + this.inFlight().events;
  }

  /** Bytes the stream itself holds unsent: its queue, and what its body has not handed to the socket yet. */
  heldBytes(): number {
    let bytes = this.body.readableLength;
    for (const chunk of this.queue) bytes += chunk.bytes.length;
    return bytes;
  }

  /** Gone: the reader left, the stream was disconnected, or it ended. Frees everything at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.disarm();
    this.queue = [];
    this.handed = [];
    this.release();
    if (!this.body.destroyed) this.body.destroy();
    this.disconnectUnlessFlushed();
    this.onClose();
  }

  /**
   * A response whose reader never took the end loses its connection, with what its buffers hold;
   * one ended but still flushing gets the grace to finish.
   */
  private disconnectUnlessFlushed(): void {
    const response = this.response;
    if (!response || response.writableFinished) return;
    if (!response.writableEnded) return void response.destroy();
    const timer = setTimeout(() => response.destroy(), endGraceMs).unref();
    response.once('close', () => clearTimeout(timer));
  }

  /** The handed chunks whose bytes are not all sent: the unsent bytes are the newest ones. */
  private inFlight(): { events: number } {
    const unsent = this.body.readableLength + (this.response?.writableLength ?? 0);
    while (this.handed.length > 0 && this.handedBytes - this.handed[0]!.bytes.length >= unsent) {
      const sent = this.handed.shift()!;
      this.handedBytes -= sent.bytes.length;
      this.handedEvents -= sent.events;
    }
    return { events: this.handedEvents };
  }

  private flush(): void {
    if (!this.wanting || this.closed || this.queue.length === 0) return;
    this.wanting = false;
    const chunks = this.queue;
    this.queue = [];
    this.queuedEvents = 0;
    if (!this.ending) this.disarm();
    this.inFlight();
    // Several chunks go out in one write of the socket.
    this.response?.cork();
    for (const chunk of chunks) {
      this.handed.push(chunk);
      this.handedBytes += chunk.bytes.length;
      this.handedEvents += chunk.events;
      this.body.push(chunk.bytes);
    }
    if (this.ending) this.body.push(null);
    this.response?.uncork();
    this.release();
  }

  private arm(fire: () => void, ms = this.limits.writeTimeoutMs): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      fire();
    }, ms);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
