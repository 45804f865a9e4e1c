// `run --manifest` with upstream's own calico-vxlan.yaml and calico.yaml, read from the calico module
// in the Go module cache (never copied into the repo): applied to the lab's kube-apiserver, calico-node
// run with the DaemonSet's environment and ServiceAccount (its RBAC), pods attached with the
// ConfigMap's cni_network_config, what the lab added recorded; calico.yaml's IPIP refused with its
// reason, and its DaemonSet run in the modes that do run here. A hostile calico.yaml is refused
// before anything is built.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { assertPath, assertRunPassed } from '../assertions/index.ts';
import { bird1Binary, calicoCniBinary, calicoModuleDir, calicoNodeBinary, kubeApiserverBinary } from '../harness/host/daemons.ts';
import type { ResultsFile, RunResult } from '../harness/results/schema.ts';
import { clean, lineOf, ROOT_SKIP, runCli, tmpOut, uniqueLab, variantFile } from './helpers.ts';

const parts = await Promise.all([calicoNodeBinary(), calicoCniBinary(), bird1Binary(), kubeApiserverBinary()]);
const missing = parts.find((b) => !b.ok);
const manifests = `${calicoModuleDir() ?? '/nonexistent'}/manifests`;
const SKIP =
  ROOT_SKIP ||
  (missing && !missing.ok && missing.detail) ||
  (!existsSync(`${manifests}/calico.yaml`) && 'the calico module is not in the Go module cache') ||
  false;
const HOST_PATHS = ['/var/lib/calico', '/var/run/calico', '/var/log/calico', '/etc/cni/net.d/10-calico.conflist'];

const resultsOf = (out: string) => JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;

/** calico-node ran from the manifest's DaemonSet, with its ServiceAccounts, and the model agrees with the kernel. */
function assertFromDaemonSet(r: RunResult, model: string): void {
  assertRunPassed(r);
  const c = r.daemonFacts!.calico!;
  assert.equal(c.source, 'DaemonSet kube-system/calico-node, container calico-node, as the API server holds it');
  // The DaemonSet's own environment, not cnilab's: IP autodetected, the backend from calico-config.
  assert.equal(c.env.IP, 'autodetect');
  assert.equal(c.env.CALICO_DISABLE_FILE_LOGGING, 'true');
  assert.equal(c.env.FELIX_IPTABLESBACKEND, undefined, 'felix picks nft from the kubelet hint, not from cnilab');
  const added = (c.added ?? []).join('\n');
  assert.match(added, /KUBECONFIG=\/var\/lib\/calico\/kubeconfig: a token of ServiceAccount kube-system\/calico-node/);
  assert.match(added, /a token of ServiceAccount kube-system\/calico-cni-plugin/);
  assert.match(added, /KUBE-IPTABLES-HINT/);
  assert.deepEqual(c.notRun, ['Deployment kube-system/calico-kube-controllers: no controller manager or kubelet runs its pods in a lab']);
  // calico.yaml's own CNI chain, bandwidth included, from its ConfigMap.
  assert.match(
    r.daemonFacts!.cni,
    /chain calico -> portmap -> bandwidth from ConfigMap kube-system\/calico-config key cni_network_config$/,
  );
  assert.equal(c.pool.cidr, '192.168.0.0/16', "-startup's default pool");
  for (const blocks of Object.values(r.daemonFacts!.leases)) assert.match(blocks, /^192\.168\.\d+\.\d+\/26(,|$)/);
  assert.equal(r.modelDiff?.model, model);
  assert.ok((r.modelDiff?.compared ?? 0) > 10);
  assert.deepEqual(r.modelDiff?.differences, [], `cnilab's ${model} differs from calico-node`);
}

describe("upstream's calico.yaml and calico-vxlan.yaml on the lab's kube-apiserver", { skip: SKIP }, () => {
  test('calico-vxlan.yaml: VXLAN CrossSubnet from its DaemonSet passes on the wire with 0 model differences', async () => {
    const before = HOST_PATHS.filter(existsSync);
    const name = uniqueLab('cm');
    const out = tmpOut();
    const r = await runCli(['run', '--manifest', `${manifests}/calico-vxlan.yaml`, '--name', name, '--out', out]);
    assert.equal(r.code, 0, r.stdout.slice(-3000) + r.stderr);
    assert.match(
      r.stderr + r.stdout,
      /IPPool ipipMode Never, vxlanMode CrossSubnet, calico_backend vxlan \(calico-node-vxlan-crosssubnet\)/,
    );
    const [run] = resultsOf(out).runs;
    assertFromDaemonSet(run!, 'calico-vxlan-crosssubnet');
    assert.equal(run!.daemonFacts!.calico!.env.CALICO_NETWORKING_BACKEND, 'vxlan');
    assertPath(run!, 'same-subnet', { reachable: true, encap: 'none' });
    assertPath(run!, 'cross-subnet', { reachable: true, encap: 'vxlan', vni: 4096, port: 4789 });
    // veth_mtu "0": felix's MTU (1500 - 50), which the plugin reads when the config says 0.
    assert.deepEqual(Object.values(run!.daemonFacts!.calico!.podMtu), [1450, 1450, 1450]);
    // The manifest as conform reads it (CALICO_IPV4POOL_* left to startup's defaults) is what calico-node made of it.
    const read = run!.readingCheck!;
    assert.deepEqual(
      read.settings.map((x) => [x.setting, x.programmed, x.agree]),
      [
        ['pool', '192.168.0.0/16', true],
        ['blockSize', 26, true],
        ['ipipMode', 'Never', true],
        ['vxlanMode', 'CrossSubnet', true],
        ['vni', 4096, true],
        ['port', 4789, true],
        ['deviceMtu', 1450, true],
        ['podMtu', 1450, true],
      ],
    );
    assert.match(r.stdout, /the manifest as conform read it: 8\/8 settings as programmed/);
    assert.deepEqual(HOST_PATHS.filter(existsSync), before, 'nothing made on the host');
    clean(name);
  });

  test("calico.yaml: its own IPIP Always in a guest (confd's config in BIRD 2), BGP and VXLAN here with the pool patched", {
    timeout: 900_000,
  }, async () => {
    const name = uniqueLab('cy');
    const out = tmpOut();
    const modes = 'calico-node-bgp,calico-node-vxlan-always';
    const r = await runCli(['run', '--manifest', `${manifests}/calico.yaml`, '--modes', modes, '--name', name, '--out', out]);
    assert.equal(r.code, 0, r.stdout.slice(-3000) + r.stderr);
    assert.match(r.stderr + r.stdout, /IPPool ipipMode Always, vxlanMode Never, calico_backend bird \(calico-node-ipip-always\)/);
    const [ipip, bgp, vxlan] = resultsOf(out).runs;
    // The manifest's own pool, unpatched: IPIP on the wire from its DaemonSet, where ipip runs (a guest on this kernel).
    assertFromDaemonSet(ipip!, 'calico-ipip-always');
    assert.match(ipip!.backend, /^(netns|qemu|uml)$/);
    assertPath(ipip!, 'cross-subnet', { reachable: true, encap: 'ipip' });
    assert.equal(ipip!.daemonFacts!.calico!.pool.ipipMode, 'Always');
    assert.deepEqual(
      ipip!.readingCheck?.settings.filter((x) => !x.agree),
      [],
      'calico.yaml as conform reads it is what calico-node made of it',
    );
    // -startup made the pool IPIP Always from the DaemonSet's env; the mode patched it before felix started.
    assertFromDaemonSet(bgp!, 'calico-bgp');
    assert.equal(bgp!.daemonFacts!.calico!.pool.ipipMode, 'Never');
    assert.equal(bgp!.daemonFacts!.calico!.env.CALICO_IPV4POOL_IPIP, 'Always');
    assert.equal(bgp!.daemonFacts!.calico!.env.CALICO_NETWORKING_BACKEND, 'bird');
    assertPath(bgp!, 'same-subnet', { reachable: true, encap: 'none' });

    assertFromDaemonSet(vxlan!, 'calico-vxlan-always');
    assert.equal(vxlan!.daemonFacts!.calico!.env.CALICO_NETWORKING_BACKEND, 'vxlan');
    assert.match(
      (vxlan!.daemonFacts!.calico!.added ?? []).join('\n'),
      /ConfigMap kube-system\/calico-config key calico_backend: bird -> vxlan \(the mode's networking backend\)/,
    );
    assertPath(vxlan!, 'cross-subnet', { reachable: true, encap: 'vxlan', vni: 4096, port: 4789 });
    const left = vxlan!.daemonFacts!.leftBehind ?? [];
    assert.ok(left.length > 0 && left.every((l) => / proto bird$/.test(l)), left.join('\n'));
    clean(name);
  });
});

describe('a calico.yaml lab left up', { skip: SKIP }, () => {
  test('up --manifest, status shows what calico-node wrote on each Node, switch in another process patches the pool, down', async () => {
    const name = uniqueLab('cu');
    const up = await runCli(['up', '--manifest', `${manifests}/calico-vxlan.yaml`, '--name', name]);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    try {
      const status = await runCli(['status', '--name', name]);
      assert.match(status.stdout, /mode calico-node-vxlan-crosssubnet/);
      assert.match(status.stdout, /calico-node: DaemonSet kube-system\/calico-node, container calico-node/);
      assert.match(status.stdout, /calico-node on the Node/);
      assert.match(status.stdout, /\nn3 +172\.31\.20\.11 +192\.168\.\d+\.\d+\/26 .* tunnel 192\.168\.\d+\.\d+\n/);
      // A new process: the manifest is not held any more; the DaemonSet is read back from the API server.
      const sw = await runCli(['switch', 'calico-node-vxlan-always', '--name', name]);
      assert.equal(sw.code, 0, sw.stdout + sw.stderr);
      const check = await runCli(['check', '--name', name, '--out', tmpOut(), '--count', '1']);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      const json = JSON.parse((await runCli(['status', '--name', name, '--json'])).stdout) as { mode: string; health: string };
      assert.deepEqual([json.mode, json.health], ['calico-node-vxlan-always', 'healthy']);
    } finally {
      const down = await runCli(['down', '--name', name]);
      assert.equal(down.code, 0, down.stderr);
    }
    clean(name);
  });
});

describe('a hostile calico.yaml is refused before anything is built', { skip: SKIP }, () => {
  const canary = tmpOut('canary');
  const upstream = () => readFileSync(`${manifests}/calico-vxlan.yaml`, 'utf8');
  const variant = (from: string, to: string) => variantFile(upstream(), from, to, 'calico.yaml');
  async function refused(file: string, line: RegExp): Promise<void> {
    const name = uniqueLab('hc');
    const r = await runCli(['run', '--manifest', file, '--name', name, '--out', tmpOut()]);
    assert.equal(r.code, 2, r.stdout + r.stderr.slice(-3000));
    assert.match(r.stderr, line);
    assert.doesNotMatch(r.stderr, /underlay:|internal error|\n\s+at /, 'refused before anything was built, with no stack');
    assert.deepEqual(readdirSync(canary), [], 'the canary folder was written to');
    clean(name);
  }

  test("felix's log file pointed at the host: an env value that names a path", async () => {
    const anchor = '            - name: FELIX_HEALTHENABLED\n              value: "true"\n';
    const f = variant(anchor, `${anchor}            - name: FELIX_LOGFILEPATH\n              value: ${canary}/felix.log\n`);
    await refused(f, new RegExp(`calico\\.yaml:${lineOf(f, 'FELIX_LOGFILEPATH')}: .*env\\[\\d+\\] = .*FELIX_LOGFILEPATH names a path`));
  });

  test('a CNI plugin type that climbs out of the plugin folder, and a host path in the plugin config', async () => {
    const f = variant('"type": "portmap"', '"type": "../../../bin/sh"');
    // Said where it is written: the ConfigMap's cni_network_config, not the env that names it.
    const at = lineOf(f, 'cni_network_config: |-');
    await refused(
      f,
      new RegExp(`calico\\.yaml:${at}: .*\\(ConfigMap calico-config\\): .*plugin type "\\.\\./\\.\\./\\.\\./bin/sh" is not a plain`),
    );
    const g = variant('"log_level": "info",', `"log_level": "info", "nodename_file_x": "${canary}/x",`);
    await refused(g, /names a host path a root plugin would use/);
  });
});
