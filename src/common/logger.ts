import pino from 'pino';

/**
 * JSON lines on stderr through pino: `{"level":"info","time":"…","message":"…", …fields}`.
 * Errors in fields keep their name, message, stack and causes; keys and secrets never appear.
 */
const levels = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof levels)[number];

export type Logger = {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Whether lines at `level` are written: callers that would build a line for nothing ask first. */
  enabled(level: Exclude<LogLevel, 'silent'>): boolean;
  /**
   * A line at info whose fields are flat values the server set itself, such as the access log's:
   * only top-level names are redacted, as nothing nested can hold a secret. Searching the nested
   * paths as well cost more than the rest of writing the line.
   */
  flat(message: string, fields: Record<string, string | number | boolean | null>): void;
};

/** An error as a log can hold it: name, message, stack, and its causes (a few deep). */
function serializeError(error: Error, depth = 0): Record<string, unknown> {
  const cause = error.cause instanceof Error && depth < 3 ? serializeError(error.cause, depth + 1) : error.cause;
  return { name: error.name, message: error.message, stack: error.stack, ...(cause === undefined ? {} : { cause }) };
}

/** Wherever a key or a secret could ride along in a log entry, it is replaced. */
const redactedPaths = [
  'apiKey',
  'secret',
  'signingKey',
  'authorization',
  'headers["x-api-key"]',
  'headers.authorization',
  '*.apiKey',
  '*.secret',
  '*.signingKey',
  '*.headers["x-api-key"]',
  '*.headers.authorization',
];

export function createLogger(level: LogLevel, write?: (line: string) => void): Logger {
  const logger = pino(
    {
      level,
      base: undefined,
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Every field that holds an Error, whatever its name.
      hooks: {
        logMethod(args, method) {
          const [fields, ...rest] = args as [Record<string, unknown>, ...unknown[]];
          if (fields && typeof fields === 'object') {
            for (const [key, value] of Object.entries(fields)) if (value instanceof Error) fields[key] = serializeError(value);
          }
          return method.apply(this, [fields, ...rest] as Parameters<typeof method>);
        },
      },
      redact: { paths: redactedPaths, censor: '[redacted]' },
    },
    // Asynchronous: lines written while a write is under way go out together with the next one,
    // instead of a system call per access-log line; pino flushes what is left when the process exits.
    write ? { write } : pino.destination({ fd: 2, sync: false }),
  );
  const log =
    (at: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields: Record<string, unknown> = {}) =>
      logger[at]({ ...fields }, message);
  const flat = logger.child({}, { redact: { paths: redactedPaths.filter((path) => !path.startsWith('*.')), censor: '[redacted]' } });
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    enabled: (level) => logger.isLevelEnabled(level),
    flat: (message, fields) => flat.info(fields, message),
  };
}
