// What a node's kernel holds, as read back (node/snapshot.ts) and judged (modes/stale.ts).
export interface NodeKernelState {
  node: string;
  links: { ifname: string; kind?: string; up: boolean; mtu: number; addrs: string[] }[];
  routes: { dst: string; gateway?: string; dev?: string; protocol?: string; type?: string }[];
  neigh: { dst: string; dev: string; lladdr?: string; permanent: boolean }[];
  fdb: { mac: string; ifname: string; dst?: string }[];
}
