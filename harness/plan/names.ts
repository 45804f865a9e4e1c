// Every namespace a lab creates is named cnilab-<lab>-<role>, so ownership is visible in `ip netns`
// and a crashed run's leftovers can be found from the name alone.
import { UsageError } from '../errors.ts';
import type { ResolvedNode, ResolvedSubnet, Topology } from '../topology/types.ts';

export const NETNS_PREFIX = 'cnilab-';
/** Where `ip netns` keeps a namespace as a file. */
export const NETNS_DIR = '/run/netns';
export const netnsPath = (name: string) => `${NETNS_DIR}/${name}`;
export const LAB_RE = /^[a-z0-9]{1,12}$/;

export interface LabNames {
  lab: string;
  prefix: string;
  switch(s: ResolvedSubnet | string): string;
  router(): string;
  /** The lab's datastore (etcd for the real daemons), made only when a mode needs it. */
  datastore(): string;
  /** The lab's kube-apiserver (a manifest's lab), its own host on the first subnet. */
  apiserver(): string;
  /** Made at teardown only: it sees, through a veth end, when the kernel has finished the lab's namespaces. */
  witness(): string;
  node(n: ResolvedNode | string): string;
  pod(node: string, pod: string): string;
}

export function labNames(lab: string): LabNames {
  if (!LAB_RE.test(lab)) throw new UsageError(`lab name "${lab}" is not valid`, 'use 1-12 lowercase letters or digits');
  const prefix = `${NETNS_PREFIX}${lab}-`;
  const nm = (x: { name: string } | string) => (typeof x === 'string' ? x : x.name);
  return {
    lab,
    prefix,
    switch: (s) => `${prefix}sw-${nm(s)}`,
    router: () => `${prefix}rtr`,
    datastore: () => `${prefix}etcd`,
    apiserver: () => `${prefix}kapi`,
    witness: () => `${prefix}gone`,
    node: (n) => `${prefix}node-${nm(n)}`,
    pod: (node, pod) => `${prefix}pod-${node}-${pod}`,
  };
}

/** The lab a namespace belongs to, if cnilab made it. */
export function labOfNetns(netns: string): string | undefined {
  const m = /^cnilab-([a-z0-9]{1,12})-(sw|rtr|etcd|kapi|node|pod|probe|gone)(-|$)/.exec(netns);
  return m?.[1];
}

/** The kernel-feature probe's throwaway namespace carries its owner, so gc can spare a live run's. */
export const probeNetnsName = (owner: { pid: number; startTime: number }) => `${NETNS_PREFIX}probe-${owner.pid}-${owner.startTime}`;

export function probeNetnsOwner(netns: string): { pid: number; startTime: number } | undefined {
  const m = /^cnilab-probe-(\d+)-(\d+)$/.exec(netns);
  return m ? { pid: Number(m[1]), startTime: Number(m[2]) } : undefined;
}

export function allNetns(names: LabNames, t: Topology): string[] {
  return [
    ...t.subnets.map((s) => names.switch(s)),
    ...(t.router ? [names.router()] : []),
    ...t.nodes.map((n) => names.node(n)),
    ...t.nodes.flatMap((n) => n.pods.map((p) => names.pod(n.name, p.name))),
  ];
}

/** Interface names inside the lab's namespaces: fixed, since no two labs share a namespace. */
export const IF = {
  underlay: 'eth0',
  switchBridge: 'br0',
  switchPortToNode: (node: string) => `n-${node}`,
  switchPortToRouter: 'rtr',
  routerLeg: (subnet: string) => `eth-${subnet}`,
  switchPortToDatastore: 'etcd',
  switchPortToApiserver: 'kapi',
  podEth: 'eth0',
  cni0: 'cni0',
  /** The ipip module's fallback device: Calico's IPIP tunnel. */
  tunl0: 'tunl0',
} as const;

/** The lab built beside `lab` to hold one mode for the perf rounds: still 12 characters at most. */
export const perfLabName = (lab: string, i: number) => `${lab.slice(0, 9)}p${i.toString(36).padStart(2, '0')}`;

export function randomLabName(): string {
  return Math.random().toString(36).slice(2, 8).padEnd(6, '0');
}
