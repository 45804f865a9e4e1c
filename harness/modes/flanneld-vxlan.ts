import { CITED } from './common.ts';
import { FLANNEL_DEVICES } from './flannel-common.ts';
import { flannelVxlan, flannelVxlanDirectRouting } from './flannel-vxlan.ts';
import { backendFor, flanneldMode } from './flanneld-common.ts';

function vxlan(directRouting: boolean) {
  return flanneldMode({
    name: directRouting ? 'flanneld-vxlan-directrouting' : 'flanneld-vxlan',
    summary: `the real flanneld, vxlan backend${directRouting ? ' with DirectRouting' : ''}: its own flannel.<VNI>, FDB and routes`,
    programs:
      'flanneld per node with net-conf.json {"Backend":{"Type":"vxlan","VNI":VNI,"Port":PORT' +
      `${directRouting ? ',"DirectRouting":true' : ''}}}` +
      ` in the lab's etcd; VTEP MACs are flanneld's own (read from its leases). Checked against ` +
      `${directRouting ? 'flannel-vxlan-directrouting' : 'flannel-vxlan'}. Wire: ${directRouting ? 'plain on one subnet, ' : ''}` +
      'VXLAN with the VNI and port between nodes.',
    kernel: ['veth', 'bridge', 'vxlan'],
    vxlanPorts: (s) => [s.flannel.port],
    owns: { devices: FLANNEL_DEVICES, routes: [] },
    cited: directRouting ? CITED.plainOnSubnet : CITED.vxlan,
    config: { cni: 'flannel', backend: 'vxlan', directRouting },
    flanneld: {
      backend: (s) =>
        backendFor(s, {
          Type: 'vxlan',
          VNI: s.flannel.vni,
          Port: s.flannel.port,
          ...(s.flannel.mtu ? { MTU: s.flannel.mtu } : {}),
          ...(directRouting ? { DirectRouting: true } : {}),
        }),
      // pkg/backend/vxlan/vxlan.go newSubnetAttrs: BackendType "vxlan", VtepMAC in BackendData.
      leaseType: 'vxlan',
      model: directRouting ? flannelVxlanDirectRouting : flannelVxlan,
    },
  });
}

export const flanneldVxlan = vxlan(false);
export const flanneldVxlanDirectRouting = vxlan(true);
