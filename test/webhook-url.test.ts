import fc from 'fast-check';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { describe, expect, test } from 'vitest';
import { checkWebhookUrl, guardedLookup, isPublicAddress, type LoopbackPolicy, mayReachLoopback } from '../src/webhooks/url.ts';

/** Loopback allowed on any port: the default outside production. */
const anyLoopback: LoopbackPolicy = { allowed: true, ports: null };
const noLoopback: LoopbackPolicy = { allowed: false, ports: null };

const accepted = (raw: string, mode: 'live' | 'test', policy = anyLoopback) => {
  const result = checkWebhookUrl(raw, mode, policy);
  if (!result.ok) throw new Error(`${raw} was refused in ${mode} mode: ${result.message}`);
  return result.url.href;
};
const refusal = (raw: string, mode: 'live' | 'test', policy = anyLoopback) => {
  const result = checkWebhookUrl(raw, mode, policy);
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
    // What an IPv6-only host's DNS64 answers for an IPv4-only receiver: it reaches 8.8.8.8 itself.
    ['https://[64:ff9b::8.8.8.8]/hooks', 'https://[64:ff9b::808:808]/hooks'],
    ['https://example.com:1/hooks', 'https://example.com:1/hooks'],
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
    // Found by the second attack (issue 21): IPv4 in other IPv6 spellings, the discard-only and dummy prefixes, port 0.
    ['IPv4-translated loopback', 'https://[::ffff:0:7f00:1]/', notPublic],
    ['IPv4-translated, even of a public address', 'https://[::ffff:0:808:808]/', notPublic],
    ['IPv4-compatible public address', 'https://[::8.8.8.8]/', notPublic],
    ['the dummy prefix 100:0:0:1::/64', 'https://[100:0:0:1::]/', notPublic],
    ['discard-only', 'https://[100::1]/', notPublic],
    ['NAT64 of a private address', 'https://[64:ff9b::10.0.0.1]/', notPublic],
    ['NAT64 of loopback', 'https://[64:ff9b::7f00:1]/', notPublic],
    ['local-use NAT64, even of a public address', 'https://[64:ff9b:1::808:808]/', notPublic],
    ['segment-routing SIDs', 'https://[5f00::1]/', notPublic],
    ['unallocated IPv6', 'https://[4000::1]/', notPublic],
    ['ORCHIDv2', 'https://[2001:20::1]/', notPublic],
    ['port 0 of a name', 'https://example.com:0/hooks', /must not use port 0/],
    ['port 0 written 00', 'https://example.com:00/hooks', /must not use port 0/],
    ['port 0 of a public address', 'https://8.8.8.8:0/', /must not use port 0/],
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
    // The local-name rule is live mode's; at connect time guardedLookup(true) still refuses private addresses.
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
    ['port 0 on localhost', 'http://localhost:0/hooks', /must not use port 0/],
    ['a fragment on localhost', 'http://localhost/#hooks', /fragment/],
  ])('%s is refused: %s', (_name, raw, why) => {
    expect(refusal(raw, 'test')).toMatch(why);
  });

  test('the https message says where http is allowed', () => {
    expect(refusal('http://example.com/', 'test')).toBe('The URL must use https (http only for localhost, 127.0.0.1 and [::1])');
    expect(refusal('http://example.com/', 'live')).toBe('The URL must use https');
  });
});

describe('loopback by choice (WEBHOOK_ALLOW_LOOPBACK, WEBHOOK_LOOPBACK_PORTS)', () => {
  const notAllowed = /does not send webhooks to loopback addresses/;

  test.each(['http://localhost:3000/hooks', 'http://127.0.0.1:5432/', 'http://[::1]/', 'https://localhost/hooks', 'https://127.0.0.1:8443/'])(
    'with loopback off, test mode refuses %s',
    (raw) => {
      expect(refusal(raw, 'test', noLoopback)).toMatch(notAllowed);
    },
  );

  test('with loopback off, the https message no longer offers localhost, and public URLs are as before', () => {
    expect(refusal('http://example.com/', 'test', noLoopback)).toBe('The URL must use https');
    expect(accepted('https://example.com/hooks', 'test', noLoopback)).toBe('https://example.com/hooks');
    // Other loopback spellings were never loopback hosts: refused as non-public, as before.
    expect(refusal('https://127.0.0.2/', 'test', noLoopback)).toMatch(notPublic);
  });

  test('live mode is the same whatever the policy', () => {
    for (const policy of [anyLoopback, noLoopback, { allowed: true, ports: [80] }]) {
      expect(refusal('http://localhost/hooks', 'live', policy)).toMatch(notHttps);
      expect(refusal('https://127.0.0.1/hooks', 'live', policy)).toMatch(notPublic);
      expect(accepted('https://example.com/hooks', 'live', policy)).toBe('https://example.com/hooks');
    }
  });

  test('with ports listed, loopback URLs may use only those, counting the default ports', () => {
    const ports: LoopbackPolicy = { allowed: true, ports: [3000, 8080] };
    expect(accepted('http://localhost:3000/hooks', 'test', ports)).toBe('http://localhost:3000/hooks');
    expect(accepted('http://[::1]:8080/', 'test', ports)).toBe('http://[::1]:8080/');
    for (const raw of ['http://127.0.0.1:5432/', 'http://localhost/hooks', 'https://localhost/hooks', 'http://localhost:3001/']) {
      expect(refusal(raw, 'test', ports)).toBe('Loopback URLs may use only the ports 3000, 8080 on this server');
    }
    expect(accepted('https://localhost/hooks', 'test', { allowed: true, ports: [443] })).toBe('https://localhost/hooks');
    expect(refusal('http://localhost/hooks', 'test', { allowed: true, ports: [443] })).toMatch(/only the ports 443/);
    expect(accepted('http://localhost/hooks', 'test', { allowed: true, ports: [80] })).toBe('http://localhost/hooks');
    // Ports are for loopback: public hosts keep every port.
    expect(accepted('https://example.com:9443/', 'test', ports)).toBe('https://example.com:9443/');
  });

  test('mayReachLoopback: test mode, loopback allowed, and the port listed when ports are listed', () => {
    const at = (raw: string) => new URL(raw);
    expect(mayReachLoopback(at('https://app.example.com/'), 'test', anyLoopback)).toBe(true);
    expect(mayReachLoopback(at('https://app.example.com/'), 'live', anyLoopback)).toBe(false);
    expect(mayReachLoopback(at('https://app.example.com/'), 'test', noLoopback)).toBe(false);
    expect(mayReachLoopback(at('https://app.example.com/'), 'test', { allowed: true, ports: [443] })).toBe(true);
    expect(mayReachLoopback(at('http://app.example.com/'), 'test', { allowed: true, ports: [443] })).toBe(false);
    expect(mayReachLoopback(at('http://app.example.com/'), 'test', { allowed: true, ports: [80] })).toBe(true);
    expect(mayReachLoopback(at('https://app.example.com:3000/'), 'test', { allowed: true, ports: [3000] })).toBe(true);
    expect(mayReachLoopback(at('https://app.example.com:3000/'), 'test', { allowed: false, ports: [3000] })).toBe(false);
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
    // The edges of global unicast, 2000::/3, and of the special ranges inside it.
    '2000::',
    '2000::1',
    '3ffe:ffff::1',
    '3fff:1000::',
    '2001:200::',
    '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff',
    '2001:db9::',
    '2001:200:ffff:ffff:ffff:ffff:ffff:ffff',
    '2003::1',
    '2001:ffff::1',
    '64:ff9b::808:808',
    '64:ff9b::8.8.8.8',
    // 100.128.0.0, just past CGNAT.
    '64:ff9b::6480:0',
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
    ['below global unicast', '1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['above global unicast', '4000::'],
    ['dummy prefix', '100:0:0:1::'],
    ['reserved 100::/8', '1ff:ffff::1'],
    ['segment-routing SIDs', '5f00::1'],
    ['IPv4-translated', '::ffff:0:7f00:1'],
    ['IPv4-translated public', '::ffff:0:808:808'],
    ['IPv4-compatible public', '::808:808'],
    ['IETF protocol assignments, top', '2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['PCP anycast', '2001:1::1'],
    ['ORCHIDv2', '2001:2f::1'],
    ['documentation, top', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['6to4, top', '2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['documentation 3fff::/20, top', '3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ['NAT64 of loopback', '64:ff9b::127.0.0.1'],
    ['NAT64 of CGNAT', '64:ff9b::100.64.0.1'],
    ['NAT64 of the broadcast address', '64:ff9b::ffff:ffff'],
    ['just past the NAT64 /96', '64:ff9b:0:0:0:1:808:808'],
    ['local-use NAT64', '64:ff9b:1:ffff::808:808'],
    ['IPv4-mapped broadcast', '::ffff:255.255.255.255'],
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

  test('an IPv4 address and its NAT64 form (64:ff9b::/96) always agree', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        expect(isPublicAddress(`64:ff9b::${address}`)).toBe(isPublicAddress(address));
      }),
    );
  });

  test('no IPv6 address outside global unicast is public, but for the IPv4-mapped and NAT64 forms', () => {
    const hextet = fc.integer({ min: 0, max: 0xffff });
    // A first hextet outside 2000::/3 (0000–1fff, 4000–ffff), then any seven.
    const outside = fc.tuple(
      fc.oneof(fc.integer({ min: 0, max: 0x1fff }), fc.integer({ min: 0x4000, max: 0xffff })),
      fc.array(hextet, { minLength: 7, maxLength: 7 }),
    );
    fc.assert(
      fc.property(outside, ([first, rest]) => {
        const address = [first, ...rest].map((part) => part.toString(16)).join(':');
        const carriesIpv4 =
          (first === 0 && rest.slice(0, 4).every((part) => part === 0) && rest[4] === 0xffff) ||
          (first === 0x64 && rest[0] === 0xff9b && rest.slice(1, 5).every((part) => part === 0));
        fc.pre(!carriesIpv4);
        expect(isPublicAddress(address)).toBe(false);
      }),
    );
  });

  test('a URL with an IPv4 host is accepted in live mode exactly when its address is public', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        expect(checkWebhookUrl(`https://${address}/hooks`, 'live', anyLoopback).ok).toBe(isPublicAddress(address));
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
    await expect(lookup(guardedLookup(false), 'localhost')).rejects.toMatchObject({
      code: 'ESSRF',
      message: expect.stringMatching(/^localhost resolves to .+, which is not a public address$/),
    });
    await expect(lookup(guardedLookup(false), 'localhost', { all: true })).rejects.toMatchObject({ code: 'ESSRF' });
  });

  test('test mode resolves localhost to loopback, in both callback shapes', async () => {
    const one = await lookup(guardedLookup(true), 'localhost');
    expect(typeof one.address).toBe('string');
    expect(['127.0.0.1', '::1']).toContain(one.address);
    expect([4, 6]).toContain(one.family);
    const all = await lookup(guardedLookup(true), 'localhost', { all: true });
    expect(Array.isArray(all.address)).toBe(true);
    expect(all.address).toContainEqual(expect.objectContaining({ address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/) }));
  });

  test('an IPv4 address given as the name is checked too', async () => {
    await expect(lookup(guardedLookup(false), '10.0.0.1')).rejects.toMatchObject({ code: 'ESSRF' });
    await expect(lookup(guardedLookup(false), '8.8.8.8')).resolves.toEqual({ address: '8.8.8.8', family: 4 });
  });

  test('test mode allows loopback only: private addresses stay refused', async () => {
    for (const address of ['10.0.0.1', '192.168.1.1', '169.254.169.254', '::ffff:10.0.0.1']) {
      await expect(lookup(guardedLookup(true), address)).rejects.toMatchObject({ code: 'ESSRF' });
    }
    await expect(lookup(guardedLookup(true), '127.0.0.2')).resolves.toEqual({ address: '127.0.0.2', family: 4 });
  });

  test("a name that does not resolve fails with the resolver's own error", async () => {
    // Not a valid host name, so the resolver refuses it without asking any DNS server.
    await expect(lookup(guardedLookup(false), 'not a host name')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  test('http.request uses it, in both callback shapes: test mode reaches a local receiver, live mode is refused before connecting', async () => {
    const server = http.createServer((_request, response) => response.end('received'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // Without a family, Node 20 looks up every address (all: true) to race them; with one, a single address.
    const get = (mode: 'live' | 'test', family: 4 | undefined) =>
      new Promise<string>((resolve, reject) => {
        // agent: false, for a fresh connection: a kept-alive socket would skip the lookup.
        const request = http.request({ host: 'localhost', port, family, agent: false, lookup: guardedLookup(mode === 'test') }, (response) => {
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
