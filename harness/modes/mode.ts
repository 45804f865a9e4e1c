// What every data-plane mode provides. Modes are plug-ins: nothing outside modes/ asks "which mode?".
import type { LabNames } from '../plan/names.ts';
import type { KernelOp } from '../plan/ops.ts';
import type { WireExpectation } from '../results/schema.ts';
import type { PathKind, ResolvedNode, Topology } from '../topology/types.ts';

export const MODE_NAMES = [
  'flannel-host-gw',
  'flannel-vxlan',
  'flannel-vxlan-directrouting',
  'calico-bgp',
  'calico-ipip-always',
  'calico-ipip-crosssubnet',
  'calico-vxlan-always',
  'calico-vxlan-crosssubnet',
] as const;
export type ModeName = (typeof MODE_NAMES)[number];
export type Family = 'flannel' | 'calico';
export type KernelFeature = 'veth' | 'bridge' | 'vxlan' | 'ipip';
/** Host programs a mode needs besides iproute2. */
export type Tool = 'cni-plugins' | 'bird';

export function isModeName(s: string): s is ModeName {
  return (MODE_NAMES as readonly string[]).includes(s);
}

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

export { DEFAULT_SETTINGS, type ModeSettings } from '../topology/types.ts';
import type { ModeSettings } from '../topology/types.ts';

export interface ModeContext {
  topology: Topology;
  names: LabNames;
  pods: readonly PodRuntime[];
  settings: ModeSettings;
}

export interface ModeDef {
  name: ModeName;
  family: Family;
  summary: string;
  /** What it programs and what it must show on the wire, for README and `cnilab modes`. */
  programs: string;
  kernel: readonly KernelFeature[];
  tools: readonly Tool[];
  /** MTU pods get in this mode. */
  podMtu(t: Topology): number;
  plan(ctx: ModeContext): KernelOp[];
  /** What a probe from `src` to `dst` must show on the wire. */
  expect(src: ResolvedNode, dst: ResolvedNode, path: PathKind, ctx: Pick<ModeContext, 'topology' | 'settings'>): WireExpectation;
  /** Extra devices and routes this mode owns, so a switch can prove none is left behind. */
  owns: { devices: readonly string[]; routeProtos?: readonly string[] };
  /** Route distribution by BIRD (Calico's BGP modes): which learned routes BIRD writes to the kernel. */
  bird?: BirdPolicy;
}

/**
 * all: every learned block (calico-bgp); none: felix programs them all (IPIP Always);
 * same-subnet: BIRD programs on-subnet peers, felix the tunnelled rest (IPIP CrossSubnet).
 */
export interface BirdPolicy {
  kernelExport: 'all' | 'none' | 'same-subnet';
}
