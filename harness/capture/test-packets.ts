// Packet builders for tests and benchmarks, with correct IPv4 header checksums (tshark checks them).

export function checksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const ip = (s: string) => Uint8Array.from(s.split('.').map(Number));

export function ethernet(payload: Uint8Array, opts: { type?: number; vlan?: number; src?: number; dst?: number } = {}): Uint8Array {
  const h = new Uint8Array(14 + (opts.vlan !== undefined ? 4 : 0));
  h.set([0x02, 0, 0, 0, 0, opts.dst ?? 2], 0);
  h.set([0x02, 0, 0, 0, 0, opts.src ?? 1], 6);
  let o = 12;
  if (opts.vlan !== undefined) {
    h.set([0x81, 0x00, (opts.vlan >> 8) & 15, opts.vlan & 255], 12);
    o = 16;
  }
  const type = opts.type ?? 0x0800;
  h.set([type >> 8, type & 255], o);
  return cat(h, payload);
}

export function ipv4(
  src: string,
  dst: string,
  protocol: number,
  payload: Uint8Array,
  opts: { df?: boolean; ttl?: number; fragOffset?: number } = {},
): Uint8Array {
  const h = new Uint8Array(20);
  const len = 20 + payload.length;
  h.set([
    0x45,
    0,
    len >> 8,
    len & 255,
    0x12,
    0x34,
    (opts.df ? 0x40 : 0) | ((opts.fragOffset ?? 0) >> 8),
    (opts.fragOffset ?? 0) & 255,
    opts.ttl ?? 64,
    protocol,
    0,
    0,
  ]);
  h.set(ip(src), 12);
  h.set(ip(dst), 16);
  const c = checksum(h);
  h[10] = c >> 8;
  h[11] = c & 255;
  return cat(h, payload);
}

export function udp(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const len = 8 + payload.length;
  // Checksum 0: "none" is valid for UDP over IPv4 and what VXLAN senders commonly use.
  return cat(Uint8Array.of(srcPort >> 8, srcPort & 255, dstPort >> 8, dstPort & 255, len >> 8, len & 255, 0, 0), payload);
}

export function vxlan(vni: number, inner: Uint8Array): Uint8Array {
  return cat(Uint8Array.of(0x08, 0, 0, 0, (vni >> 16) & 255, (vni >> 8) & 255, vni & 255, 0), inner);
}

export function icmpEcho(type: 8 | 0, id: number, seq: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + payload.length);
  b.set([type, 0, 0, 0, id >> 8, id & 255, seq >> 8, seq & 255]);
  b.set(payload, 8);
  const c = checksum(b);
  b[2] = c >> 8;
  b[3] = c & 255;
  return b;
}

/** A flannel-style packet: pod ICMP echo inside VXLAN between two nodes. */
export function vxlanEcho(
  opts: { vni?: number; port?: number; outer?: [string, string]; inner?: [string, string]; payload?: Uint8Array; seq?: number } = {},
): Uint8Array {
  const [os, od] = opts.outer ?? ['172.31.10.11', '172.31.10.12'];
  const [is, id] = opts.inner ?? ['10.244.1.2', '10.244.2.2'];
  const inner = ethernet(ipv4(is, id, 1, icmpEcho(8, 7, opts.seq ?? 1, opts.payload ?? new Uint8Array(56))));
  return ethernet(ipv4(os, od, 17, udp(40000, opts.port ?? 8472, vxlan(opts.vni ?? 1, inner))));
}

export function ipipEcho(outer: [string, string], inner: [string, string], payload = new Uint8Array(56)): Uint8Array {
  return ethernet(ipv4(outer[0], outer[1], 4, ipv4(inner[0], inner[1], 1, icmpEcho(8, 7, 1, payload))));
}
