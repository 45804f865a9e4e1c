// How calico-node is launched in a lab: from cnilab's own calico.yaml-like environment, or from the
// user's manifest as the API server holds it (the calico-node DaemonSet read back, its environment
// with its configMapKeyRefs, install-cni's cni_network_config), with only what a kubelet and container
// runtime would supply added, and every addition said. Switching the networking backend is done as a
// user does it: calico_backend patched in the ConfigMap the DaemonSet reads it from.
import { UsageError } from '../errors.ts';
import { calicoCniConfigOf, calicoNodeDaemonSet, calicoNodeEnvOf, type CalicoNodeSpec } from '../kube/calico-daemonset.ts';
import {
  inlineKubeconfig,
  type KubeApi,
  kubeconfigText,
  patchConfigMapKey,
  readDaemonSetSpec,
  serviceAccountToken,
} from '../kube/client.ts';
import { writeInside } from '../kube/confine.ts';
import { heldDaemonSetCheck } from '../kube/daemonset.ts';
import { SYSTEM_PATH } from '../kube/env-policy.ts';
import type { CalicoNodeProgram } from '../modes/mode.ts';
import { formatIpv4 } from '../net/ipv4.ts';
import { CALICO_CONFLIST, type CniConfList } from '../plan/pods.ts';
import type { ResolvedNode } from '../topology/types.ts';
import type { KubeState } from './apiserver.ts';
import { type CalicoLaunch, calicoDir, calicoKubeconfig, calicoNodeEnv } from './calico-node.ts';
import type { LabEnv } from './env.ts';

export interface CalicoLaunchPlan extends CalicoLaunch {
  /** Where calico-node's environment came from. */
  source: string;
  /** calico-node's environment on the first node, as recorded. */
  environment: Record<string, string>;
  /** What the lab added or changed, each with why ("<node>" for the node's name). */
  added: string[];
  /** The CNI config list the pods are attached with, where it came from, and each node's kubeconfig for the plugin. */
  cni: { conflist: CniConfList; from: string; mtu: number; kubeconfigs: Record<string, string> };
  /** What the manifest deploys that the lab does not run. */
  notRun: string[];
}

/** cnilab's own launch: calicoNodeEnv (calico.yaml's environment and the lab's), the admin kubeconfig, calico.yaml's CNI config. */
export function labLaunch(env: LabEnv, kube: KubeState, prog: CalicoNodeProgram): CalicoLaunchPlan {
  const first = env.topology.nodes[0]!;
  return {
    envOf: (n) => calicoNodeEnv(env, n, prog),
    kubeconfig: calicoKubeconfig(kube.kubeconfig, kube.server),
    source: "cnilab's environment after calico.yaml's (calico-node.ts calicoNodeEnv)",
    environment: calicoNodeEnv(env, first, prog),
    added: [],
    cni: {
      conflist: CALICO_CONFLIST,
      from: "cnilab's copy of calico.yaml's cni_network_config",
      // veth_mtu when a config sets it (install-cni's __CNI_MTU__), else 0: felix's file.
      mtu: env.settings.podMtu ?? 0,
      // The admin kubeconfig -allocate-tunnel-addrs was given, in its overlay's upper folder.
      kubeconfigs: Object.fromEntries(
        env.topology.nodes.map((n) => [n.name, `${calicoDir(env, n.name)}/tunnel-addrs/upper/calico/kubeconfig`]),
      ),
    },
    notRun: [],
  };
}

/** The calico-node DaemonSet with the ConfigMaps its pods read, from the API server. */
async function calicoNodeSpec(api: KubeApi): Promise<CalicoNodeSpec> {
  const spec = await readDaemonSetSpec(api, calicoNodeDaemonSet);
  if (!spec)
    throw new UsageError(
      'the manifest has no DaemonSet running calico-node',
      'give the calico.yaml that deploys Calico (its calico-node DaemonSet and the calico-config ConfigMap)',
    );
  return spec;
}

/**
 * Makes the DaemonSet's CALICO_NETWORKING_BACKEND `want`: unchanged when it is, else its ConfigMap
 * key patched (calico_backend in calico-config), as a user edits it before calico-node restarts.
 */
async function switchBackend(api: KubeApi, spec: CalicoNodeSpec, want: string): Promise<{ spec: CalicoNodeSpec; patched?: string }> {
  const e = (spec.container.env ?? []).find((x) => x.name === 'CALICO_NETWORKING_BACKEND');
  const ref = e?.valueFrom?.configMapKeyRef;
  const now = ref ? spec.maps.get(ref.name ?? '')?.data?.[ref.key] : e?.value;
  if ((now ?? 'bird') === want) return { spec };
  if (!ref?.name)
    throw new UsageError(
      `DaemonSet ${spec.ns}/${spec.ds.metadata?.name}: CALICO_NETWORKING_BACKEND is ${JSON.stringify(now ?? '')} ` +
        'in the container, not from a ConfigMap',
      `this mode needs calico_backend ${want}: set it through calico-config's calico_backend, as calico.yaml does`,
    );
  await patchConfigMapKey(api, spec.ns, ref.name, ref.key, want);
  return { spec: await calicoNodeSpec(api), patched: `ConfigMap ${spec.ns}/${ref.name} key ${ref.key}: ${now} -> ${want}` };
}

/** A kubeconfig with a ServiceAccount's token and the CA inlined (-startup's /run is its own: it sees no lab folder there). */
async function tokenKubeconfig(api: KubeApi, kube: KubeState, ns: string, sa: string): Promise<string> {
  const token = await serviceAccountToken(api, ns, sa);
  return inlineKubeconfig(kubeconfigText(kube.server, kube.ca, { token }, ns));
}

/** The manifest's launch: its calico-node DaemonSet as the API server holds it, on every node. */
export async function manifestLaunch(
  env: LabEnv,
  kube: KubeState,
  api: KubeApi,
  prog: CalicoNodeProgram,
  progress: (m: string) => void,
): Promise<CalicoLaunchPlan> {
  const switched = await switchBackend(api, await calicoNodeSpec(api), prog.backend);
  const spec = switched.spec;
  if (switched.patched) progress(`calico-node's networking backend: ${switched.patched}`);
  const dsName = `DaemonSet ${spec.ns}/${spec.ds.metadata?.name}`;
  const inPod = heldDaemonSetCheck(spec.ds);
  const rootOf = (n: string) => `${env.labDir}/nodes/${n}`;
  const podNode = (n: Pick<ResolvedNode, 'name' | 'ip'>) => ({ name: n.name, ip: formatIpv4(n.ip), root: rootOf(n.name) });
  const own = (n: ResolvedNode) => inPod(() => calicoNodeEnvOf(spec, podNode(n)));
  // What calico-node's image and a kubelet supply (the container's PATH, the felix run script's two
  // exports, the in-cluster credentials as a kubeconfig), and the lab's two choices, unless set.
  const ADDED: [string, (e: Record<string, string>) => string | undefined, string][] = [
    ['PATH', () => SYSTEM_PATH.join(':'), "the image's PATH: the host's system folders"],
    [
      'FELIX_FELIXHOSTNAME',
      (e) => e.NODENAME,
      'from NODENAME, as the image exports it for felix (node/filesystem/etc/service/available/felix/run)',
    ],
    ['FELIX_DATASTORETYPE', (e) => e.DATASTORE_TYPE, 'from DATASTORE_TYPE, as the same run script exports it'],
    ['FELIX_USAGEREPORTINGENABLED', () => 'false', 'a lab reaches nothing outside its namespaces'],
    ['FELIX_ROUTEREFRESHINTERVAL', () => '10', "felix's 90 s default would let a route another daemon left stand that long after a switch"],
  ];
  const sa = spec.ds.spec?.template.spec?.serviceAccountName ?? 'default';
  const envOf = (n: ResolvedNode) => {
    const e = own(n);
    const extra = Object.fromEntries(ADDED.flatMap(([k, f]) => (e[k] === undefined && f(e) !== undefined ? [[k, f(e)!]] : [])));
    return { ...extra, ...e, KUBECONFIG: '/var/lib/calico/kubeconfig' };
  };
  const first = env.topology.nodes[0]!;
  const firstOwn = own(first);
  const added = [
    ...ADDED.filter(([k, f]) => firstOwn[k] === undefined && f(firstOwn) !== undefined).map(([k, , why]) => `${k}: ${why}`),
    `KUBECONFIG=/var/lib/calico/kubeconfig: a token of ServiceAccount ${spec.ns}/${sa}, ` +
      'in place of the in-cluster credentials a kubelet mounts',
    "the KUBE-IPTABLES-HINT chain in each node's mangle table, as a kubelet leaves it (felix picks nft from it)",
    "a mount namespace per process with its own /var/lib, /var/log (and /run for -startup), kept in the lab: the container's filesystem",
    ...(switched.patched ? [`${switched.patched} (the mode's networking backend)`] : []),
  ];
  const kubeconfig = await tokenKubeconfig(api, kube, spec.ns, sa);
  // The CNI plugin's kubeconfig, where calico-node -monitor-token writes it on a node (node/pkg/cni/token_watch.go):
  // /etc/cni/net.d/calico-kubeconfig with a token of CALICO_CNI_SERVICE_ACCOUNT, else calico-cni-plugin.
  const cniSa = firstOwn.CALICO_CNI_SERVICE_ACCOUNT || 'calico-cni-plugin';
  const cniKubeconfig = await tokenKubeconfig(api, kube, spec.ns, cniSa);
  const kubeconfigs: Record<string, string> = {};
  for (const n of env.topology.nodes) {
    const path = `${rootOf(n.name)}/etc/cni/net.d/calico-kubeconfig`;
    writeInside(rootOf(n.name), path, cniKubeconfig, `${dsName} on ${n.name}`);
    kubeconfigs[n.name] = path;
  }
  const conf = inPod(() => calicoCniConfigOf(spec, podNode(first), kubeconfigs[first.name]!));
  added.push(
    conf
      ? `CNI: ${conf.from} as install-cni fills it, then the node's name, its log and IPAM lock files in the lab` +
          `${conf.mtu === 0 ? " and felix's /var/lib/calico/mtu as its mtu (0 in the config: the plugin reads that file)" : ''}` +
          `; its kubeconfig with a token of ServiceAccount ${spec.ns}/${cniSa}, as calico-node -monitor-token writes it`
      : "CNI: the DaemonSet installs no CNI config (no init container with CNI_NETWORK_CONFIG): cnilab's copy of calico.yaml's is used",
  );
  const workloads = /^(Deployment|StatefulSet|Job|CronJob|DaemonSet) /;
  return {
    envOf,
    kubeconfig,
    source: `${dsName}, container ${spec.container.name}, as the API server holds it`,
    environment: envOf(first),
    added,
    cni: conf
      ? { conflist: { ...conf.list }, from: conf.from, mtu: conf.mtu, kubeconfigs }
      : { conflist: CALICO_CONFLIST, from: "cnilab's copy of calico.yaml's cni_network_config", mtu: 0, kubeconfigs },
    notRun: (kube.applied ?? [])
      .filter((o) => workloads.test(o) && o !== `DaemonSet ${spec.ns}/${spec.ds.metadata?.name}`)
      .map((o) => `${o}: no controller manager or kubelet runs its pods in a lab`),
  };
}
