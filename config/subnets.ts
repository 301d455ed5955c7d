/**
 * IPv4 arithmetic for the estate's fixed-address networks. Pure functions of their input.
 */

/** The smallest subnet a fixed-address network may have: 16 addresses, 8 for Docker, 8 for fixed ones. */
export const MAX_SUBNET_PREFIX = 28;

/** `a.b.c.d` as a 32-bit unsigned number. */
export function ipv4ToNumber(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: '${address}'`);
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function numberToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** A CIDR's first address and size. */
export function parseCidr(cidr: string): { readonly base: number; readonly prefix: number; readonly size: number } {
  const [address, prefixText] = cidr.split('/');
  const prefix = Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`not an IPv4 CIDR: '${cidr}'`);
  return { base: ipv4ToNumber(address), prefix, size: 2 ** (32 - prefix) };
}

/** True when the CIDR's address is its network address (no host bits set). */
export function isNetworkAddress(cidr: string): boolean {
  const { base, size } = parseCidr(cidr);
  return base % size === 0;
}

/** True when the two CIDRs share at least one address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  const xStart = x.base - (x.base % x.size);
  const yStart = y.base - (y.base % y.size);
  return xStart < yStart + y.size && yStart < xStart + x.size;
}

/** How a fixed-address network's subnet is used. */
export interface SubnetPlan {
  readonly subnet: string;
  /** The lower half: Docker allocates the other containers' addresses (and its gateway, the first) from it. */
  readonly ipRange: string;
  /** nginx's fixed address: the last usable host, in the upper half, which Docker never hands out. */
  readonly nginxAddress: string;
  /** The audit sink's fixed address (on the identity network): the host before nginx's. */
  readonly auditAddress: string;
  /**
   * The nginx exporter's fixed address (on the identity network): the host before the audit
   * sink's. nginx's stub_status page answers this address and no other.
   */
  readonly nginxExporterAddress: string;
}

/**
 * Splits a subnet (a network address, prefix at most MAX_SUBNET_PREFIX) into Docker's dynamic
 * range (the lower half) and the fixed addresses in the upper half: nginx's (the last host before
 * the broadcast address), the audit sink's (the one before it) and the nginx exporter's (the one
 * before that).
 * `10.202.0.0/28` → ip range `10.202.0.0/29`, nginx `10.202.0.14`, audit sink `10.202.0.13`,
 * nginx exporter `10.202.0.12`.
 */
export function subnetPlan(subnet: string): SubnetPlan {
  const { base, prefix, size } = parseCidr(subnet);
  if (base % size !== 0) throw new Error(`subnet ${subnet} is not a network address (host bits are set)`);
  if (prefix > MAX_SUBNET_PREFIX) throw new Error(`subnet ${subnet} is too small: a fixed-address network needs /${MAX_SUBNET_PREFIX} or larger`);
  return {
    subnet,
    ipRange: `${numberToIpv4(base)}/${prefix + 1}`,
    nginxAddress: numberToIpv4(base + size - 2),
    auditAddress: numberToIpv4(base + size - 3),
    nginxExporterAddress: numberToIpv4(base + size - 4),
  };
}
