// Finds what a previous mode left behind in a node's kernel, from what the modes say they own.
// Calico has shipped exactly this bug: tunl0 routes surviving an IPIP -> VXLAN migration. Pure.
import { type Cidr, routeIn } from '../net/ipv4.ts';
import type { NodeKernelState } from '../plan/kernel-state.ts';
import type { KernelOp } from '../plan/ops.ts';
import type { DeviceClaim, ModeDef, RouteClaim } from './mode.ts';

const glob = (pattern: string) => new RegExp(`^${pattern.replaceAll('.', '\\.').replaceAll('*', '.*')}$`);

/** Whether a device name is one of `claims` (names or globs such as flannel.*). */
export function deviceMatcher(claims: readonly DeviceClaim[]): (ifname: string) => boolean {
  const res = claims.map((c) => glob(c.name));
  return (ifname) => res.some((r) => r.test(ifname));
}

export interface StaleContext {
  podCidr: Cidr;
  /** The mode programmed now (undefined: none). */
  mode: ModeDef | undefined;
  /** Every mode that may have run before (the registry's). */
  modes: readonly ModeDef[];
  modeOps: readonly KernelOp[];
  netns: string;
  /** Devices a real daemon left, already recorded as a fact about it: neither they nor what is on them count here. */
  recordedElsewhere?: readonly string[];
}

/** Devices other modes own and the current one does not: they must be gone (a fallback device: down and bare). */
function foreignDevices(ctx: StaleContext): { re: RegExp; claim: DeviceClaim }[] {
  const mine = new Set(ctx.mode?.owns.devices.map((d) => d.name) ?? []);
  const all = new Map<string, DeviceClaim>();
  for (const m of ctx.modes) for (const d of m.owns.devices) if (!mine.has(d.name)) all.set(d.name, d);
  return [...all.values()].map((claim) => ({ re: glob(claim.name), claim }));
}

/** What the current mode left wrong or what an earlier one left behind, in words; empty when clean. */
export function findStale(state: NodeKernelState, ctx: StaleContext): string[] {
  const out: string[] = [];
  const foreign = foreignDevices(ctx);
  const elsewhere = new Set(ctx.recordedElsewhere ?? []);
  const claimOf = (dev?: string) => (dev === undefined || elsewhere.has(dev) ? undefined : foreign.find((f) => f.re.test(dev))?.claim);
  for (const l of state.links) {
    const claim = claimOf(l.ifname);
    if (!claim) continue;
    if (claim.fallback) {
      // A module's fallback device cannot be deleted; it must be down and without an address.
      if (l.up || l.addrs.length)
        out.push(`${state.node}: ${l.ifname} still ${l.up ? 'up' : 'down'}${l.addrs.length ? ` with ${l.addrs.join(', ')}` : ''}`);
    } else out.push(`${state.node}: device ${l.ifname} (${l.kind ?? '?'}) left behind`);
  }
  const inPods = (dst: string) => routeIn(ctx.podCidr, dst);
  const planned = new Set(
    ctx.modeOps.filter((o): o is Extract<KernelOp, { kind: 'route' }> => o.kind === 'route' && o.netns === ctx.netns).map((o) => o.dst),
  );
  const claims = new Map<string, RouteClaim>();
  for (const m of ctx.modes) for (const r of m.owns.routes) claims.set(r.proto, r);
  // The current mode's word on its own protocol wins: felix's proto 80 is planned by cnilab's Calico
  // modes, but the real felix's own in the calico-node modes.
  for (const r of ctx.mode?.owns.routes ?? []) claims.set(r.proto, r);
  const mine = new Set(ctx.mode?.owns.routes.map((r) => r.proto) ?? []);
  for (const r of state.routes) {
    if (!inPods(r.dst)) continue;
    const claim = r.protocol === undefined ? undefined : claims.get(r.protocol);
    if (claimOf(r.dev)) out.push(`${state.node}: route ${r.dst} via ${r.gateway ?? '-'} dev ${r.dev} left behind`);
    else if (claim?.by === 'plan' && !planned.has(r.dst))
      out.push(`${state.node}: ${claim.writer} route ${r.dst} dev ${r.dev} not in the current plan`);
    else if (claim?.by === 'daemon' && !mine.has(claim.proto))
      out.push(`${state.node}: ${claim.writer} route ${r.dst} survives a mode without ${claim.writer}`);
  }
  for (const r of planned) {
    if (r !== 'default' && !state.routes.some((x) => x.dst === r)) out.push(`${state.node}: planned route ${r} is missing`);
  }
  for (const n of state.neigh)
    if (n.permanent && claimOf(n.dev)) out.push(`${state.node}: permanent neighbour ${n.dst} on ${n.dev} left behind`);
  for (const f of state.fdb)
    if (f.dst && claimOf(f.ifname)) out.push(`${state.node}: FDB ${f.mac} dst ${f.dst} on ${f.ifname} left behind`);
  return out;
}
