import type { ServerResponse } from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  print,
  type SelectionSetNode,
} from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { apiKeyHeader } from '../auth/gate.ts';
import { hashApiKey } from '../auth/service.ts';
import { DomainError, isErrorCode } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { type SingleFlight, singleFlight } from '../common/workers.ts';
import type { SubscriptionSettings } from '../config.ts';
import type { Pace } from '../events/feed.ts';
import type { Tenant } from '../model/tenant.ts';
import { errorExtensions, internalError } from './errors.ts';
import type { RequestStates } from './request-state.ts';
import { completeFrame, type CutOff, nextFrame, sseHeaders, SseStream } from './sse-stream.ts';

/** What a refused subscription is told to wait: a slot frees when another stream ends, which nothing predicts. */
const retryAfterSeconds = 5;
/** Streams written between two turns of the event loop. */
const membersPerSlice = 100;
const defaultPingMs = 12_000;
/** The headers that state the caps, for CORS to expose. */
export const subscriptionLimitHeaders = ['ratelimit-policy', 'ratelimit'];

/** Replay pacing by execution context: the subscription's resolver hands it to the feed (graphql/events.ts). */
const pacing = new WeakMap<object, Pace>();
export const paceOf = (context: object): Pace | undefined => pacing.get(context);

type SubscribeFn = (args: ExecutionArgs) => unknown;

/** JSON with object keys sorted: the same variables give the same text, whatever order they came in. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
  );
}

/** The operation's root field, through fragments. */
function rootField(set: SelectionSetNode, document: DocumentNode): FieldNode | undefined {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) return selection;
    const inner =
      selection.kind === Kind.INLINE_FRAGMENT
        ? selection.selectionSet
        : document.definitions.find(
            (definition): definition is FragmentDefinitionNode =>
              definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value,
          )?.selectionSet;
    const field = inner && rootField(inner, document);
    if (field) return field;
  }
  return undefined;
}

/**
 * Whether the subscription names an event to resume after (`after`, not null): its replay is
 * its own, so nobody joins its execution, and the replay goes at its reader's pace.
 */
function resumes(operation: OperationDefinitionNode, document: DocumentNode, variables: Record<string, unknown>): boolean {
  const value = rootField(operation.selectionSet, document)?.arguments?.find((argument) => argument.name.value === 'after')?.value;
  if (!value || value.kind === Kind.NULL) return false;
  if (value.kind !== Kind.VARIABLE) return true;
  const given = variables[value.name.value];
  if (given !== undefined) return given !== null;
  const fallback = operation.variableDefinitions?.find((definition) => definition.variable.name.value === value.name.value)?.defaultValue;
  return fallback !== undefined && fallback.kind !== Kind.NULL;
}

/** An error as the contract shows it; anything unexpected is logged and shown as internal_error. */
function contractError(error: unknown, requestId: string, logger: Logger): GraphQLError {
  const graphQLError = error instanceof GraphQLError ? error : null;
  const original = graphQLError?.originalError ?? error;
  if (original instanceof DomainError)
    return new GraphQLError(original.message, { path: graphQLError?.path, extensions: errorExtensions(original.code, original.param, original.details) });
  if (graphQLError && isErrorCode(graphQLError.extensions?.code)) return graphQLError;
  logger.error('unexpected error in a subscription', { requestId, error: original });
  return internalError(requestId, graphQLError?.path);
}

const errorFrame = (error: GraphQLError) => Buffer.concat([nextFrame(JSON.stringify({ errors: [error] })), completeFrame]);

const cutOffMessages: Record<CutOff, (settings: SubscriptionSettings) => string> = {
  backlog: (settings) => `The subscriber fell more than ${settings.maxBacklog} events behind; subscribe again with after set to the last event id it received.`,
  timeout: (settings) =>
    `The subscriber's connection took no data for ${settings.writeTimeoutMs} ms; subscribe again with after set to the last event id it received.`,
};

/** One stream and who it is for. */
class Member {
  readonly stream: SseStream;
  group: Group | null = null;
  readonly keyId: string;
  readonly organizationId: string;
  readonly keyHash: string;

  constructor(stream: SseStream, keyId: string, organizationId: string, keyHash: string) {
    this.stream = stream;
    this.keyId = keyId;
    this.organizationId = organizationId;
    this.keyHash = keyHash;
  }

  /** Stops receiving; the stream finishes what it was given. */
  leave(): void {
    this.group?.remove(this);
    this.group = null;
  }
}

/**
 * One execution of a subscription, shared by every stream of one tenant that sent the same
 * document, operation and variables: each event is executed and serialized once, and the same
 * bytes are written to every stream. Results that come together go out as one chunk.
 */
class Group {
  readonly members = new Set<Member>();
  private iterator: AsyncIterator<ExecutionResult> | null = null;
  private running = false;
  private finished = false;

  private readonly key: string;
  private readonly fanout: SubscriptionFanout;
  private readonly requestId: string;
  private readonly logger: Logger;
  private readonly batchEvents: number;

  constructor(key: string, fanout: SubscriptionFanout, requestId: string, logger: Logger, batchEvents: number) {
    this.key = key;
    this.fanout = fanout;
    this.requestId = requestId;
    this.logger = logger;
    this.batchEvents = batchEvents;
  }

  get open(): boolean {
    return !this.finished;
  }

  get sharingKey(): string {
    return this.key;
  }

  start(results: AsyncIterable<ExecutionResult>): void {
    this.iterator = results[Symbol.asyncIterator]();
  }

  /** Adds a stream; the first one starts the execution, so that it sees every result. */
  add(member: Member): void {
    member.group = this;
    this.members.add(member);
    if (this.running || !this.iterator) return;
    this.running = true;
    void this.run(this.iterator);
  }

  remove(member: Member): void {
    this.members.delete(member);
    if (this.members.size === 0 && !this.finished) {
      // Nobody left to tell: the execution ends, and the feed forgets its subscriber.
      this.finished = true;
      this.fanout.groupEnded(this);
      void this.iterator?.return?.();
    }
  }

  /** A replay's pace: it waits while any stream has a long queue. */
  room(): Promise<void> | undefined {
    const waits = [...this.members].map((member) => member.stream.room()).filter((wait) => wait !== undefined);
    return waits.length > 0 ? Promise.all(waits).then(() => undefined) : undefined;
  }

  private frame(result: ExecutionResult): Buffer {
    const shaped = result.errors?.length ? { ...result, errors: result.errors.map((error) => contractError(error, this.requestId, this.logger)) } : result;
    return nextFrame(JSON.stringify(shaped));
  }

  private async run(iterator: AsyncIterator<ExecutionResult>): Promise<void> {
    const turned = Symbol('turned');
    let pending: Promise<IteratorResult<ExecutionResult>> | null = null;
    let last = completeFrame;
    try {
      for (;;) {
        const first: IteratorResult<ExecutionResult> = await (pending ?? iterator.next());
        pending = null;
        if (first.done || this.finished) break;
        // What the execution yields before the event loop turns goes out with it, as one chunk.
        const frames = [this.frame(first.value)];
        const boundary = nextTurn().then(() => turned);
        let done = false;
        while (frames.length < this.batchEvents) {
          pending = iterator.next();
          const next = await Promise.race([pending, boundary]);
          if (typeof next === 'symbol') break;
          pending = null;
          if (next.done) {
            done = true;
            break;
          }
          frames.push(this.frame(next.value));
        }
        await this.broadcast(frames.length === 1 ? frames[0]! : Buffer.concat(frames), frames.length);
        if (done) break;
      }
    } catch (error) {
      last = errorFrame(contractError(error, this.requestId, this.logger));
    }
    this.finish(last);
  }

  /** The same bytes to every stream, a slice of streams per turn of the event loop. */
  private async broadcast(bytes: Buffer, events: number): Promise<void> {
    const members = [...this.members];
    for (let i = 0; i < members.length; i++) {
      members[i]!.stream.write(bytes, events);
      if ((i + 1) % membersPerSlice === 0 && i + 1 < members.length) await nextTurn();
    }
  }

  private finish(last: Buffer): void {
    if (!this.finished) {
      this.finished = true;
      this.fanout.groupEnded(this);
    }
    const members = [...this.members];
    this.members.clear();
    for (const member of members) {
      member.group = null;
      member.stream.end(last);
    }
  }
}

/** What the fan-out has done, for tests and operators. */
export type FanoutCounts = { refused: number; backlog: number; timeout: number; revoked: number };

/** Open streams of one API key, whose key is looked at again every `recheckMs`. */
type KeyWatch = { members: Set<Member>; timer: NodeJS.Timeout; check: SingleFlight };

/**
 * The process's subscriptions over server-sent events. Streams of one tenant with the same
 * document, operation and variables share one execution (Group), and each stream holds only
 * references to the shared chunks it has not sent yet (SseStream). Per process:
 * - at most `perKey` open streams per API key and `perOrganization` per organization: past
 *   either, a new subscription answers 429 rate_limited with Retry-After;
 * - a stream that falls more than `maxBacklog` events behind, or whose socket takes nothing for
 *   `writeTimeoutMs`, is ended with conflict (the client resumes with `after`);
 * - each API key with open streams is looked up again every `recheckMs`; once revoked, its
 *   streams end with unauthorized.
 */
export class SubscriptionFanout {
  readonly counts: FanoutCounts = { refused: 0, backlog: 0, timeout: 0, revoked: 0 };
  private readonly perKey = new Map<string, number>();
  private readonly perOrganization = new Map<string, number>();
  private readonly groups = new Map<string, Group | Promise<Group | ExecutionResult>>();
  private readonly members = new Set<Member>();
  private readonly watches = new Map<string, KeyWatch>();
  private pinger: NodeJS.Timeout | null = null;
  private serial = 0;
  private recheck: ((keyHash: string) => Promise<boolean>) | null = null;
  private recheckMs = 5000;
  private readonly batchEvents: number;
  private readonly policy: string;

  private readonly settings: SubscriptionSettings;
  private readonly logger: Logger;
  private readonly pingMs: number;

  constructor(settings: SubscriptionSettings, logger: Logger, options: { pingMs?: number } = {}) {
    this.settings = settings;
    this.logger = logger;
    this.pingMs = options.pingMs ?? defaultPingMs;
    // A chunk never carries more than a quarter of what a stream may hold.
    this.batchEvents = Math.max(1, Math.min(100, Math.floor(settings.maxBacklog / 4)));
    this.policy = [
      `"subscriptions-per-key";q=${settings.perKey};qu="concurrent-requests"`,
      `"subscriptions-per-organization";q=${settings.perOrganization};qu="concurrent-requests"`,
    ].join(', ');
  }

  /**
   * How a key is asked about again (true: still valid; false: revoked), and how often: the app
   * hands its key cache's lookup and lifetime.
   */
  checkKeysWith(recheck: (keyHash: string) => Promise<boolean>, everyMs: number): void {
    this.recheck = recheck;
    this.recheckMs = Math.max(everyMs, 1000);
  }

  /** Streams not closed yet, each with what it has not sent (`open`: not ended either). */
  streams(): { keyId: string; pendingEvents: number; heldBytes: number; open: boolean }[] {
    return [...this.members].map((member) => ({
      keyId: member.keyId,
      pendingEvents: member.stream.pendingEvents(),
      heldBytes: member.stream.heldBytes(),
      open: member.stream.isOpen,
    }));
  }

  /** Executions running, each shared by its streams. */
  get executions(): number {
    return [...this.groups.values()].filter((group) => group instanceof Group).length;
  }

  /** Ends every stream (`complete`), as the app is disposed. */
  close(): void {
    for (const member of [...this.members]) {
      member.leave();
      member.stream.end(completeFrame);
    }
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = null;
  }

  /** The yoga plugin: takes over subscriptions from `subscribe` to the response. */
  plugin(states: RequestStates): Plugin {
    const subscriptions = new WeakMap<Request, { keyId: string; organizationId: string }>();
    const refused = new WeakSet<Request>();
    const started = new WeakMap<Request, Member>();
    return {
      onSubscribe: ({ args, subscribeFn, setSubscribeFn }) => {
        const request = (args.contextValue as { request?: Request }).request;
        const state = request && states.get(request);
        if (!request || !state?.tenant || !state.keyId) return;
        const { tenant, keyId, requestId } = state;
        subscriptions.set(request, { keyId, organizationId: tenant.organizationId });
        setSubscribeFn(async (subscribeArgs) => {
          if (!this.reserve(keyId, tenant.organizationId)) {
            refused.add(request);
            state.retryAfterSeconds = retryAfterSeconds;
            this.counts.refused++;
            const message = `Too many open subscriptions for this API key or organization; close one, or retry in ${retryAfterSeconds} s.`;
            return { errors: [new GraphQLError(message, { extensions: errorExtensions('rate_limited', null, null) })] };
          }
          let outcome: Member | ExecutionResult;
          try {
            outcome = await this.join(subscribeArgs, subscribeFn as SubscribeFn, request, tenant, keyId, requestId);
          } catch (error) {
            this.release(keyId, tenant.organizationId);
            throw error;
          }
          if (!(outcome instanceof Member)) {
            this.release(keyId, tenant.organizationId);
            return outcome;
          }
          started.set(request, outcome);
          // yoga wraps what it is given; the response is made from the stream itself (onResultProcess).
          return { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) };
        });
      },
      onResultProcess: ({ request, resultProcessor, setResultProcessor, serverContext }) => {
        const member = started.get(request);
        if (member) {
          started.delete(request);
          // The client does not take server-sent events: yoga answers 406.
          if (!resultProcessor) return void member.stream.close();
          member.stream.attach((serverContext as { res?: ServerResponse } | undefined)?.res);
          setResultProcessor(
            (_result, fetchAPI) => new fetchAPI.Response(member.stream.body as unknown as ReadableStream, { status: 200, headers: sseHeaders }),
            'text/event-stream',
          );
          return;
        }
        if (refused.has(request)) setResultProcessor((result, fetchAPI) => fetchAPI.Response.json(result, { status: 429 }), 'application/json');
      },
      onResponse: ({ request, response }) => {
        const subscription = subscriptions.get(request);
        if (!subscription) return;
        const open = (counts: Map<string, number>, id: string) => counts.get(id) ?? 0;
        response.headers.set('ratelimit-policy', this.policy);
        response.headers.set(
          'ratelimit',
          `"subscriptions-per-key";r=${Math.max(0, this.settings.perKey - open(this.perKey, subscription.keyId))}, ` +
            `"subscriptions-per-organization";r=${Math.max(0, this.settings.perOrganization - open(this.perOrganization, subscription.organizationId))}`,
        );
      },
      onDispose: () => this.close(),
    };
  }

  /** Ends a group's place in the map, so that the next subscriber starts a new one. */
  groupEnded(group: Group): void {
    if (this.groups.get(group.sharingKey) === group) this.groups.delete(group.sharingKey);
  }

  private reserve(keyId: string, organizationId: string): boolean {
    const forKey = this.perKey.get(keyId) ?? 0;
    const forOrganization = this.perOrganization.get(organizationId) ?? 0;
    if (forKey >= this.settings.perKey || forOrganization >= this.settings.perOrganization) return false;
    this.perKey.set(keyId, forKey + 1);
    this.perOrganization.set(organizationId, forOrganization + 1);
    return true;
  }

  private release(keyId: string, organizationId: string): void {
    const decrement = (counts: Map<string, number>, id: string) => {
      const left = (counts.get(id) ?? 1) - 1;
      if (left > 0) counts.set(id, left);
      else counts.delete(id);
    };
    decrement(this.perKey, keyId);
    decrement(this.perOrganization, organizationId);
  }

  /** Joins the execution of the same subscription, or starts one; an error result when it cannot start. */
  private async join(
    args: ExecutionArgs,
    subscribeFn: SubscribeFn,
    request: Request,
    tenant: Tenant,
    keyId: string,
    requestId: string,
  ): Promise<Member | ExecutionResult> {
    const variables = (args.variableValues ?? {}) as Record<string, unknown>;
    const operation = getOperationAST(args.document, args.operationName);
    const query = (args.contextValue as { params?: { query?: string } }).params?.query ?? print(args.document);
    let key = JSON.stringify([tenant.organizationId, tenant.mode, args.operationName ?? null, query, canonical(variables)]);
    // A replay is its own: nobody joins it midway.
    if (operation && resumes(operation, args.document, variables)) key += `#${++this.serial}`;
    let group: Group | ExecutionResult;
    for (;;) {
      const entry = this.groups.get(key) ?? this.startGroup(key, args, subscribeFn, requestId);
      group = entry instanceof Group ? entry : await entry;
      // One that ended while this request waited is not joined: a new one starts.
      if (!(group instanceof Group) || group.open) break;
    }
    if (!(group instanceof Group)) return group;
    const member = new Member(
      new SseStream(
        this.settings,
        (reason) => this.cutOff(member, reason),
        () => this.closed(member),
      ),
      keyId,
      tenant.organizationId,
      hashApiKey(request.headers.get(apiKeyHeader) ?? ''),
    );
    this.members.add(member);
    group.add(member);
    this.watch(member);
    this.startPinging();
    // The client hung up (the socket closed, or an in-process caller aborted).
    if (request.signal.aborted) member.stream.close();
    else request.signal.addEventListener('abort', () => member.stream.close(), { once: true });
    return member;
  }

  private startGroup(key: string, args: ExecutionArgs, subscribeFn: SubscribeFn, requestId: string): Promise<Group | ExecutionResult> {
    const group = new Group(key, this, requestId, this.logger, this.batchEvents);
    pacing.set(args.contextValue as object, () => group.room());
    const starting = (async () => {
      const result = (await subscribeFn(args)) as AsyncIterable<ExecutionResult> | ExecutionResult;
      if (!isAsyncIterable(result)) return result;
      group.start(result);
      return group;
    })().then(
      (outcome) => {
        if (this.groups.get(key) === starting) {
          if (outcome === group) this.groups.set(key, group);
          else this.groups.delete(key);
        }
        return outcome;
      },
      (error: unknown) => {
        if (this.groups.get(key) === starting) this.groups.delete(key);
        throw error;
      },
    );
    this.groups.set(key, starting);
    return starting;
  }

  private cutOff(member: Member, reason: CutOff): void {
    this.counts[reason]++;
    this.logger.info('subscription cut off', { reason, keyId: member.keyId });
    member.leave();
    member.stream.end(errorFrame(new GraphQLError(cutOffMessages[reason](this.settings), { extensions: errorExtensions('conflict', null, null) })), true);
  }

  private closed(member: Member): void {
    if (!this.members.delete(member)) return;
    member.leave();
    this.release(member.keyId, member.organizationId);
    const watch = this.watches.get(member.keyHash);
    watch?.members.delete(member);
    if (watch?.members.size === 0) {
      clearInterval(watch.timer);
      this.watches.delete(member.keyHash);
    }
  }

  private watch(member: Member): void {
    const known = this.watches.get(member.keyHash);
    if (known) return void known.members.add(member);
    const watch: KeyWatch = {
      members: new Set([member]),
      timer: setInterval(() => void watch.check.kick(), this.recheckMs),
      check: singleFlight(() => this.recheckKey(member.keyHash, watch)),
    };
    watch.timer.unref();
    this.watches.set(member.keyHash, watch);
  }

  private async recheckKey(keyHash: string, watch: KeyWatch): Promise<void> {
    if (!this.recheck) return;
    try {
      if (await this.recheck(keyHash)) return;
      const unauthorized = errorFrame(new GraphQLError('The API key was revoked.', { extensions: errorExtensions('unauthorized', null, null) }));
      for (const member of [...watch.members]) {
        this.counts.revoked++;
        member.leave();
        member.stream.end(unauthorized, true);
      }
    } catch (error) {
      // The database did not answer: the streams go on, and the next check asks again.
      this.logger.warn('an open subscription could not check its API key', { error });
    }
  }

  /** A keep-alive comment on every stream, now and then, a slice per turn of the event loop. */
  private startPinging(): void {
    if (this.pinger) return;
    this.pinger = setInterval(async () => {
      let written = 0;
      for (const member of [...this.members]) {
        member.stream.ping();
        if (++written % (membersPerSlice * 5) === 0) await nextTurn();
      }
    }, this.pingMs);
    this.pinger.unref();
  }
}
