import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1ConfigMap, V1DaemonSet } from '@kubernetes/client-node';
import { readInputs } from '../conform/inputs.ts';
import { checkoutRoot } from '../host/root.ts';
import { configMapsOf, flannelDaemonSet, flanneldLaunch, hostPathOf, nodePod } from './daemonset.ts';
import { applyOrder } from './client.ts';

const docs = readInputs([`${checkoutRoot()}/test/fixtures/kube/kube-flannel.yml`]);
const ds = docs.find((d) => d.kind?.endsWith('DaemonSet'))!.value as V1DaemonSet;
const cm = docs.find((d) => d.kind?.endsWith('ConfigMap'))!.value as V1ConfigMap;
const maps = new Map([[cm.metadata!.name!, cm]]);
const node = { name: 'n1', ip: '192.168.10.11', root: '/lab/nodes/n1' };

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
  assert.deepEqual(l.argv, [
    '/cache/flanneld',
    '--ip-masq',
    '--kube-subnet-mgr',
    '--healthz-port=8081',
    '--kubeconfig-file=/lab/nodes/n1/kubeconfig',
    '--net-config-path=/lab/nodes/n1/etc/kube-flannel/net-conf.json',
    '--subnet-file=/lab/nodes/n1/run/flannel/subnet.env',
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
  assert.throws(() => nodePod(own, c, maps, node), /env X: secretKeyRef/);
});

test('apply order: Namespaces, then CRDs, then the rest as written', () => {
  const o = (kind: string, name: string) => ({ where: name, object: { apiVersion: 'v1', kind, metadata: { name } } });
  const order = applyOrder([o('ConfigMap', 'a'), o('CustomResourceDefinition', 'b'), o('Namespace', 'c'), o('DaemonSet', 'd')]);
  assert.deepEqual(
    order.map((x) => x.where),
    ['c', 'b', 'a', 'd'],
  );
});
