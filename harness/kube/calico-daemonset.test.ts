import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1ConfigMap, V1DaemonSet } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { readInputs } from '../conform/inputs.ts';
import { calicoModuleDir } from '../host/daemons.ts';
import { calicoCniConfigOf, calicoNodeDaemonSet, calicoNodeEnvOf, type CalicoNodeSpec, CniConfigError } from './calico-daemonset.ts';
import { PodSpecError } from './confine.ts';

// Upstream's own calico.yaml, from the calico module in the Go module cache (never copied here).
const file = `${calicoModuleDir() ?? '/nonexistent'}/manifests/calico.yaml`;
const SKIP = !existsSync(file) && 'the calico module is not in the Go module cache ("cnilab install calico-node")';
const node = { name: 'n1', ip: '172.18.10.11', root: '/lab/nodes/n1' };

function specOf(edit: (ds: V1DaemonSet, cm: V1ConfigMap) => void = () => {}): CalicoNodeSpec {
  const docs = readInputs([file]);
  const ds = structuredClone(docs.find((d) => d.kind === 'DaemonSet')!.value) as V1DaemonSet;
  const cm = structuredClone(docs.find((d) => d.kind === 'ConfigMap' && d.name === 'calico-config')!.value) as V1ConfigMap;
  edit(ds, cm);
  const found = calicoNodeDaemonSet([ds])!;
  return { ...found, ns: 'kube-system', maps: new Map([['calico-config', cm]]) };
}

test("calico.yaml's calico-node on a node: its env as a kubelet gives it, install-cni's CNI config as it writes it", { skip: SKIP }, () => {
  const spec = specOf();
  assert.equal(spec.container.name, 'calico-node');
  const env = calicoNodeEnvOf(spec, node);
  assert.equal(env.NODENAME, 'n1', 'fieldRef spec.nodeName');
  assert.equal(env.CALICO_NETWORKING_BACKEND, 'bird', 'configMapKeyRef calico-config calico_backend');
  assert.equal(env.CALICO_IPV4POOL_IPIP, 'Always');
  assert.equal(env.FELIX_VXLANMTU, '0', 'veth_mtu');
  assert.equal(env.IP, 'autodetect');
  const cni = calicoCniConfigOf(spec, node, '/lab/nodes/n1/etc/cni/net.d/calico-kubeconfig')!;
  assert.equal(cni.from, 'ConfigMap kube-system/calico-config key cni_network_config');
  assert.equal(cni.mtu, 0, '__CNI_MTU__ from veth_mtu "0"');
  assert.deepEqual(
    cni.list.plugins.map((p) => p.type),
    ['calico', 'portmap', 'bandwidth'],
  );
  const calico = cni.list.plugins[0]!;
  assert.equal(calico.nodename, 'n1', '__KUBERNETES_NODE_NAME__');
  assert.deepEqual(calico.kubernetes, { kubeconfig: '/lab/nodes/n1/etc/cni/net.d/calico-kubeconfig' });
  assert.deepEqual(calico.ipam, { type: 'calico-ipam' });
});

test('a calico-node env value or a CNI config that names a host path, or a plugin that is no plain name, is refused', {
  skip: SKIP,
}, () => {
  const env = (name: string, value: string) =>
    specOf((ds) => {
      ds.spec!.template.spec!.containers[0]!.env!.push({ name, value });
    });
  for (const [name, value] of [
    ['FELIX_LOGFILEPATH', '/etc/x'],
    ['ETCD_CA_CERT_FILE', 'relative/ca.pem'],
    ['CALICO_STARTUP_LOGLEVEL', '/var/x'],
  ] as [string, string][])
    assert.throws(
      () => calicoNodeEnvOf(env(name, value), node),
      (e) => e instanceof PodSpecError && /names a path/.test(e.message) && e.field.includes('env'),
      `${name}=${value}`,
    );
  // calico-etcd.yaml's datastore: the lab's is its kube-apiserver.
  const etcd = specOf((ds) => {
    const e = ds.spec!.template.spec!.containers[0]!.env!.find((x) => x.name === 'DATASTORE_TYPE')!;
    e.value = 'etcdv3';
  });
  assert.throws(() => calicoNodeEnvOf(etcd, node), /calico-node would use an etcd datastore/);
  // Not paths: a CIDR, "none", autodetection methods.
  for (const [name, value] of [
    ['CALICO_IPV4POOL_CIDR', '10.0.0.0/16'],
    ['FELIX_LOGFILEPATH', 'none'],
    ['IP_AUTODETECTION_METHOD', 'can-reach=8.8.8.8'],
  ] as [string, string][])
    assert.equal(calicoNodeEnvOf(env(name, value), node)[name], value);

  const conf = (from: string, to: string) =>
    calicoCniConfigOf(
      specOf((_, cm) => {
        assert.ok(cm.data!.cni_network_config!.includes(from));
        cm.data!.cni_network_config = cm.data!.cni_network_config!.replace(from, to);
      }),
      node,
      '/k',
    );
  for (const [from, to, why] of [
    ['"type": "portmap"', '"type": "../../bin/sh"', /plugin type "\.\.\/\.\.\/bin\/sh" is not a plain plugin name/],
    ['"type": "calico-ipam"', '"type": "host-local"', /IPAM "host-local": cnilab runs the Calico plugin with calico-ipam/],
    [
      '"log_level": "info",',
      '"log_level": "info", "etcd_key_file": "/etc/shadow",',
      /plugins\.0\.etcd_key_file = "\/etc\/shadow" names a host path/,
    ],
    ['"datastore_type": "kubernetes"', '"datastore_type": "etcdv3"', /datastore_type "etcdv3"/],
    ['"plugins": [', '"plugins": {', /not JSON once install-cni fills it/],
  ] as const)
    assert.throws(
      () => conf(from, to),
      (e) => e instanceof CniConfigError && why.test(e.message) && e.configMap?.key === 'cni_network_config',
      to,
    );
});
