import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com/): each delivery carries
 * `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`, a space-separated
 * list of `v1,<base64 HMAC-SHA256>` over `${id}.${timestamp}.${body}`, keyed by the bytes
 * of the secret after `whsec_`.
 */

const secretPrefix = 'whsec_';
const minSecretBytes = 24;
const defaultToleranceSeconds = 300;

/** A fresh endpoint secret: whsec_ and 32 random bytes in base64. */
export const newWebhookSecret = (): string => secretPrefix + randomBytes(32).toString('base64');

function secretKey(secret: string): Buffer {
  const encoded = secret.startsWith(secretPrefix) ? secret.slice(secretPrefix.length) : '';
  const key = Buffer.from(encoded, 'base64');
  // Buffer.from skips characters outside the alphabet, so only a round trip proves the text was base64.
  if (key.toString('base64') !== encoded || key.length < minSecretBytes) {
    throw new Error(`A webhook secret is ${secretPrefix} followed by the base64 of at least ${minSecretBytes} bytes`);
  }
  return key;
}

/** The `webhook-signature` value for one delivery: `v1,` and the base64 HMAC-SHA256. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new RangeError('A webhook timestamp is a whole number of unix seconds');
  return `v1,${createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** The headers of one delivery. */
export const webhookHeaders = (secret: string, id: string, timestamp: number, body: string): Record<string, string> => ({
  'content-type': 'application/json',
  'webhook-id': id,
  'webhook-timestamp': String(timestamp),
  'webhook-signature': signWebhook(secret, id, timestamp, body),
});

export type WebhookRequestHeaders = Headers | Record<string, string | string[] | undefined>;

function header(headers: WebhookRequestHeaders, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = Object.entries(headers).find(([key]) => key.toLowerCase() === name)?.[1];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Whether a received delivery is genuine: one of its `v1` signatures matches (compared in
 * constant time) and its timestamp is within `toleranceSeconds` of now, which stops replays.
 * Pass the raw body text, before any JSON parsing. Throws on a malformed secret.
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookRequestHeaders,
  body: string,
  options: { now?: number; toleranceSeconds?: number } = {},
): boolean {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures || !/^\d+$/.test(timestamp)) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(timestamp)) > (options.toleranceSeconds ?? defaultToleranceSeconds)) return false;
  const expected = Buffer.from(signWebhook(secret, id, Number(timestamp), body));
  return signatures.split(' ').some((candidate) => {
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
