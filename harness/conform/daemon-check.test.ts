// conform's reading against what a real daemon programmed: the reading each config gives, the
// comparison that catches a difference (so the root tests' "every setting agrees" can fail), and
// the read-back of flanneld's and calico-node's kernel state in the same words.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calicoProgrammed } from '../program/calico-programmed.ts';
import { flanneldProgrammed, udpListenPorts } from '../program/flanneld-programmed.ts';
import type { NodeKernelState } from '../plan/kernel-state.ts';
import { parseCidr } from '../net/ipv4.ts';
import { loadTopology } from '../topology/load.ts';
import { DEFAULT_SETTINGS, type Topology } from '../topology/types.ts';
import { flanneldProgram, type ModeDef } from '../modes/mode.ts';
import { flanneldHostGw } from '../modes/flanneld-host-gw.ts';
import { flanneldVxlan, flanneldVxlanDirectRouting } from '../modes/flanneld-vxlan.ts';
import { conform, conformanceResult } from './conform.ts';
import { checkReading, readingFindings } from './daemon-check.ts';
import { readInputs } from './inputs.ts';

/** A temp folder of the test's own, removed when the file's tests end. */
const made: string[] = [];
const tmpDir = (prefix: string) => {
  const d = mkdtempSync(`${tmpdir()}/${prefix}`);
  made.push(d);
  return d;
};
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const topo = () => loadTopology(`${ROOT}/topologies/two-subnets.yaml`);
const file = (name: string, text: string) => {
  const f = `${tmpDir('cnilab-read-')}/${name}`;
  writeFileSync(f, text);
  return f;
};
const readingOf = async (f: string) => (await conform(readInputs([f]), await topo())).conformance;

test('flannel: the reading says what flanneld must program, Backend.MTU as the external MTU', async () => {
  const c = await readingOf(
    file(
      'net-conf.json',
      JSON.stringify({
        Network: '10.60.0.0/16',
        SubnetLen: 25,
        Backend: { Type: 'VXLAN', VNI: 4097, Port: 4790, MTU: 1400, DirectRouting: true },
      }),
    ),
  );
  const values = Object.fromEntries(Object.entries(c.reading!).map(([k, v]) => [k, v.value]));
  assert.deepEqual(values, {
    backend: 'vxlan',
    network: '10.60.0.0/16',
    leaseLength: 25,
    vni: 4097,
    port: 4790,
    deviceMtu: 1350,
    podMtu: 1350,
    directRouting: true,
  });
  assert.match(c.reading!.deviceMtu!.at, /net-conf\.json:1/);
});

test('Calico: a veth_mtu past the underlay reads as the kernel caps vxlan.calico, not as written', async () => {
  const c = await readingOf(`${ROOT}/test/fixtures/conform/calico-vxlan-mtu.yaml`);
  assert.equal(c.reading!.deviceMtu!.value, 1450);
  assert.match(c.reading!.deviceMtu!.at, /past the kernel's limit/);
  assert.equal(c.reading!.podMtu!.value, 1500);
});

test('a setting the daemon programmed otherwise is an error finding naming both values, and the verdict fails', async () => {
  const c = await readingOf(file('net-conf.json', '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 7}}'));
  const programmed = Object.fromEntries(Object.entries(c.reading!).map(([k, v]) => [k, v.value]));
  const same = checkReading(c.reading!, { daemon: 'flanneld v0', daemonFacts: { leases: {}, cni: '', programmed } })!;
  assert.ok(same.settings.every((s) => s.agree));
  assert.deepEqual(readingFindings(c.reading!, same), []);
  const other = { ...programmed, vni: 1 };
  const run = { daemon: 'flanneld v0', daemonFacts: { leases: {}, cni: '', programmed: other } };
  const diff = checkReading(c.reading!, run)!;
  assert.deepEqual(
    diff.settings.filter((s) => !s.agree),
    [{ setting: 'vni', read: 7, programmed: 1, agree: false }],
  );
  const [f] = readingFindings(c.reading!, diff);
  assert.equal(f!.rule, 'reading-differs');
  assert.match(f!.message, /vni: conform read 7, flanneld v0 programmed 1/);
  assert.match(f!.at, /net-conf\.json:1/);
  const result = conformanceResult(c, {
    mode: 'flanneld-vxlan',
    family: 'flanneld',
    backend: 'netns',
    status: 'passed',
    pairs: [],
    ...run,
  });
  assert.equal(result.verdict, 'not conformant');
  assert.ok(result.findings.some((x) => x.rule === 'reading-differs'));
  // A setting the daemon shows nothing of disagrees too.
  const { vni: _, ...missing } = programmed;
  assert.equal(
    checkReading(c.reading!, { daemon: 'd', daemonFacts: { leases: {}, cni: '', programmed: missing } })!.settings[3]!.agree,
    false,
  );
});

/** A node's kernel as flanneld vxlan + DirectRouting leaves it: flannel.1, cni0, a direct route to the on-link peer. */
function flannelNode(t: Topology, node: string, peers: Record<string, string>): NodeKernelState {
  const self = t.nodes.find((n) => n.name === node)!;
  return {
    node,
    links: [
      { ifname: 'flannel.4097', kind: 'vxlan', up: true, mtu: 1350, addrs: [], vxlan: { id: 4097, port: 4790, learning: false } },
      { ifname: 'cni0', kind: 'bridge', up: true, mtu: 1350, addrs: [] },
    ],
    routes: t.nodes
      .filter((p) => p.name !== node)
      .map((p) =>
        p.subnet.name === self.subnet.name
          ? { dst: peers[p.name]!, gateway: fmtIp(p.ip), dev: 'eth0' }
          : { dst: peers[p.name]!, gateway: peers[p.name]!.replace('/25', ''), dev: 'flannel.4097', onlink: true },
      ),
    neigh: [],
    fdb: [],
  };
}
const fmtIp = (ip: number) => [24, 16, 8, 0].map((s) => (ip >>> s) & 255).join('.');

test("flanneld's kernel read back in net-conf.json's words; nodes that disagree are each said", async () => {
  const t = await topo();
  const leases = new Map(t.nodes.map((n, i) => [n.name, { subnet: `10.60.${i}.0/25`, publicIp: fmtIp(n.ip), backendType: 'vxlan' }]));
  const peers = Object.fromEntries([...leases].map(([n, l]) => [n, l.subnet]));
  const snaps = t.nodes.map((n) => flannelNode(t, n.name, peers));
  const network = parseCidr('10.60.0.0/16');
  if (typeof network === 'string') throw new Error(network);
  const env = { network, subnet: network, mtu: 1350, ipMasq: true };
  const seen = { topology: t, snaps, leases, subnetEnvs: new Map(t.nodes.map((n) => [n.name, env])) };
  assert.deepEqual(flanneldProgrammed(seen), {
    network: '10.60.0.0/16',
    leaseLength: 25,
    backend: 'vxlan',
    vni: 4097,
    port: 4790,
    deviceMtu: 1350,
    podMtu: 1350,
    directRouting: true,
  });
  const odd = snaps.map((s, i) => (i === 0 ? { ...s, links: s.links.map((l) => (l.ifname === 'cni0' ? { ...l, mtu: 1500 } : l)) } : s));
  const podMtu = flanneldProgrammed({ ...seen, snaps: odd }).podMtu;
  assert.match(String(podMtu), new RegExp(`^${t.nodes[0]!.name} 1500, ${t.nodes[1]!.name} 1350`));
});

test("udp: the ports user space listens on, the kernel's own sockets (inode 0) left out", () => {
  const text = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  1: 00000000:1EC2 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0',
    '  2: 00000000:2118 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 0 2 0000000000000000 0',
  ].join('\n');
  assert.deepEqual(udpListenPorts(text), [7874]);
});

test("calico-node's choices read back: the pool as stored, the blocks' size as cut, vxlan.calico, the pods' veths", () => {
  const snap = (node: string, mtu: number): NodeKernelState => ({
    node,
    links: [
      { ifname: 'vxlan.calico', kind: 'vxlan', up: true, mtu: 1450, addrs: [], vxlan: { id: 4096, port: 4789, learning: false } },
      { ifname: 'cali1234', kind: 'veth', up: true, mtu, addrs: [] },
    ],
    routes: [],
    neigh: [],
    fdb: [],
  });
  const got = calicoProgrammed({
    snaps: [snap('n1', 1450), snap('n2', 1450)],
    pool: { cidr: '10.48.0.0/16', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Always' },
    blocks: new Map([
      ['n1', ['10.48.1.0/27']],
      ['n2', ['10.48.2.0/27']],
    ]),
    podVeth: (i) => i.startsWith('cali'),
  });
  assert.deepEqual(got, {
    pool: '10.48.0.0/16',
    ipipMode: 'Never',
    vxlanMode: 'Always',
    blockSize: 27,
    vni: 4096,
    port: 4789,
    deviceMtu: 1450,
    podMtu: 1450,
  });
});

test("the user's Backend goes to flanneld only in its own mode: a switch gets the other mode's Backend", () => {
  const s = { ...DEFAULT_SETTINGS, flannel: { ...DEFAULT_SETTINGS.flannel, given: { type: 'VXLAN', vni: 9, MTU: 1400 } } };
  const backend = (m: ModeDef) => flanneldProgram(m)!.backend(s);
  assert.deepEqual(backend(flanneldVxlan), { type: 'VXLAN', vni: 9, MTU: 1400 });
  assert.deepEqual(backend(flanneldVxlanDirectRouting), { Type: 'vxlan', VNI: 1, Port: 8472, DirectRouting: true });
  assert.deepEqual(backend(flanneldHostGw), { Type: 'host-gw' });
});
