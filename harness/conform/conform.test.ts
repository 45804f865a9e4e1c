// conform on the fixtures (test/fixtures/conform): each has its resolved data plane and findings;
// every broken one is caught by the rule meant for it, every good one passes clean.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { findMode } from '../modes/registry.ts';
import { loadTopology } from '../topology/load.ts';
import { formatCidr } from '../net/ipv4.ts';
import { conform, conformanceResult } from './conform.ts';
import { defaultSubnetLen } from './flannel.ts';
import { readExpectations } from './expectations.ts';
import { readInputs } from './inputs.ts';
import { closest } from './plane.ts';
import type { CalicoPlane } from './calico.ts';
import type { FlannelPlane } from './flannel.ts';
import { nodeLabels, parseSelector } from './selector.ts';

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
const FIX = `${ROOT}/test/fixtures/conform`;
const topo = () => loadTopology(`${ROOT}/topologies/two-subnets.yaml`);
/** A file of `text` in a folder of its own. */
function tmpFile(name: string, text: string): string {
  const f = `${tmpDir('cnilab-conform-')}/${name}`;
  writeFileSync(f, text);
  return f;
}
/** An operator Installation named default whose spec is `spec` (indented YAML lines), as a file; its spec starts on line 5. */
const installation = (spec: string) =>
  tmpFile('installation.yaml', `apiVersion: operator.tigera.io/v1\nkind: Installation\nmetadata: { name: default }\nspec:\n${spec}`);
const run = async (files: string[], expects = {}) =>
  conform(
    readInputs(
      files.map((f) => `${FIX}/${f}`),
      ROOT,
    ),
    await topo(),
    { expects },
  );
/** The flannel plane of a conformance (these fixtures are flannel's). */
const fl = (c: { plane: CalicoPlane | FlannelPlane }) => {
  assert.equal(c.plane.cni, 'flannel');
  return c.plane as FlannelPlane;
};
const values = (p: object) =>
  Object.fromEntries(Object.entries(p).flatMap(([k, v]) => (v && typeof v === 'object' && 'value' in v ? [[k, v.value]] : [])));

test("kube-flannel.yml: vxlan with flannel's defaults, each value from its line, the DaemonSet's args read", async () => {
  const { conformance: c, mode } = await run(['flannel-vxlan.yaml']);
  assert.deepEqual(values(c.plane), {
    network: '10.244.0.0/16',
    subnetLen: 24,
    backend: 'vxlan',
    vni: 1,
    port: 8472,
    directRouting: false,
    ipMasq: true,
    kubeSubnetMgr: true,
  });
  assert.equal(fl(c).network!.at, 'test/fixtures/conform/flannel-vxlan.yaml:24');
  assert.equal(fl(c).backend.at, 'test/fixtures/conform/flannel-vxlan.yaml:27');
  assert.equal(fl(c).ipMasq!.at, 'test/fixtures/conform/flannel-vxlan.yaml:44');
  assert.equal(fl(c).vni.default, true);
  assert.deepEqual(c.findings, []);
  assert.ok(mode?.name === 'flanneld-vxlan' || mode?.name === 'flannel-vxlan');
  assert.deepEqual(
    c.paths.map((p) => [p.path, p.expected.encap, p.expected.vni]),
    [
      ['same-node', 'none', undefined],
      ['same-subnet', 'vxlan', 1],
      ['cross-subnet', 'vxlan', 1],
    ],
  );
  assert.equal(conformanceResult(c).verdict, 'conformant');
});

test('DirectRouting, a custom SubnetLen and network; a custom VNI and port; Canal', async () => {
  const dr = (await run(['flannel-directrouting.yaml'])).conformance;
  assert.deepEqual([fl(dr).network?.value, fl(dr).subnetLen.value, fl(dr).directRouting.value], ['10.50.0.0/16', 25, true]);
  assert.deepEqual(
    dr.paths.map((p) => p.expected.encap),
    ['none', 'none', 'vxlan'],
  );
  const custom = await run(['flannel-custom-vni-port.yaml']);
  assert.deepEqual([fl(custom.conformance).vni.value, fl(custom.conformance).port.value], [42, 4790]);
  assert.deepEqual(
    custom.topology?.settings.flannel,
    { vni: 42, port: 4790, given: { Type: 'vxlan', VNI: 42, Port: 4790 } },
    "the lab is programmed with the config's VNI and port, and flanneld gets its Backend as written",
  );
  assert.equal(custom.conformance.paths[2]!.expected.port, 4790);
  const canal = (await run(['canal.yaml'])).conformance;
  assert.equal(fl(canal).canal, true);
  assert.deepEqual(canal.findings, []);
});

test('every broken fixture is caught by its rule, with the line and a fix', async () => {
  const broken = (await run(['broken-flannel.yaml'])).conformance;
  const rules = broken.findings.map((f) => `${f.rule}@${f.at.split(':')[1]}`);
  assert.deepEqual(rules.sort(), [
    'mtu-too-large@9',
    'pod-cidr-overlaps-nodes@12',
    'pod-cidr-overlaps-nodes@12',
    'port-range@17',
    'subnetlen-range@13',
    'unknown-field@18',
    'vni-range@16',
  ]);
  assert.match(broken.findings.find((f) => f.rule === 'unknown-field')!.fix, /did you mean "DirectRouting"/);
  assert.equal(conformanceResult(broken).verdict, 'not conformant');
  const backend = (await run(['broken-backend.json'])).conformance;
  assert.deepEqual(
    backend.findings.map((f) => [f.rule, f.fix]),
    [['backend-type', 'did you mean "vxlan"?']],
  );
  assert.deepEqual(backend.proof, { skip: "cnilab has no mode for flannel's vxaln backend" });
  const hostgw = (await run(['flannel-host-gw.json'])).conformance;
  assert.deepEqual(
    hostgw.findings.map((f) => [f.rule, f.at]),
    [['host-gw-across-subnets', 'test/fixtures/conform/flannel-host-gw.json:3']],
  );
  assert.equal(hostgw.paths[2]!.expected.reachable, false);
});

test('--expect turns intent into a gate, naming the setting responsible', async () => {
  const ok = (await run(['flannel-directrouting.yaml'], { 'same-subnet': 'none', 'cross-subnet': 'vxlan' })).conformance;
  assert.deepEqual(ok.findings, []);
  assert.ok(ok.paths.every((p) => !p.intended || p.intended.ok));
  const no = (await run(['flannel-vxlan.yaml'], { 'same-subnet': 'none' })).conformance;
  const f = no.findings.find((x) => x.rule === 'expectation')!;
  assert.match(f.message, /same-subnet: intended none, the config does vxlan \(set by Backend.Type "vxlan" at .*:27, DirectRouting false/);
  assert.match(f.fix, /DirectRouting/);
});

test('unusable input: not YAML, no CNI, two CNIs, two Installations; each names the file', async () => {
  const usage = async (files: string[], re: RegExp) => {
    const e = await run(files).then(
      () => undefined,
      (x: unknown) => x,
    );
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, re);
  };
  await usage(['not-yaml.yaml'], /not-yaml\.yaml:3: not YAML or JSON/);
  await usage(
    ['flannel-vxlan.yaml', 'calico-ippool.yaml'],
    /two CNIs configured at once: flannel in .*flannel-vxlan\.yaml document 2.*calico-ippool\.yaml document 1 \(IPPool vxlan-pool\)/,
  );
  await usage(['flannel-vxlan.yaml', 'flannel-host-gw.json'], /two flannel network configs/);
  await usage(['operator-vxlan.yaml', 'operator-ipip.yaml'], /two Installations: .*operator-vxlan\.yaml document 1/);
  const ns = await (async () => {
    const docs = readInputs([`${FIX}/flannel-vxlan.yaml`], ROOT).filter((d) => d.kind === 'Namespace');
    return await conform(docs, await topo());
  })().catch((e: unknown) => e);
  assert.ok(ns instanceof UsageError && /no CNI configuration/.test(ns.message));
});

/** The Calico plane of a conformance. */
const cal = (c: { plane: CalicoPlane | FlannelPlane }) => {
  assert.equal(c.plane.cni, 'calico');
  return c.plane as CalicoPlane;
};
const poolOf = (c: { plane: CalicoPlane | FlannelPlane }) => cal(c).pools[0]!;
const encaps = (c: { paths: { expected: { reachable: boolean; encap: string } }[] }) =>
  c.paths.map((p) => (p.expected.reachable ? p.expected.encap : 'unreachable'));

test("calico.yaml: the env's pool (IPIP Always), the backend through its configMapKeyRef, Calico's defaults", async () => {
  const { conformance: c, topology } = await run(['calico-manifest-ipip.yaml']);
  const p = poolOf(c);
  assert.deepEqual(
    [cal(c).backend.value, cal(c).backend.at, p.origin, p.cidr.value, p.cidr.at, p.ipipMode.value, p.vxlanMode.value, p.blockSize.value],
    [
      'bird',
      'test/fixtures/conform/calico-manifest-ipip.yaml:9',
      'calico-node env',
      '10.48.0.0/16',
      'test/fixtures/conform/calico-manifest-ipip.yaml:42',
      'Always',
      'Never',
      26,
    ],
  );
  assert.equal(p.blockSize.default, true);
  assert.equal(cal(c).podMtu, undefined, 'veth_mtu "0" means: Calico detects it');
  assert.deepEqual([cal(c).vxlanVni.value, cal(c).vxlanPort.value, cal(c).asNumber.value], [4096, 4789, 64512]);
  assert.deepEqual(c.findings, []);
  // calico_backend bird with an IPIP pool: the real calico-node, its IPIP routes from confd's config in BIRD 2.
  assert.deepEqual(c.proof, { mode: 'calico-node-ipip-always', real: true });
  assert.deepEqual(encaps(c), ['none', 'ipip', 'ipip']);
  assert.equal(topology?.blockSize, 26);
  assert.equal(topology && `${topology.podCidr.prefix}`, '16');
});

test('calico-vxlan.yaml, IPPools (v3 and crd v1) and FelixConfiguration: each mode, VNI, port and block size', async () => {
  const vx = (await run(['calico-manifest-vxlan.yaml'])).conformance;
  // calico_backend vxlan: the real calico-node proves it where it runs (here, always: `runs` is not given).
  assert.deepEqual([cal(vx).backend.value, c(vx)], ['vxlan', 'calico-node-vxlan-crosssubnet']);
  assert.deepEqual(encaps(vx), ['none', 'none', 'vxlan']);
  // An IPPool alone: calico_backend is Calico's default, bird, and no calico-node mode runs BIRD with a VXLAN pool.
  const pool = await run(['calico-ippool.yaml']);
  assert.deepEqual([c(pool.conformance), poolOf(pool.conformance).blockSize.value], ['calico-vxlan-always', 27]);
  assert.deepEqual(
    pool.topology?.settings.calico,
    { vxlanVni: 5000, vxlanPort: 4790, asn: 64512 },
    "the lab gets the config's VNI and port",
  );
  assert.equal(pool.topology?.blockSize, 27);
  assert.deepEqual(
    pool.conformance.paths.map((p) => [p.expected.vni, p.expected.port]),
    [
      [undefined, undefined],
      [5000, 4790],
      [5000, 4790],
    ],
  );
  const cross = (await run(['calico-ippool-crosssubnet.yaml'])).conformance;
  assert.deepEqual([c(cross), encaps(cross)], ['calico-node-ipip-crosssubnet', ['none', 'none', 'ipip']]);
  assert.deepEqual(cross.findings, [], 'kubernetes.io/os == "linux" selects every node');
  const bgp = (await run(['calico-bgp.yaml'])).conformance;
  assert.deepEqual([c(bgp), cal(bgp).asNumber.value, encaps(bgp)], ['calico-node-bgp', 64600, ['none', 'none', 'unreachable']]);
  assert.deepEqual(
    bgp.findings.map((f) => f.rule),
    ['bgp-across-subnets'],
  );
});
/** The mode a conformance proves with. */
function c(x: { proof: { mode: string } | { skip: string } }): string {
  return 'mode' in x.proof ? x.proof.mode : `skip: ${x.proof.skip}`;
}

test('an operator Installation for each encapsulation', async () => {
  const one = await loadTopology(`${ROOT}/topologies/one-subnet.yaml`);
  const want: Record<string, [string, string[]]> = {
    ipip: ['calico-node-ipip-always', ['none', 'ipip', 'ipip']],
    ipipcrosssubnet: ['calico-node-ipip-crosssubnet', ['none', 'none', 'ipip']],
    vxlan: ['calico-vxlan-always', ['none', 'vxlan', 'vxlan']],
    vxlancrosssubnet: ['calico-vxlan-crosssubnet', ['none', 'none', 'vxlan']],
  };
  for (const [f, [mode, paths]] of Object.entries(want)) {
    const x = (await run([`operator-${f}.yaml`])).conformance;
    assert.deepEqual([cal(x).install, c(x), encaps(x), x.findings], ['operator', mode, paths, []], f);
    assert.equal(poolOf(x).ipipMode.at, `test/fixtures/conform/operator-${f}.yaml:12`);
  }
  // Unencapsulated is right on one segment, and wrong across a router (the two-subnet default).
  const none = (await conform(readInputs([`${FIX}/operator-none.yaml`], ROOT), one)).conformance;
  assert.deepEqual([c(none), none.findings], ['calico-node-bgp', []]);
  assert.deepEqual(
    (await run(['operator-none.yaml'])).conformance.findings.map((f) => f.rule),
    ['bgp-across-subnets'],
  );
});

test('every broken Calico fixture is caught by its rule, with the line and a fix', async () => {
  const rules = (x: { findings: { rule: string; at: string }[] }) => x.findings.map((f) => `${f.rule}@${f.at.split(':')[1]}`).sort();
  // Calico's default pool over a topology of the user's whose nodes sit in 192.168.0.0/16 (the shipped ones do not).
  const mine = await loadTopology(`${ROOT}/test/fixtures/topologies/nodes-in-192-168.yaml`);
  const manifest = (await conform(readInputs([`${FIX}/broken-calico-manifest.yaml`], ROOT), mine)).conformance;
  assert.deepEqual(rules(manifest), [
    'ipip-without-bird@28',
    'mtu-too-large@10',
    'pod-cidr-overlaps-nodes@23',
    'pod-cidr-overlaps-nodes@23',
  ]);
  assert.deepEqual(rules((await run(['broken-calico-manifest.yaml'])).conformance), ['ipip-without-bird@28', 'mtu-too-large@10']);
  assert.match(manifest.findings.find((f) => f.rule === 'pod-cidr-overlaps-nodes')!.message, /192\.168\.0\.0\/16, Calico's default/);
  const pools = (await run(['broken-calico-pools.yaml'])).conformance;
  assert.deepEqual(rules(pools), [
    'bgp-no-routes@43',
    'blocksize-fit@19',
    'blocksize-range@8',
    'ipip-and-vxlan@10',
    'pool-disabled@28',
    'pool-selects-no-node@20',
    'port-range@36',
    'unknown-field@11',
    'unknown-field@35',
  ]);
  assert.deepEqual(
    pools.findings.filter((f) => f.rule === 'unknown-field').map((f) => f.fix),
    ['did you mean "natOutgoing"?', 'did you mean "vxlanVNI"?'],
  );
  const op = (await run(['broken-operator.yaml'])).conformance;
  assert.deepEqual(rules(op), ['encapsulation-invalid@12', 'no-route-distribution@12']);
  assert.match(op.findings[0]!.fix, /did you mean "VXLANCrossSubnet"/);
  assert.deepEqual(op.proof, { skip: 'no encapsulation and no BGP: nothing routes to other nodes' });
  for (const x of [manifest, pools, op]) assert.equal(conformanceResult(x).verdict, 'not conformant');
});

test('Canal with a Calico VXLAN pool: the same VNI and port is an error, a shared port a warning', async () => {
  const clash = (await run(['canal-vxlan-clash.yaml'])).conformance;
  assert.deepEqual(
    clash.findings.map((f) => [f.rule, f.at]),
    [['vxlan-clash', 'test/fixtures/conform/canal-vxlan-clash.yaml:12']],
  );
  const docs = readInputs([`${FIX}/canal-vxlan-clash.yaml`], ROOT);
  // The same files with Calico on VNI 4097: both devices can exist, on one port.
  const shared = docs.map((d) =>
    d.kind === 'ConfigMap'
      ? {
          ...d,
          value: {
            ...(d.value as object),
            data: {
              ...(d.value as { data: object }).data,
              'net-conf.json': '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 7, "Port": 4789}}',
            },
          },
        }
      : d,
  );
  assert.deepEqual(
    (await conform(shared, await topo())).conformance.findings.map((f) => f.rule),
    ['vxlan-port-shared'],
  );
});

test("Calico's selector: what a pool's nodeSelector picks among nodes labelled as a kubelet does", () => {
  const l = nodeLabels('n1');
  const sel = (s: string) => {
    const p = parseSelector(s);
    return typeof p === 'function' ? p(l) : p.error;
  };
  assert.deepEqual(
    [
      'all()',
      '!all()',
      "kubernetes.io/os == 'linux'",
      'has(zone) || kubernetes.io/hostname in {"n1", "n2"}',
      'zone != "a" && !has(zone)',
    ].map(sel),
    [true, false, true, true, true],
  );
  assert.match(String(sel('zone ==')), /expected/);
  assert.match(String(sel('zone = "a"')), /cannot read/);
});

test('flannel\'s defaults, as its source has them; a near word for "did you mean"', () => {
  // pkg/subnet/config.go: a /24 per node from a /22 or larger network, else prefix + 2.
  assert.deepEqual([defaultSubnetLen(16), defaultSubnetLen(22), defaultSubnetLen(24)], [24, 24, 26]);
  assert.equal(closest('DirectRoutng', ['Type', 'DirectRouting']), 'DirectRouting');
  assert.equal(closest('nothinglikeit', ['Type', 'VNI']), undefined);
  assert.ok(findMode('flannel-vxlan-directrouting'), 'the mode DirectRouting maps to exists');
});

test('--lint-only says nothing was proven; --fail-on warning makes a warning count', async () => {
  const docs = readInputs([`${FIX}/broken-flannel.yaml`], ROOT);
  const lint = (await conform(docs, await topo(), { lintOnly: true })).conformance;
  assert.deepEqual(lint.proof, { skip: 'not asked (--lint-only)' });
  const canal = (await run(['canal.yaml'])).conformance;
  const warned = { ...canal, findings: [{ rule: 'unknown-field', severity: 'warning' as const, at: 'x:1', message: 'm', fix: 'f' }] };
  assert.equal(conformanceResult(warned).verdict, 'conformant');
  assert.equal(conformanceResult(warned, undefined, 'warning').verdict, 'not conformant');
});

test('an expectations file is the same gate as --expect; a wrong key or wire is a usage error naming the file', async () => {
  const want = readExpectations(`${FIX}/expect-directrouting.yaml`);
  assert.deepEqual(want, { 'same-subnet': 'none', 'cross-subnet': 'vxlan' });
  assert.deepEqual((await run(['flannel-directrouting.yaml'], want)).conformance.findings, []);
  assert.deepEqual(
    (await run(['flannel-vxlan.yaml'], want)).conformance.findings.map((f) => f.rule),
    ['expectation'],
  );
  const bad = `${FIX}/broken-backend.json`;
  assert.throws(
    () => readExpectations(bad),
    (e: unknown) => e instanceof UsageError && /broken-backend\.json: "Network" is not a path/.test(e.message),
  );
  assert.throws(
    () => readExpectations(`${FIX}/nowhere.yaml`),
    (e: unknown) => e instanceof UsageError && /no such file/.test(e.message),
  );
});

test("a pod network over cnilab's own underlay moves the underlay; over a --topology of the user's it is a finding", async () => {
  // Calico's default pool (calico.yaml with CALICO_IPV4POOL_CIDR commented out) over a lab on 192.168.0.0/16.
  const mine = await loadTopology(`${ROOT}/test/fixtures/topologies/nodes-in-192-168.yaml`);
  const docs = readInputs([`${FIX}/broken-calico-manifest.yaml`], ROOT);
  const overlaps = (c: { findings: { rule: string; message: string }[] }) =>
    c.findings.filter((f) => f.rule === 'pod-cidr-overlaps-nodes').map((f) => f.message);
  const given = await conform(docs, mine);
  assert.deepEqual(overlaps(given.conformance), [
    "pool default-ipv4-ippool (192.168.0.0/16, Calico's default: nothing set it) overlaps subnet a (192.168.10.0/24) " +
      "of the lab's topology nodes-in-192-168",
    "pool default-ipv4-ippool (192.168.0.0/16, Calico's default: nothing set it) overlaps subnet b (192.168.20.0/24) " +
      "of the lab's topology nodes-in-192-168",
  ]);
  const placed = await conform(docs, mine, { placeUnderlay: true });
  assert.deepEqual(overlaps(placed.conformance), []);
  assert.deepEqual(
    placed.topology?.nodes.map((n) => `${n.name} ${n.ip >>> 24}.${(n.ip >>> 16) & 255}`),
    ['n1 172.31', 'n2 172.31', 'n3 172.31'],
  );
});

test("flannel's Backend.MTU is the external MTU: 1500 on a 1500 underlay is right, past it is the finding", async () => {
  const rules = async (mtu: number) => {
    const f = tmpFile('net-conf.json', JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', MTU: mtu } }));
    const c = (await conform(readInputs([f]), await topo())).conformance;
    return c.findings.filter((f) => f.rule === 'mtu-too-large').map((f) => f.message);
  };
  assert.deepEqual(await rules(1500), [], 'flannel.1 gets 1450: room for VXLAN');
  assert.deepEqual(await rules(1600), [
    "Backend.MTU 1600 (the external MTU: flannel.1 gets 1550) is larger than the underlay's 1500: " +
      'full-size packets are dropped or fragmented',
  ]);
});

test('flannel\'s Backend.Type is case-insensitive, as flanneld lower-cases it: "VXLAN" is vxlan', async () => {
  const f = tmpFile('net-conf.json', JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'VXLAN', VNI: 7 } }));
  const c = (await conform(readInputs([f]), await topo())).conformance;
  assert.deepEqual([fl(c).backend.value, fl(c).vni.value, c.findings], ['vxlan', 7, []]);
});

test('a `kind: List` (kubectl get ippool -o yaml) is read as its items, each value with its own line', async () => {
  const f = tmpFile(
    'ippools.yaml',
    [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '- apiVersion: crd.projectcalico.org/v1',
      '  kind: IPPool',
      '  metadata: { name: pods }',
      '  spec:',
      '    cidr: 10.60.0.0/16',
      '    vxlanMode: Always',
      '    ipipMode: Never',
      '',
    ].join('\n'),
  );
  const c = (await conform(readInputs([f]), await topo())).conformance;
  assert.equal(c.pool, 'pods');
  assert.deepEqual(
    [poolOf(c).cidr.value, poolOf(c).cidr.at.split(':')[1], poolOf(c).vxlanMode.at.split(':')[1]],
    ['10.60.0.0/16', '8', '9'],
  );
});

test("upstream's own manifests at the pinned versions, from the Go module cache, lint clean on the default topology", async (t) => {
  const { calicoModuleDir, flannelModuleDir } = await import('../host/daemons.ts');
  const calico = calicoModuleDir();
  const flannel = flannelModuleDir();
  if (!calico || !flannel) return t.skip('the calico and flannel modules are not in the Go module cache ("cnilab install --all")');
  const want: [string, string, string][] = [
    [`${calico}/manifests/calico.yaml`, 'calico-node-ipip-always', '192.168.0.0/16'],
    [`${calico}/manifests/calico-vxlan.yaml`, 'calico-node-vxlan-crosssubnet', '192.168.0.0/16'],
    [`${calico}/manifests/calico-typha.yaml`, 'calico-node-ipip-always', '192.168.0.0/16'],
    [`${calico}/manifests/calico-etcd.yaml`, 'calico-node-ipip-always', '192.168.0.0/16'],
    [`${calico}/manifests/custom-resources.yaml`, 'calico-vxlan-crosssubnet', '192.168.0.0/16'],
    [`${calico}/manifests/canal.yaml`, 'flanneld-vxlan', '10.244.0.0/16'],
    // flannel's config written to etcd by its configure-canal Job (etcdctl set /coreos.com/network/config).
    [`${calico}/manifests/canal-etcd.yaml`, 'flanneld-vxlan', '10.244.0.0/16'],
    [`${flannel}/Documentation/kube-flannel.yml`, 'flanneld-vxlan', '10.244.0.0/16'],
  ];
  for (const [file, mode, pods] of want) {
    const r = await conform(readInputs([file]), await topo(), { placeUnderlay: true });
    const errors = r.conformance.findings.filter((f) => f.severity === 'error').map((f) => `${f.rule}: ${f.message}`);
    assert.deepEqual(errors, [], file);
    assert.deepEqual([c(r.conformance), r.topology && formatCidr(r.topology.podCidr)], [mode, pods], file);
  }
  // host-gw (minikube.yml) and an unencapsulated pool (calico-bpf.yaml) need one L2 segment: with
  // cnilab's own lab the nodes go on one, and the router is a warning, not the config's error.
  for (const [file, mode] of [
    [`${flannel}/Documentation/minikube.yml`, 'flanneld-host-gw'],
    [`${calico}/manifests/calico-bpf.yaml`, 'calico-node-bgp'],
  ] as const) {
    const r = await conform(readInputs([file]), await topo(), { placeUnderlay: true });
    assert.deepEqual(
      r.conformance.findings.map((f) => [f.rule, f.severity]),
      [['needs-one-segment', 'warning']],
      file,
    );
    assert.equal(c(r.conformance), mode, file);
    assert.deepEqual([r.topology?.subnets.length, r.topology?.router, r.topology?.nodes.length], [1, undefined, 3], file);
    // A topology of the user's with a router keeps the error.
    const mine = await conform(readInputs([file]), await topo());
    assert.ok(
      mine.conformance.findings.some((f) => f.severity === 'error' && /across-subnets$/.test(f.rule)),
      file,
    );
  }
  // calico-policy-only.yaml: host-local IPAM, Calico is not the network: a warning that says so, nothing to prove.
  const policy = (await conform(readInputs([`${calico}/manifests/calico-policy-only.yaml`]), await topo())).conformance;
  assert.deepEqual(
    policy.findings.map((f) => [f.rule, f.severity]),
    [['policy-only', 'warning']],
  );
  assert.match(c(policy), /^skip: Calico enforces policy only here: pods take the platform.s addresses/);
  // flannel-migration's calico.yaml: the migration controller makes the pool, not the env's IPIP one.
  const migration = (await conform(readInputs([`${calico}/manifests/flannel-migration/calico.yaml`]), await topo())).conformance;
  assert.deepEqual(
    migration.findings.map((f) => [f.rule, f.severity]),
    [['flannel-migration', 'warning']],
  );
  assert.match(c(migration), /^skip: flannel-migration's calico.yaml: the migration controller/);
});

test('a lone BGPConfiguration: a warning at its own line that no pool was given, not an error at "calico-node default"', async () => {
  const f = tmpFile(
    'bgp.yaml',
    'apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: { name: default }\nspec:\n  asNumber: 64600\n',
  );
  const c = (await conform(readInputs([f]), await topo())).conformance;
  assert.deepEqual(
    c.findings.map((x) => [x.rule, x.severity, x.at.split(':')[1]]),
    [['no-pool-given', 'warning', '1']],
  );
  assert.equal(cal(c).asNumber.value, 64600);
});

test('--kube-subnet-mgr: SubnetLen is unused (a warning, not a range error); the lab leases /24 as the controller cuts', async () => {
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(`${FIX}/flannel-vxlan.yaml`, 'utf8');
  assert.ok(text.includes('"Network": "10.244.0.0/16",'));
  const f = tmpFile('kube-flannel.yml', text.replace('"Network": "10.244.0.0/16",', '"Network": "10.244.0.0/16",\n      "SubnetLen": 15,'));
  const r = await conform(readInputs([f]), await topo());
  assert.deepEqual(
    r.conformance.findings.map((x) => [x.rule, x.severity]),
    [['subnetlen-unused', 'warning']],
  );
  assert.equal(r.topology?.subnetLen, 24);
});

test("flannel udp with its own Port (flannel's documented example, 7890): explained and expected on 7890, not 8285", async () => {
  const f = tmpFile('net-conf.json', JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'udp', Port: 7890 } }));
  const r = await conform(readInputs([f]), await topo());
  assert.equal(r.topology?.settings.flannel.udpPort, 7890);
  assert.deepEqual(
    r.conformance.paths.filter((p) => p.path !== 'same-node').map((p) => p.text),
    ['UDP 7890 from flanneld, the bare pod packet inside', 'UDP 7890 from flanneld, the bare pod packet inside'],
  );
});

test('an Installation with `ipPools: []` makes no pool: no invented 192.168.0.0/16 IPIP pool, a warning at that line', async () => {
  const f = installation('  calicoNetwork:\n    ipPools: []\n');
  const c = (await conform(readInputs([f]), await topo())).conformance;
  assert.deepEqual(cal(c).pools, []);
  assert.deepEqual(
    c.findings.map((x) => [x.rule, x.severity, x.at.split(':')[1]]),
    [['no-pool-given', 'warning', '6']],
  );
});

test('a bare net-conf.json with lower-case keys is flannel, read as flanneld reads it (encoding/json ignores case)', async () => {
  const f = tmpFile('net-conf.json', JSON.stringify({ network: '10.244.0.0/16', backend: { type: 'vxlan', vni: 3 } }));
  const c = (await conform(readInputs([f]), await topo())).conformance;
  assert.deepEqual(
    [c.cni, fl(c).network?.value, fl(c).backend.value, fl(c).vni.value, c.findings],
    ['flannel', '10.244.0.0/16', 'vxlan', 3, []],
  );
});

test('a setting the backend does not read is not shown: host-gw has no VNI, port or DirectRouting; udp has a port, no VNI', async () => {
  const { planeEntries } = await import('./conform.ts');
  const keys = async (file: string) =>
    planeEntries((await conform(readInputs([`${FIX}/${file}`], ROOT), await topo())).conformance.plane).map(([k]) => k);
  assert.deepEqual(await keys('flannel-host-gw.json'), ['network', 'subnetLen', 'backend', 'mtu']);
  assert.ok((await keys('flannel-vxlan.yaml')).includes('vni'));
});

test('an IPv6-only net-conf.json (EnableIPv4: false) is read, said to be unproven in an IPv4 lab, not network-missing', async () => {
  const f = tmpFile(
    'net-conf.json',
    JSON.stringify({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Backend: { Type: 'vxlan' } }),
  );
  const v6 = (await conform(readInputs([f]), await topo())).conformance;
  assert.deepEqual(
    v6.findings.map((x) => [x.rule, x.severity]),
    [['ipv6-only', 'warning']],
  );
  assert.match(c(v6), /^skip: an IPv6-only network/);
});

test("wireguard listens on ListenPort (51820 by default), not vxlan's 8472; an MTU left to detection is shown as auto", async () => {
  const { planeEntries } = await import('./conform.ts');
  const wg = async (backend: Record<string, unknown>) =>
    (await conform(readInputs([tmpFile('net-conf.json', JSON.stringify({ Network: '10.244.0.0/16', Backend: backend }))]), await topo()))
      .conformance;
  const plain = await wg({ Type: 'wireguard' });
  assert.deepEqual([fl(plain).port.value, fl(plain).port.default], [51820, true]);
  assert.equal(fl(await wg({ Type: 'wireguard', ListenPort: 51999 })).port.value, 51999);
  assert.deepEqual(
    (await wg({ Type: 'wireguard', Mode: 'auto', PSK: 'x' })).findings.map((f) => f.rule),
    ['backend-unproven'],
    "wireguard's own keys are known",
  );
  const mtu = Object.fromEntries(planeEntries(plain.plane));
  assert.deepEqual([mtu.mtu?.value, mtu.mtu?.default], ['auto', true]);
  assert.match(mtu.mtu!.at, /minus 80/);
  const vx = Object.fromEntries(planeEntries((await wg({ Type: 'vxlan' })).plane));
  assert.match(vx.mtu!.at, /minus 50/);
  assert.equal(Object.fromEntries(planeEntries((await wg({ Type: 'vxlan', MTU: 1400 })).plane)).mtu?.value, 1400);
  const calico = (await conform(readInputs([`${FIX}/calico-ippool.yaml`], ROOT), await topo())).conformance;
  assert.equal(Object.fromEntries(planeEntries(calico.plane)).podMtu?.value, 'auto');
});

test("an IPv6 pool's blockSize defaults to 122 (ippool.go), and a lone IPv6 pool is read, said unproven in an IPv4 lab", async () => {
  const f = tmpFile(
    'v6.yaml',
    'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: { name: v6 }\nspec: { cidr: "fd00:10:244::/64", vxlanMode: Always }\n',
  );
  const c6 = (await conform(readInputs([f]), await topo())).conformance;
  assert.deepEqual([cal(c6).pools[0]!.blockSize.value, cal(c6).pools[0]!.blockSize.default], [122, true]);
  assert.deepEqual(
    c6.findings.map((x) => [x.rule, x.severity, x.at.split(':')[1]]),
    [['ipv6-only', 'warning', '4']],
  );
});

test('an Installation on a platform CNI (cni.type AmazonVPC): policy only, no pool, no BIRD, at the cni.type line', async () => {
  const f = installation('  cni:\n    type: AmazonVPC\n');
  const inst = (await conform(readInputs([f]), await topo())).conformance;
  assert.deepEqual(cal(inst).pools, []);
  assert.deepEqual([cal(inst).backend.value, cal(inst).ipam?.value], ['none', 'AmazonVPC']);
  assert.deepEqual(
    inst.findings.map((x) => [x.rule, x.severity, x.at.split(':')[1]]),
    [['policy-only', 'warning', '6']],
  );
  assert.match(c(inst), /^skip: Calico enforces policy only here/);
});
