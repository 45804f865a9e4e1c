// Reads what the kernel actually holds in a node (ip -json, bridge -json: one process per node).
import pLimit from 'p-limit';
import type { NodeKernelState } from '../plan/kernel-state.ts';
import type { NodeExecutor } from './executor.ts';

const SEP = '@@cnilab@@';
const SCRIPT =
  `ip -d -json addr show; echo ${SEP}; ip -json route show; echo ${SEP}; ip -json neigh show; echo ${SEP}; bridge -json ` + `fdb show`;

export function parseSnapshot(node: string, out: string): NodeKernelState {
  const [addr, route, neigh, fdb] = out.split(SEP).map((s) => (s.trim() ? JSON.parse(s.trim()) : []));
  type A = {
    ifname: string;
    flags?: string[];
    mtu: number;
    address?: string;
    linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number; local?: string; link?: string; learning?: boolean } };
    addr_info?: { local: string; prefixlen: number }[];
  };
  return {
    node,
    links: (addr as A[]).map((l) => ({
      ifname: l.ifname,
      ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}),
      up: (l.flags ?? []).includes('UP'),
      mtu: l.mtu,
      addrs: (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`),
      ...(l.address ? { mac: l.address } : {}),
      ...(l.linkinfo?.info_kind === 'vxlan' && l.linkinfo.info_data
        ? {
            vxlan: {
              id: l.linkinfo.info_data.id ?? 0,
              port: l.linkinfo.info_data.port ?? 0,
              ...(l.linkinfo.info_data.local ? { local: l.linkinfo.info_data.local } : {}),
              ...(l.linkinfo.info_data.link ? { dev: l.linkinfo.info_data.link } : {}),
              learning: l.linkinfo.info_data.learning ?? true,
            },
          }
        : {}),
    })),
    routes: (route as (NodeKernelState['routes'][number] & { flags?: string[] })[]).map((r) => ({
      dst: r.dst,
      ...(r.gateway ? { gateway: r.gateway } : {}),
      ...(r.dev ? { dev: r.dev } : {}),
      ...(r.protocol ? { protocol: String(r.protocol) } : {}),
      ...(r.type ? { type: r.type } : {}),
      ...(r.flags?.includes('onlink') ? { onlink: true } : {}),
    })),
    neigh: (neigh as { dst: string; dev: string; lladdr?: string; state?: string[] }[]).map((n) => ({
      dst: n.dst,
      dev: n.dev,
      ...(n.lladdr ? { lladdr: n.lladdr } : {}),
      permanent: (n.state ?? []).includes('PERMANENT'),
    })),
    fdb: (fdb as { mac: string; ifname: string; dst?: string }[]).map((f) => ({
      mac: f.mac,
      ifname: f.ifname,
      ...(f.dst ? { dst: f.dst } : {}),
    })),
  };
}

export async function snapshotNodes(nodes: readonly { name: string; exec: NodeExecutor }[]): Promise<NodeKernelState[]> {
  const limit = pLimit(8);
  return Promise.all(
    nodes.map((n) => limit(async () => parseSnapshot(n.name, (await n.exec.run(['sh', '-c', SCRIPT], { op: 'inspect' })).stdout))),
  );
}
