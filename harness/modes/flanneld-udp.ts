// flannel's oldest backend: a TUN device flannel0 and flanneld itself forwarding every packet in
// user space, the bare IP packet in UDP port 8285 (pkg/backend/udp/udp.go defaultPort, MTU = the
// interface MTU - 28 in udp_network_amd64.go). cnilab has no model of it: its facts are checked on the wire.
import { backendFor, flanneldMode } from './flanneld-common.ts';

/** pkg/backend/udp/udp.go: defaultPort = 8285 (the decoder knows it as a default tunnel port too). */
export const FLANNEL_UDP_PORT = 8285;
const UDP_OVERHEAD = 28;

export const flanneldUdp = flanneldMode({
  name: 'flanneld-udp',
  summary: 'the real flanneld, udp backend: flannel0 (TUN) and user-space forwarding in UDP 8285',
  programs:
    'flanneld per node with net-conf.json {"Backend":{"Type":"udp"}}: a TUN device flannel0 (MTU ext-28) with the lease address and ' +
    'a route for the whole pod network; flanneld reads each packet from flannel0 and sends it to the peer in UDP port 8285. ' +
    'No cnilab model. Wire: UDP 8285 carrying the bare pod packet between any two nodes.',
  kernel: ['veth', 'bridge', 'tun'],
  podMtu: (t) => t.mtu - UDP_OVERHEAD,
  expect(_src, _dst, path, ctx) {
    if (path === 'same-node') return { reachable: true, encap: 'none' };
    return { reachable: true, encap: 'udp', port: ctx.settings.flannel.udpPort ?? FLANNEL_UDP_PORT };
  },
  vxlanPorts: () => [],
  owns: { devices: [{ name: 'flannel0' }], routes: [] },
  cited: { text: 'flannel udp, user-space forwarding: far slower than VXLAN (flannel: "debugging only")', lo: 0.5, hi: 1 },
  config: { cni: 'flannel', backend: 'udp', directRouting: false },
  // pkg/backend/udp/udp_amd64.go RegisterNetwork: LeaseAttrs{PublicIP} only, so the lease's BackendType is empty.
  // A config's own Port (udp.go: Port, 0 means defaultPort), else flanneld's default.
  flanneld: {
    backend: (s) => backendFor(s, { Type: 'udp', ...(s.flannel.udpPort ? { Port: s.flannel.udpPort } : {}) }),
    leaseType: '',
  },
});
