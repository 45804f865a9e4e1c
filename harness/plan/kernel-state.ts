// What a node's kernel holds, as read back (node/snapshot.ts) and judged (modes/stale.ts).
export interface NodeKernelState {
  node: string;
  links: {
    ifname: string;
    kind?: string;
    up: boolean;
    mtu: number;
    addrs: string[];
    mac?: string;
    /** A vxlan device's own settings, as `ip -d` shows them. */
    vxlan?: { id: number; port: number; local?: string; dev?: string; learning: boolean };
  }[];
  routes: { dst: string; gateway?: string; dev?: string; protocol?: string; type?: string; onlink?: boolean }[];
  neigh: { dst: string; dev: string; lladdr?: string; permanent: boolean }[];
  fdb: { mac: string; ifname: string; dst?: string }[];
}
