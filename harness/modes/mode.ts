// A data-plane mode is data plus a programmer. The data is what the oracle, the stale-state check,
// the decoder and the reports need (expectations per path, MTU, the devices, routes and daemons it
// owns, what people cite for its cost); the programmer says how to make the kernel do it (a kernel
// plan for netns and guests; manifests for clusters later). Nothing outside modes/ asks "which mode?".
import type { LabNames } from '../plan/names.ts';
import type { KernelOp } from '../plan/ops.ts';
import type { Family, PodRuntime } from '../plan/pods.ts';
import type { WireExpectation } from '../results/schema.ts';
import type { ModeSettings, PathKind, ResolvedNode, Topology } from '../topology/types.ts';

export type { Family, PodRuntime } from '../plan/pods.ts';
export { DEFAULT_SETTINGS, type ModeSettings } from '../topology/types.ts';

/** Mode names are the registry's keys: a new mode is a new file and one registry line. */
export type ModeName = string;
export type KernelFeature = 'veth' | 'bridge' | 'vxlan' | 'ipip' | 'tun';
/** Host programs a mode needs besides iproute2. */
export type Tool = 'cni-plugins' | 'bird' | 'flanneld' | 'etcd' | 'calico-node' | 'bird1';

export interface ModeContext {
  topology: Topology;
  names: LabNames;
  pods: readonly PodRuntime[];
  settings: ModeSettings;
  /**
   * VTEP MACs by node, when a real daemon chose them (flanneld picks random ones and publishes them
   * in its lease); without them the model derives one from the node IP.
   */
  vtepMacs?: Readonly<Record<string, string>>;
  /** Tunnel addresses by node, when a real daemon's IPAM chose them (calico-node's); else the block's first address. */
  tunnelAddrs?: Readonly<Record<string, string>>;
}

/** A device a mode creates. A fallback device (tunl0) cannot be deleted: leaving it down and bare is clean. */
export interface DeviceClaim {
  /** A name or a glob with `*` (flannel.*). */
  name: string;
  fallback?: boolean;
}

/**
 * Routes a mode writes, by their protocol field. `plan`: written from the mode's plan, so each must
 * be in the current plan (felix's proto 80). `daemon`: written by a routing daemon (BIRD's "bird"),
 * so they must be gone once no mode with that daemon runs.
 */
export interface RouteClaim {
  proto: string;
  by: 'plan' | 'daemon';
  /** Who writes them, in messages: "felix", "BIRD". */
  writer: string;
}

/**
 * all: every learned block (calico-bgp); none: felix programs them all (IPIP Always);
 * same-subnet: BIRD programs on-subnet peers, felix the tunnelled rest (IPIP CrossSubnet).
 */
export interface BirdPolicy {
  kernelExport: 'all' | 'none' | 'same-subnet';
}

/** How a mode is programmed on a kernel the lab drives itself (netns, uml, qemu). */
export interface KernelProgram {
  plan(ctx: ModeContext): KernelOp[];
  /** Route distribution by BIRD (Calico's BGP modes): which learned routes BIRD writes to the kernel. */
  bird?: BirdPolicy;
}

/**
 * A mode the real flanneld programs: cnilab writes net-conf.json into the lab's etcd and runs one
 * flanneld per node; the kernel state is flanneld's own.
 */
export interface FlanneldProgram {
  /** net-conf.json's Backend object, as users write it. */
  backend(settings: ModeSettings): Record<string, unknown>;
  /** The BackendType flanneld writes into its leases for this backend: how a restart is seen to be done. */
  leaseType: string;
  /** cnilab's own mode for the same backend: its plan, fed flanneld's leases, is compared with the kernel. */
  model?: ModeDef;
}

/**
 * A mode the real calico-node programs: cnilab sets the IPPool's encapsulation through the lab's
 * kube-apiserver and runs calico-node's startup, felix (and, with BIRD as its backend, confd and
 * BIRD 1.6) on every node; pods are attached by the Calico CNI plugin with calico-ipam.
 */
export interface CalicoNodeProgram {
  /** The IPPool's ipipMode and vxlanMode, as users set them. */
  pool: { ipipMode: EncapMode; vxlanMode: EncapMode };
  /** CALICO_NETWORKING_BACKEND: `bird` runs confd and BIRD next to felix (calico.yaml); `vxlan` felix alone (calico-vxlan.yaml). */
  backend: 'bird' | 'vxlan';
  /** cnilab's own mode for the same pool: its plan, fed Calico's blocks, tunnel addresses and VTEP MACs, is compared with the kernel. */
  model: ModeDef;
}

/**
 * Which BIRD runs confd's rendering for a calico-node mode: Debian's 1.6 as rendered, or (an IPIP
 * pool, whose routes need Calico's krt_tunnel, which no stock BIRD 1.6 has) stock BIRD 2 on the
 * rendering rewritten by program/bird2-from-confd.py; none for the vxlan backend.
 */
export function calicoBird(p: CalicoNodeProgram): 'bird1' | 'bird2' | undefined {
  if (p.backend !== 'bird') return undefined;
  return p.pool.ipipMode === 'Never' ? 'bird1' : 'bird2';
}

/** How a mode is programmed: by cnilab's own plan, or by a real daemon. */
export type ModeProgram = { kernel: KernelProgram } | { flanneld: FlanneldProgram } | { calicoNode: CalicoNodeProgram };

/** A figure people cite for a mode's cost against the bare network, as a fraction range. */
export interface CitedCost {
  text: string;
  lo: number;
  hi: number;
}

/** Calico's per-pool encapsulation setting (IPPool ipipMode / vxlanMode). */
export type EncapMode = 'Never' | 'Always' | 'CrossSubnet';

/**
 * The CNI setting a mode is: how a user's config (conform) finds the modes that program it, by what
 * the config says rather than by a mode's name.
 */
export type ModeConfig =
  | { cni: 'flannel'; backend: string; directRouting: boolean }
  /**
   * `backend` (calico_backend) only where a mode depends on it: the real calico-node's modes run
   * BIRD or not by it; cnilab's models match a pool whatever it is.
   */
  | { cni: 'calico'; ipipMode: EncapMode; vxlanMode: EncapMode; backend?: 'bird' | 'vxlan' };

export interface ModeDef {
  name: ModeName;
  family: Family;
  summary: string;
  /** What it programs and what it must show on the wire, for README and `cnilab modes`. */
  programs: string;
  needs: { kernel: readonly KernelFeature[]; tools: readonly Tool[] };
  /** MTU pods get in this mode, derived from the underlay (a config's own MTU: see podMtuOf). */
  podMtu(t: Topology): number;
  /** What a probe from `src` to `dst` must show on the wire. */
  expect(src: ResolvedNode, dst: ResolvedNode, path: PathKind, ctx: Pick<ModeContext, 'topology' | 'settings'>): WireExpectation;
  /** UDP ports on which this mode's traffic is VXLAN, for the decoder. */
  vxlanPorts(settings: ModeSettings): number[];
  /** What it owns, so a switch can prove none of it is left behind. */
  owns: { devices: readonly DeviceClaim[]; routes: readonly RouteClaim[] };
  /** The widely cited cost of its headline (same-subnet) path. */
  cited: CitedCost;
  program: ModeProgram;
  /** The CNI setting this mode programs, when it is one a user's config can ask for. */
  config?: ModeConfig;
  /** Left out of a plain `run` (minutes, not seconds), with why: it runs when named in --modes. */
  onlyWhenNamed?: string;
}

/** How the reports draw a family: its name in a legend and its colour (cnilab's models light, the real daemons dark). */
export const FAMILY_STYLE: Readonly<Record<Family, { label: string; colour: string }>> = {
  flannel: { label: 'flannel (cnilab model)', colour: '#2a6fdb' },
  flanneld: { label: 'flanneld (the real daemon)', colour: '#17407f' },
  calico: { label: 'Calico (cnilab model)', colour: '#e66a00' },
  'calico-node': { label: 'calico-node (the real daemon)', colour: '#8a3f00' },
};

/** Is this mode run by the real daemon (rather than cnilab's model of it)? */
export const isRealDaemon = (m: ModeDef): boolean => !('kernel' in m.program);

/** The real flanneld's program of a mode, or undefined for any other mode. */
export const flanneldProgram = (m: ModeDef): FlanneldProgram | undefined => ('flanneld' in m.program ? m.program.flanneld : undefined);

/** The real calico-node's program of a mode, or undefined for any other mode. */
export const calicoNodeProgram = (m: ModeDef): CalicoNodeProgram | undefined =>
  'calicoNode' in m.program ? m.program.calicoNode : undefined;

/** The kernel plan of a mode cnilab programs itself, or undefined for a daemon's mode. */
export const kernelProgram = (m: ModeDef): KernelProgram | undefined => ('kernel' in m.program ? m.program.kernel : undefined);

/** The pods' MTU a lab gets in this mode: the config's own when it sets one, else the mode's. */
export const podMtuOf = (mode: Pick<ModeDef, 'podMtu'>, t: Topology, settings: Pick<ModeSettings, 'podMtu'>) =>
  settings.podMtu ?? mode.podMtu(t);
