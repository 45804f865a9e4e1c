// IPv4 addresses and CIDRs, parsed once at the edge and carried as numbers afterwards.

declare const ipv4Brand: unique symbol;
/** An IPv4 address as an unsigned 32-bit integer. */
export type Ipv4 = number & { readonly [ipv4Brand]: true };

export interface Cidr {
  readonly network: Ipv4;
  readonly prefix: number;
}

export function parseIpv4(text: string): Ipv4 | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n as Ipv4;
}

export function ipv4(text: string): Ipv4 {
  const ip = parseIpv4(text);
  if (ip === null) throw new Error(`not an IPv4 address: ${text}`);
  return ip;
}

export function formatIpv4(ip: number): string {
  return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Why a string is not a CIDR, or the CIDR. Host bits must be zero: "10.0.0.1/24" is refused. */
export function parseCidr(text: string): Cidr | string {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  if (!m) return 'expected a.b.c.d/len';
  const ip = parseIpv4(m[1]!);
  if (ip === null) return `"${m[1]}" is not an IPv4 address`;
  const prefix = Number(m[2]);
  if (prefix > 32) return `prefix length ${prefix} is over 32`;
  const network = (ip & maskOf(prefix)) >>> 0;
  if (network !== ip) return `host bits are set; the network is ${formatIpv4(network)}/${prefix}`;
  return { network: network as Ipv4, prefix };
}

export function cidr(text: string): Cidr {
  const c = parseCidr(text);
  if (typeof c === 'string') throw new Error(`not a CIDR: ${text}: ${c}`);
  return c;
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`;
}

export function contains(c: Cidr, ip: number): boolean {
  return (ip & maskOf(c.prefix)) >>> 0 === c.network;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.network & maskOf(p)) >>> 0 === (b.network & maskOf(p)) >>> 0;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** The n-th address of a CIDR (0 is the network address). */
export function nth(c: Cidr, n: number): Ipv4 {
  if (n < 0 || n >= size(c)) throw new RangeError(`address #${n} is outside ${formatCidr(c)}`);
  return ((c.network + n) >>> 0) as Ipv4;
}

/** The i-th sub-network of length `prefix` inside `c`. */
export function subnet(c: Cidr, prefix: number, i: number): Cidr {
  if (prefix < c.prefix) throw new RangeError(`/${prefix} is larger than ${formatCidr(c)}`);
  const count = 2 ** (prefix - c.prefix);
  if (i < 0 || i >= count) throw new RangeError(`${formatCidr(c)} has ${count} /${prefix} subnets, not ${i + 1}`);
  return { network: ((c.network + i * 2 ** (32 - prefix)) >>> 0) as Ipv4, prefix };
}

export function subnetCount(c: Cidr, prefix: number): number {
  return prefix < c.prefix ? 0 : 2 ** (prefix - c.prefix);
}

/** A locally administered unicast MAC derived from an address, so plans stay pure and repeatable. */
export function macFromIpv4(first: number, ip: number): string {
  const bytes = [(first | 0x02) & 0xfe, 0x00, (ip >>> 24) & 255, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Whether a route destination ("10.244.1.0/24", "10.244.1.5", "default") lies inside `c`. */
export function routeIn(c: Cidr, dst: string): boolean {
  if (dst === 'default') return false;
  const d = parseCidr(dst.includes('/') ? dst : `${dst}/32`);
  return typeof d !== 'string' && contains(c, d.network);
}
