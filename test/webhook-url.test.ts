import fc from 'fast-check';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { describe, expect, test } from 'vitest';
import { checkWebhookUrl, guardedLookup, isPublicAddress } from '../src/webhooks/url.ts';

const accepted = (raw: string, mode: 'live' | 'test') => {
  const result = checkWebhookUrl(raw, mode);
  if (!result.ok) throw new Error(`${raw} was refused in ${mode} mode: ${result.message}`);
  return result.url.href;
};
const refusal = (raw: string, mode: 'live' | 'test') => {
  const result = checkWebhookUrl(raw, mode);
  if (result.ok) throw new Error(`${raw} was accepted in ${mode} mode`);
  return result.message;
};

const notHttps = /must use https/;
const notPublic = /is not a public address/;
const localName = /is a local name/;

describe('URLs in both modes', () => {
  test.each([
    ['https://example.com/webhooks', 'https://example.com/webhooks'],
    ['https://Hooks.Example.com:8443/in?source=seatgate', 'https://hooks.example.com:8443/in?source=seatgate'],
    ['https://hooks.example.co.uk./in', 'https://hooks.example.co.uk./in'],
    ['https://8.8.8.8/hooks', 'https://8.8.8.8/hooks'],
    ['https://[2606:4700:4700::1111]/hooks', 'https://[2606:4700:4700::1111]/hooks'],
    ['https://[::ffff:8.8.8.8]/hooks', 'https://[::ffff:808:808]/hooks'],
    ['https://100.128.0.1/', 'https://100.128.0.1/'],
  ])('%s is accepted as %s', (raw, href) => {
    expect(accepted(raw, 'live')).toBe(href);
    expect(accepted(raw, 'test')).toBe(href);
  });

  test.each([
    ['a URL over 2048 characters', `https://example.com/${'a'.repeat(2029)}`, /longer than 2048 characters/],
    ['not a URL', 'not a url', /not a valid absolute URL/],
    ['a relative URL', '/webhooks', /not a valid absolute URL/],
    ['an empty string', '', /not a valid absolute URL/],
    ['a bad port', 'https://example.com:99999/', /not a valid absolute URL/],
    ['http to a public host', 'http://example.com/webhooks', notHttps],
    ['ftp', 'ftp://example.com/', notHttps],
    ['javascript', 'javascript:alert(1)', notHttps],
    ['file', 'file:///etc/passwd', notHttps],
    ['a user and password', 'https://user:secret@example.com/', /user name or password/],
    ['a user alone', 'https://user@example.com/', /user name or password/],
    ['a fragment', 'https://example.com/hooks#part', /fragment/],
    ['an empty fragment', 'https://example.com/hooks#', /fragment/],
    ['a private 10/8 address', 'https://10.0.0.1/', notPublic],
    ['a private 172.16/12 address', 'https://172.31.255.255/', notPublic],
    ['a private 192.168/16 address', 'https://192.168.1.1/', notPublic],
    ['the cloud metadata address', 'https://169.254.169.254/latest/meta-data/', notPublic],
    ['a CGNAT address', 'https://100.64.0.1/', notPublic],
    ['the unspecified address', 'https://0.0.0.0/', notPublic],
    ['the broadcast address', 'https://255.255.255.255/', notPublic],
    ['a multicast address', 'https://224.0.0.251/', notPublic],
    ['a documentation address', 'https://203.0.113.7/', notPublic],
    ['loopback other than 127.0.0.1', 'https://127.0.0.2/', notPublic],
    ['private IPv4 as one number', 'https://167772161/', notPublic],
    ['private IPv4 in hex', 'https://0xa9.0xfe.0xa9.0xfe/', notPublic],
    ['IPv6 unspecified', 'https://[::]/', notPublic],
    ['IPv6 link-local', 'https://[fe80::1]/', notPublic],
    ['IPv6 unique-local', 'https://[fd00::1]/', notPublic],
    ['IPv6 multicast', 'https://[ff02::1]/', notPublic],
    ['IPv6 documentation', 'https://[2001:db8::1]/', notPublic],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/', notPublic],
    ['IPv4-mapped private, in hex', 'https://[::ffff:a00:1]/', notPublic],
    ['IPv4-mapped metadata', 'https://[0:0:0:0:0:ffff:169.254.169.254]/', notPublic],
  ])('%s is refused: %s', (_name, raw, why) => {
    expect(refusal(raw, 'live')).toMatch(why);
    expect(refusal(raw, 'test')).toMatch(why);
  });

  test('the message names the address a host normalises to', () => {
    expect(refusal('https://0x7f.1/', 'live')).toBe('The host 127.0.0.1 is not a public address');
    expect(refusal('https://[::ffff:127.0.0.1]/', 'live')).toBe('The host [::ffff:7f00:1] is not a public address');
  });

  test('2048 characters are allowed', () => {
    const longest = `https://example.com/${'a'.repeat(2028)}`;
    expect(longest).toHaveLength(2048);
    expect(accepted(longest, 'live')).toBe(longest);
  });
});

describe('URLs in live mode', () => {
  test.each([
    ['http to localhost', 'http://localhost:3000/hooks', notHttps],
    ['http to 127.0.0.1', 'http://127.0.0.1:3000/hooks', notHttps],
    ['http to [::1]', 'http://[::1]:3000/hooks', notHttps],
    ['https to localhost', 'https://localhost/hooks', localName],
    ['localhost in capitals with a trailing dot', 'https://LOCALHOST./hooks', localName],
    ['a .localhost name', 'https://app.localhost/', localName],
    ['a .local name', 'https://printer.local/', localName],
    ['an .internal name', 'https://billing.internal/', localName],
    ['the GCP metadata name', 'https://metadata.google.internal/computeMetadata/v1/', localName],
    ['https to 127.0.0.1', 'https://127.0.0.1/', notPublic],
    // WHATWG URL writes all of these as 127.0.0.1.
    ['loopback as one decimal number', 'https://2130706433/', notPublic],
    ['loopback in hex', 'https://0x7f.1/', notPublic],
    ['loopback in octal', 'https://0177.0.0.1/', notPublic],
    ['https to [::1]', 'https://[::1]/', notPublic],
    ['a single-label name', 'https://intranet/hooks', /not a fully qualified domain name/],
  ])('%s is refused: %s', (_name, raw, why) => {
    expect(refusal(raw, 'live')).toMatch(why);
  });

  test('the message names the local name', () => {
    expect(refusal('https://metadata.google.internal/', 'live')).toBe('The host metadata.google.internal is a local name');
  });

  test('names that merely contain a local word are accepted', () => {
    expect(accepted('https://localhost.example.com/', 'live')).toBe('https://localhost.example.com/');
    expect(accepted('https://internal.example.com/', 'live')).toBe('https://internal.example.com/');
    expect(accepted('https://my-local.dev/', 'live')).toBe('https://my-local.dev/');
  });
});

describe('URLs in test mode', () => {
  test.each([
    ['http://localhost:3000/hooks', 'http://localhost:3000/hooks'],
    ['http://LocalHost/hooks', 'http://localhost/hooks'],
    ['http://127.0.0.1:8080/hooks', 'http://127.0.0.1:8080/hooks'],
    ['http://[::1]:8080/hooks', 'http://[::1]:8080/hooks'],
    ['http://[0:0:0:0:0:0:0:1]/', 'http://[::1]/'],
    ['http://2130706433/', 'http://127.0.0.1/'],
    ['http://0x7f.1:3000/', 'http://127.0.0.1:3000/'],
    ['https://localhost/hooks', 'https://localhost/hooks'],
    ['https://127.0.0.1/hooks', 'https://127.0.0.1/hooks'],
    // The local-name rule is live mode's; at connect time guardedLookup('test') still refuses private addresses.
    ['https://printer.local/', 'https://printer.local/'],
    ['https://intranet/', 'https://intranet/'],
  ])('%s is accepted as %s', (raw, href) => {
    expect(accepted(raw, 'test')).toBe(href);
  });

  test.each([
    ['http to a public host', 'http://example.com/', notHttps],
    ['http to another loopback address', 'http://127.0.0.2/', notHttps],
    ['http to a .localhost name', 'http://app.localhost/', notHttps],
    ['http to IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]/', notHttps],
    // Loopback lifts the https rule for http only, not for any scheme.
    ['ftp to localhost', 'ftp://localhost/hooks', notHttps],
    ['ws to 127.0.0.1', 'ws://127.0.0.1:8080/hooks', notHttps],
    ['https to another loopback address', 'https://127.0.0.2/', notPublic],
    ['https to a private address', 'https://192.168.0.10/', notPublic],
    ['credentials on localhost', 'http://user:pw@localhost/', /user name or password/],
    ['a fragment on localhost', 'http://localhost/#hooks', /fragment/],
  ])('%s is refused: %s', (_name, raw, why) => {
    expect(refusal(raw, 'test')).toMatch(why);
  });

  test('the https message says where http is allowed', () => {
    expect(refusal('http://example.com/', 'test')).toBe('The URL must use https (http only for localhost, 127.0.0.1 and [::1])');
    expect(refusal('http://example.com/', 'live')).toBe('The URL must use https');
  });
});

describe('public addresses', () => {
  test.each([
    '8.8.8.8',
    '1.1.1.1',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.255',
    '192.167.255.255',
    '192.169.0.0',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2a00:1450:4001:81a::200e',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '::ffff:808:808',
  ])('%s is public', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  test.each([
    ['this network', '0.0.0.0'],
    ['this network', '0.255.255.255'],
    ['private', '10.0.0.0'],
    ['private', '10.255.255.255'],
    ['CGNAT', '100.64.0.0'],
    ['CGNAT', '100.127.255.255'],
    ['loopback', '127.0.0.1'],
    ['loopback', '127.255.255.254'],
    ['link-local', '169.254.0.1'],
    ['link-local (metadata)', '169.254.169.254'],
    ['private', '172.16.0.0'],
    ['private', '172.31.255.255'],
    ['IETF protocol assignments', '192.0.0.8'],
    ['documentation', '192.0.2.1'],
    ['6to4 relay anycast', '192.88.99.1'],
    ['private', '192.168.0.1'],
    ['private', '192.168.255.255'],
    ['benchmarking', '198.18.0.1'],
    ['benchmarking', '198.19.255.255'],
    ['documentation', '198.51.100.1'],
    ['documentation', '203.0.113.1'],
    ['multicast', '224.0.0.1'],
    ['multicast', '239.255.255.250'],
    ['reserved', '240.0.0.1'],
    ['broadcast', '255.255.255.255'],
    ['IPv6 unspecified', '::'],
    ['IPv6 loopback', '::1'],
    ['IPv6 loopback written out', '0:0:0:0:0:0:0:1'],
    ['IPv4-compatible loopback', '::127.0.0.1'],
    ['IPv4-mapped loopback', '::ffff:127.0.0.1'],
    ['IPv4-mapped loopback in hex', '::ffff:7f00:1'],
    ['IPv4-mapped loopback written out', '0:0:0:0:0:ffff:7f00:0001'],
    ['IPv4-mapped private', '::ffff:10.0.0.1'],
    ['IPv4-mapped private', '::ffff:192.168.1.1'],
    ['IPv4-mapped metadata', '::ffff:169.254.169.254'],
    ['IPv4-mapped CGNAT', '::ffff:100.64.0.1'],
    ['IPv4-mapped unspecified', '::ffff:0.0.0.0'],
    ['NAT64', '64:ff9b::a00:1'],
    ['local-use NAT64', '64:ff9b:1::1'],
    ['discard-only', '100::1'],
    ['Teredo', '2001::1'],
    ['benchmarking', '2001:2::1'],
    ['documentation', '2001:db8::1'],
    ['6to4', '2002:7f00:1::1'],
    ['documentation', '3fff::1'],
    ['unique-local', 'fc00::1'],
    ['unique-local', 'fd12:3456:789a::1'],
    ['link-local', 'fe80::1'],
    ['link-local in capitals', 'FE80::1'],
    ['link-local with a zone', 'fe80::1%eth0'],
    ['link-local, top of range', 'febf:ffff::1'],
    ['site-local', 'fec0::1'],
    ['multicast', 'ff02::1'],
    ['multicast', 'ff0e::1'],
  ])('%s %s is not public', (_range, address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  test.each(['', 'example.com', 'localhost', '256.0.0.1', '127.1', '2130706433', '[::1]', '1.2.3.4 '])('%j is not an address, so not public', (text) => {
    expect(isPublicAddress(text)).toBe(false);
  });

  test('an IPv4 address and its IPv4-mapped IPv6 form always agree', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        expect(isPublicAddress(`::ffff:${address}`)).toBe(isPublicAddress(address));
      }),
    );
  });

  test('a URL with an IPv4 host is accepted in live mode exactly when its address is public', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        expect(checkWebhookUrl(`https://${address}/hooks`, 'live').ok).toBe(isPublicAddress(address));
      }),
    );
  });
});

describe('the guarded DNS lookup', () => {
  type Answer = { address: string | { address: string; family: number }[]; family: number | undefined };
  const lookup = (fn: LookupFunction, hostname: string, options: { all?: boolean; family?: number } = {}) =>
    new Promise<Answer>((resolve, reject) => {
      fn(hostname, options, (error, address, family) => (error ? reject(error) : resolve({ address, family })));
    });

  test('live mode refuses a name that resolves to loopback, in both callback shapes', async () => {
    await expect(lookup(guardedLookup('live'), 'localhost')).rejects.toMatchObject({
      code: 'ESSRF',
      message: expect.stringMatching(/^localhost resolves to .+, which is not a public address$/),
    });
    await expect(lookup(guardedLookup('live'), 'localhost', { all: true })).rejects.toMatchObject({ code: 'ESSRF' });
  });

  test('test mode resolves localhost to loopback, in both callback shapes', async () => {
    const one = await lookup(guardedLookup('test'), 'localhost');
    expect(typeof one.address).toBe('string');
    expect(['127.0.0.1', '::1']).toContain(one.address);
    expect([4, 6]).toContain(one.family);
    const all = await lookup(guardedLookup('test'), 'localhost', { all: true });
    expect(Array.isArray(all.address)).toBe(true);
    expect(all.address).toContainEqual(expect.objectContaining({ address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/) }));
  });

  test('an IPv4 address given as the name is checked too', async () => {
    await expect(lookup(guardedLookup('live'), '10.0.0.1')).rejects.toMatchObject({ code: 'ESSRF' });
    await expect(lookup(guardedLookup('live'), '8.8.8.8')).resolves.toEqual({ address: '8.8.8.8', family: 4 });
  });

  test('test mode allows loopback only: private addresses stay refused', async () => {
    for (const address of ['10.0.0.1', '192.168.1.1', '169.254.169.254', '::ffff:10.0.0.1']) {
      await expect(lookup(guardedLookup('test'), address)).rejects.toMatchObject({ code: 'ESSRF' });
    }
    await expect(lookup(guardedLookup('test'), '127.0.0.2')).resolves.toEqual({ address: '127.0.0.2', family: 4 });
  });

  test("a name that does not resolve fails with the resolver's own error", async () => {
    // Not a valid host name, so the resolver refuses it without asking any DNS server.
    await expect(lookup(guardedLookup('live'), 'not a host name')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  test('http.request uses it, in both callback shapes: test mode reaches a local receiver, live mode is refused before connecting', async () => {
    const server = http.createServer((_request, response) => response.end('received'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // Without a family, Node 20 looks up every address (all: true) to race them; with one, a single address.
    const get = (mode: 'live' | 'test', family: 4 | undefined) =>
      new Promise<string>((resolve, reject) => {
        // agent: false, for a fresh connection: a kept-alive socket would skip the lookup.
        const request = http.request({ host: 'localhost', port, family, agent: false, lookup: guardedLookup(mode) }, (response) => {
          response.setEncoding('utf8');
          let text = '';
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve(text));
        });
        request.on('error', reject);
        request.end();
      });
    try {
      for (const family of [undefined, 4] as const) {
        await expect(get('test', family)).resolves.toBe('received');
        await expect(get('live', family)).rejects.toMatchObject({ code: 'ESSRF' });
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
