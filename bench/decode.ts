// Decoding speed: our streaming reader + decoder against tshark on the same file.
// `npx tsx bench/decode.ts [--packets N]`: N VXLAN (8472) encapsulated ICMP echoes, ~150 bytes each.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { decode, DEFAULT_VXLAN_PORTS } from '../harness/capture/decode.ts';
import { forEachPacket, readPackets } from '../harness/capture/pcap-reader.ts';
import { writePcap, writePcapng } from '../harness/capture/pcap-writer.ts';
import { vxlanEcho } from '../harness/capture/test-packets.ts';

const { values } = parseArgs({ options: { packets: { type: 'string', default: '1000000' } } });
const n = Number(values.packets);
const dir = mkdtempSync(`${tmpdir()}/cnilab-bench-`);
try {
  const proto = Array.from({ length: 64 }, (_, i) => vxlanEcho({ seq: i, payload: new Uint8Array(56).fill(i) }));
  const packets = Array.from({ length: n }, (_, i) => ({ tsNs: BigInt(i) * 1000n, data: proto[i % proto.length]! }));
  const files = { pcap: `${dir}/b.pcap`, pcapng: `${dir}/b.pcapng` };
  writeFileSync(files.pcap, writePcap(packets, { linktype: 1, nanosecond: true }));
  writeFileSync(files.pcapng, writePcapng(packets, { linktype: 1 }));
  const rows: string[] = [];
  for (const [kind, file] of Object.entries(files)) {
    const mb = statSync(file).size / 1e6;
    for (const api of ['forEachPacket', 'for await readPackets'] as const) {
      let best = Infinity;
      for (let rep = 0; rep < 3; rep++) {
        const t0 = performance.now();
        let vx = 0;
        const opts = { vxlanPorts: DEFAULT_VXLAN_PORTS };
        if (api === 'forEachPacket') await forEachPacket(file, (p) => void (decode(p, opts)?.encap.kind === 'vxlan' && vx++));
        else for await (const p of readPackets(file)) if (decode(p, opts)?.encap.kind === 'vxlan') vx++;
        const s = (performance.now() - t0) / 1000;
        if (vx !== n) throw new Error(`decoded ${vx} VXLAN packets of ${n}`);
        best = Math.min(best, s);
      }
      rows.push(`| cnilab ${api} + decode | ${kind} | ${(n / best / 1e6).toFixed(2)} M | ${(mb / best).toFixed(0)} |`);
    }
  }
  if (existsSync('/usr/bin/tshark')) {
    const t0 = performance.now();
    execFileSync('tshark', ['-r', files.pcap, '-d', 'udp.port==8472,vxlan', '-T', 'fields', '-e', 'vxlan.vni'], {
      stdio: ['ignore', 'ignore', 'ignore'],
      maxBuffer: 1 << 30,
    });
    const s = (performance.now() - t0) / 1000;
    rows.push(
      `| tshark -T fields -e vxlan.vni | pcap | ${(n / s / 1e6).toFixed(3)} M | ${(statSync(files.pcap).size / 1e6 / s).toFixed(0)} |`,
    );
  }
  console.log(`\nDecoding ${n} VXLAN-encapsulated ICMP packets (best of 3 for ours, one run of tshark)\n`);
  console.log('| decoder | format | packets/s | MB/s |\n|---|---|---|---|');
  console.log(rows.join('\n'));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
