import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { loopbackHostnames } from '../common/hosts.ts';
import type { Mode } from '../model/tenant.ts';

/**
 * Endpoint URLs are chosen by customers and fetched by seatgate, so they must not reach
 * seatgate's own network (SSRF): only https, only public hosts. Test mode may also use the
 * loopback hosts, for receivers on a developer's machine.
 */

export const maxWebhookUrlLength = 2048;

/** Why a URL was refused, in words for the customer. */
export type WebhookUrlProblem = string;

const nonPublic = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network", including the unspecified 0.0.0.0
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, including cloud metadata at 169.254.169.254
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including the broadcast 255.255.255.255
] as const) {
  // Node matches IPv4 rules against IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) too.
  nonPublic.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible addresses
  ['64:ff9b::', 96], // NAT64
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 32], // Teredo
  ['2001:2::', 48], // benchmarking
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4
  ['3fff::', 20], // documentation
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // deprecated site-local
  ['ff00::', 8], // multicast
] as const) {
  nonPublic.addSubnet(network, prefix, 'ipv6');
}
// The transition prefixes above (NAT64, Teredo, 6to4) embed IPv4 addresses the IPv4 rules would
// not see; they are refused whole rather than decoded.

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

const addressType = (address: string) => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

/** Whether an IP address (v4 or v6) is on the public internet; false for anything that is not an address. */
export const isPublicAddress = (address: string): boolean => isIP(address) !== 0 && !nonPublic.check(address, addressType(address));

const isLoopbackAddress = (address: string): boolean => isIP(address) !== 0 && loopback.check(address, addressType(address));

const localNames = ['localhost', 'local', 'internal'];

const refused = (message: WebhookUrlProblem) => ({ ok: false as const, message });

/** Whether `raw` may be an endpoint URL in `mode`; the URL is returned normalised, as WHATWG URL writes it. */
export function checkWebhookUrl(raw: string, mode: Mode): { ok: true; url: URL } | { ok: false; message: WebhookUrlProblem } {
  if (raw.length > maxWebhookUrlLength) return refused(`The URL is longer than ${maxWebhookUrlLength} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refused('The URL is not a valid absolute URL');
  }
  const loopbackAllowed = mode === 'test' && loopbackHostnames.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopbackAllowed)) {
    return refused(mode === 'test' ? 'The URL must use https (http only for localhost, 127.0.0.1 and [::1])' : 'The URL must use https');
  }
  if (url.username || url.password) return refused('The URL must not contain a user name or password');
  // href keeps the '#' of an empty fragment, which url.hash does not show.
  if (url.href.includes('#')) return refused('The URL must not contain a fragment');
  if (loopbackAllowed) return { ok: true, url };
  // WHATWG URL has already turned odd IPv4 forms (2130706433, 0x7f.1, 0177.0.0.1) into dotted quads.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host)) return isPublicAddress(host) ? { ok: true, url } : refused(`The host ${url.hostname} is not a public address`);
  const name = host.replace(/\.$/, '');
  if (mode === 'live') {
    if (localNames.some((local) => name === local || name.endsWith(`.${local}`))) return refused(`The host ${name} is a local name`);
    if (!name.includes('.')) return refused(`The host ${name} is not a fully qualified domain name`);
  }
  return { ok: true, url };
}

/**
 * A `lookup` for http.request that resolves like dns.lookup but fails with code ESSRF when
 * any address of the name is not public (test mode: loopback is allowed), so a name that
 * resolves to a private address is refused at connect time, after the URL check passed.
 * Node does not call `lookup` for IP literal hosts; checkWebhookUrl refuses those.
 */
export function guardedLookup(mode: Mode): LookupFunction {
  const allowed = (address: string) => isPublicAddress(address) || (mode === 'test' && isLoopbackAddress(address));
  return (hostname, options, callback) => {
    // Every address is checked even when the caller wants one: a name with any private address
    // is refused whichever of its addresses the resolver happens to put first.
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      const forbidden = addresses.find(({ address }) => !allowed(address));
      if (forbidden) {
        const refusal = new Error(`${hostname} resolves to ${forbidden.address}, which is not a public address`);
        return callback(Object.assign(refusal, { code: 'ESSRF' }), '');
      }
      if (options.all) return callback(null, addresses);
      // dns.lookup fails with ENOTFOUND rather than answer an empty list.
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}
