// conform's reading of a config against what the real daemon programmed from it: the same words on
// both sides (results' Programmed). conform says what the daemon must program (`readingOf`, pure,
// from the plane and the lab the proof builds); the daemon's run says what it did. A difference
// means conform misread the config: an error finding naming both values and where conform read it.
import { formatCidr, parseCidr } from '../net/ipv4.ts';
import type { DaemonCheck, Programmed, RunResult } from '../results/schema.ts';
import { pathBetween, type Topology } from '../topology/types.ts';
import { ENCAP_OVERHEAD } from '../modes/common.ts';
import type { CalicoPlane, CalicoPool } from './calico.ts';
import { FLANNEL_MTU_OVERHEAD, type FlannelPlane } from './flannel.ts';
import type { Finding } from './plane.ts';

/** A reading: each setting's value as the daemon must program it, and where conform read it. */
export type Reading = Record<string, { value: string | number | boolean; at: string }>;

/** The network as flanneld writes it back (its network address, the prefix): "10.244.0.0/16". */
const canonical = (cidr: string) => {
  const c = parseCidr(cidr);
  return typeof c === 'string' ? cidr : formatCidr(c);
};

/** What flanneld must program from this plane on the proof's lab (its Network, lease, MTU from the lab's underlay). */
export function flannelReading(p: FlannelPlane, lab: Topology): Reading {
  const b = p.backend.value;
  const out: Reading = { backend: { value: b, at: p.backend.at } };
  if (p.network) out.network = { value: canonical(p.network.value), at: p.network.at };
  // --kube-subnet-mgr: the leases are the Nodes' podCIDRs, the lab's own (flanneld never reads SubnetLen there).
  const lease = lab.nodes[0]?.podSubnet.prefix;
  out.leaseLength = p.kubeSubnetMgr?.value
    ? { value: lease ?? 24, at: `${p.kubeSubnetMgr.at} (the Nodes' podCIDRs)` }
    : { value: p.subnetLen.value, at: p.subnetLen.at };
  if (b === 'vxlan') {
    out.vni = { value: p.vni.value, at: p.vni.at };
    out.port = { value: p.port.value, at: p.port.at };
  } else if (b === 'udp') out.port = { value: String(p.port.value), at: p.port.at };
  const overhead = FLANNEL_MTU_OVERHEAD[b];
  // Backend.MTU is vxlan's external MTU (udp and host-gw read the interface's): the device gets it minus the overhead.
  const external = b === 'vxlan' && p.mtu ? p.mtu : { value: lab.mtu, at: "the lab's underlay MTU (flanneld reads the interface)" };
  if (b !== 'host-gw' && overhead !== undefined) out.deviceMtu = { value: external.value - overhead, at: external.at };
  out.podMtu = p.podMtu
    ? { value: p.podMtu.value, at: p.podMtu.at }
    : { value: external.value - (overhead ?? 0), at: `${external.at}, minus ${overhead ?? 0}` };
  // DirectRouting shows only where two nodes share a subnet.
  const onLink = lab.nodes.some((a) => lab.nodes.some((c) => a !== c && pathBetween(a, c) === 'same-subnet'));
  if (b === 'vxlan' && onLink) out.directRouting = { value: p.directRouting.value, at: p.directRouting.at };
  return out;
}

/** What calico-node must program from this plane's pool on the proof's lab (felix's MTUs from the lab's underlay when not set). */
export function calicoReading(p: CalicoPlane, pool: CalicoPool, lab: Topology): Reading {
  const out: Reading = {
    pool: { value: canonical(pool.cidr.value), at: pool.cidr.at },
    blockSize: { value: pool.blockSize.value, at: pool.blockSize.at },
    ipipMode: { value: pool.ipipMode.value, at: pool.ipipMode.at },
    vxlanMode: { value: pool.vxlanMode.value, at: pool.vxlanMode.at },
  };
  const underlay = "the lab's underlay MTU (felix reads the interface)";
  const vxlan = pool.vxlanMode.value !== 'Never';
  const ipip = pool.ipipMode.value !== 'Never';
  if (vxlan) {
    out.vni = { value: p.vxlanVni.value, at: p.vxlanVni.at };
    out.port = { value: p.vxlanPort.value, at: p.vxlanPort.at };
    // felix makes vxlan.calico with the kernel's MTU (the parent's minus 50), then sets its own;
    // the kernel refuses more than that for a vxlan device with a parent (vxlan_change_mtu), and
    // felix only warns and keeps it (felix/dataplane/linux/vxlan_mgr.go configureVXLANDevice).
    const set = p.vxlanMtu ?? p.podMtu;
    const most = lab.mtu - ENCAP_OVERHEAD.vxlan;
    out.deviceMtu = !set
      ? { value: most, at: `${underlay}, minus 50` }
      : set.value > most
        ? { value: most, at: `${set.at}: ${set.value} is past the kernel's limit for vxlan.calico (the underlay's MTU minus 50)` }
        : { value: set.value, at: set.at };
  }
  // tunl0 (no parent device, so no kernel cap): felix's IPIP MTU, veth_mtu as calico.yaml hands it on, else detected.
  if (ipip && !vxlan) {
    const set = p.ipipMtu ?? p.podMtu;
    out.deviceMtu = set ? { value: set.value, at: set.at } : { value: lab.mtu - ENCAP_OVERHEAD.ipip, at: `${underlay}, minus 20` };
  }
  // felix's auto MTU takes the largest overhead of the encapsulations in use (int_dataplane.go).
  const overhead = vxlan ? ENCAP_OVERHEAD.vxlan : ipip ? ENCAP_OVERHEAD.ipip : 0;
  out.podMtu = p.podMtu ? { value: p.podMtu.value, at: p.podMtu.at } : { value: lab.mtu - overhead, at: `${underlay}, minus ${overhead}` };
  return out;
}

/** Each setting conform read, beside what the daemon programmed. */
export function checkReading(reading: Reading, run: Pick<RunResult, 'daemon' | 'daemonFacts'>): DaemonCheck | undefined {
  const programmed: Programmed | undefined = run.daemonFacts?.programmed;
  if (!programmed || !run.daemon) return undefined;
  return {
    daemon: run.daemon,
    settings: Object.entries(reading).map(([setting, r]) => {
      const got = programmed[setting];
      return { setting, read: r.value, ...(got !== undefined ? { programmed: got } : {}), agree: String(got) === String(r.value) };
    }),
  };
}

/** A setting the daemon programmed otherwise than conform read it: conform's error, said as one. */
export function readingFindings(reading: Reading, check: DaemonCheck): Finding[] {
  return check.settings
    .filter((s) => !s.agree)
    .map((s) => ({
      rule: 'reading-differs',
      severity: 'error' as const,
      at: reading[s.setting]!.at,
      message: `${s.setting}: conform read ${s.read}, ${check.daemon} programmed ${s.programmed ?? 'nothing'}`,
      fix: "conform misread this config: report it to cnilab with results.json; trust the daemon's value",
    }));
}
