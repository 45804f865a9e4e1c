// flannel-style pods: the flannel CNI plugin delegates to `bridge` + `host-local` with the node's
// lease; we call those two plugins with the config flannel would generate.
import pLimit from 'p-limit';
import { formatCidr } from '../net/ipv4.ts';
import { IF, type LabNames } from '../plan/names.ts';
import type { Topology } from '../topology/types.ts';
import type { PodRuntime } from '../modes/mode.ts';
import { cniCall } from './cni.ts';

export function bridgeConfig(t: Topology, node: Topology['nodes'][number], mtu: number, ipamDir: string): object {
  return {
    cniVersion: '1.0.0',
    name: 'cbr0',
    type: 'bridge',
    bridge: IF.cni0,
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: false,
    hairpinMode: true,
    mtu,
    ipam: {
      type: 'host-local',
      dataDir: `${ipamDir}/${node.name}`,
      ranges: [[{ subnet: formatCidr(node.podSubnet) }]],
      routes: [{ dst: formatCidr(t.podCidr) }],
    },
  };
}

export interface PodEnv {
  topology: Topology;
  names: LabNames;
  binDir: string;
  ipamDir: string;
  mtu: number;
}

/** CNI ADD for every pod: nodes in parallel, pods of one node in order (one bridge, one IPAM lock). */
export async function addFlannelPods(env: PodEnv, onPod?: (p: PodRuntime) => void): Promise<PodRuntime[]> {
  const limit = pLimit(4);
  const perNode = await Promise.all(
    env.topology.nodes.map((node) =>
      limit(async () => {
        const out: PodRuntime[] = [];
        for (const pod of node.pods) {
          const podNetns = env.names.pod(node.name, pod.name);
          const res = await cniCall('ADD', { nodeNetns: env.names.node(node), podNetns, containerId: podNetns, ifname: IF.podEth, config: bridgeConfig(env.topology, node, env.mtu, env.ipamDir), binDir: env.binDir, plugin: 'bridge' });
          const ip = res?.ips?.[0]?.address.split('/')[0];
          const hostIf = res?.interfaces?.find((i) => !i.sandbox && i.name !== IF.cni0)?.name;
          if (!ip || !hostIf) throw new Error(`CNI ADD for ${pod.id} returned no address or host interface: ${JSON.stringify(res)}`);
          const p: PodRuntime = { node: node.name, name: pod.name, id: pod.id, netns: podNetns, ip, hostIf };
          onPod?.(p);
          out.push(p);
        }
        return out;
      }),
    ),
  );
  return perNode.flat();
}

export async function delFlannelPods(env: PodEnv, pods: readonly PodRuntime[]): Promise<void> {
  const limit = pLimit(4);
  await Promise.all(
    pods.map((p) =>
      limit(() => {
        const node = env.topology.nodes.find((n) => n.name === p.node)!;
        return cniCall('DEL', { nodeNetns: env.names.node(p.node), podNetns: p.netns, containerId: p.netns, ifname: IF.podEth, config: bridgeConfig(env.topology, node, env.mtu, env.ipamDir), binDir: env.binDir, plugin: 'bridge' });
      }),
    ),
  );
}
