import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { decode, DEFAULT_UDP_TUNNEL_PORTS, DEFAULT_VXLAN_PORTS, type DecodedPacket } from './decode.ts';
import { formatIpv4 as ipv4ToString } from '../net/ipv4.ts';
import { forEachPacket, PcapFormatError, readPackets, readPacketsSync, type RawPacket } from './pcap-reader.ts';
import { writePcap, writePcapng } from './pcap-writer.ts';
import { ethernet, icmpEcho, ipipEcho, ipv4, udp, vxlanEcho } from './test-packets.ts';

const pkts = [
  { tsNs: 1_700_000_000_123_456_789n, data: vxlanEcho({ seq: 1 }) },
  { tsNs: 1_700_000_000_223_456_000n, data: ipipEcho(['172.31.10.11', '172.31.20.11'], ['10.244.0.65', '10.244.0.193']) },
  { tsNs: 1_700_000_001_000_000_000n, data: ethernet(ipv4('10.244.1.2', '10.244.2.2', 1, icmpEcho(0, 9, 3, Uint8Array.of(1, 2, 3)))) },
];

async function* chunked(buf: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < buf.length; o += size) yield buf.slice(o, o + size);
}
const collect = async (it: AsyncIterable<RawPacket>) => {
  const out: { ts: bigint; len: number; first: number; linktype: number }[] = [];
  for await (const p of it) out.push({ ts: p.tsNs, len: p.capturedLength, first: p.data[0]!, linktype: p.linktype });
  return out;
};

test('classic pcap: µs and ns, both byte orders, any chunking', async () => {
  for (const nanosecond of [false, true]) {
    for (const bigEndian of [false, true]) {
      const file = writePcap(pkts, { linktype: 1, nanosecond, bigEndian });
      const want = pkts.map((p) => ({
        ts: nanosecond ? p.tsNs : (p.tsNs / 1000n) * 1000n,
        len: p.data.length,
        first: p.data[0]!,
        linktype: 1,
      }));
      assert.deepEqual(
        [...readPacketsSync(file)].map((p) => ({ ts: p.tsNs, len: p.capturedLength, first: p.data[0]!, linktype: p.linktype })),
        want,
      );
      for (const size of [1, 7, 64, 1 << 20]) {
        assert.deepEqual(await collect(readPackets(chunked(file, size))), want, `chunks of ${size}`);
        const seen: number[] = [];
        assert.equal(await forEachPacket(chunked(file, size), (p) => seen.push(p.capturedLength)), pkts.length);
        assert.deepEqual(
          seen,
          want.map((w) => w.len),
        );
      }
    }
  }
});

test('pcapng: ns and µs and power-of-two resolutions, big-endian sections, simple packet blocks', async () => {
  for (const tsresol of [9, 6, 0x80 | 20]) {
    const file = writePcapng(pkts, { linktype: 1, tsresol });
    const got = [...readPacketsSync(file)].map((p) => p.tsNs);
    const tol = tsresol === 9 ? 0n : 1000n;
    got.forEach((t, i) => void assert.ok(t <= pkts[i]!.tsNs && pkts[i]!.tsNs - t <= tol, `tsresol ${tsresol}: ${t} vs ${pkts[i]!.tsNs}`));
  }
  const be = writePcapng(pkts, { linktype: 276, bigEndian: true });
  assert.deepEqual(
    (await collect(readPackets(chunked(be, 5)))).map((p) => [p.len, p.linktype]),
    pkts.map((p) => [p.data.length, 276]),
  );
  const spb = [...readPacketsSync(writePcapng(pkts, { linktype: 1, simple: true }))];
  assert.deepEqual(
    spb.map((p) => [p.capturedLength, p.tsNs]),
    pkts.map((p) => [p.data.length, 0n]),
  );
  // Two sections in one file, the second big-endian.
  const two = new Uint8Array([
    ...writePcapng(pkts.slice(0, 1), { linktype: 1 }),
    ...writePcapng(pkts.slice(1), { linktype: 101, bigEndian: true }),
  ]);
  assert.deepEqual(
    [...readPacketsSync(two)].map((p) => p.linktype),
    [1, 101, 101],
  );
});

test('truncated and corrupt input is a PcapFormatError with the offset', async () => {
  const file = writePcap(pkts, { linktype: 1 });
  assert.throws(
    () => [...readPacketsSync(file.subarray(0, file.length - 10))],
    (e: unknown) => e instanceof PcapFormatError && /truncated at byte/.test(e.message),
  );
  await assert.rejects(collect(readPackets(chunked(file.subarray(0, file.length - 10), 13))), /truncated at byte/);
  assert.throws(() => [...readPacketsSync(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8))], /unknown magic/);
  const ng = writePcapng(pkts, { linktype: 1 });
  const bad = ng.slice();
  bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
  assert.throws(() => [...readPacketsSync(bad)], /trailing block length/);
});

const d = (data: Uint8Array, linktype = 1, ports = DEFAULT_VXLAN_PORTS): DecodedPacket | null =>
  decode({ linktype, tsNs: 5n, capturedLength: data.length, originalLength: data.length, data, interfaceId: 0 }, { vxlanPorts: ports });

test('decode: VXLAN on 8472, 4789 and a configured port; the inner packet is what is reported', () => {
  const a = d(vxlanEcho({ vni: 1, port: 8472, payload: Uint8Array.of(0xc1, 0x1a) }))!;
  assert.deepEqual(a.encap, { kind: 'vxlan', vni: 1, port: 8472, outerSrc: 0xac1f0a0b, outerDst: 0xac1f0a0c });
  assert.equal(ipv4ToString(a.src), '10.244.1.2');
  assert.equal(ipv4ToString(a.dst), '10.244.2.2');
  assert.equal(a.icmp?.type, 8);
  assert.deepEqual([...a.icmp!.payload], [0xc1, 0x1a]);
  assert.equal(d(vxlanEcho({ vni: 4096, port: 4789 }))!.encap.kind, 'vxlan');
  // A port nobody configured is plain UDP, not VXLAN.
  const other = d(vxlanEcho({ vni: 42, port: 4790 }))!;
  assert.equal(other.encap.kind, 'none');
  assert.equal(other.udp?.dstPort, 4790);
  const custom = d(vxlanEcho({ vni: 42, port: 4790 }), 1, new Set([4790]))!;
  assert.deepEqual([custom.encap.kind, custom.encap.kind === 'vxlan' && custom.encap.vni], ['vxlan', 42]);
});

test("decode: flannel's udp backend, the bare pod packet in UDP 8285, only on its port and only when it is IPv4", () => {
  const inner = ipv4('10.244.1.2', '10.244.2.2', 1, icmpEcho(8, 7, 3, Uint8Array.of(0xc1, 0x1a)));
  const frame = (port: number, payload = inner) => ethernet(ipv4('172.31.10.11', '172.31.20.11', 17, udp(8285, port, payload)));
  const raw = (data: Uint8Array) => ({
    linktype: 1,
    tsNs: 5n,
    capturedLength: data.length,
    originalLength: data.length,
    data,
    interfaceId: 0,
  });
  const opts = { vxlanPorts: DEFAULT_VXLAN_PORTS, udpTunnelPorts: DEFAULT_UDP_TUNNEL_PORTS };
  const a = decode(raw(frame(8285)), opts)!;
  assert.deepEqual(a.encap, { kind: 'udp', port: 8285, outerSrc: 0xac1f0a0b, outerDst: 0xac1f140b });
  assert.deepEqual([ipv4ToString(a.src), ipv4ToString(a.dst), a.icmp?.type, a.icmp?.seq], ['10.244.1.2', '10.244.2.2', 8, 3]);
  // Without the option (or on another port) it stays plain UDP; a payload that is not IPv4 is not a tunnel.
  assert.equal(decode(raw(frame(8285)), { vxlanPorts: DEFAULT_VXLAN_PORTS })!.encap.kind, 'none');
  assert.equal(decode(raw(frame(8286)), opts)!.encap.kind, 'none');
  assert.equal(decode(raw(frame(8285, new Uint8Array(40).fill(0x60))), opts)!.encap.kind, 'none');
});

test('decode: IPIP, plain ICMP, VLAN tags, SLL, SLL2 and raw framing', () => {
  const i = d(ipipEcho(['172.31.10.11', '172.31.20.11'], ['10.244.0.65', '10.244.0.193']))!;
  assert.equal(i.encap.kind, 'ipip');
  assert.equal(ipv4ToString(i.dst), '10.244.0.193');
  const ipPkt = ipv4('10.0.0.1', '10.0.0.2', 1, icmpEcho(8, 1, 1, new Uint8Array(4)), { df: true });
  assert.equal(d(ethernet(ipPkt, { vlan: 10 }))!.dontFragment, true);
  const sll = new Uint8Array(16 + ipPkt.length);
  sll.set([0x08, 0x00], 14);
  sll.set(ipPkt, 16);
  assert.equal(d(sll, 113)?.icmp?.type, 8);
  const sll2 = new Uint8Array(20 + ipPkt.length);
  sll2.set([0x08, 0x00], 0);
  sll2.set(ipPkt, 20);
  assert.equal(ipv4ToString(d(sll2, 276)!.src), '10.0.0.1');
  assert.equal(d(ipPkt, 101)?.protocol, 1);
});

test('decode: ARP, IPv6, unknown linktypes, truncation and fragments are handled without throwing', () => {
  assert.equal(d(ethernet(new Uint8Array(28), { type: 0x0806 })), null);
  assert.equal(d(ethernet(new Uint8Array(40), { type: 0x86dd })), null);
  assert.equal(d(vxlanEcho(), 999), null);
  const full = vxlanEcho();
  for (let n = 0; n < full.length; n++) d(full.subarray(0, n));
  assert.equal(d(full.subarray(0, 20)), null);
  const frag = d(ethernet(ipv4('10.0.0.1', '10.0.0.2', 1, new Uint8Array(16), { fragOffset: 100 })))!;
  assert.equal(frag.icmp, undefined);
});

test('our decoder agrees with tshark on every packet', { skip: existsSync('/usr/bin/tshark') ? false : 'tshark not installed' }, () => {
  const dir = mkdtempSync(`${tmpdir()}/cnilab-dec-`);
  try {
    const list = [
      vxlanEcho({ vni: 1, port: 8472 }),
      vxlanEcho({ vni: 4096, port: 4789, outer: ['172.31.10.12', '172.31.20.11'], inner: ['10.244.0.130', '10.244.0.193'] }),
      ipipEcho(['172.31.10.11', '172.31.20.11'], ['10.244.0.65', '10.244.0.193']),
      ethernet(ipv4('10.244.1.2', '10.244.1.3', 1, icmpEcho(8, 1, 1, new Uint8Array(8)))),
      ethernet(ipv4('172.31.10.11', '172.31.10.12', 17, udp(1234, 53, new Uint8Array(12)))),
    ];
    writeFileSync(
      `${dir}/t.pcap`,
      writePcap(
        list.map((data, i) => ({ tsNs: BigInt(i) * 1000n, data })),
        { linktype: 1 },
      ),
    );
    const out = execFileSync(
      'tshark',
      [
        '-r',
        `${dir}/t.pcap`,
        '-d',
        'udp.port==8472,vxlan',
        '-T',
        'fields',
        '-E',
        'separator=/t',
        '-e',
        'vxlan.vni',
        '-e',
        'ip.src',
        '-e',
        'ip.dst',
        '-e',
        'ip.proto',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const lines = out.trim().split('\n');
    assert.equal(lines.length, list.length);
    lines.forEach((line, i) => {
      const [vni, srcs, dsts, protos] = line.split('\t');
      const ours = d(list[i]!)!;
      // tshark lists outer and inner layers comma-separated; the last one is the innermost.
      assert.equal(ipv4ToString(ours.src), srcs!.split(',').at(-1), `packet ${i} src`);
      assert.equal(ipv4ToString(ours.dst), dsts!.split(',').at(-1), `packet ${i} dst`);
      assert.equal(ours.protocol, Number(protos!.split(',').at(-1)), `packet ${i} proto`);
      const tsharkEncap = vni ? 'vxlan' : protos!.split(',')[0] === '4' ? 'ipip' : 'none';
      assert.equal(ours.encap.kind, tsharkEncap, `packet ${i} encapsulation`);
      if (ours.encap.kind === 'vxlan') assert.equal(ours.encap.vni, Number(vni));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
