// The real flanneld as a manifest's DaemonSet runs it: the DaemonSet and its ConfigMaps read from
// the lab's kube-apiserver, one flanneld per node namespace with the container's own arguments and
// environment (plus what the missing kubelet would supply), in --kube-subnet-mgr mode: leases are
// the Node objects' podCIDRs, and what flanneld publishes goes into the Nodes' annotations.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import pLimit from 'p-limit';
import { flanneldBinary } from '../../host/daemons.ts';
import {
  applyManifest,
  kubeApi,
  kubeconfigText,
  type ManifestObject,
  readNodes,
  registerNodes,
  serviceAccountToken,
} from '../../kube/client.ts';
import { type FlanneldLaunch, flanneldLaunch, nodePod, type PodFile } from '../../kube/daemonset.ts';
import { flannelAnnotation, flannelAnnotationsOf, vtepMacOf } from '../../kube/annotations.ts';
import { switchNetConf } from '../../kube/flannel-config.ts';
import type { ModeConfig } from '../../modes/mode.ts';
import { formatCidr, formatIpv4 } from '../../net/ipv4.ts';
import type { FlanneldEnv, Lease } from './flanneld.ts';
import { requireBinary, startDetached } from './flanneld.ts';
import type { KubeState, LabState } from './state.ts';

type Daemon = LabState['daemons'][number];

/** Applies the manifest and registers one Node per lab node (podCIDR from the topology, its InternalIP). */
export async function applyToLab(
  env: FlanneldEnv,
  kube: KubeState,
  objs: readonly ManifestObject[],
  progress: (m: string) => void,
): Promise<string[]> {
  const api = kubeApi(kube.kubeconfig);
  const applied = await applyManifest(api, objs, progress);
  await registerNodes(
    api,
    env.topology.nodes.map((n) => ({ name: n.name, ip: formatIpv4(n.ip), podCidr: formatCidr(n.podSubnet) })),
  );
  return applied;
}

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
  record: (d: Daemon) => void,
): Promise<DaemonSetRun> {
  const bin = await requireBinary(flanneldBinary());
  const api = kubeApi(kube.kubeconfig);
  const { spec, netConf } = await switchNetConf(api, want);
  const rootOf = (node: string) => `${env.labDir}/nodes/${node}`;
  const podOf = (n: (typeof env.topology.nodes)[number]) =>
    nodePod(spec.ds, spec.container, spec.maps, { name: n.name, ip: formatIpv4(n.ip), root: rootOf(n.name) });
  const first = env.topology.nodes[0]!;
  const token = await serviceAccountToken(api, spec.ns, spec.ds.spec?.template.spec?.serviceAccountName ?? 'default');
  const limit = pLimit(8);
  const launches = await Promise.all(
    env.topology.nodes.map((n) =>
      limit(async (): Promise<[string, FlanneldLaunch]> => {
        const root = rootOf(n.name);
        const kubeconfig = `${root}/kubeconfig`;
        mkdirSync(root, { recursive: true });
        writeFileSync(kubeconfig, kubeconfigText(kube.server, kube.ca, { token }, spec.ns));
        const pod = podOf(n);
        // The init container's job: the CNI config into the node's /etc/cni/net.d.
        if (pod.cniConf) {
          mkdirSync(dirname(`${root}${pod.cniConf.path}`), { recursive: true });
          writeFileSync(`${root}${pod.cniConf.path}`, pod.cniConf.content);
        }
        const l = flanneldLaunch(pod, { binary: bin.path, root, kubeconfig, hasDefaultRoute: n.subnet.routerIp !== undefined });
        for (const f of l.files) {
          mkdirSync(dirname(f.path), { recursive: true });
          writeFileSync(f.path, f.content);
        }
        mkdirSync(dirname(l.subnetFile), { recursive: true });
        const envArgs = Object.entries(l.env).map(([k, v]) => `${k}=${v}`);
        record(
          await startDetached(
            env.exec(env.names.node(n)),
            ['env', ...envArgs, ...l.argv],
            `${env.labDir}/flanneld-${n.name}.log`,
            `flanneld ${n.name}`,
          ),
        );
        return [n.name, l];
      }),
    ),
  );
  const cni = podOf(first).cniConf;
  return {
    version: bin.version,
    daemonSet: `${spec.ns}/${spec.ds.metadata?.name}, container ${spec.container.name}`,
    args: [...(spec.container.command ?? []), ...(spec.container.args ?? [])],
    // Said once for all nodes: the first node's launch with "<node>" in place of its name.
    added: flanneldLaunch(
      nodePod(spec.ds, spec.container, spec.maps, { name: '<node>', ip: formatIpv4(first.ip), root: rootOf('<node>') }),
      {
        binary: bin.path,
        root: rootOf('<node>'),
        kubeconfig: `${rootOf('<node>')}/kubeconfig`,
        hasDefaultRoute: first.subnet.routerIp !== undefined,
      },
    ).added,
    netConf,
    subnetFiles: Object.fromEntries(launches.map(([node, l]) => [node, l.subnetFile])),
    ...(cni ? { cniConf: { from: cni.from, content: cni.content, path: `${rootOf(first.name)}${cni.path}` } } : {}),
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
