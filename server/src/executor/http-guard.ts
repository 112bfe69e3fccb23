import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";
import { buildConnector } from "undici";
import { NonRetryableError } from "@chime/sdk";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** Destinations the http executor may reach although they are not public unicast addresses. */
export interface Allowlist {
  cidrs: Array<[Address, number]>;
  /** Lower-case host names that may resolve to any address. */
  hosts: Set<string>;
}

export const EMPTY_ALLOWLIST: Allowlist = { cidrs: [], hosts: new Set() };

/** A destination the SSRF guard refuses; permanent, so the run is not retried. */
export class RefusedDestinationError extends NonRetryableError {
  readonly code = "CHIME_REFUSED_DESTINATION";
  constructor(message: string) {
    super(message);
    this.name = "RefusedDestinationError";
  }
}

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * Parses CHIME_HTTP_ALLOWLIST: comma-separated CIDRs ("10.1.0.0/16", "::1/128"), single
 * addresses, or host names ("localhost", "billing.internal"). Throws naming the bad entries.
 */
export function parseAllowlist(text: string): Allowlist {
  const allowlist: Allowlist = { cidrs: [], hosts: new Set() };
  const bad: string[] = [];
  for (const raw of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    try {
      if (raw.includes("/")) {
        const [address, bits] = ipaddr.parseCIDR(raw);
        allowlist.cidrs.push([unmap(address), address.kind() === "ipv6" && unmap(address).kind() === "ipv4" ? Math.max(0, bits - 96) : bits]);
      } else if (ipaddr.isValid(raw) && /^[0-9a-fA-F:.x]+$/.test(raw)) {
        const address = unmap(ipaddr.parse(raw));
        allowlist.cidrs.push([address, address.kind() === "ipv4" ? 32 : 128]);
      } else if (HOST_NAME.test(raw)) {
        allowlist.hosts.add(raw.toLowerCase().replace(/\.$/, ""));
      } else bad.push(raw);
    } catch {
      bad.push(raw);
    }
  }
  if (bad.length) throw new Error(`not a CIDR, address or host name: ${bad.map((b) => JSON.stringify(b)).join(", ")}`);
  return allowlist;
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address it carries. */
function unmap(address: Address): Address {
  return address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** True when `host` (from a URL) is an IP address in any notation ipaddr.js reads. */
export function isIpLiteral(host: string): boolean {
  return ipaddr.isValid(stripBrackets(host));
}

function inAllowedCidr(address: Address, allowlist: Allowlist): boolean {
  return allowlist.cidrs.some(([base, bits]) => base.kind() === address.kind() && address.match(base, bits));
}

export function isAllowlistedHost(hostname: string, allowlist: Allowlist): boolean {
  return allowlist.hosts.has(stripBrackets(hostname).toLowerCase().replace(/\.$/, ""));
}

/**
 * Why connecting to `address` is refused, or undefined when it is allowed: only public
 * unicast addresses pass (ipaddr.js range "unicast"), unless an allowlisted CIDR holds it.
 * Refused: loopback, private, CGNAT, link-local (cloud metadata), unspecified, broadcast,
 * multicast, reserved, unique-local, and IPv6 forms that embed IPv4 (mapped, NAT64, 6to4, Teredo).
 */
export function addressRefusal(raw: string, allowlist: Allowlist = EMPTY_ALLOWLIST): string | undefined {
  const text = stripBrackets(raw);
  if (!ipaddr.isValid(text)) return `${JSON.stringify(raw)} is not an IP address`;
  const address = unmap(ipaddr.parse(text));
  if (inAllowedCidr(address, allowlist)) return undefined;
  const range = address.range();
  if (range === "unicast") return undefined;
  return `${address.toString()} is a ${range} address (not public unicast); add it to CHIME_HTTP_ALLOWLIST to allow it`;
}

/** A dns lookup that fails when the name resolves to any refused address (unless the name is allowlisted). */
export function guardedLookup(allowlist: Allowlist): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number }, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      if (!isAllowlistedHost(hostname, allowlist)) {
        for (const { address } of addresses) {
          const reason = addressRefusal(address, allowlist);
          if (reason) return callback(new RefusedDestinationError(`refused ${hostname}: it resolves to ${reason}`));
        }
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0].address, addresses[0].family);
    });
  }) as LookupFunction;
}

/**
 * An undici connector that refuses forbidden destinations: IP literals before connecting,
 * names at DNS lookup, and — whatever path the address took — the address the socket
 * actually connected to, so DNS rebinding between check and connect cannot slip by.
 */
export function createGuardedConnector(allowlist: Allowlist, options: { timeoutMs?: number } = {}): buildConnector.connector {
  const base = buildConnector({ lookup: guardedLookup(allowlist), timeout: options.timeoutMs ?? 10_000 });
  return (connectOptions, callback) => {
    const host = stripBrackets(connectOptions.hostname);
    const named = isAllowlistedHost(host, allowlist);
    if (!named && isIpLiteral(host)) {
      const reason = addressRefusal(host, allowlist);
      if (reason) return callback(new RefusedDestinationError(`refused ${host}: ${reason}`), null);
    }
    base(connectOptions, (error, socket) => {
      if (error) return callback(error, null);
      const remote = socket!.remoteAddress;
      const reason = named ? undefined : remote ? addressRefusal(remote, allowlist) : "the connected address is unknown";
      if (reason) {
        socket!.destroy();
        return callback(new RefusedDestinationError(`refused ${host}: connected to ${reason}`), null);
      }
      callback(null, socket!);
    });
  };
}
