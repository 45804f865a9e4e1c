// A lab's status from its state file and the kernel's namespace files alone: `cnilab status` reads
// this without loading the process runner or the planners (its start-up stays small).
import { existsSync, readdirSync } from 'node:fs';
import { UsageError } from '../../errors.ts';
import { isAlive, processStartTime } from '../../kernel/procs.ts';
import { contains, formatCidr, formatIpv4, parseIpv4 } from '../../net/ipv4.ts';
import { IF, labNames, labOfNetns, NETNS_DIR, netnsPath } from '../../plan/names.ts';
import { flannelAnnotation, vtepMacOf } from '../../kube/annotations.ts';
import { allModes, findMode } from '../../modes/registry.ts';
import { findStale } from '../../modes/stale.ts';
import type { NodeKernelState } from '../../plan/kernel-state.ts';
import { factDevice } from '../../plan/model-diff.ts';
import { listLabs, readState, stateProblem, type LabState } from './state.ts';
import type { LabStatus } from '../backend.ts';

export const NETNS = 'netns' as const;

/** `cnilab status --json`: the backend's shape (backend.ts LabStatus). */
export type StatusJson = LabStatus;

export const liveNamespaces = (lab: string) => (existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => labOfNetns(n) === lab) : []);

/** The state of the lab named (or the only one up); a clear error when there is none or it is unreadable. */
export function attachedState(name?: string): LabState {
  const labs = listLabs();
  const lab = name ?? (labs.length === 1 ? labs[0] : undefined);
  if (!lab) {
    throw new UsageError(
      labs.length === 0 ? 'no lab is up' : `${labs.length} labs are up: ${labs.join(', ')}`,
      labs.length === 0 ? 'start one with "cnilab up --topology FILE --mode MODE"' : 'say which with --name',
    );
  }
  const state = readState(lab);
  const corrupt = stateProblem(lab);
  if (corrupt || !state) {
    const alive = liveNamespaces(lab);
    if (corrupt) {
      throw new UsageError(
        `lab ${lab}: ${corrupt}; ${alive.length} of its namespaces are alive`,
        `"cnilab down --name ${lab}" removes them by name`,
      );
    }
    throw new UsageError(
      `no lab named "${lab}"${alive.length ? ` has a state file, but ${alive.length} of its namespaces are alive` : ''}`,
      alive.length ? `"cnilab down --name ${lab}" removes them by name` : `labs up: ${labs.join(', ') || '(none)'}`,
    );
  }
  return state;
}

export function labHealth(state: LabState): Pick<StatusJson, 'health' | 'problems'> {
  const missing = state.netns.filter((n) => !existsSync(netnsPath(n))).map((n) => `namespace ${n} is gone`);
  const dead = state.daemons.filter((d) => processStartTime(d.pid) !== d.startTime).map((d) => `${d.what} (pid ${d.pid}) is not running`);
  if (state.broken) return { health: 'broken', problems: [state.broken, ...missing, ...dead] };
  return missing.length || dead.length ? { health: 'degraded', problems: [...missing, ...dead] } : { health: 'healthy', problems: [] };
}

export function labStatus(state: LabState): StatusJson {
  const names = labNames(state.lab);
  return {
    lab: state.lab,
    mode: state.mode ?? null,
    ...labHealth(state),
    backend: NETNS,
    family: state.family ?? null,
    ...(state.daemonRun ? { daemon: state.daemonRun.daemon } : {}),
    ...(state.datastore ? { datastore: `etcd at ${state.datastore.ip} (${state.datastore.netns})` } : {}),
    owner: state.owner ? { pid: state.owner.pid } : null,
    ...(state.kube ? { kube: kubeStatus(state) } : {}),
    nodes: state.topology.nodes.map((n) => ({
      name: n.name,
      netns: names.node(n),
      subnet: formatCidr(n.subnet.cidr),
      underlayIp: formatIpv4(n.ip),
      underlayIf: IF.underlay,
      // A real daemon's own lease when one chose it, else the topology's.
      podSubnet: state.daemonRun?.facts.leases[n.name] ?? formatCidr(n.podSubnet),
      podBlock: formatCidr(n.podBlock),
      podRange: (() => {
        const ip = parseIpv4(state.pods.find((x) => x.node === n.name)?.ip ?? '');
        return ip !== null && contains(n.podBlock, ip)
          ? formatCidr(n.podBlock)
          : (state.daemonRun?.facts.leases[n.name] ?? formatCidr(n.podSubnet));
      })(),
      pods: n.pods.map((p) => {
        const rt = state.pods.find((x) => x.id === p.id);
        return { name: p.name, netns: names.pod(n.name, p.name), ip: rt?.ip ?? null };
      }),
    })),
  };
}

/** The kube part of a status: the annotations as read back from the API server once flanneld settled. */
function kubeStatus(state: LabState): NonNullable<StatusJson['kube']> {
  const k = state.kube!;
  const current = state.daemonRun?.mode === state.mode ? state.daemonRun?.facts : undefined;
  const base = { apiserver: `kube-apiserver ${k.version}`, server: k.server, kubeconfig: k.kubeconfig, manifest: state.manifest ?? [] };
  const calico = current?.calico;
  if (calico) {
    const nodes = calico.nodes;
    const tunnel = (a: Record<string, string>) => a.vxlanTunnelAddr ?? a.ipipTunnelAddr;
    const short = (a: Record<string, string>) =>
      [tunnel(a) && `tunnel ${tunnel(a)}`, a.vxlanMac && `VTEP ${a.vxlanMac}`].filter(Boolean).join(' ') || '(none)';
    return {
      ...base,
      daemonSet: calico.source,
      annotationsBy: 'calico-node on the Node',
      annotations: Object.fromEntries(Object.entries(nodes).map(([n, a]) => [n, short(a)])),
      annotationsFull: nodes,
    };
  }
  const facts = current?.kube;
  const full = facts?.annotations ?? {};
  const short = (a: Record<string, string>) =>
    [flannelAnnotation(a, 'backend-type'), flannelAnnotation(a, 'public-ip'), vtepMacOf(a)].filter(Boolean).join(' ') || '(none)';
  return {
    ...base,
    ...(facts ? { daemonSet: facts.daemonSet, backend: JSON.stringify(facts.netConf.backend) } : {}),
    annotationsBy: 'flannel annotations',
    annotations: Object.fromEntries(Object.entries(full).map(([n, a]) => [n, short(a)])),
    annotationsFull: full,
  };
}

/**
 * Refuses to act on a lab that a live run owns (its teardown is that run's): `down` or `switch`
 * under it would leave the run reporting timeouts for a lab that is gone. `cnilab up` hands its
 * lab over (owner null), so such labs are free.
 */
export function refuseIfRunOwned(state: LabState, action: string, fix: string): void {
  const o = state.owner;
  if (!o || o.pid === process.pid || !isAlive(o)) return;
  throw new UsageError(`lab ${state.lab} belongs to a live run (pid ${o.pid}): ${action} would pull it from under that run`, fix);
}

/**
 * What the kernel holds that the current mode did not put there, per node; empty when clean. What
 * a real daemon left from its previous backend is a fact about the daemon (its run's leftBehind),
 * not cnilab's stale state: the check leaves those devices to that record.
 */
export function staleIn(state: LabState, snaps: readonly NodeKernelState[]): string[] {
  const names = labNames(state.lab);
  const mode = state.mode ? findMode(state.mode) : undefined;
  const run = state.daemonRun?.mode === state.mode ? state.daemonRun : undefined;
  const daemonLeft = run?.facts.leftBehind ?? [];
  const leftDevs = (node: string) =>
    daemonLeft.flatMap((l) => (l.startsWith(`${node}: `) ? [factDevice(l.slice(node.length + 2))] : [])).filter((d) => d !== undefined);
  return snaps.flatMap((s) =>
    findStale(s, {
      podCidr: state.topology.podCidr,
      mode,
      modes: allModes(),
      modeOps: state.modeOps,
      netns: names.node(s.node),
      recordedElsewhere: leftDevs(s.node),
    }),
  );
}
