import { BlockList, isIP } from 'node:net';

// Which client addresses may relay outbound mail. node:net's BlockList does the CIDR arithmetic for
// both families; we only normalise IPv4-mapped IPv6 (::ffff:10.0.0.1), which a dual-stack listener
// reports for IPv4 clients and which must match an IPv4 rule.

export interface SourceMatcher {
  allows(address: string): boolean;
}

export class InvalidSourceError extends Error {
  override name = 'InvalidSourceError';
}

export function parseSources(entries: readonly string[]): SourceMatcher {
  const list = new BlockList();
  for (const entry of entries) {
    const [addr = '', prefixText, extra] = entry.split('/');
    const family = isIP(addr);
    if (family === 0 || extra !== undefined)
      throw new InvalidSourceError(`Not an address or CIDR range: ${entry}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefixText === undefined) {
      list.addAddress(addr, type);
      continue;
    }
    const prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) {
      throw new InvalidSourceError(`Bad prefix length in ${entry}`);
    }
    list.addSubnet(addr, prefix, type);
  }
  // The list never changes once built, so answers can be kept: the check runs at every RCPT, and
  // BlockList parses the address into a SocketAddress each time. Bounded: cleared when full.
  const known = new Map<string, boolean>();
  return {
    allows(address: string): boolean {
      const hit = known.get(address);
      if (hit !== undefined) return hit;
      const a = normalise(address);
      const family = isIP(a);
      const ok = family !== 0 && list.check(a, family === 4 ? 'ipv4' : 'ipv6');
      if (known.size >= 4096) known.clear();
      known.set(address, ok);
      return ok;
    },
  };
}

export function normalise(address: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return m?.[1] ?? address;
}
