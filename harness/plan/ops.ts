// Kernel operations as data. A plan is a list of these; the applier renders them into `ip -batch`
// and `bridge -batch` lines run once per namespace. Keeping them typed lets a mode's teardown be
// derived from its setup instead of written twice.

export type KernelOp =
  | { kind: 'netns-add'; netns: string }
  | { kind: 'veth'; netns: string; name: string; peer: { netns: string; name: string }; mtu?: number }
  | { kind: 'bridge-dev'; netns: string; name: string; mtu?: number }
  | {
      kind: 'vxlan-dev';
      netns: string;
      name: string;
      vni: number;
      port: number;
      local: string;
      dev: string;
      mtu: number;
      mac: string;
    }
  /** tunl0 is the ipip module's fallback device: it exists once ipip is loaded, so it is configured, not created. */
  | { kind: 'ipip-fallback'; netns: string; mtu: number }
  | { kind: 'link-set'; netns: string; name: string; up?: boolean; mtu?: number; master?: string; mac?: string }
  | { kind: 'link-del'; netns: string; name: string }
  | { kind: 'addr'; netns: string; dev: string; cidr: string; del?: boolean }
  | {
      kind: 'route';
      netns: string;
      dst: string;
      via?: string;
      dev?: string;
      onlink?: boolean;
      scope?: 'link';
      type?: 'blackhole';
      proto?: string;
      src?: string;
      del?: boolean;
    }
  | { kind: 'neigh'; netns: string; ip: string; mac: string; dev: string; del?: boolean }
  | { kind: 'fdb'; netns: string; mac: string; dev: string; dst: string; del?: boolean }
  | { kind: 'sysctl'; netns: string; key: string; value: string };

/** Which batch tool runs an op. sysctl is a write into /proc/sys inside the namespace. */
export function toolOf(op: KernelOp): 'root-ip' | 'ip' | 'bridge' | 'sysctl' {
  switch (op.kind) {
    case 'netns-add':
      return 'root-ip';
    case 'fdb':
      return 'bridge';
    case 'sysctl':
      return 'sysctl';
    default:
      return 'ip';
  }
}

/** Ops that need another namespace to exist (veth ends) run after every namespace is made. */
export function phaseOf(op: KernelOp): number {
  if (op.kind === 'netns-add') return 0;
  if (op.kind === 'veth') return 1;
  return 2;
}

/** One batch line, without the tool name. */
export function renderOp(op: KernelOp): string {
  switch (op.kind) {
    case 'netns-add':
      return `netns add ${op.netns}`;
    case 'veth':
      return (
        `link add name ${op.name}${op.mtu ? ` mtu ${op.mtu}` : ''} type veth peer name ${op.peer.name} netns ` +
        `${op.peer.netns}${op.mtu ? ` mtu ${op.mtu}` : ''}`
      );
    case 'bridge-dev':
      return `link add name ${op.name}${op.mtu ? ` mtu ${op.mtu}` : ''} type bridge`;
    case 'vxlan-dev':
      // nolearning: the control plane writes FDB entries, the data plane must not learn them.
      return (
        `link add name ${op.name} address ${op.mac} mtu ${op.mtu} type vxlan id ${op.vni} local ${op.local} dev ${op.dev} ` +
        `dstport ${op.port} nolearning`
      );
    case 'ipip-fallback':
      return `link set tunl0 mtu ${op.mtu} up`;
    case 'link-set': {
      const parts = [`link set ${op.name}`];
      if (op.mac) parts.push(`address ${op.mac}`);
      if (op.mtu) parts.push(`mtu ${op.mtu}`);
      if (op.master) parts.push(`master ${op.master}`);
      if (op.up !== undefined) parts.push(op.up ? 'up' : 'down');
      return parts.join(' ');
    }
    case 'link-del':
      return `link del ${op.name}`;
    case 'addr':
      return `addr ${op.del ? 'del' : 'replace'} ${op.cidr} dev ${op.dev}`;
    case 'route': {
      // A delete names the route by destination, type, device and (when given) protocol: the kernel matches on those.
      if (op.del)
        return ['route del', op.type, op.dst, op.dev && `dev ${op.dev}`, op.proto && `proto ${op.proto}`].filter(Boolean).join(' ');
      const parts = ['route replace'];
      if (op.type) parts.push(op.type);
      parts.push(op.dst);
      if (op.via) parts.push(`via ${op.via}`);
      if (op.dev) parts.push(`dev ${op.dev}`);
      if (op.onlink) parts.push('onlink');
      if (op.scope) parts.push(`scope ${op.scope}`);
      if (op.proto) parts.push(`proto ${op.proto}`);
      if (op.src) parts.push(`src ${op.src}`);
      return parts.join(' ');
    }
    case 'neigh':
      return op.del ? `neigh del ${op.ip} dev ${op.dev}` : `neigh replace ${op.ip} lladdr ${op.mac} dev ${op.dev} nud permanent`;
    case 'fdb':
      return op.del
        ? `fdb del ${op.mac} dev ${op.dev} dst ${op.dst} self`
        : `fdb append ${op.mac} dev ${op.dev} dst ${op.dst} self permanent`;
    case 'sysctl':
      return `${op.key}=${op.value}`;
  }
}

/** Devices a list of ops creates, by namespace. */
function createdDevices(ops: readonly KernelOp[]): Set<string> {
  const s = new Set<string>();
  for (const op of ops) {
    if (op.kind === 'vxlan-dev' || op.kind === 'bridge-dev') s.add(`${op.netns}/${op.name}`);
    if (op.kind === 'veth') {
      s.add(`${op.netns}/${op.name}`);
      s.add(`${op.peer.netns}/${op.peer.name}`);
    }
  }
  return s;
}

/**
 * The ops that undo `ops`, in reverse order. Deleting a device takes its addresses, routes,
 * neighbours and FDB entries with it, so those are not deleted one by one (the kernel would
 * answer "No such process" for them). Settings without an inverse (sysctl, link-set) are left:
 * a mode that changes shared state must say how to restore it in its own teardown.
 */
export function undoOps(ops: readonly KernelOp[]): KernelOp[] {
  const devices = createdDevices(ops);
  const onCreated = (netns: string, dev: string | undefined) => dev !== undefined && devices.has(`${netns}/${dev}`);
  const out: KernelOp[] = [];
  for (const op of [...ops].reverse()) {
    switch (op.kind) {
      case 'vxlan-dev':
      case 'bridge-dev':
      case 'veth':
        out.push({ kind: 'link-del', netns: op.netns, name: op.name });
        break;
      case 'ipip-fallback':
        out.push({ kind: 'link-set', netns: op.netns, name: 'tunl0', up: false });
        break;
      case 'addr':
        if (!op.del && !onCreated(op.netns, op.dev)) out.push({ ...op, del: true });
        break;
      case 'route':
        if (!op.del && !onCreated(op.netns, op.dev)) out.push({ ...op, del: true });
        break;
      case 'neigh':
      case 'fdb':
        if (!op.del && !onCreated(op.netns, op.dev)) out.push({ ...op, del: true });
        break;
      default:
        break;
    }
  }
  return out;
}
