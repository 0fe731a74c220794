import { expect, test } from 'vitest';
import { yogaLogger } from '../src/app.ts';
import { createLogger } from '../src/common/logger.ts';

test("an error logged through yoga's logger keeps its message, stack and cause", () => {
  const lines: string[] = [];
  const logger = yogaLogger(createLogger('debug', (line) => lines.push(line)));
  logger.error('the executor failed', new Error('boom', { cause: new Error('the root of it') }), { phase: 'execute' });
  const [entry] = lines.map((line) => JSON.parse(line));
  expect(entry).toMatchObject({
    level: 'error',
    message: 'the executor failed',
    error: { name: 'Error', message: 'boom', stack: expect.stringContaining('logger.test.ts'), cause: { message: 'the root of it' } },
    details: [{ phase: 'execute' }],
  });
  // An error alone still has a message.
  logger.warn(new TypeError('no message given'));
  expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'warn', message: 'no message given', error: { name: 'TypeError' } });
});

test('keys and secrets never reach the log, wherever they ride', () => {
  const lines: string[] = [];
  const logger = createLogger('info', (line) => lines.push(line));
  const key = 'ck_test_abcdefghijklmnopqrstuvwxyz123456';
  logger.info('a request', { headers: { 'x-api-key': key, authorization: `Bearer ${key}` }, endpoint: { secret: 'whsec_c2VjcmV0' }, apiKey: key });
  expect(lines.join('')).not.toMatch(/ck_test_|whsec_|Bearer/);
  expect(JSON.parse(lines[0]!)).toMatchObject({
    headers: { 'x-api-key': '[redacted]', authorization: '[redacted]' },
    endpoint: { secret: '[redacted]' },
    apiKey: '[redacted]',
  });
  // Below the level, nothing is written at all.
  logger.debug('not shown');
  expect(lines).toHaveLength(1);
  // Flat lines (the access log's) are redacted by name too.
  logger.flat('request', { apiKey: key, secret: 'whsec_c2VjcmV0', authorization: `Bearer ${key}`, keyId: 'key_1' });
  expect(lines[1]).not.toMatch(/ck_test_|whsec_|Bearer/);
  expect(JSON.parse(lines[1]!)).toMatchObject({ level: 'info', message: 'request', apiKey: '[redacted]', secret: '[redacted]', keyId: 'key_1' });
});
