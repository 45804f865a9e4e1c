// Decodes the packets cnilab cares about: Ethernet (802.1Q skipped), Linux SLL/SLL2 and raw IP
// framing; IPv4; UDP with VXLAN on the given ports; IPIP; ICMP. Never throws: anything malformed
// or foreign (ARP, IPv6) is null. Addresses stay uint32 numbers; nothing is formatted per packet.
import type { RawPacket } from './pcap-reader.ts';

export type Encapsulation =
  | { kind: 'none' }
  | { kind: 'vxlan'; vni: number; port: number; outerSrc: number; outerDst: number }
  | { kind: 'ipip'; outerSrc: number; outerDst: number }
  | { kind: 'udp'; port: number; outerSrc: number; outerDst: number };

export interface DecodedPacket {
  tsNs: bigint;
  encap: Encapsulation;
  /** The innermost IPv4 header, after removing vxlan/ipip. */
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  totalLength: number;
  dontFragment: boolean;
  icmp?: { type: number; code: number; id: number; seq: number; payload: Uint8Array };
  udp?: { srcPort: number; dstPort: number };
  tcp?: { srcPort: number; dstPort: number };
}

export interface DecodeOptions {
  vxlanPorts: ReadonlySet<number>;
  /** Ports on which UDP carries a bare IPv4 packet (flannel's udp backend). */
  udpTunnelPorts?: ReadonlySet<number>;
}

export const DEFAULT_VXLAN_PORTS: ReadonlySet<number> = new Set([4789, 8472]);
/** flanneld's udp backend: pkg/backend/udp/udp.go, defaultPort = 8285. */
export const DEFAULT_UDP_TUNNEL_PORTS: ReadonlySet<number> = new Set([8285]);
const NONE: Encapsulation = Object.freeze({ kind: 'none' });

const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** Offset of the IPv4 header behind an Ethernet header (VLAN tags skipped), or -1. */
function etherToIpv4(b: Uint8Array, o: number): number {
  if (b.length < o + 14) return -1;
  let type = u16(b, o + 12);
  let p = o + 14;
  while ((type === 0x8100 || type === 0x88a8) && b.length >= p + 4) {
    type = u16(b, p + 2);
    p += 4;
  }
  return type === 0x0800 ? p : -1;
}

function l3Offset(pkt: RawPacket): number {
  const b = pkt.data;
  switch (pkt.linktype) {
    case 1:
      return etherToIpv4(b, 0);
    case 113: // LINUX_SLL: protocol at 14, header 16 bytes
      return b.length >= 16 && u16(b, 14) === 0x0800 ? 16 : -1;
    case 276: // LINUX_SLL2: protocol at 0, header 20 bytes
      return b.length >= 20 && u16(b, 0) === 0x0800 ? 20 : -1;
    case 101:
    case 12:
    case 228:
      return b.length >= 1 && b[0]! >> 4 === 4 ? 0 : -1;
    default:
      return -1;
  }
}

export function decode(pkt: RawPacket, opts: DecodeOptions = { vxlanPorts: DEFAULT_VXLAN_PORTS }): DecodedPacket | null {
  const b = pkt.data;
  let ip = l3Offset(pkt);
  let encap: Encapsulation = NONE;
  // At most two layers: an outer tunnel header and the packet inside it.
  for (let depth = 0; depth < 3; depth++) {
    if (ip < 0 || b.length < ip + 20 || b[ip]! >> 4 !== 4) return null;
    const ihl = (b[ip]! & 15) * 4;
    if (ihl < 20 || b.length < ip + ihl) return null;
    const protocol = b[ip + 9]!;
    const src = u32(b, ip + 12);
    const dst = u32(b, ip + 16);
    const totalLength = u16(b, ip + 2);
    const flagsFrag = u16(b, ip + 6);
    const firstFragment = (flagsFrag & 0x1fff) === 0;
    const l4 = ip + ihl;
    const end = Math.min(b.length, ip + Math.max(totalLength, ihl));
    if (encap === NONE && firstFragment) {
      if (protocol === 4) {
        encap = { kind: 'ipip', outerSrc: src, outerDst: dst };
        ip = l4;
        continue;
      }
      if (protocol === 17 && end >= l4 + 8 + 8 && opts.vxlanPorts.has(u16(b, l4 + 2)) && (b[l4 + 8]! & 0x08) !== 0) {
        const port = u16(b, l4 + 2);
        encap = { kind: 'vxlan', vni: ((b[l4 + 12]! << 16) | (b[l4 + 13]! << 8) | b[l4 + 14]!) >>> 0, port, outerSrc: src, outerDst: dst };
        ip = etherToIpv4(b, l4 + 16);
        continue;
      }
      // flanneld's udp backend (pkg/backend/udp/cproxy_amd64.go): the TUN packet as the UDP payload, no header.
      if (protocol === 17 && end >= l4 + 8 + 20 && opts.udpTunnelPorts?.has(u16(b, l4 + 2)) && b[l4 + 8]! >> 4 === 4) {
        encap = { kind: 'udp', port: u16(b, l4 + 2), outerSrc: src, outerDst: dst };
        ip = l4 + 8;
        continue;
      }
    }
    const out: DecodedPacket = {
      tsNs: pkt.tsNs,
      encap,
      src,
      dst,
      protocol,
      ttl: b[ip + 8]!,
      totalLength,
      dontFragment: (flagsFrag & 0x4000) !== 0,
    };
    if (!firstFragment) return out;
    if (protocol === 1 && end >= l4 + 8) {
      out.icmp = { type: b[l4]!, code: b[l4 + 1]!, id: u16(b, l4 + 4), seq: u16(b, l4 + 6), payload: b.subarray(l4 + 8, end) };
    } else if (protocol === 17 && end >= l4 + 8) {
      out.udp = { srcPort: u16(b, l4), dstPort: u16(b, l4 + 2) };
    } else if (protocol === 6 && end >= l4 + 4) {
      out.tcp = { srcPort: u16(b, l4), dstPort: u16(b, l4 + 2) };
    }
    return out;
  }
  return null;
}
