// cnilab conform end to end: the user's flannel config read, linted, and proven on the wire in a
// lab programmed with exactly its values (the real flanneld where it is built, else the model).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ResultsFile } from '../harness/results/schema.ts';
import { netnsOf, ROOT, ROOT_SKIP, runCli, tmpOut, uniqueLab } from './helpers.ts';

const FIX = `${ROOT}/test/fixtures/conform`;
const results = (out: string) => JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
/**
 * conform's reading against what the real daemon programmed from the same config (issue 24 item 3):
 * every setting in `want` compared, each as read and as programmed.
 */
function readAsProgrammed(out: string, want: Record<string, string | number | boolean>) {
  const check = results(out).conformance!.daemonCheck;
  assert.ok(check, 'the proof ran a real daemon, so its settings are compared');
  assert.deepEqual(
    check.settings.filter((s) => !s.agree),
    [],
    `every setting as conform read it: ${JSON.stringify(check.settings)}`,
  );
  assert.deepEqual(Object.fromEntries(check.settings.map((s) => [s.setting, s.programmed])), want);
}

describe('cnilab conform on the wire', { skip: ROOT_SKIP }, () => {
  test('vxlan + DirectRouting, /25 leases from 10.50/16: intended and shown on the wire, in every output', async () => {
    const out = tmpOut();
    const name = uniqueLab('cf');
    const r = await runCli([
      'conform',
      `${FIX}/flannel-directrouting.yaml`,
      '--expect',
      'same-subnet=none',
      '--expect',
      'cross-subnet=vxlan',
      '--out',
      out,
      '--name',
      name,
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const c = results(out).conformance!;
    assert.equal(c.verdict, 'conformant');
    assert.ok('mode' in c.proof && /vxlan-directrouting$/.test(c.proof.mode), JSON.stringify(c.proof));
    assert.deepEqual(
      c.paths.map((p) => [p.path, p.expected.encap, p.intended?.ok, p.wire && p.wire.ok === p.wire.pairs && p.wire.pairs > 0]),
      [
        ['same-node', 'none', undefined, true],
        ['same-subnet', 'none', true, true],
        ['cross-subnet', 'vxlan', true, true],
      ],
    );
    assert.equal(c.dataPlane.subnetLen!.value, 25);
    readAsProgrammed(out, {
      backend: 'vxlan',
      network: '10.50.0.0/16',
      leaseLength: 25,
      vni: 1,
      port: 8472,
      deviceMtu: 1450,
      podMtu: 1450,
      directRouting: true,
    });
    assert.match(r.stdout, /read 8\/8 settings as flanneld v\S+ programmed them/);
    assert.match(readFileSync(`${out}/report.md`, 'utf8'), /Read against flanneld v\S+: 8 of 8 settings as conform read them/);
    // The lab used the config's network: every pod address is in 10.50.0.0/16.
    assert.ok(results(out).runs[0]!.pairs.length === 30);
    assert.match(readFileSync(`${out}/report.md`, 'utf8'), /### Conformance: flannel, conformant/);
    assert.match(readFileSync(`${out}/report.html`, 'utf8'), /<h2>Conformance: flannel, conformant<\/h2>/);
    assert.match(readFileSync(`${out}/junit.xml`, 'utf8'), /<testsuite name="conformance" tests="3" failures="0"/);
    assert.deepEqual(netnsOf(name), []);
  });

  test("flannel's documented udp example (Port 7890): the real flanneld-udp carries the pods in UDP 7890", async () => {
    const out = tmpOut();
    const f = `${tmpOut('udp')}/net-conf.json`;
    writeFileSync(f, JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: 'udp', Port: 7890 } }));
    const r = await runCli(['conform', f, '--out', out]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const res = results(out);
    assert.deepEqual(res.conformance!.proof, { mode: 'flanneld-udp', real: true });
    const across = res.runs[0]!.pairs.filter((p) => p.path !== 'same-node');
    assert.ok(across.length > 0 && across.every((p) => p.ok && p.observed.encap === 'udp' && p.observed.port === 7890));
    // flanneld's own socket listens on 7890; flannel0 is the interface's MTU minus 28.
    readAsProgrammed(out, { backend: 'udp', network: '10.244.0.0/16', leaseLength: 24, port: '7890', deviceMtu: 1472, podMtu: 1472 });
  });

  test('Backend as users write it ("VXLAN", MTU 1400): given to flanneld verbatim, read as it programs it', async () => {
    const out = tmpOut();
    const f = `${tmpOut('mtu')}/net-conf.json`;
    const backend = { Type: 'VXLAN', VNI: 4097, Port: 4790, MTU: 1400 };
    writeFileSync(f, JSON.stringify({ Network: '10.60.0.0/16', SubnetLen: 26, Backend: backend }));
    const r = await runCli(['conform', f, '--out', out]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const run = results(out).runs[0]!;
    // flannel.4097 at MTU 1400 - 50: the model agrees with flanneld, given the same MTU.
    assert.deepEqual(run.modelDiff?.differences, []);
    readAsProgrammed(out, {
      backend: 'vxlan',
      network: '10.60.0.0/16',
      leaseLength: 26,
      vni: 4097,
      port: 4790,
      deviceMtu: 1350,
      podMtu: 1350,
      directRouting: false,
    });
    const df = results(out).conformance!.paths.filter((p) => p.df);
    assert.ok(df.length > 0 && df.every((p) => p.df!.podMtu === 1350 && p.df!.ok), JSON.stringify(df));
  });

  test('a custom VNI and port are what crosses the wire', async () => {
    const out = tmpOut();
    const r = await runCli(['conform', `${FIX}/flannel-custom-vni-port.yaml`, '--out', out]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const run = results(out).runs[0]!;
    const across = run.pairs.filter((p) => p.path !== 'same-node');
    assert.ok(across.length > 0 && across.every((p) => p.observed.encap === 'vxlan' && p.observed.vni === 42 && p.observed.port === 4790));
  });

  test('host-gw on a lab of its own: one segment, a warning about routers, every pair reachable; exit 0', async () => {
    const out = tmpOut();
    const r = await runCli(['conform', `${FIX}/flannel-host-gw.json`, '--out', out]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /WARNING needs-one-segment at .*flannel-host-gw\.json:3/);
    readAsProgrammed(out, { backend: 'host-gw', network: '10.244.0.0/16', leaseLength: 24, podMtu: 1500 });
    const run = results(out).runs[0]!;
    assert.deepEqual(new Set(run.pairs.map((p) => p.path)), new Set(['same-node', 'same-subnet']));
    assert.ok(run.pairs.every((p) => p.ok && p.observed.reachable));
  });

  test('host-gw across the router of a --topology: the finding, and the wire agrees (cross-subnet pairs unreachable); exit 1', async () => {
    const out = tmpOut();
    const r = await runCli(['conform', `${FIX}/flannel-host-gw.json`, '--topology', `${ROOT}/topologies/two-subnets.yaml`, '--out', out]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /ERROR host-gw-across-subnets at .*flannel-host-gw\.json:3/);
    const c = results(out).conformance!;
    assert.equal(c.verdict, 'not conformant');
    const cross = c.paths.find((p) => p.path === 'cross-subnet')!;
    assert.equal(cross.expected.reachable, false);
    // Seen once (CI, 2026-12-06) with a cross-subnet pair not ok and not reproduced since: say which and why.
    const notOk = results(out)
      .runs[0]!.pairs.filter((p) => !p.ok)
      .map((p) => `${p.src} -> ${p.dst} (${p.path}): ${p.error ?? p.mismatch ?? '?'}`);
    assert.ok(
      cross.wire && cross.wire.pairs > 0 && cross.wire.ok === cross.wire.pairs,
      `the wire showed them unreachable, as said: ${notOk.join('; ')}`,
    );
    assert.match(readFileSync(`${out}/junit.xml`, 'utf8'), /<failure message="host-gw needs every node/);
  });

  test('--lint-only builds nothing; bad input is one line and exit 2', async () => {
    const lint = await runCli(['conform', `${FIX}/broken-flannel.yaml`, '--lint-only']);
    assert.equal(lint.code, 1);
    assert.match(lint.stdout, /ERROR vni-range at .*broken-flannel\.yaml:16/);
    assert.doesNotMatch(lint.stdout, /proving it on the wire/);
    for (const args of [
      ['conform', `${FIX}/not-yaml.yaml`],
      ['conform', `${FIX}/operator-ipip.yaml`, `${FIX}/operator-vxlan.yaml`],
      ['conform', `${FIX}/flannel-vxlan.yaml`, `${FIX}/calico-ippool.yaml`],
      ['conform', `${FIX}/flannel-vxlan.yaml`, '--expect', 'same-subnet=gre'],
      ['conform', `${FIX}/nowhere.yaml`],
      ['conform', `${FIX}/flannel-vxlan.yaml`, '--expectations', `${FIX}/broken-backend.json`],
    ]) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 2, `one line and its fix: ${r.stderr}`);
    }
  });

  test("Calico: a VXLAN IPPool with FelixConfiguration's VNI and port, /27 blocks; every DF probe passes", async () => {
    const out = tmpOut();
    const r = await runCli(['conform', `${FIX}/calico-ippool.yaml`, '--out', out]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Calico \(resources\), pool vxlan-pool/);
    const res = results(out);
    const c = res.conformance!;
    assert.deepEqual(c.proof, { mode: 'calico-vxlan-always', real: false });
    const run = res.runs[0]!;
    const across = run.pairs.filter((p) => p.path !== 'same-node');
    assert.ok(
      across.length > 0 && across.every((p) => p.observed.encap === 'vxlan' && p.observed.vni === 5000 && p.observed.port === 4790),
    );
    // /27 blocks from 10.70.0.0/16: every pod address is in the pool.
    assert.deepEqual(
      c.paths.map((p) => [p.path, p.df?.expected, p.df?.observed, p.df?.ok]),
      [
        ['same-node', undefined, undefined, undefined],
        ['same-subnet', 'passes', 'passes', true],
        ['cross-subnet', 'passes', 'passes', true],
      ],
    );
  });

  test('Calico veth_mtu 1500 over VXLAN: the MTU finding, shown by a DF packet that did not pass; exit 1', async () => {
    const out = tmpOut();
    const r = await runCli(['conform', `${FIX}/calico-vxlan-mtu.yaml`, '--out', out]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /ERROR mtu-too-large at .*calico-vxlan-mtu\.yaml:9/);
    assert.match(r.stdout, /DF {3}cross-subnet 1500 bytes did not pass \(path carries 1450; must not\)/);
    const c = results(out).conformance!;
    // calico_backend vxlan: the real calico-node proves it, with veth_mtu as calico.yaml hands it on (felix and the CNI config).
    assert.deepEqual(c.proof, { mode: 'calico-node-vxlan-always', real: true });
    assert.deepEqual(results(out).runs[0]!.modelDiff?.differences, []);
    // veth_mtu 1500 reaches FELIX_VXLANMTU too, but the kernel keeps vxlan.calico at 1450: read as felix leaves it.
    readAsProgrammed(out, {
      pool: '10.48.0.0/16',
      blockSize: 26,
      ipipMode: 'Never',
      vxlanMode: 'Always',
      vni: 4096,
      port: 4789,
      deviceMtu: 1450,
      podMtu: 1500,
    });
    const f = c.findings.find((x) => x.rule === 'mtu-too-large')!;
    assert.match(f.shown ?? '', /a 1500-byte DF packet from n\d\/p\d to n\d\/p\d \(same-subnet\) did not pass; the path carries 1450/);
    // Small packets still cross as the config says: it is the full-size ones that are lost.
    assert.ok(c.paths.every((p) => p.wire && p.wire.ok === p.wire.pairs));
    assert.ok(c.paths.filter((p) => p.df).every((p) => p.df!.observed === 'dropped' && p.df!.ok));
    assert.match(readFileSync(`${out}/report.md`, 'utf8'), /1500 B dropped \(path carries 1450\) ✓/);
    assert.match(readFileSync(`${out}/junit.xml`, 'utf8'), /<failure message="MTU 1500 for the pods .*on the wire: a 1500-byte DF packet/);
  });

  test('an operator Installation with IPIPCrossSubnet, proven by the real calico-node where IPIP runs (a guest here)', {
    timeout: 900_000,
  }, async (t) => {
    const out = tmpOut();
    const r = await runCli(['conform', `${FIX}/operator-ipipcrosssubnet.yaml`, '--out', out]);
    const c = results(out).conformance!;
    if ('skip' in c.proof) return t.skip(`not provable here: ${c.proof.skip}`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // The operator runs BIRD (bgp: Enabled): the real calico-node's mode, its routes from confd's config in BIRD 2.
    assert.deepEqual(c.proof, { mode: 'calico-node-ipip-crosssubnet', real: true });
    const run = results(out).runs[0]!;
    assert.ok(run.pairs.filter((p) => p.path === 'cross-subnet').every((p) => p.ok && p.observed.encap === 'ipip'));
    assert.ok(run.pairs.filter((p) => p.path === 'same-subnet').every((p) => p.ok && p.observed.encap === 'none'));
    assert.ok(c.paths.filter((p) => p.df).every((p) => p.df!.ok && p.df!.observed === 'passes'));
    assert.deepEqual(run.modelDiff?.differences, []);
    const pool = c.dataPlane['pool default-ipv4-ippool cidr']!.value;
    readAsProgrammed(out, {
      pool,
      blockSize: 26,
      ipipMode: 'CrossSubnet',
      vxlanMode: 'Never',
      deviceMtu: 1480,
      podMtu: 1480,
    });
  });
});
