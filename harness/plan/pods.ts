// Pods as data: what a pod is once attached, and the pure parts of attaching one. Calico-style pods
// are planned here completely (a routed veth per pod, no bridge: the pod's /32 comes from its node's
// block, its default route points at 169.254.1.1, which the host side answers by proxy ARP);
// flannel-style pods come from the real CNI plugins, with the config written here.
import { createHash } from 'node:crypto';
import { type Cidr, formatCidr, formatIpv4, nth } from '../net/ipv4.ts';
import type { ResolvedNode, Topology } from '../topology/types.ts';
import { IF, type LabNames } from './names.ts';
import type { KernelOp } from './ops.ts';

/** A pod as it exists after its network was set up (addresses come from IPAM, not from the plan). */
export interface PodRuntime {
  node: string;
  name: string;
  id: string;
  netns: string;
  ip: string;
  /** The host side of the pod's veth, in the node namespace. */
  hostIf: string;
}

/** The pod families: how each CNI attaches pods. Switching within a family keeps the pods. */
/** flanneld: pods of the real flanneld, attached from the lease it wrote to subnet.env. */
/** calico-node: pods of the real calico-node, attached by the Calico CNI plugin with calico-ipam. */
export type Family = 'flannel' | 'calico' | 'flanneld' | 'calico-node';

/** What the flannel CNI plugin reads from flanneld's subnet.env (FLANNEL_SUBNET, _NETWORK, _MTU, _IPMASQ). */
export interface FlannelLease {
  subnet: Cidr;
  network: Cidr;
  mtu: number;
  ipMasq: boolean;
}

/** cnilab's own flannel modes: the topology's lease for the node, as flanneld would have written it. */
export const topologyLease = (t: Topology, node: Topology['nodes'][number], mtu: number): FlannelLease => ({
  subnet: node.podSubnet,
  network: t.podCidr,
  mtu,
  // kube-flannel.yml runs flanneld with --ip-masq, so the CNI plugin leaves masquerading to it.
  ipMasq: true,
});

/** The flannel plugin's entry of a CNI config (kube-flannel.yml's cni-conf.json): its network name and delegate. */
export interface FlannelPluginConf {
  name: string;
  cniVersion?: string;
  delegate: Record<string, unknown>;
}

/** kube-flannel.yml's own cni-conf.json, when no manifest gives one. */
export const KUBE_FLANNEL_CNI: FlannelPluginConf = { name: 'cbr0', delegate: { hairpinMode: true, isDefaultGateway: true } };

/**
 * The flannel plugin's entry in a CNI config file (a .conflist's plugins, or a single .conf), or
 * why there is none.
 */
export function flannelPluginConf(text: string): FlannelPluginConf | string {
  let v: { name?: string; cniVersion?: string; type?: string; plugins?: { type?: string; delegate?: Record<string, unknown> }[] };
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  const entry = v.type === 'flannel' ? (v as { delegate?: Record<string, unknown> }) : v.plugins?.find((p) => p.type === 'flannel');
  if (!entry) return 'no plugin of type "flannel" in it';
  return { name: v.name ?? 'cbr0', ...(v.cniVersion ? { cniVersion: v.cniVersion } : {}), delegate: entry.delegate ?? {} };
}

/**
 * The delegate config the flannel CNI plugin hands to bridge, from a lease and the config's
 * delegate: flannel-io/cni-plugin flannel_linux.go doCmdAdd. Its defaults fill only what the
 * delegate does not set: type bridge, ipMasq = !FLANNEL_IPMASQ, mtu = FLANNEL_MTU, isGateway for a
 * bridge; the network's name and cniVersion are the config's; IPAM is host-local over the lease
 * (ranges = FLANNEL_SUBNET, routes = FLANNEL_NETWORK).
 */
export function flannelBridgeConfig(
  lease: FlannelLease,
  node: string,
  ipamDir: string,
  conf: FlannelPluginConf = KUBE_FLANNEL_CNI,
): object {
  const d = conf.delegate;
  const type = (d.type as string | undefined) ?? 'bridge';
  return {
    bridge: IF.cni0,
    ...d,
    name: conf.name,
    cniVersion: conf.cniVersion ?? '1.0.0',
    type,
    ipMasq: d.ipMasq ?? !lease.ipMasq,
    mtu: d.mtu ?? lease.mtu,
    ...(type === 'bridge' ? { isGateway: d.isGateway ?? true } : {}),
    ipam: {
      type: 'host-local',
      dataDir: `${ipamDir}/${node}`,
      ranges: [[{ subnet: formatCidr(lease.subnet) }]],
      routes: [{ dst: formatCidr(lease.network) }],
    },
  };
}

/** A CNI network config list, as a container runtime reads it from /etc/cni/net.d. */
export interface CniConfList {
  name: string;
  cniVersion: string;
  plugins: Record<string, unknown>[];
}

/**
 * kube-flannel.yml's own cni-conf.json (flannel v0.28.9 Documentation/kube-flannel.yml, ConfigMap
 * kube-flannel-cfg), for the flanneld modes that run without a manifest.
 */
export const KUBE_FLANNEL_CONFLIST: CniConfList = {
  name: 'cbr0',
  cniVersion: '0.3.1',
  plugins: [
    { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};

/** A CNI config file as a list (a single-plugin .conf becomes a list of one, as libcni reads it), or why it is none. */
export function cniConfList(text: string): CniConfList | string {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const { name, cniVersion, plugins, ...single } = v;
  const list = Array.isArray(plugins) ? (plugins as Record<string, unknown>[]) : [single];
  if (!list.some((p) => p?.type === 'flannel')) return 'no plugin of type "flannel" in it';
  // A type is a file name looked up in CNI_PATH; libcni refuses one with a path in it (invoke.FindInPath).
  const bad = list.find((p) => typeof p?.type !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(p.type) || p.type.includes('..'));
  if (bad) return `plugin type ${JSON.stringify(bad?.type)} is not a plugin's file name`;
  return {
    name: typeof name === 'string' ? name : 'cbr0',
    cniVersion: typeof cniVersion === 'string' ? cniVersion : '0.3.1',
    plugins: list,
  };
}

/**
 * The chain a runtime would run for `list`, each plugin's whole config (the list's name and
 * cniVersion with its own entry), with the lab's paths in flannel's entry: its subnet file, its
 * data dir (where it keeps each pod's delegate for DEL) and host-local's store (the plugin takes a
 * top-level ipam as the base of the delegate's: flannel-io/cni-plugin flannel_linux.go
 * getDelegateIPAM), so nothing is written outside the lab. `mtu`, a config's own pod MTU, goes into
 * flannel's delegate as a cni-conf.json that sets one does.
 */
export function cniChain(
  list: CniConfList,
  paths: { subnetFile: string; dataDir: string; ipamDir: string },
  mtu?: number,
): { type: string; config: Record<string, unknown> }[] {
  return list.plugins.map((p) => {
    const type = String(p.type);
    const own =
      type === 'flannel'
        ? {
            ...p,
            subnetFile: paths.subnetFile,
            dataDir: paths.dataDir,
            ipam: { ...((p.ipam as object | undefined) ?? {}), type: 'host-local', dataDir: paths.ipamDir },
            delegate: { ...((p.delegate as object | undefined) ?? {}), ...(mtu ? { mtu } : {}) },
          }
        : p;
    return { type, config: { ...own, name: list.name, cniVersion: list.cniVersion } };
  });
}

export const CALICO_GATEWAY = '169.254.1.1';
export const CALICO_HOST_MAC = 'ee:ee:ee:ee:ee:ee';

/** Calico names the host side cali + 11 hex digits of a hash of the workload endpoint. */
export function caliName(podNetns: string): string {
  return `cali${createHash('sha1').update(podNetns).digest('hex').slice(0, 11)}`;
}

/** Block ordinal 0 is the node's tunnel address (tunl0 / vxlan.calico); pods take 1, 2, ... */
export const tunnelAddress = (n: ResolvedNode) => formatIpv4(nth(n.podBlock, 0));

export function calicoPods(t: Topology, names: LabNames): PodRuntime[] {
  return t.nodes.flatMap((n) =>
    n.pods.map((p, k) => {
      const netns = names.pod(n.name, p.name);
      return { node: n.name, name: p.name, id: p.id, netns, ip: formatIpv4(nth(n.podBlock, k + 1)), hostIf: caliName(netns) };
    }),
  );
}

export function planCalicoPods(t: Topology, names: LabNames, pods: readonly PodRuntime[], mtu: number): KernelOp[] {
  const ops: KernelOp[] = [];
  for (const n of t.nodes) {
    // Felix programs a blackhole for the node's own block so unallocated addresses do not leak to the default route.
    if (n.pods.length > 0) ops.push({ kind: 'route', netns: names.node(n), type: 'blackhole', dst: formatCidr(n.podBlock) });
  }
  for (const p of pods) {
    const node = names.node(p.node);
    ops.push(
      { kind: 'veth', netns: node, name: p.hostIf, peer: { netns: p.netns, name: IF.podEth }, mtu },
      { kind: 'link-set', netns: node, name: p.hostIf, mac: CALICO_HOST_MAC, up: true },
      { kind: 'sysctl', netns: node, key: `net.ipv4.conf.${p.hostIf}.proxy_arp`, value: '1' },
      { kind: 'sysctl', netns: node, key: `net.ipv4.neigh.${p.hostIf}.proxy_delay`, value: '0' },
      { kind: 'route', netns: node, dst: `${p.ip}/32`, dev: p.hostIf, scope: 'link' },
      { kind: 'addr', netns: p.netns, dev: IF.podEth, cidr: `${p.ip}/32` },
      { kind: 'link-set', netns: p.netns, name: IF.podEth, up: true },
      { kind: 'route', netns: p.netns, dst: CALICO_GATEWAY, dev: IF.podEth, scope: 'link' },
      { kind: 'route', netns: p.netns, dst: 'default', via: CALICO_GATEWAY, dev: IF.podEth },
    );
  }
  return ops;
}

/** Pod MTU changes within the family (IPIP -> VXLAN) without recreating pods, as a rolling restart would. */
export function calicoPodMtuOps(names: LabNames, pods: readonly PodRuntime[], mtu: number): KernelOp[] {
  return pods.flatMap((p): KernelOp[] => [
    { kind: 'link-set', netns: names.node(p.node), name: p.hostIf, mtu },
    { kind: 'link-set', netns: p.netns, name: IF.podEth, mtu },
  ]);
}

/**
 * calico.yaml's own cni_network_config (calico v3.28 manifests/calico.yaml, ConfigMap calico-config),
 * without bandwidth (no pod asks for shaping): the calico plugin with calico-ipam, then portmap.
 */
export const CALICO_CONFLIST: CniConfList = {
  name: 'k8s-pod-network',
  cniVersion: '0.3.1',
  plugins: [
    { type: 'calico', log_level: 'info', datastore_type: 'kubernetes', ipam: { type: 'calico-ipam' }, policy: { type: 'k8s' } },
    { type: 'portmap', snat: true, capabilities: { portMappings: true } },
  ],
};

/**
 * The chain for one node's pods, as calico-node's install-cni writes it: the node's name, the pod MTU
 * (felix's /var/lib/calico/mtu when the manifest's veth_mtu is 0), the kubeconfig; and what cnilab
 * moves off the host's fixed paths into the lab (log file, IPAM lock; the nodename file is optional).
 */
export function calicoChain(
  list: CniConfList,
  node: string,
  paths: { kubeconfig: string; logFile: string; lockFile: string },
  mtu: number,
): { type: string; config: Record<string, unknown> }[] {
  return list.plugins.map((p) => {
    const type = String(p.type);
    const own =
      type === 'calico'
        ? {
            ...p,
            nodename: node,
            // The node's name is given: the file it would otherwise be read from (a host path) is not used.
            nodename_file: undefined,
            nodename_file_optional: true,
            mtu,
            log_file_path: paths.logFile,
            ipam_lock_file: paths.lockFile,
            kubernetes: { ...((p.kubernetes as object | undefined) ?? {}), kubeconfig: paths.kubeconfig },
          }
        : p;
    return { type, config: { ...own, name: list.name, cniVersion: list.cniVersion } };
  });
}
