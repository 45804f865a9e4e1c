import { calicoBgp } from './calico-bgp.ts';
import { BIRD_ROUTES, REAL_FELIX_ROUTES } from './calico-common.ts';
import { calicoNodeMode } from './calico-node-common.ts';
import { CITED } from './common.ts';

export const calicoNodeBgp = calicoNodeMode({
  name: 'calico-node-bgp',
  summary: 'the real calico-node, BGP (IPPool ipipMode/vxlanMode Never): felix, confd and BIRD 1.6 in a node-to-node mesh',
  programs:
    "calico-node -startup, -allocate-tunnel-addrs, felix, confd and Debian's BIRD 1.6 per node, on the lab's kube-apiserver " +
    "(Calico's CRDs, IPPool with ipipMode and vxlanMode Never); pods through the Calico CNI plugin with calico-ipam. Blocks " +
    "and addresses are Calico's own. Checked against calico-bgp. Wire: plain everywhere.",
  kernel: ['veth'],
  vxlanPorts: () => [],
  owns: { devices: [], routes: [BIRD_ROUTES, REAL_FELIX_ROUTES] },
  cited: CITED.plain,
  calicoNode: { pool: { ipipMode: 'Never', vxlanMode: 'Never' }, backend: 'bird', model: calicoBgp },
});
