// A user's kube-flannel.yml applied to the lab's real kube-apiserver through client-node, and the
// real flanneld run as its DaemonSet says (--kube-subnet-mgr): the wire as its net-conf.json asks,
// switches through its ConfigMap, flanneld's Node annotations read back, bad objects refused with
// the API server's words, and nothing left behind (Ctrl-C, SIGKILL + gc).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { assertPath, assertRunPassed } from '../assertions/index.ts';
import { readState } from '../harness/backends/netns/state.ts';
import { etcdBinary, flannelCniBinary, flanneldBinary, GO_TOOLS, kubeApiserverBinary } from '../harness/host/daemons.ts';
import { kubeApi, readNodes } from '../harness/kube/client.ts';
import {
  createProbePods,
  deleteProbePods,
  PROBE_NAMESPACE,
  rolloutPending,
  rolloutRestart,
  waitProbePods,
  waitRollout,
} from '../harness/kube/cluster.ts';
import type { ResultsFile } from '../harness/results/schema.ts';
import { clean, cli, labProcesses, ROOT, ROOT_SKIP, runCli, tmpOut, uniqueLab, waitFor } from './helpers.ts';

const [flanneld, etcd, apiserver, flannelCni] = await Promise.all([
  flanneldBinary(),
  etcdBinary(),
  kubeApiserverBinary(),
  flannelCniBinary(),
]);
const SKIP = ROOT_SKIP || (!flanneld.ok && flanneld.detail) || (!etcd.ok && etcd.detail) || (!apiserver.ok && apiserver.detail) || false;
const MANIFEST = `${ROOT}/test/fixtures/kube/kube-flannel.yml`;
const FLANNEL = 'flannel.alpha.coreos.com';

/** The manifest with one change, written where the test can give it. */
function variant(tag: string, from: string, to: string): string {
  const text = readFileSync(MANIFEST, 'utf8');
  assert.ok(text.includes(from), `the fixture holds ${from}`);
  const f = `${tmpOut(tag)}/kube-flannel.yml`;
  writeFileSync(f, text.replace(from, to));
  return f;
}

describe('a manifest on the real kube-apiserver', { skip: SKIP }, () => {
  test('run --manifest: vxlan as applied, then host-gw and DirectRouting through its ConfigMap, each on the wire', async () => {
    const name = uniqueLab('km');
    const out = tmpOut();
    const more = ['flanneld-host-gw', 'flanneld-vxlan-directrouting'];
    const r = await runCli(['run', '--manifest', MANIFEST, '--modes', more.join(','), '--name', name, '--out', out, '--count', '1']);
    assert.equal(r.code, 0, r.stdout + r.stderr.slice(-2000));
    assert.match(r.stderr, /kube-apiserver v1\.\d+\.\d+ serving at https:\/\//);
    assert.match(r.stdout, /from DaemonSet kube-flannel\/kube-flannel-ds, container kube-flannel via kube-apiserver v1\./);
    const res = JSON.parse(readFileSync(`${out}/results.json`, 'utf8')) as ResultsFile;
    assert.deepEqual(
      res.runs.map((x) => x.mode),
      ['flanneld-vxlan', ...more],
      "the manifest's own backend first",
    );
    const [vx, hg, dr] = res.runs as [ResultsFile['runs'][number], ResultsFile['runs'][number], ResultsFile['runs'][number]];
    // Upstream's net-conf.json as conform reads it is what flanneld programmed from it (the later modes are patched: not compared).
    assert.deepEqual(
      vx.readingCheck?.settings.map((x) => [x.setting, x.programmed, x.agree]),
      [
        ['backend', 'vxlan', true],
        ['network', '10.244.0.0/16', true],
        ['leaseLength', 24, true],
        ['vni', 1, true],
        ['port', 8472, true],
        ['deviceMtu', 1450, true],
        ['podMtu', 1450, true],
        ['directRouting', false, true],
      ],
    );
    assert.equal(hg.readingCheck, undefined);
    for (const run of res.runs) {
      assertRunPassed(run);
      assert.equal(run.daemon, `flanneld ${GO_TOOLS.flanneld!.version}`);
      assert.deepEqual(run.modelDiff?.differences, [], `cnilab's model differs from flanneld in ${run.mode}`);
      // Pods through the real plugin, with the chain the manifest's init container installed.
      if (flannelCni.ok)
        assert.match(
          run.daemonFacts!.cni,
          /^flannel CNI plugin v\S+ \(.*\), chain flannel -> portmap from ConfigMap kube-flannel\/kube-flannel-cfg key cni-conf\.json$/,
        );
      const k = run.daemonFacts?.kube;
      assert.ok(k, `${run.mode}: the kube facts`);
      assert.equal(k.apiserver, `kube-apiserver ${GO_TOOLS['kube-apiserver']!.version}`);
      assert.deepEqual(k.args, ['/opt/bin/flanneld', '--ip-masq', '--kube-subnet-mgr', '--healthz-port=8081'], "the DaemonSet's own args");
      assert.deepEqual(Object.keys(k.annotations).sort(), ['n1', 'n2', 'n3']);
      // Pods took their addresses from the Node podCIDRs flanneld leased.
      assert.deepEqual(run.daemonFacts?.leases, { n1: '10.244.1.0/24', n2: '10.244.2.0/24', n3: '10.244.3.0/24' });
    }
    assert.deepEqual(vx.daemonFacts!.kube!.netConf, {
      from: 'ConfigMap kube-flannel/kube-flannel-cfg key net-conf.json',
      backend: { Type: 'vxlan' },
      patched: false,
    });
    assert.equal(vx.daemonFacts!.kube!.annotations.n1![`${FLANNEL}/backend-type`], 'vxlan');
    assert.match(vx.daemonFacts!.kube!.annotations.n1![`${FLANNEL}/backend-data`]!, /"VtepMAC":"[0-9a-f:]{17}"/);
    assertPath(vx, 'same-subnet', { reachable: true, encap: 'vxlan', vni: 1, port: 8472 });
    assertPath(vx, 'cross-subnet', { reachable: true, encap: 'vxlan', vni: 1, port: 8472 });

    assert.equal(hg.daemonFacts!.kube!.netConf.patched, true, 'host-gw came from a patched ConfigMap');
    assert.deepEqual(hg.daemonFacts!.kube!.netConf.backend, { Type: 'host-gw' });
    assert.equal(hg.daemonFacts!.kube!.annotations.n3![`${FLANNEL}/backend-type`], 'host-gw');
    assertPath(hg, 'same-subnet', { reachable: true, encap: 'none' });
    assertPath(hg, 'cross-subnet', { reachable: false });

    assert.equal(dr.daemonFacts!.kube!.netConf.backend.DirectRouting, true);
    assertPath(dr, 'same-subnet', { reachable: true, encap: 'none' });
    assertPath(dr, 'cross-subnet', { reachable: true, encap: 'vxlan', vni: 1, port: 8472 });
    assert.match(readFileSync(`${out}/report.md`, 'utf8'), /From the manifest, through the real kube-apiserver/);
    clean(name);
  });

  test('up --manifest, status shows the annotations, switch patches the ConfigMap (read back through the API), down', async () => {
    const name = uniqueLab('ku');
    try {
      const up = await runCli(['up', '--manifest', MANIFEST, '--name', name]);
      assert.equal(up.code, 0, up.stdout + up.stderr.slice(-2000));
      assert.ok(
        labProcesses(name).some((l) => /kube-apiserver/.test(l)),
        'kube-apiserver runs as a lab process',
      );
      const st = await runCli(['status', '--name', name, '--json']);
      assert.equal(st.code, 0, st.stderr);
      const s = JSON.parse(st.stdout) as {
        mode: string;
        kube: { annotationsFull: Record<string, Record<string, string>>; daemonSet: string };
      };
      assert.equal(s.mode, 'flanneld-vxlan');
      assert.equal(s.kube.daemonSet, 'kube-flannel/kube-flannel-ds, container kube-flannel');
      assert.equal(s.kube.annotationsFull.n2![`${FLANNEL}/public-ip`], '172.31.10.12');
      const text = await runCli(['status', '--name', name]);
      assert.match(text.stdout, /flannel annotations/);
      assert.ok(
        text.stdout.split('\n').every((l) => l.length <= 100),
        `status fits 100 columns:\n${text.stdout}`,
      );

      const sw = await runCli(['switch', 'flanneld-host-gw', '--name', name]);
      assert.equal(sw.code, 0, sw.stdout + sw.stderr.slice(-2000));
      assert.match(sw.stderr, /ConfigMap kube-flannel\/kube-flannel-cfg key net-conf\.json patched to Backend \{"Type":"host-gw"\}/);
      // What the API server holds now, read with cnilab's own kubeconfig, not from the lab's state.
      const api = kubeApi(readState(name)!.kube!.kubeconfig);
      // The door on the host's loopback lets in only the lab's certificates and tokens.
      const server = api.config.getCurrentCluster()!.server;
      const anon = execFileSync('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `${server}/api/v1/namespaces`], {
        encoding: 'utf8',
      });
      assert.equal(anon, '401', 'an anonymous request is refused');
      const cm = await api.core.readNamespacedConfigMap({ namespace: 'kube-flannel', name: 'kube-flannel-cfg' });
      const conf = JSON.parse(cm.data!['net-conf.json']!) as { Network: string; Backend: { Type: string } };
      assert.equal(conf.Backend.Type, 'host-gw');
      assert.equal(conf.Network, '10.244.0.0/16', 'the rest of net-conf.json is kept');
      const nodes = await readNodes(api);
      assert.deepEqual(nodes.map((n) => [n.metadata!.name, n.spec!.podCIDR, n.metadata!.annotations![`${FLANNEL}/backend-type`]]).sort(), [
        ['n1', '10.244.1.0/24', 'host-gw'],
        ['n2', '10.244.2.0/24', 'host-gw'],
        ['n3', '10.244.3.0/24', 'host-gw'],
      ]);
    } finally {
      const down = await runCli(['down', '--name', name]);
      assert.equal(down.code, 0, down.stderr);
    }
    clean(name);
  });

  test("the kind provider's cluster steps on the real API server: rollout wait and restart, probe pods pinned to nodes", async () => {
    const name = uniqueLab('kc');
    try {
      const up = await runCli(['up', '--manifest', MANIFEST, '--name', name]);
      assert.equal(up.code, 0, up.stderr.slice(-2000));
      const api = kubeApi(readState(name)!.kube!.kubeconfig);
      // No DaemonSet controller runs here: the rollout is not observed, and the wait says so.
      await assert.rejects(
        waitRollout(api, 'kube-flannel', 'kube-flannel-ds', 1500),
        /timed out after 1500 ms waiting for DaemonSet kube-flannel\/kube-flannel-ds to roll out; last seen: generation 1 not yet observed/,
      );
      // The controller's part, written into the status subresource as it would: then the wait is done.
      const status = { observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 3, numberMisscheduled: 0, numberReady: 3 };
      const ok = { ...status, updatedNumberScheduled: 3, numberAvailable: 3 };
      await api.apps.patchNamespacedDaemonSetStatus({
        namespace: 'kube-flannel',
        name: 'kube-flannel-ds',
        body: [{ op: 'add', path: '/status', value: ok }],
      });
      await waitRollout(api, 'kube-flannel', 'kube-flannel-ds', 5000);
      // A restart is a new pod template: a new generation, not observed yet.
      await rolloutRestart(api, 'kube-flannel', 'kube-flannel-ds');
      const ds = await api.apps.readNamespacedDaemonSet({ namespace: 'kube-flannel', name: 'kube-flannel-ds' });
      assert.ok(ds.spec!.template.metadata!.annotations!['kubectl.kubernetes.io/restartedAt'], 'the restart annotation is on the template');
      assert.match(rolloutPending(ds) ?? '', /generation 2 not yet observed/);
      // Probe pods: accepted by the API server's validation, each pinned to its node; no kubelet here runs them.
      await createProbePods(api, ['n1', 'n2', 'n3']);
      const pods = (await api.core.listNamespacedPod({ namespace: PROBE_NAMESPACE })).items;
      assert.deepEqual(pods.map((p) => p.spec!.nodeName).sort(), ['n1', 'n2', 'n3']);
      await assert.rejects(
        waitProbePods(api, ['n1', 'n2', 'n3'], 1000),
        /timed out after 1000 ms waiting for probe pods to run; last seen: n1 \(Pending\), n2 \(Pending\), n3 \(Pending\)/,
      );
      await deleteProbePods(api);
    } finally {
      assert.equal((await runCli(['down', '--name', name])).code, 0);
    }
    clean(name);
  });

  test('an object the API server refuses: one line naming the document, kind, name and its message; exit 2, nothing left', async () => {
    const bad = variant(
      'kb',
      '        command:\n        - /opt/bin/flanneld',
      '        imagePullPolicy: Sometimes\n        command:\n        - /opt/bin/flanneld',
    );
    const name = uniqueLab('kb');
    const r = await runCli(['run', '--manifest', bad, '--name', name, '--out', tmpOut()]);
    assert.equal(r.code, 2, r.stderr.slice(-2000));
    const line = r.stderr.split('\n').find((l) => l.includes('refused'));
    assert.ok(line, r.stderr);
    assert.match(line, /kube-flannel\.yml document 6 \(DaemonSet kube-flannel-ds\): the API server refused it: /);
    assert.match(line, /imagePullPolicy: Unsupported value: "Sometimes"/);
    clean(name);
  });

  test('bad manifests stop before anything is built: no flanneld DaemonSet, a backend flannel does not have', async () => {
    const name = uniqueLab('kn');
    const none = `${tmpOut('kn')}/cm.yaml`;
    writeFileSync(none, 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\ndata: { a: b }\n');
    const r = await runCli(['run', '--manifest', none, '--name', name, '--out', tmpOut()]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no DaemonSet running flanneld or calico-node in .*cm\.yaml/);
    assert.doesNotMatch(r.stderr, /underlay:/, 'nothing was built');
    const typo = variant('kt', '"Type": "vxlan"', '"Type": "vxlna"');
    const t = await runCli(['run', '--manifest', typo, '--name', name, '--out', tmpOut()]);
    assert.equal(t.code, 2);
    assert.match(t.stderr, /kube-flannel\.yml:\d+: .*vxlna/);
    assert.doesNotMatch(t.stderr, /underlay:/);
    const calico = await runCli(['run', '--manifest', MANIFEST, '--modes', 'calico-bgp', '--name', name, '--out', tmpOut()]);
    assert.equal(calico.code, 2);
    assert.match(calico.stderr, /--modes calico-bgp cannot run from this manifest: its DaemonSet runs flanneld/);
    clean(name);
  });

  /** A run whose lab is up with flanneld, kube-apiserver and its door, hung before its check. */
  async function hungRun(name: string) {
    const p = cli(['run', '--manifest', MANIFEST, '--name', name, '--out', tmpOut()], { CNILAB_FAULT: 'hang-program:flanneld-vxlan' });
    await waitFor('flanneld to run', () => labProcesses(name).some((l) => /flanneld/.test(l)), 60_000);
    for (const [what, re] of [
      ['kube-apiserver', /kube-apiserver/],
      ["the API server's door", /ns-forward\.py/],
    ] as const)
      assert.ok(
        labProcesses(name).some((l) => re.test(l)),
        `${what} runs`,
      );
    return p;
  }

  test('Ctrl-C with the API server up: the run tears down kube-apiserver, its door, etcd and flanneld, exit 130', async () => {
    const name = uniqueLab('ki');
    const p = await hungRun(name);
    p.kill('SIGINT');
    assert.equal(await new Promise((r) => p.on('exit', (c) => r(c))), 130);
    clean(name);
  });

  test('SIGKILL with the API server up, then gc: kube-apiserver, its door, etcd and flanneld all go', async () => {
    const name = uniqueLab('kk');
    const k = await hungRun(name);
    k.kill('SIGKILL');
    await new Promise((r) => k.on('exit', r));
    const gc = await runCli(['gc']);
    assert.equal(gc.code, 0, gc.stderr);
    clean(name);
  });
});
