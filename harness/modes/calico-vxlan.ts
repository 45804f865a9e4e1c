// Calico VXLAN, Always and CrossSubnet: felix programs everything, no BGP daemon.
import { CALICO_VXLAN_DEV, directPeer, FELIX_ROUTES, podMtu, vxlanDevice, vxlanPeer } from './calico-common.ts';
import { CITED, onLink, perNodePlan, VXLAN_OVERHEAD } from './common.ts';
import type { ModeDef } from './mode.ts';

function vxlan(cross: boolean): ModeDef {
  return {
    name: cross ? 'calico-vxlan-crosssubnet' : 'calico-vxlan-always',
    family: 'calico',
    summary: cross
      ? 'Calico VXLAN CrossSubnet: VXLAN only to nodes on other subnets'
      : 'Calico VXLAN Always: every node-to-node pod packet in VXLAN (vxlan.calico, VNI 4096, UDP 4789)',
    programs:
      `${CALICO_VXLAN_DEV} (VNI FELIX_VXLANVNI=4096, port FELIX_VXLANPORT=4789, MTU ext-50, node tunnel address /32); per ` +
      `peer: permanent neighbour tunnel address -> VTEP MAC, FDB entry to the peer node IP, \`BLOCK via PEER_TUNNEL_IP dev ` +
      `${CALICO_VXLAN_DEV} onlink\` (protocol boot, felix's device routes)` +
      `${cross ? '; peers on the same subnet keep the neighbour and FDB entry, but their route is ' : ''}` +
      `${cross ? '`BLOCK via PEER_NODE_IP dev eth0 onlink proto 80`' : ''}. No BIRD (Calico's ` +
      `vxlan backend). Wire: ` +
      `${cross ? 'plain on one subnet, VXLAN 4096/4789 across' : 'VXLAN with VNI 4096 on UDP 4789 between any two nodes'}.`,
    needs: { kernel: ['veth', 'vxlan'], tools: [] },
    podMtu: (t) => t.mtu - VXLAN_OVERHEAD,
    expect(_s, _d, path, { settings }) {
      if (path === 'same-node' || (cross && path === 'same-subnet')) return { reachable: true, encap: 'none' };
      return { reachable: true, encap: 'vxlan', vni: settings.calico.vxlanVni, port: settings.calico.vxlanPort };
    },
    vxlanPorts: (s) => [s.calico.vxlanPort],
    owns: { devices: [{ name: CALICO_VXLAN_DEV }], routes: [FELIX_ROUTES] },
    cited: cross ? CITED.plainOnSubnet : CITED.vxlan,
    config: { cni: 'calico', ipipMode: 'Never', vxlanMode: cross ? 'CrossSubnet' : 'Always' },
    program: {
      kernel: {
        plan: (ctx) =>
          perNodePlan(
            ctx,
            podMtu(ctx, ctx.topology.mtu - VXLAN_OVERHEAD),
            (n) => vxlanDevice(ctx, n),
            // felix programs every remote VTEP's neighbour and FDB entry whatever the route type;
            // only the route of an on-subnet peer goes plain (felix/dataplane/linux/vxlan_mgr.go).
            (n, p) =>
              cross && onLink(n, p)
                ? [...vxlanPeer(ctx, n, p).filter((o) => o.kind !== 'route'), ...directPeer(ctx, n, p)]
                : vxlanPeer(ctx, n, p),
          ),
      },
    },
  };
}

export const calicoVxlanAlways = vxlan(false);
export const calicoVxlanCrossSubnet = vxlan(true);
