// Reads what the kernel actually holds on each node (ip -json, bridge -json: one process per node)
// and finds what a previous mode left behind. Calico has shipped exactly this bug: tunl0 routes
// surviving an IPIP -> VXLAN migration.
import pLimit from 'p-limit';
import { run } from '../kernel/exec.ts';
import { allModes } from '../modes/registry.ts';
import type { ModeDef } from '../modes/mode.ts';
import { contains, parseCidr, type Cidr } from '../net/ipv4.ts';
import type { KernelOp } from '../plan/ops.ts';

export interface NodeKernelState {
  node: string;
  links: { ifname: string; kind?: string; up: boolean; mtu: number; addrs: string[] }[];
  routes: { dst: string; gateway?: string; dev?: string; protocol?: string; type?: string }[];
  neigh: { dst: string; dev: string; lladdr?: string; permanent: boolean }[];
  fdb: { mac: string; ifname: string; dst?: string }[];
}

const SEP = '@@cnilab@@';

export function parseSnapshot(node: string, out: string): NodeKernelState {
  const [addr, route, neigh, fdb] = out.split(SEP).map((s) => (s.trim() ? JSON.parse(s.trim()) : []));
  type A = { ifname: string; flags?: string[]; mtu: number; linkinfo?: { info_kind?: string }; addr_info?: { local: string; prefixlen: number }[] };
  return {
    node,
    links: (addr as A[]).map((l) => ({ ifname: l.ifname, ...(l.linkinfo?.info_kind ? { kind: l.linkinfo.info_kind } : {}), up: (l.flags ?? []).includes('UP'), mtu: l.mtu, addrs: (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`) })),
    routes: (route as NodeKernelState['routes']).map((r) => ({ dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.dev ? { dev: r.dev } : {}), ...(r.protocol ? { protocol: String(r.protocol) } : {}), ...(r.type ? { type: r.type } : {}) })),
    neigh: (neigh as { dst: string; dev: string; lladdr?: string; state?: string[] }[]).map((n) => ({ dst: n.dst, dev: n.dev, ...(n.lladdr ? { lladdr: n.lladdr } : {}), permanent: (n.state ?? []).includes('PERMANENT') })),
    fdb: (fdb as { mac: string; ifname: string; dst?: string }[]).map((f) => ({ mac: f.mac, ifname: f.ifname, ...(f.dst ? { dst: f.dst } : {}) })),
  };
}

export async function snapshotNodes(nodes: readonly { name: string; netns: string }[]): Promise<NodeKernelState[]> {
  const limit = pLimit(8);
  const script = `ip -d -json addr show; echo ${SEP}; ip -json route show; echo ${SEP}; ip -json neigh show; echo ${SEP}; bridge -json fdb show`;
  return Promise.all(nodes.map((n) => limit(async () => parseSnapshot(n.name, (await run(['sh', '-c', script], { netns: n.netns, op: 'inspect' })).stdout))));
}

const glob = (pattern: string) => new RegExp(`^${pattern.replaceAll('.', '\\.').replaceAll('*', '.*')}$`);

/** Devices every mode may own; the ones the current mode does not own must be gone (or, for tunl0, down and empty). */
function foreignDevices(current: ModeDef | undefined): RegExp[] {
  const mine = new Set(current?.owns.devices ?? []);
  return [...new Set(allModes().flatMap((m) => m.owns.devices))].filter((d) => !mine.has(d)).map(glob);
}

/** What the current mode left wrong or what an earlier one left behind, in words; empty when clean. */
export function findStale(state: NodeKernelState, ctx: { podCidr: Cidr; mode: ModeDef | undefined; modeOps: readonly KernelOp[]; netns: string }): string[] {
  const out: string[] = [];
  const foreign = foreignDevices(ctx.mode);
  const isForeign = (dev?: string) => dev !== undefined && foreign.some((re) => re.test(dev));
  for (const l of state.links) {
    if (!isForeign(l.ifname)) continue;
    if (l.ifname === 'tunl0') {
      // The ipip module's fallback device cannot be deleted; it must be down and without an address.
      if (l.up || l.addrs.length) out.push(`${state.node}: tunl0 still ${l.up ? 'up' : 'down'}${l.addrs.length ? ` with ${l.addrs.join(', ')}` : ''}`);
    } else out.push(`${state.node}: device ${l.ifname} (${l.kind ?? '?'}) left behind`);
  }
  const inPods = (dst: string) => {
    const c = dst === 'default' ? undefined : parseCidr(dst.includes('/') ? dst : `${dst}/32`);
    return c !== undefined && typeof c !== 'string' && contains(ctx.podCidr, c.network);
  };
  const planned = new Set(ctx.modeOps.filter((o): o is Extract<KernelOp, { kind: 'route' }> => o.kind === 'route' && o.netns === ctx.netns).map((o) => o.dst));
  const protos = new Set(ctx.mode?.owns.routeProtos ?? []);
  for (const r of state.routes) {
    if (!inPods(r.dst)) continue;
    if (isForeign(r.dev)) out.push(`${state.node}: route ${r.dst} via ${r.gateway ?? '-'} dev ${r.dev} left behind`);
    else if (r.protocol === '80' && !planned.has(r.dst)) out.push(`${state.node}: felix route ${r.dst} dev ${r.dev} not in the current plan`);
    else if (r.protocol === 'bird' && !protos.has('bird')) out.push(`${state.node}: BIRD route ${r.dst} survives a mode without BIRD`);
  }
  for (const r of planned) {
    if (r !== 'default' && !state.routes.some((x) => x.dst === r)) out.push(`${state.node}: planned route ${r} is missing`);
  }
  for (const n of state.neigh) if (n.permanent && isForeign(n.dev)) out.push(`${state.node}: permanent neighbour ${n.dst} on ${n.dev} left behind`);
  for (const f of state.fdb) if (f.dst && isForeign(f.ifname)) out.push(`${state.node}: FDB ${f.mac} dst ${f.dst} on ${f.ifname} left behind`);
  return out;
}

