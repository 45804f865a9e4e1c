// The real flanneld in a lab: the mode's net-conf.json written into the lab's etcd, one flanneld
// per node namespace, and the wait until every node holds its lease and what flanneld programs
// for its peers. flanneld is a lab process (daemon.ts): recorded, killed by teardown and gc.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import pLimit from 'p-limit';
import { flanneldBinary } from '../host/daemons.ts';
import { formatCidr, formatIpv4, maskOf, parseCidr, parseIpv4, type Cidr } from '../net/ipv4.ts';
import { IF } from '../plan/names.ts';
import type { Topology } from '../topology/types.ts';
import { type LabDaemon, startDaemon, waitReady } from './daemon.ts';
import type { LabEnv } from './env.ts';
import { type Datastore, ETCD_CLIENT_PORT, EtcdClient, requireBinary } from './etcd.ts';

export interface FlanneldEnv extends LabEnv {
  /** Where each node's flanneld writes subnet.env, when not the lab's own place (a DaemonSet's mounts say). */
  subnetFiles?: Readonly<Record<string, string>>;
}

export interface Lease {
  subnet: string;
  publicIp: string;
  /** The backend that wrote it: after a restart with a new backend, old leases linger until renewed. */
  backendType: string;
  vtepMac?: string;
}

/** net-conf.json as kube-flannel.yml's ConfigMap carries it: the network, the lease size, the backend. */
export function netConf(t: Topology, backend: Record<string, unknown>): string {
  return JSON.stringify({ Network: formatCidr(t.podCidr), SubnetLen: t.nodes[0]?.podSubnet.prefix ?? 24, Backend: backend });
}

export const subnetFile = (env: FlanneldEnv, node: string) => env.subnetFiles?.[node] ?? `${env.labDir}/flannel/${node}/subnet.env`;
export const flanneldLog = (env: FlanneldEnv, node: string) => `${env.labDir}/flanneld-${node}.log`;

/** Writes net-conf.json and starts flanneld on every node, as the DaemonSet's pods would start. */
export async function startFlanneld(
  env: FlanneldEnv,
  ds: Datastore,
  backend: Record<string, unknown>,
  record: (d: LabDaemon) => void,
  /** Only these nodes' flanneld, started again (the config in etcd is already theirs). */
  only?: readonly string[],
): Promise<{ version: string }> {
  const bin = await requireBinary(flanneldBinary());
  if (!only) await new EtcdClient(env.exec(ds.netns), ds.ip).put(`${ds.prefix}/config`, netConf(env.topology, backend));
  const limit = pLimit(8);
  await Promise.all(
    env.topology.nodes
      .filter((n) => !only || only.includes(n.name))
      .map((n) =>
        limit(async () => {
          // A new backend restarts flanneld; its subnet file stays, as /run/flannel does, so it keeps its lease.
          mkdirSync(`${env.labDir}/flannel/${n.name}`, { recursive: true });
          await startDaemon(
            env.exec(env.names.node(n)),
            {
              what: `flanneld ${n.name}`,
              log: flanneldLog(env, n.name),
              argv: [
                bin.path,
                `--etcd-endpoints=http://${ds.ip}:${ETCD_CLIENT_PORT}`,
                `--etcd-prefix=${ds.prefix}`,
                `--iface=${IF.underlay}`,
                `--subnet-file=${subnetFile(env, n.name)}`,
              ],
            },
            record,
          );
        }),
      ),
  );
  return { version: bin.version };
}

/**
 * flanneld v0.28.9 exits when two of them pick the same free subnet at once: its etcd registry's
 * transaction fails with errSubnetAlreadyexists, which tryAcquireLease does not retry as it does a
 * duplicate key (pkg/subnet/etcd/registry.go createSubnet, local_manager.go tryAcquireLease).
 * A DaemonSet's kubelet restarts such a pod; the lab does too (real-flanneld.ts).
 */
export const LEASE_RACE = /failed to acquire lease: subnet already exists/;

/** flanneld's subnet.env for a node: the lease, the network, the MTU and whether it masquerades. */
export interface SubnetEnv {
  network: Cidr;
  subnet: Cidr;
  mtu: number;
  ipMasq: boolean;
}

export function parseSubnetEnv(text: string): SubnetEnv | undefined {
  const v = Object.fromEntries(
    text
      .split('\n')
      .map((l) => l.trim().split('='))
      .filter((kv) => kv.length === 2),
  ) as Record<string, string>;
  const network = parseCidr(v.FLANNEL_NETWORK ?? '');
  // FLANNEL_SUBNET is the bridge's address with the lease's length (10.244.96.1/24): its network is the lease.
  const [addr, len] = (v.FLANNEL_SUBNET ?? '').split('/');
  const ip = parseIpv4(addr ?? '');
  const sub = ip === null ? 'bad' : parseCidr(`${formatIpv4((ip & maskOf(Number(len))) >>> 0)}/${len}`);
  const mtu = Number(v.FLANNEL_MTU);
  if (typeof network === 'string' || typeof sub === 'string' || !Number.isInteger(mtu)) return undefined;
  return { network, subnet: sub, mtu, ipMasq: v.FLANNEL_IPMASQ === 'true' };
}

export function readSubnetEnv(env: FlanneldEnv, node: string): SubnetEnv | undefined {
  const f = subnetFile(env, node);
  return existsSync(f) ? parseSubnetEnv(readFileSync(f, 'utf8')) : undefined;
}

/** The leases in etcd, by node (matched on their public IP). */
export async function readLeases(env: FlanneldEnv, ds: Datastore): Promise<Map<string, Lease>> {
  const kv = await new EtcdClient(env.exec(ds.netns), ds.ip).range(`${ds.prefix}/subnets/`);
  const byIp = new Map(env.topology.nodes.map((n) => [formatIpv4(n.ip), n.name]));
  const out = new Map<string, Lease>();
  for (const [key, value] of kv) {
    const subnet = key.slice(key.lastIndexOf('/') + 1).replace('-', '/');
    const v = JSON.parse(value) as { PublicIP?: string; BackendType?: string; BackendData?: { VtepMAC?: string } | null };
    const node = v.PublicIP ? byIp.get(v.PublicIP) : undefined;
    if (node)
      out.set(node, {
        subnet,
        publicIp: v.PublicIP!,
        backendType: v.BackendType ?? '',
        ...(v.BackendData?.VtepMAC ? { vtepMac: v.BackendData.VtepMAC } : {}),
      });
  }
  return out;
}

/**
 * Waits until every node has written subnet.env and holds a lease for the current backend, then
 * until `settled` says the kernel holds what it must (bounded; the timeout shows flanneld's logs).
 */
export async function waitFlanneld(
  env: FlanneldEnv,
  leasesOf: () => Promise<Map<string, Lease>>,
  leaseType: string,
  settled: (leases: Map<string, Lease>) => Promise<string[]>,
  daemons: readonly LabDaemon[],
  timeoutMs = 30_000,
): Promise<Map<string, Lease>> {
  // A flanneld that exits will not take its lease: waitReady says so at once, with its log.
  let leases = await waitReady(`every flanneld to take a lease (BackendType "${leaseType}")`, { timeoutMs, daemons }, async () => {
    if (env.topology.nodes.some((n) => !readSubnetEnv(env, n.name))) return undefined;
    const l = await leasesOf();
    return env.topology.nodes.every((n) => l.get(n.name)?.backendType === leaseType) ? l : undefined;
  });
  let pending: string[] = [];
  await waitReady('flanneld to program every node', { timeoutMs, daemons, seen: () => pending.slice(0, 4).join('; ') }, async () => {
    // Read again each time: a lease left in etcd by an earlier run of the same backend already
    // has the right BackendType, but the VTEP MAC of a flannel.1 that is gone; flanneld renews it.
    leases = await leasesOf();
    pending = await settled(leases);
    return pending.length === 0 ? true : undefined;
  });
  return leases;
}

/** The topology with flanneld's leases in place of its own per-node pod subnets (the model's input). */
export function withLeases(t: Topology, leases: ReadonlyMap<string, Lease>): Topology {
  return {
    ...t,
    nodes: t.nodes.map((n) => {
      const l = leases.get(n.name);
      const c = l ? parseCidr(l.subnet) : undefined;
      return c && typeof c !== 'string' ? { ...n, podSubnet: c } : n;
    }),
  };
}

/**
 * What flanneld left from the backend it ran before (it was restarted with a new net-conf.json): the
 * facts the kernel held before the restart and still holds, which the new backend does not program
 * (`programs`: the model's facts; without a model, whatever is on the new backend's own devices).
 */
export function leftBehind(
  before: ReadonlyMap<string, ReadonlySet<string>>,
  after: ReadonlyMap<string, ReadonlySet<string>>,
  programs: (node: string, fact: string) => boolean,
): string[] {
  return [...after].flatMap(([node, facts]) =>
    [...facts].filter((f) => before.get(node)?.has(f) && !programs(node, f)).map((f) => `${node}: ${f}`),
  );
}
