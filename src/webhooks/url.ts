import dns from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { loopbackHostnames } from '../common/hosts.ts';
import type { WebhookSettings } from '../config.ts';
import type { Mode } from '../model/tenant.ts';

/**
 * Endpoint URLs are chosen by customers and fetched by seatgate, so they must not reach
 * seatgate's own network (SSRF): only https, only public hosts. Test mode may also use the
 * loopback hosts, for receivers on a developer's machine, when the operator allows it
 * (WEBHOOK_ALLOW_LOOPBACK), and then only on the ports the operator lists (WEBHOOK_LOOPBACK_PORTS).
 */

export const maxWebhookUrlLength = 2048;

/** Why a URL was refused, in words for the customer. */
export type WebhookUrlProblem = string;

/** Whether test keys may reach loopback receivers, and on which ports (null: any). */
export type LoopbackPolicy = WebhookSettings['loopback'];

/**
 * IPv4 ranges that are not on the public internet: the IANA IPv4 special-purpose registry, with
 * its few globally reachable anycast entries refused too (no receiver lives there), plus multicast.
 */
const nonPublicIpv4 = [
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
] as const;

const nonPublicV4 = new BlockList();
for (const [network, prefix] of nonPublicIpv4) nonPublicV4.addSubnet(network, prefix, 'ipv4');

/**
 * IPv6 is public only inside global unicast (2000::/3): everything outside it (unspecified,
 * loopback, IPv4-compatible and IPv4-translated forms, discard-only 100::/64 and the rest of
 * 100::/8, unique-local, link-local, site-local, multicast, the segment-routing 5f00::/16…) is
 * refused without a list to forget a range from. Two forms outside it carry an IPv4 address and
 * reach exactly it, so they are judged by that address: IPv4-mapped (::ffff:a.b.c.d), and the
 * well-known NAT64 prefix (64:ff9b::a.b.c.d), which an IPv6-only host's DNS64 resolver answers
 * for every IPv4-only receiver. The local-use NAT64 prefix 64:ff9b:1::/48 stays refused: the
 * operator's own translator decides where it leads.
 */
const candidateV6 = new BlockList();
candidateV6.addSubnet('2000::', 3, 'ipv6');
candidateV6.addSubnet('::ffff:0:0', 96, 'ipv6');
candidateV6.addSubnet('64:ff9b::', 96, 'ipv6');

const nonPublicV6 = new BlockList();
for (const [network, prefix] of [
  ['2001::', 23], // IETF protocol assignments: Teredo, benchmarking, ORCHID, anycast services
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4, which embeds an IPv4 address not decoded here
  ['3fff::', 20], // documentation
] as const) {
  nonPublicV6.addSubnet(network, prefix, 'ipv6');
}
for (const [network, prefix] of nonPublicIpv4) {
  nonPublicV6.addSubnet(`::ffff:${network}`, 96 + prefix, 'ipv6');
  nonPublicV6.addSubnet(`64:ff9b::${network}`, 96 + prefix, 'ipv6');
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** Whether an IP address (v4 or v6) is on the public internet; false for anything that is not an address. */
export function isPublicAddress(address: string): boolean {
  const version = isIP(address);
  if (version === 4) return !nonPublicV4.check(address, 'ipv4');
  return version === 6 && candidateV6.check(address, 'ipv6') && !nonPublicV6.check(address, 'ipv6');
}

const isLoopbackAddress = (address: string): boolean => isIP(address) !== 0 && loopback.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');

/** The port a URL connects to: its own, or its scheme's. */
const portOf = (url: URL): number => (url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80);

/** Whether an attempt to this URL may connect to a loopback address: test mode, loopback allowed, and its port listed (when ports are listed). */
export const mayReachLoopback = (url: URL, mode: Mode, policy: LoopbackPolicy): boolean =>
  mode === 'test' && policy.allowed && (policy.ports === null || policy.ports.includes(portOf(url)));

const localNames = ['localhost', 'local', 'internal'];

const refused = (message: WebhookUrlProblem) => ({ ok: false as const, message });

/** Whether `raw` may be an endpoint URL in `mode` under the loopback policy; the URL is returned normalised, as WHATWG URL writes it. */
export function checkWebhookUrl(raw: string, mode: Mode, policy: LoopbackPolicy): { ok: true; url: URL } | { ok: false; message: WebhookUrlProblem } {
  if (raw.length > maxWebhookUrlLength) return refused(`The URL is longer than ${maxWebhookUrlLength} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refused('The URL is not a valid absolute URL');
  }
  const toLoopback = mode === 'test' && loopbackHostnames.has(url.hostname);
  if (toLoopback && !policy.allowed) return refused('This server does not send webhooks to loopback addresses; use an https URL of a public host');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && toLoopback)) {
    return refused(mode === 'test' && policy.allowed ? 'The URL must use https (http only for localhost, 127.0.0.1 and [::1])' : 'The URL must use https');
  }
  if (url.username || url.password) return refused('The URL must not contain a user name or password');
  // href keeps the '#' of an empty fragment, which url.hash does not show.
  if (url.href.includes('#')) return refused('The URL must not contain a fragment');
  // Nothing listens on port 0: a connection to it fails, or reaches something else on some systems.
  if (url.port === '0') return refused('The URL must not use port 0');
  if (toLoopback) {
    if (!mayReachLoopback(url, mode, policy)) return refused(`Loopback URLs may use only the ports ${policy.ports!.join(', ')} on this server`);
    return { ok: true, url };
  }
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
 * any address of the name is not public (loopback is allowed when `loopbackAllowed`: see
 * mayReachLoopback), so a name that resolves to a private address is refused at connect time,
 * after the URL check passed. Node does not call `lookup` for IP literal hosts; checkWebhookUrl
 * refuses those.
 */
export function guardedLookup(loopbackAllowed: boolean): LookupFunction {
  const allowed = (address: string) => isPublicAddress(address) || (loopbackAllowed && isLoopbackAddress(address));
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
