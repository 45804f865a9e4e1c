// The real flanneld as a manifest's DaemonSet runs it: the DaemonSet and its ConfigMaps read from
// the lab's kube-apiserver, one flanneld per node namespace with the container's own arguments and
// environment (plus what the missing kubelet would supply), in --kube-subnet-mgr mode: leases are
// the Node objects' podCIDRs, and what flanneld publishes goes into the Nodes' annotations.
import { dirname } from 'node:path';
import pLimit from 'p-limit';
import { flanneldBinary } from '../host/daemons.ts';
import { kubeApi, kubeconfigText, readNodes, serviceAccountToken } from '../kube/client.ts';
import { mkdirInside, writeInside } from '../kube/confine.ts';
import { type FlanneldLaunch, flanneldLaunch, heldDaemonSetCheck, nodePod, type PodFile } from '../kube/daemonset.ts';
import { flannelAnnotation, flannelAnnotationsOf, vtepMacOf } from '../kube/annotations.ts';
import { switchNetConf } from '../kube/flannel-config.ts';
import type { ModeConfig } from '../modes/mode.ts';
import { formatIpv4 } from '../net/ipv4.ts';
import type { KubeState } from './apiserver.ts';
import { type LabDaemon, startDaemon } from './daemon.ts';
import { requireBinary } from './etcd.ts';
import { type FlanneldEnv, flanneldLog, type Lease } from './flanneld.ts';

export interface DaemonSetRun {
  version: string;
  daemonSet: string;
  args: string[];
  added: string[];
  netConf: PodFile & { backend: Record<string, unknown>; patched: boolean };
  subnetFiles: Record<string, string>;
  /** The CNI config its init container installs (cni-conf.json), as installed on the first node. */
  cniConf?: { from: string; content: string; path: string };
}

/**
 * Reads the DaemonSet from the API server, switches its net-conf.json to `backend` when it asks for
 * another setting (a merge patch of the ConfigMap, as `kubectl edit` would), and starts its flanneld
 * on every node: the rollout the change would cause.
 */
export async function startFlanneldFromDaemonSet(
  env: FlanneldEnv,
  kube: KubeState,
  want: { config?: ModeConfig; backend: Record<string, unknown> },
  record: (d: LabDaemon) => void,
): Promise<DaemonSetRun> {
  const bin = await requireBinary(flanneldBinary());
  const api = kubeApi(kube.kubeconfig);
  const { spec, netConf } = await switchNetConf(api, want);
  const rootOf = (node: string) => `${env.labDir}/nodes/${node}`;
  const dsName = `DaemonSet ${spec.ns}/${spec.ds.metadata?.name}`;
  const inPod = heldDaemonSetCheck(spec.ds);
  const podOf = (n: { name: string; ip: number }) =>
    inPod(() => nodePod(spec.ds, spec.container, spec.maps, { name: n.name, ip: formatIpv4(n.ip), root: rootOf(n.name) }));
  const launchOf = (n: (typeof env.topology.nodes)[number], root: string) =>
    inPod(() =>
      flanneldLaunch(podOf(n), {
        binary: bin.path,
        root,
        kubeconfig: `${root}/kubeconfig`,
        hasDefaultRoute: n.subnet.routerIp !== undefined,
      }),
    );
  const first = env.topology.nodes[0]!;
  // Every node's pod and command line are made (and so checked) before anything is written.
  const plans = env.topology.nodes.map((n) => ({ n, root: rootOf(n.name), pod: podOf(n), launch: launchOf(n, rootOf(n.name)) }));
  const token = await serviceAccountToken(api, spec.ns, spec.ds.spec?.template.spec?.serviceAccountName ?? 'default');
  const limit = pLimit(8);
  const launches = await Promise.all(
    plans.map(({ n, root, pod, launch: l }) =>
      limit(async (): Promise<[string, FlanneldLaunch]> => {
        const what = `${dsName} on ${n.name}`;
        mkdirInside(env.labDir, root, what);
        // A token of the DaemonSet's ServiceAccount: 0600, in the node's 0700 folder.
        writeInside(root, `${root}/kubeconfig`, kubeconfigText(kube.server, kube.ca, { token }, spec.ns), what);
        // The init container's job: the CNI config into the node's /etc/cni/net.d.
        if (pod.cniConf) writeInside(root, pod.cniConf.nodePath, pod.cniConf.content, what, 0o644);
        for (const f of l.files) writeInside(root, f.path, f.content, what, 0o644);
        mkdirInside(root, dirname(l.subnetFile), what);
        await startDaemon(
          env.exec(env.names.node(n)),
          { what: `flanneld ${n.name}`, argv: l.argv, log: flanneldLog(env, n.name), env: l.env, cwd: root },
          record,
        );
        return [n.name, l];
      }),
    ),
  );
  const cni = plans[0]!.pod.cniConf;
  return {
    version: bin.version,
    daemonSet: `${spec.ns}/${spec.ds.metadata?.name}, container ${spec.container.name}`,
    args: [...(spec.container.command ?? []), ...(spec.container.args ?? [])],
    // Said once for all nodes: the first node's launch with "<node>" in place of its name.
    added: launchOf({ ...first, name: '<node>' }, rootOf('<node>')).added,
    netConf,
    subnetFiles: Object.fromEntries(launches.map(([node, l]) => [node, l.subnetFile])),
    ...(cni ? { cniConf: { from: cni.from, content: cni.content, path: cni.nodePath } } : {}),
  };
}

/** The Nodes' flannel annotations, by node. */
export async function flannelAnnotations(kube: KubeState): Promise<Record<string, Record<string, string>>> {
  const nodes = await readNodes(kubeApi(kube.kubeconfig));
  return Object.fromEntries(nodes.map((n) => [n.metadata?.name ?? '?', flannelAnnotationsOf(n)]));
}

/** The leases in --kube-subnet-mgr mode: each Node's podCIDR, with what flanneld annotated it with. */
export async function readKubeLeases(kube: KubeState): Promise<Map<string, Lease>> {
  const nodes = await readNodes(kubeApi(kube.kubeconfig));
  const out = new Map<string, Lease>();
  for (const n of nodes) {
    const a = flannelAnnotationsOf(n);
    const type = flannelAnnotation(a, 'backend-type');
    const ip = flannelAnnotation(a, 'public-ip');
    // Not written yet (flanneld still starting): the wait polls again.
    if (!type || !ip || !n.spec?.podCIDR) continue;
    const mac = vtepMacOf(a);
    out.set(n.metadata!.name!, { subnet: n.spec.podCIDR, publicIp: ip, backendType: type, ...(mac ? { vtepMac: mac } : {}) });
  }
  return out;
}
