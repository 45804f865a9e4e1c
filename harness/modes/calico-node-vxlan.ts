import { CALICO_VXLAN_DEV, REAL_FELIX_ROUTES } from './calico-common.ts';
import { calicoNodeMode } from './calico-node-common.ts';
import { calicoVxlanAlways, calicoVxlanCrossSubnet } from './calico-vxlan.ts';
import { CITED } from './common.ts';

function vxlan(cross: boolean) {
  const mode = cross ? 'CrossSubnet' : 'Always';
  return calicoNodeMode({
    name: `calico-node-vxlan-${mode.toLowerCase()}`,
    summary: `the real calico-node, IPPool vxlanMode ${mode}: felix's own ${CALICO_VXLAN_DEV}, VTEP MACs, FDB and routes`,
    programs:
      'calico-node -startup, -allocate-tunnel-addrs and felix per node (CALICO_NETWORKING_BACKEND=vxlan, as calico-vxlan.yaml), ' +
      `on the lab's kube-apiserver (Calico's CRDs, IPPool vxlanMode ${mode}); pods through the Calico CNI plugin with ` +
      `calico-ipam. Checked against ${cross ? 'calico-vxlan-crosssubnet' : 'calico-vxlan-always'}, fed Calico's blocks, ` +
      `tunnel addresses and VTEP MACs. Wire: ${cross ? 'plain on one subnet, VXLAN across' : 'VXLAN between any two nodes'}.`,
    kernel: ['veth', 'vxlan'],
    vxlanPorts: (s) => [s.calico.vxlanPort],
    owns: { devices: [{ name: CALICO_VXLAN_DEV }], routes: [REAL_FELIX_ROUTES] },
    cited: cross ? CITED.plainOnSubnet : CITED.vxlan,
    calicoNode: {
      pool: { ipipMode: 'Never', vxlanMode: mode },
      backend: 'vxlan',
      model: cross ? calicoVxlanCrossSubnet : calicoVxlanAlways,
    },
  });
}

export const calicoNodeVxlanAlways = vxlan(false);
export const calicoNodeVxlanCrossSubnet = vxlan(true);
