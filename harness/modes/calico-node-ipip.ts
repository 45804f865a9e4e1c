import { BIRD_ROUTES, REAL_FELIX_ROUTES } from './calico-common.ts';
import { calicoIpipAlways, calicoIpipCrossSubnet } from './calico-ipip.ts';
import { calicoNodeMode } from './calico-node-common.ts';
import { CITED } from './common.ts';

// IPIP from the real calico-node: felix keeps tunl0; the block routes through it are BIRD's, written
// by Calico's fork with krt_tunnel. Here stock BIRD 2 writes the same routes from confd's own
// rendering, rewritten for BIRD 2 (program/bird2-from-confd.py): the one part that is not Calico's.
function ipip(cross: boolean) {
  const mode = cross ? 'CrossSubnet' : 'Always';
  return calicoNodeMode({
    name: `calico-node-ipip-${mode.toLowerCase()}`,
    summary: `the real calico-node, IPPool ipipMode ${mode}: felix's tunl0, confd's BIRD config run by stock BIRD 2`,
    programs:
      "calico-node -startup, -allocate-tunnel-addrs, felix and confd per node, as calico.yaml runs them, on the lab's " +
      `kube-apiserver (IPPool ipipMode ${mode}); confd's rendering is checked by BIRD 1.6 as Calico checks it, then ` +
      "rewritten for stock BIRD 2, which writes each peer's block `via PEER_NODE_IP dev tunl0 onlink` where Calico's " +
      `BIRD fork would (krt_tunnel). Checked against ${cross ? 'calico-ipip-crosssubnet' : 'calico-ipip-always'}. ` +
      `Wire: ${cross ? 'plain on one subnet, IPIP across' : 'IPIP between any two nodes'}.`,
    kernel: ['veth', 'ipip'],
    vxlanPorts: () => [],
    owns: { devices: [{ name: 'tunl0', fallback: true }], routes: [BIRD_ROUTES, REAL_FELIX_ROUTES] },
    cited: cross ? CITED.plainOnSubnet : CITED.ipip,
    // With its API server and etcd, in a guest where the kernel has no ipip: ~2.5 min under emulation.
    onlyWhenNamed: 'minutes in a guest',
    calicoNode: {
      pool: { ipipMode: mode, vxlanMode: 'Never' },
      backend: 'bird',
      model: cross ? calicoIpipCrossSubnet : calicoIpipAlways,
    },
  });
}

export const calicoNodeIpipAlways = ipip(false);
export const calicoNodeIpipCrossSubnet = ipip(true);
