// conform on the fixtures (test/fixtures/conform): each has its resolved data plane and findings;
// every broken one is caught by the rule meant for it, every good one passes clean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { findMode } from '../modes/registry.ts';
import { loadTopology } from '../topology/load.ts';
import { conform, conformanceResult } from './conform.ts';
import { defaultSubnetLen } from './flannel.ts';
import { readInputs } from './inputs.ts';
import { closest } from './plane.ts';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const FIX = `${ROOT}/test/fixtures/conform`;
const topo = () => loadTopology(`${ROOT}/topologies/two-subnets.yaml`);
const run = async (files: string[], expects = {}) =>
  conform(
    readInputs(
      files.map((f) => `${FIX}/${f}`),
      ROOT,
    ),
    await topo(),
    { expects },
  );
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
  assert.equal(c.plane.network!.at, 'test/fixtures/conform/flannel-vxlan.yaml:24');
  assert.equal(c.plane.backend.at, 'test/fixtures/conform/flannel-vxlan.yaml:27');
  assert.equal(c.plane.ipMasq!.at, 'test/fixtures/conform/flannel-vxlan.yaml:44');
  assert.equal(c.plane.vni.default, true);
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
  assert.deepEqual([dr.plane.network?.value, dr.plane.subnetLen.value, dr.plane.directRouting.value], ['10.50.0.0/16', 25, true]);
  assert.deepEqual(
    dr.paths.map((p) => p.expected.encap),
    ['none', 'none', 'vxlan'],
  );
  const custom = await run(['flannel-custom-vni-port.yaml']);
  assert.deepEqual([custom.conformance.plane.vni.value, custom.conformance.plane.port.value], [42, 4790]);
  assert.deepEqual(custom.topology?.settings.flannel, { vni: 42, port: 4790 }, "the lab is programmed with the config's VNI and port");
  assert.equal(custom.conformance.paths[2]!.expected.port, 4790);
  const canal = (await run(['canal.yaml'])).conformance;
  assert.equal(canal.plane.canal, true);
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

test('unusable input: not YAML, no CNI, two CNIs, a Calico input; each names the file', async () => {
  const usage = async (files: string[], re: RegExp) => {
    const e = await run(files).then(
      () => undefined,
      (x: unknown) => x,
    );
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, re);
  };
  await usage(['not-yaml.yaml'], /not-yaml\.yaml:3: not YAML or JSON/);
  await usage(['calico-ippool.yaml'], /calico-ippool\.yaml document 1 \(IPPool default-ipv4-ippool\): Calico's inputs are not read yet/);
  await usage(['flannel-vxlan.yaml', 'calico-ippool.yaml'], /two CNIs configured at once/);
  await usage(['flannel-vxlan.yaml', 'flannel-host-gw.json'], /two flannel network configs/);
  const ns = await (async () => {
    const docs = readInputs([`${FIX}/flannel-vxlan.yaml`], ROOT).filter((d) => d.kind === 'Namespace');
    return conform(docs, await topo());
  })().catch((e: unknown) => e);
  assert.ok(ns instanceof UsageError && /no CNI configuration/.test(ns.message));
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
  const lint = conform(docs, await topo(), { lintOnly: true }).conformance;
  assert.deepEqual(lint.proof, { skip: 'not asked (--lint-only)' });
  const canal = (await run(['canal.yaml'])).conformance;
  const warned = { ...canal, findings: [{ rule: 'unknown-field', severity: 'warning' as const, at: 'x:1', message: 'm', fix: 'f' }] };
  assert.equal(conformanceResult(warned).verdict, 'conformant');
  assert.equal(conformanceResult(warned, undefined, 'warning').verdict, 'not conformant');
});
