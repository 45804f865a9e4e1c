import { backendFor, flanneldMode } from './flanneld-common.ts';
import { CITED } from './common.ts';
import { flannelHostGw } from './flannel-host-gw.ts';

export const flanneldHostGw = flanneldMode({
  name: 'flanneld-host-gw',
  summary: 'the real flanneld, host-gw backend: its own routes, leases from etcd',
  programs:
    'flanneld (built from github.com/flannel-io/flannel) per node with net-conf.json {"Backend":{"Type":"host-gw"}} in the ' +
    "lab's etcd; pods through the flannel CNI chain (bridge + host-local from flanneld's subnet.env). Checked against " +
    'flannel-host-gw. Wire: plain on one subnet; cross-subnet pairs must fail.',
  kernel: ['veth', 'bridge'],
  vxlanPorts: () => [],
  owns: { devices: [], routes: [] },
  cited: CITED.plain,
  config: { cni: 'flannel', backend: 'host-gw', directRouting: false },
  // pkg/backend/hostgw/hostgw.go: LeaseAttrs{BackendType: "host-gw"}.
  flanneld: { backend: (s) => backendFor(s, { Type: 'host-gw' }), leaseType: 'host-gw', model: flannelHostGw },
});
