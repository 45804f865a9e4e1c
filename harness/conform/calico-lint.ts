// What is wrong with a Calico config, on a given topology, and which pool a lab proves. Each rule
// names what Calico itself does with the mistake (refuses it, ignores it, or runs and drops packets).
import { ENCAP_OVERHEAD } from '../modes/common.ts';
import { parseCidr } from '../net/ipv4.ts';
import type { Topology } from '../topology/types.ts';
import type { EncapMode, ModeConfig } from '../modes/mode.ts';
import { CALICO_BACKENDS, type CalicoPlane, type CalicoPool, ENCAP_MODES } from './calico.ts';
import { type Finding, inRange, podCidrOverlaps } from './plane.ts';
import { nodeLabels, parseSelector } from './selector.ts';

const isV6 = (p: CalicoPool) => p.cidr.value.includes(':');
const on = (mode: string) => mode !== 'Never';
/** Only exactly "none" and "vxlan" leave BIRD off (node/filesystem/etc/rc.local). */
export const runsBird = (p: CalicoPlane) => p.backend.value !== 'none' && p.backend.value !== 'vxlan';
/** The networking backend a real calico-node mode must have for this config: BIRD or not. */
export const networkingOf = (p: CalicoPlane): 'bird' | 'vxlan' => (runsBird(p) ? 'bird' : 'vxlan');

/** The lab nodes a pool's nodeSelector picks, by the labels a kubelet gives them; an error when unreadable. */
export function selectedNodes(p: CalicoPool, t: Topology): string[] | { error: string } {
  const s = parseSelector(p.nodeSelector.value);
  if (typeof s !== 'function') return s;
  return t.nodes.filter((n) => s(nodeLabels(n.name))).map((n) => n.name);
}

/** The pool a lab proves: the first enabled IPv4 pool that selects every node (else some node). */
export function provenPool(plane: CalicoPlane, t: Topology): CalicoPool | undefined {
  const usable = plane.pools.filter((p) => !isV6(p) && !p.disabled.value && typeof parseCidr(p.cidr.value) !== 'string');
  const count = (p: CalicoPool) => {
    const n = selectedNodes(p, t);
    return Array.isArray(n) ? n.length : 0;
  };
  return usable.find((p) => count(p) === t.nodes.length) ?? usable.find((p) => count(p) > 0);
}

/** The setting a mode must program for this pool, as felix and BIRD would; or why no mode can. */
export function calicoModeConfig(plane: CalicoPlane, pool: CalicoPool | undefined): ModeConfig | { none: string } {
  // Said before the pool: with policy only or a migration, no pool of these files is the pods'.
  if (policyOnly(plane)) return { none: POLICY_ONLY };
  if (plane.migration) return { none: MIGRATION };
  if (!pool) return { none: 'no enabled IPv4 pool selects the nodes' };
  const ipip = pool.ipipMode.value as EncapMode;
  const vxlan = pool.vxlanMode.value as EncapMode;
  if (!ENCAP_MODES.includes(ipip) || !ENCAP_MODES.includes(vxlan)) return { none: 'its encapsulation mode is not valid' };
  if (on(ipip) && on(vxlan)) return { none: 'Calico refuses IPIP and VXLAN on one pool' };
  // IPIP and unencapsulated pools need BIRD to carry the routes; VXLAN is felix's alone.
  if (!on(vxlan) && !runsBird(plane))
    return { none: on(ipip) ? 'IPIP without BIRD' : 'no encapsulation and no BGP: nothing routes to other nodes' };
  return { cni: 'calico', ipipMode: ipip, vxlanMode: vxlan };
}

/** Calico for policy only (calico-policy-only.yaml): host-local IPAM, so no pool is used and the platform routes pods. */
const policyOnly = (plane: CalicoPlane) => plane.ipam !== undefined && plane.ipam.value !== 'calico-ipam';
const POLICY_ONLY =
  "Calico enforces policy only here: pods take the platform's addresses (host-local, a cloud VPC's) and the platform " +
  'routes them, which a lab does not have';
const MIGRATION =
  "flannel-migration's calico.yaml: the migration controller (migration-job.yaml) makes the pool from flannel's network, VXLAN, " +
  'so the env pool is not the one pods use';

type Add = (rule: string, severity: Finding['severity'], at: string, message: string, fix: string) => void;

export function lintCalico(plane: CalicoPlane, t: Topology): Finding[] {
  const out: Finding[] = [];
  const add: Add = (rule, severity, at, message, fix) => out.push({ rule, severity, at, message, fix });
  // A manifest whose pods Calico does not network: the pools' rules do not apply.
  if (notCalicoNetworking(plane, add)) return out;
  lintBackendAndPools(plane, add);
  const v4 = plane.pools.filter((p) => !isV6(p));
  const enabled = v4.filter((p) => !p.disabled.value);
  for (const p of v4) out.push(...lintPool(p, plane, t, enabled.length));
  // The encapsulations the enabled pools use (one with a CIDR that does not parse uses none).
  const live = enabled.filter((p) => typeof parseCidr(p.cidr.value) !== 'string');
  const vxlanUsed = live.some((p) => on(p.vxlanMode.value));
  const ipipUsed = live.some((p) => on(p.ipipMode.value));
  if (vxlanUsed) lintVxlanSettings(plane, add);
  lintMtus(plane, t, { vxlanUsed, ipipUsed }, add);
  if (runsBird(plane)) lintBgp(plane, add);
  return out;
}

/** calico-policy-only and flannel-migration: said, and nothing else checked (true). */
function notCalicoNetworking(plane: CalicoPlane, add: Add): boolean {
  if (policyOnly(plane)) {
    // No pool is used (calico-ipam does not run): the pools' rules do not apply.
    add(
      'policy-only',
      'warning',
      plane.ipam!.at,
      `the pods' IPAM is ${plane.ipam!.value}, not calico-ipam: ${POLICY_ONLY} (no Calico data plane to check)`,
      'nothing to fix if that is meant (calico-policy-only.yaml, an Installation on a platform CNI); ' +
        'for Calico networking use calico.yaml or cni.type Calico',
    );
    return true;
  }
  if (plane.migration) {
    add(
      'flannel-migration',
      'warning',
      plane.migration,
      `${MIGRATION}: its data plane is flannel's until a node migrates, then the controller's pool (not checked here)`,
      "check kube-flannel.yml's net-conf.json: the pool the controller makes follows it",
    );
    return true;
  }
  return false;
}

/** calico_backend's spelling, and whether there is an IPv4 pool to check at all. */
function lintBackendAndPools(plane: CalicoPlane, add: Add): void {
  const b = plane.backend;
  if (!(CALICO_BACKENDS as readonly string[]).includes(b.value))
    add(
      'backend-unknown',
      'warning',
      b.at,
      `calico_backend "${b.value}" is not bird, vxlan or none: calico-node starts BIRD for it (only "none" and "vxlan" turn it off)`,
      'write bird, vxlan or none, in lower case',
    );
  const v4 = plane.pools.filter((p) => !isV6(p));
  if (!v4.length && plane.pools.length)
    // Calico's IPv6 pools are real, but cnilab's labs are IPv4: read, not proven (as flannel's ipv6-only).
    add(
      'ipv6-only',
      'warning',
      plane.pools[0]!.cidr.at,
      'only IPv6 pools: cnilab builds IPv4 labs, so their data plane is read but not proven',
      'nothing to fix in the config; a dual-stack config is proven on its IPv4 pool',
    );
  else if (!v4.length && (plane.install === 'resources' || plane.poolsElsewhere))
    // Resources alone (a BGPConfiguration, a FelixConfiguration) say nothing of the pool: the
    // installation makes one. Not an error in these files; nothing to prove without it.
    add(
      'no-pool-given',
      'warning',
      plane.poolsElsewhere ?? plane.source ?? b.at,
      plane.poolsElsewhere
        ? 'ipPools: [] makes the operator create no pool, and no IPPool is among these files: its data plane is not checked'
        : 'no IPPool among these files: the installation makes the pool (calico-node: 192.168.0.0/16 unless told), ' +
            'so its data plane is not checked',
      'give the IPPool, calico.yaml or the Installation with these resources',
    );
  else if (!v4.length)
    add(
      'no-usable-pool',
      'error',
      b.at,
      'no IPv4 pool: pods get no addresses',
      'add an IPPool (or CALICO_IPV4POOL_CIDR, or Installation ipPools)',
    );
}

/** One IPv4 pool: its CIDR, modes, the route distribution it needs, its blocks, selector and state. */
function lintPool(p: CalicoPool, plane: CalicoPlane, t: Topology, enabled: number): Finding[] {
  const out: Finding[] = [];
  const add: Add = (rule, severity, at, message, fix) => out.push({ rule, severity, at, message, fix });
  const name = `pool ${p.name}`;
  const cidr = parseCidr(p.cidr.value);
  if (typeof cidr === 'string') {
    add('pool-cidr-invalid', 'error', p.cidr.at, `${name}: cidr "${p.cidr.value}": ${cidr}`, 'write it as a.b.c.d/len');
    return out;
  }
  for (const [k, m] of [
    ['ipipMode', p.ipipMode],
    ['vxlanMode', p.vxlanMode],
  ] as const)
    if (!ENCAP_MODES.includes(m.value as EncapMode))
      add(
        'encap-mode-invalid',
        'error',
        m.at,
        `${name}: ${k} "${m.value}" is not Never, Always or CrossSubnet: ` +
          `${p.origin === 'calico-node env' ? 'calico-node exits' : 'the API server refuses the pool'}`,
        'use Never, Always or CrossSubnet',
      );
  const sel = selectedNodes(p, t);
  lintPoolRouting(p, plane, t, sel, add);
  lintPoolBlocks(p, cidr.prefix, t, add);
  const shown = `${name} (${p.cidr.value}${p.cidr.default ? ", Calico's default: nothing set it" : ''})`;
  out.push(...podCidrOverlaps(cidr, shown, p.cidr.at, t));
  if (!Array.isArray(sel))
    add(
      'selector-invalid',
      'error',
      p.nodeSelector.at,
      `${name}: nodeSelector ${sel.error}`,
      'write a Calico selector, e.g. all() or kubernetes.io/os == "linux"',
    );
  else if (!sel.length && !p.disabled.value)
    add(
      'pool-selects-no-node',
      enabled > 1 ? 'warning' : 'error',
      p.nodeSelector.at,
      `${name}: nodeSelector "${p.nodeSelector.value}" selects none of the ${t.nodes.length} nodes ` +
        '(labelled as a kubelet does: kubernetes.io/hostname, kubernetes.io/os=linux)',
      'use all(), or a selector the nodes match',
    );
  if (p.disabled.value)
    add(
      'pool-disabled',
      enabled ? 'warning' : 'error',
      p.disabled.at,
      `${name} is disabled: no pod gets an address from it${enabled ? '' : ', and no other pool is enabled'}`,
      'set disabled: false, or remove the pool',
    );
  return out;
}

/** VXLAN's VNI and port, when a pool uses VXLAN. */
function lintVxlanSettings(plane: CalicoPlane, add: Add): void {
  if (!inRange(plane.vxlanVni.value, 1, 16_777_215))
    add(
      'vni-range',
      'error',
      plane.vxlanVni.at,
      `VXLAN VNI ${plane.vxlanVni.value} is outside 1-16777215 (24 bits)`,
      'pick a VNI in 1-16777215',
    );
  if (!inRange(plane.vxlanPort.value, 1, 65_535))
    add('port-range', 'error', plane.vxlanPort.at, `VXLAN port ${plane.vxlanPort.value} is not a UDP port`, 'pick a port in 1-65535');
}

/** The pods' and the tunnels' MTUs against the underlay's, less the encapsulation in use. */
function lintMtus(plane: CalicoPlane, t: Topology, { vxlanUsed, ipipUsed }: { vxlanUsed: boolean; ipipUsed: boolean }, add: Add): void {
  const overhead = vxlanUsed ? ENCAP_OVERHEAD.vxlan : ipipUsed ? ENCAP_OVERHEAD.ipip : 0;
  const encap = vxlanUsed ? 'VXLAN' : ipipUsed ? 'IPIP' : 'no encapsulation';
  const mtus = [
    { m: plane.podMtu, oh: overhead, what: encap, dev: 'the pods' },
    ...(ipipUsed ? [{ m: plane.ipipMtu, oh: ENCAP_OVERHEAD.ipip, what: 'IPIP', dev: 'tunl0' }] : []),
    ...(vxlanUsed ? [{ m: plane.vxlanMtu, oh: ENCAP_OVERHEAD.vxlan, what: 'VXLAN', dev: 'vxlan.calico' }] : []),
  ];
  // One finding per place: the manifest's veth_mtu feeds the pods' and both tunnels' MTUs.
  const said = new Set<string>();
  for (const { m, oh, what, dev } of mtus)
    if (m && m.value > t.mtu - oh && !said.has(m.at) && said.add(m.at))
      add(
        'mtu-too-large',
        'error',
        m.at,
        `MTU ${m.value} for ${dev} is larger than the underlay's ${t.mtu} minus ${what}'s ${oh} bytes: full-size packets are dropped`,
        `set it to ${t.mtu - oh} or less (or 0: Calico detects it)`,
      );
}

/** BIRD's settings: someone to learn routes from, and an AS number. */
function lintBgp(plane: CalicoPlane, add: Add): void {
  if (!plane.nodeToNodeMesh.value && !plane.bgpPeers.length)
    add(
      'bgp-no-routes',
      'error',
      plane.nodeToNodeMesh.at,
      "nodeToNodeMeshEnabled is false and there is no BGPPeer: no node learns the others' blocks",
      'enable the mesh, or add BGPPeer resources (a route reflector)',
    );
  const as = plane.asNumber.value;
  if (!inRange(as, 1, 4_294_967_295))
    add(
      'as-number-range',
      'error',
      plane.asNumber.at,
      `asNumber ${plane.asNumber.value} is not an AS number`,
      'use a private AS, e.g. 64512',
    );
}

/** What carries a pool's routes between nodes: one encapsulation, BIRD where it needs it, no bare routes across a router. */
function lintPoolRouting(p: CalicoPool, plane: CalicoPlane, t: Topology, sel: ReturnType<typeof selectedNodes>, add: Add): void {
  const b = plane.backend;
  const name = `pool ${p.name}`;
  const ipip = on(p.ipipMode.value);
  const vxlan = on(p.vxlanMode.value);
  // The subnets of the nodes this pool serves: an unencapsulated pool must not span a router.
  const spans =
    Array.isArray(sel) && !p.disabled.value ? new Set(t.nodes.filter((n) => sel.includes(n.name)).map((n) => n.subnet.name)).size : 0;
  if (ipip && vxlan)
    add(
      'ipip-and-vxlan',
      'error',
      p.vxlanMode.at,
      `${name} enables IPIP (${p.ipipMode.value}) and VXLAN (${p.vxlanMode.value}) at once: Calico refuses the pool`,
      'pick one: set ipipMode or vxlanMode to Never',
    );
  else if (ipip && !runsBird(plane))
    add(
      'ipip-without-bird',
      'error',
      p.ipipMode.at,
      `${name} uses IPIP but calico_backend is "${b.value}" (set at ${b.at}): ` +
        'no BIRD distributes the routes, pods on other nodes are unreachable',
      'use calico_backend: bird, or VXLAN (vxlanMode) with the vxlan backend',
    );
  else if (!ipip && !vxlan && !runsBird(plane))
    add(
      'no-route-distribution',
      'error',
      p.ipipMode.at,
      `${name} has no encapsulation and calico_backend is "${b.value}": nothing routes to other nodes' blocks`,
      'enable VXLAN on the pool, or run BIRD (calico_backend: bird)',
    );
  else if (!ipip && !vxlan && spans > 1 && !t.router?.bgpPeer)
    add(
      'bgp-across-subnets',
      'error',
      p.ipipMode.at,
      `${name} is unencapsulated and its nodes are on ${spans} subnets: the router between them has no route to the pod blocks`,
      'use IPIPCrossSubnet or VXLANCrossSubnet (plain on a subnet, encapsulated across), or peer the router with BGP',
    );
}

/** A pool's blockSize: in range, fitting the pool, enough blocks for the nodes. */
function lintPoolBlocks(p: CalicoPool, prefix: number, t: Topology, add: Add): void {
  const name = `pool ${p.name}`;
  const bs = p.blockSize.value;
  if (!inRange(bs, 20, 32))
    add(
      'blocksize-range',
      'error',
      p.blockSize.at,
      `${name}: blockSize ${bs} is outside 20-32`,
      'use 26 (the default) or another size in 20-32',
    );
  else if (bs < prefix)
    add(
      'blocksize-fit',
      'error',
      p.blockSize.at,
      `${name}: a /${bs} block does not fit the /${prefix} pool`,
      `use a blockSize of at least ${prefix}, or widen the pool`,
    );
  else if (2 ** (bs - prefix) < t.nodes.length && !p.disabled.value)
    add(
      'blocks-short',
      'warning',
      p.blockSize.at,
      `${name}: ${2 ** (bs - prefix)} blocks of /${bs} for ${t.nodes.length} nodes: some nodes borrow addresses from others' blocks`,
      'widen the pool or lengthen blockSize',
    );
}
