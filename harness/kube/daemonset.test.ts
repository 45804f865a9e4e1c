import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1ConfigMap, V1DaemonSet } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readInputs } from '../conform/inputs.ts';
import { GO_TOOLS } from '../host/daemons.ts';
import { checkoutRoot } from '../kernel/root.ts';
import { configMapsOf, flannelDaemonSet, flanneldLaunch, hostPathOf, nodePod } from './daemonset.ts';
import { applyOrder } from './client.ts';
import { PodSpecError } from './confine.ts';
import { expand } from './expand.ts';

const docs = readInputs([`${checkoutRoot()}/test/fixtures/kube/kube-flannel.yml`]);
const ds = docs.find((d) => d.kind?.endsWith('DaemonSet'))!.value as V1DaemonSet;
const cm = docs.find((d) => d.kind?.endsWith('ConfigMap'))!.value as V1ConfigMap;
const maps = new Map([[cm.metadata!.name!, cm]]);
const node = { name: 'n1', ip: '172.31.10.11', root: '/lab/nodes/n1' };

test("kube-flannel.yml's DaemonSet on a node: flanneld's container, env, files and mounts as the kubelet would give them", () => {
  const found = flannelDaemonSet([ds]);
  assert.ok(found, 'the flanneld container is found by its command');
  assert.equal(found.container.name, 'kube-flannel');
  assert.deepEqual(configMapsOf(ds), ['kube-flannel-cfg']);
  const pod = nodePod(ds, found.container, maps, node);
  assert.equal(pod.pod, 'kube-flannel-ds-n1');
  assert.equal(pod.serviceAccount, 'flannel');
  assert.deepEqual(pod.env, {
    POD_NAME: 'kube-flannel-ds-n1',
    POD_NAMESPACE: 'kube-flannel',
    EVENT_QUEUE_DEPTH: '5000',
    CONT_WHEN_CACHE_NOT_READY: 'false',
  });
  const netConf = pod.files.find((f) => f.path === '/etc/kube-flannel/net-conf.json');
  assert.ok(netConf, 'the ConfigMap volume puts net-conf.json at its mount path');
  assert.deepEqual(netConf.configMap, { namespace: 'kube-flannel', name: 'kube-flannel-cfg', key: 'net-conf.json' });
  assert.equal(hostPathOf(pod, '/run/flannel/subnet.env'), '/lab/nodes/n1/run/flannel/subnet.env');
  assert.equal(hostPathOf(pod, '/etc/kube-flannel/net-conf.json'), undefined, 'a ConfigMap mount is no hostPath');
  // install-cni: `install-conf /etc/kube-flannel/cni-conf.json /etc/cni/net.d/10-flannel.conflist`.
  assert.equal(pod.cniConf?.path, '/etc/cni/net.d/10-flannel.conflist');
  assert.match(pod.cniConf?.content ?? '', /"type": "flannel"/);
});

test("flanneld's command line: the manifest's args kept, the kubelet's part added, path flags where the mounts land", () => {
  const found = flannelDaemonSet([ds])!;
  const pod = nodePod(ds, found.container, maps, node);
  const l = flanneldLaunch(pod, {
    binary: '/cache/flanneld',
    root: node.root,
    kubeconfig: '/lab/nodes/n1/kubeconfig',
    hasDefaultRoute: true,
  });
  // cnilab's flags first: nothing the manifest writes can hide them from flanneld's parser.
  assert.deepEqual(l.argv, [
    '/cache/flanneld',
    '--kubeconfig-file=/lab/nodes/n1/kubeconfig',
    '--net-config-path=/lab/nodes/n1/etc/kube-flannel/net-conf.json',
    '--subnet-file=/lab/nodes/n1/run/flannel/subnet.env',
    '--ip-masq',
    '--kube-subnet-mgr',
    '--healthz-port=8081',
  ]);
  assert.equal(l.env.NODE_NAME, 'n1');
  assert.equal(l.env.POD_NAME, 'kube-flannel-ds-n1');
  assert.deepEqual(
    l.files.map((f) => f.path),
    ['/lab/nodes/n1/etc/kube-flannel/net-conf.json'],
  );
  const noRoute = flanneldLaunch(pod, { binary: '/f', root: node.root, kubeconfig: '/k', hasDefaultRoute: false });
  assert.ok(noRoute.argv.includes('--iface=eth0'), 'a node without a default route gets its interface named');
  assert.ok(
    noRoute.added.some((a) => a.startsWith('--iface=eth0 (')),
    'and the reason is recorded',
  );
});

test('a path flag the manifest sets is followed through its mount; a secretKeyRef is refused by name', () => {
  const own = structuredClone(ds);
  const c = own.spec!.template.spec!.containers[0]!;
  c.args = [...(c.args ?? []), '--subnet-file', '/run/flannel/other.env'];
  const l = flanneldLaunch(nodePod(own, c, maps, node), { binary: '/f', root: node.root, kubeconfig: '/k', hasDefaultRoute: true });
  assert.ok(l.argv.includes('--subnet-file=/lab/nodes/n1/run/flannel/other.env'));
  assert.ok(!l.argv.includes('/run/flannel/other.env'), 'the value of the pod path is not left behind as a stray argument');
  c.env = [...(c.env ?? []), { name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }];
  assert.throws(() => nodePod(own, c, maps, node), /containers\[0\]\.env\[4\] = "X": secretKeyRef/);
});

test('apply order: Namespaces, then CRDs, then the rest as written', () => {
  const o = (kind: string, name: string) => ({ where: name, object: { apiVersion: 'v1', kind, metadata: { name } } });
  const order = applyOrder([o('ConfigMap', 'a'), o('CustomResourceDefinition', 'b'), o('Namespace', 'c'), o('DaemonSet', 'd')]);
  assert.deepEqual(
    order.map((x) => x.where),
    ['c', 'b', 'a', 'd'],
  );
});

/** The fixture's DaemonSet with one change, made on its flanneld container, volumes or init containers. */
function hostile(change: (spec: NonNullable<V1DaemonSet['spec']>['template']['spec'] & object) => void): V1DaemonSet {
  const own = structuredClone(ds);
  change(own.spec!.template.spec!);
  return own;
}
const launch = (d: V1DaemonSet) =>
  flanneldLaunch(nodePod(d, d.spec!.template.spec!.containers[0]!, maps, node), {
    binary: '/f',
    root: node.root,
    kubeconfig: `${node.root}/kubeconfig`,
    hasDefaultRoute: true,
  });
const UP = '/..'.repeat(12);

// Each case of the security issue (a manifest is untrusted input), refused with the field it names.
const refused: [string, (s: NonNullable<NonNullable<V1DaemonSet['spec']>['template']['spec']>) => void, RegExp][] = [
  [
    'an install-cni target that climbs out of /etc/cni/net.d',
    (s) => (s.initContainers![1]!.args![1] = `/etc/cni/net.d${UP}/tmp/x`),
    /^spec\.template\.spec\.initContainers\[1\]\.args\[1\] = ".*": its `\.\.` climbs above the container's root/,
  ],
  [
    'an install-cni target that stays in the container but leaves /etc/cni/net.d',
    (s) => (s.initContainers![1]!.args![1] = '/etc/cni/net.d/../../tmp/x'),
    /initContainers\[1\]\.args\[1\] = .*would leave \/etc\/cni\/net\.d/,
  ],
  [
    'a mount path that climbs out',
    (s) => (s.containers[0]!.volumeMounts![1]!.mountPath = `/etc/kube-flannel${UP}/tmp/dir`),
    /^spec\.template\.spec\.containers\[0\]\.volumeMounts\[1\]\.mountPath = .*climbs above/,
  ],
  [
    'a --subnet-file that climbs out through a hostPath mount',
    (s) => s.containers[0]!.args!.push(`--subnet-file=/run/flannel${UP}/tmp/dir/subnet.env`),
    /containers\[0\]\.args\[3\] = .*climbs above/,
  ],
  [
    'a --net-config-path given as two words that climbs out',
    (s) => s.containers[0]!.args!.push('--net-config-path', `/etc${UP}/etc/passwd`),
    /containers\[0\]\.args\[4\] = .*climbs above/,
  ],
  [
    'FLANNELD_SUBNET_FILE (flanneld reads it as the flag) that climbs out',
    (s) => s.containers[0]!.env!.push({ name: 'FLANNELD_SUBNET_FILE', value: `/run${UP}/tmp/s.env` }),
    /containers\[0\]\.env\[4\] = .*climbs above/,
  ],
  [
    'LD_PRELOAD',
    (s) => s.containers[0]!.env!.push({ name: 'LD_PRELOAD', value: '/tmp/lib.so' }),
    /env\[4\] = "LD_PRELOAD=\/tmp\/lib\.so": the dynamic loader/,
  ],
  ['LD_LIBRARY_PATH', (s) => s.containers[0]!.env!.push({ name: 'LD_LIBRARY_PATH', value: '/tmp' }), /the dynamic loader acts on it/],
  ['GCONV_PATH', (s) => s.containers[0]!.env!.push({ name: 'GCONV_PATH', value: '/tmp' }), /libc acts on it/],
  ['GLIBC_TUNABLES', (s) => s.containers[0]!.env!.push({ name: 'GLIBC_TUNABLES', value: 'x' }), /libc acts on it/],
  ['XTABLES_LIBDIR', (s) => s.containers[0]!.env!.push({ name: 'XTABLES_LIBDIR', value: '/tmp' }), /iptables acts on it/],
  ['BASH_ENV', (s) => s.containers[0]!.env!.push({ name: 'BASH_ENV', value: '/tmp/rc' }), /a shell or iptables acts on it/],
  [
    'PATH with a folder of its own',
    (s) => s.containers[0]!.env!.push({ name: 'PATH', value: '/tmp/evil:/usr/bin' }),
    /PATH entry "\/tmp\/evil"/,
  ],
  [
    'LD_PRELOAD made by $(VAR) from a ConfigMap value',
    (s) => s.containers[0]!.env!.push({ name: 'A', value: '/tmp' }, { name: 'PATH', value: '$(A):/usr/bin' }),
    /env\[5\] = "PATH=\/tmp:\/usr\/bin"/,
  ],
  ['an env name that is an option of env(1)', (s) => s.containers[0]!.env!.push({ name: '-S', value: 'x' }), /not a plain variable name/],
  [
    'a positional argument (Go stops parsing flags there)',
    (s) => s.containers[0]!.args!.splice(1, 0, 'now'),
    /containers\[0\]\.args\[1\] = "now": not a flag: Go's flag parser stops at it/,
  ],
  ['a -- in the args', (s) => s.containers[0]!.args!.push('--'), /args\[3\] = "--": ends the flags/],
  ['a flag flanneld does not have', (s) => s.containers[0]!.args!.push('--log_file=/etc/x'), /flanneld v0\.28\.9 has no such flag/],
  ['--version', (s) => s.containers[0]!.args!.push('--version'), /would print and exit/],
  [
    'a shell wrapping flanneld',
    (s) => {
      s.containers[0]!.command = ['/bin/sh', '-c'];
      s.containers[0]!.args = ['/opt/bin/flanneld --kube-subnet-mgr'];
    },
    /command\[0\] = "\/bin\/sh": cnilab runs flanneld itself/,
  ],
  [
    'a relative hostPath',
    (s) => (s.volumes!.find((v) => v.name === 'run')!.hostPath!.path = 'run/flannel'),
    /volumes\[0\]\.hostPath\.path = "run\/flannel": a hostPath must be absolute/,
  ],
  [
    'a configMap item path that climbs out',
    (s) => (s.volumes!.find((v) => v.name === 'flannel-cfg')!.configMap!.items = [{ key: 'net-conf.json', path: `..${UP}/x` }]),
    /volumes\[3\]\.configMap\.items\[0\]\.path = .*climbs above/,
  ],
];
for (const [what, change, message] of refused) {
  test(`a hostile manifest is refused, naming the field: ${what}`, () => {
    assert.throws(
      () => launch(hostile(change)),
      (e: Error) => e instanceof PodSpecError && message.test(e.message) && !e.message.includes('\n    fix: \n'),
    );
  });
}

test('every path stays under the node root: `..` inside the container is normalised, a hostPath of / lands on the root', () => {
  const l = launch(
    hostile((s) => {
      s.containers[0]!.args!.push('--subnet-file=/run/flannel/../flannel/./sub.env');
      s.volumes!.find((v) => v.name === 'run')!.hostPath!.path = '/';
    }),
  );
  assert.ok(l.argv.includes('--subnet-file=/lab/nodes/n1/sub.env'), l.argv.join(' '));
  for (const a of l.argv.slice(1)) if (a.includes('=/')) assert.match(a, /=\/lab\/nodes\/n1(\/|$)/);
});

test('$(VAR) is expanded in env, command and args as the kubelet does: dependent env in order, $$ escapes, unknown kept', () => {
  const l = launch(
    hostile((s) => {
      s.containers[0]!.env!.push(
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'LATE', value: '$(LATER)-$(IP)' },
        { name: 'LATER', value: 'x' },
        { name: 'COST', value: '$$(IP) $$$(IP) $ $(' },
      );
      s.containers[0]!.args!.push('--public-ip=$(IP)', '--iface=$(LATER)$(NOPE)');
    }),
  );
  assert.equal(l.env.LATE, '$(LATER)-172.31.10.11', 'a variable defined below is not expanded');
  assert.equal(l.env.COST, '$(IP) $172.31.10.11 $ $(');
  assert.ok(l.argv.includes('--public-ip=172.31.10.11'));
  assert.ok(l.argv.includes('--iface=x$(NOPE)'));
});

test("the daemon's environment is the pod's: a system PATH, NODE_NAME, and nothing of cnilab's own", () => {
  const l = launch(ds);
  assert.deepEqual(Object.keys(l.env).sort(), [
    'CONT_WHEN_CACHE_NOT_READY',
    'EVENT_QUEUE_DEPTH',
    'NODE_NAME',
    'PATH',
    'POD_NAME',
    'POD_NAMESPACE',
  ]);
  assert.equal(l.env.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
});

// The kubelet's own table, read from the kubernetes module the install step downloads (never copied).
const expandTests = (() => {
  try {
    const mod = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
    return readFileSync(
      `${mod}/k8s.io/kubernetes@${GO_TOOLS['kube-apiserver']!.version}/third_party/forked/golang/expansion/expand_test.go`,
      'utf8',
    );
  } catch {
    return undefined;
  }
})();
test("expand gives what the kubelet's expansion gives, on every case of its own expand_test.go", {
  skip: expandTests === undefined && 'the kubernetes module is not in the Go module cache (ci/ensure.sh downloads it)',
}, () => {
  const t = expandTests!;
  const vars = Object.fromEntries([...t.matchAll(/"(\w+)":\s+"([^"]*)",/g)].map((m) => [m[1]!, m[2]!]));
  const cases = [...t.matchAll(/input:\s+"((?:[^"\\]|\\.)*)",\s*expected:\s+"((?:[^"\\]|\\.)*)"/g)];
  assert.ok(cases.length >= 30, `read ${cases.length} cases`);
  for (const [, input, expected] of cases) {
    const [i, e] = [JSON.parse(`"${input}"`) as string, JSON.parse(`"${expected}"`) as string];
    assert.equal(
      expand(i, (n) => vars[n]),
      e,
      `input ${JSON.stringify(i)}`,
    );
  }
});
