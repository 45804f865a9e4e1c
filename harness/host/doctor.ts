// What this host can do, asked of the kernel itself: each feature is tried in a throwaway namespace
// of our own (the root namespace is never touched).
import { existsSync } from 'node:fs';
// A static import, so a bundled build (the guest agent) carries the list with it.
import hostTools from '../../ci/host-tools.json' with { type: 'json' };
import type { KernelFeature, ModeDef, Tool } from '../modes/mode.ts';
import { cniBinDir } from '../node/cni.ts';
import { createNetns, deleteNetns, netnsExecutor } from '../node/netns.ts';
import { own } from '../kernel/lifecycle.ts';
import { processStartTime } from '../kernel/procs.ts';
import { probeNetnsName } from '../plan/names.ts';
import {
  bird1Binary,
  bird2Binary,
  calicoConfdDir,
  calicoCniBinary,
  calicoNodeBinary,
  etcdBinary,
  flannelCniBinary,
  flanneldBinary,
  goVersion,
  kubeApiserverBinary,
  onPath,
} from './daemons.ts';

export interface Check {
  ok: boolean;
  detail: string;
}

export interface HostReport {
  root: boolean;
  kernel: Record<KernelFeature | 'netem', Check>;
  tools: Record<string, Check>;
}

const PROBES: Record<KernelFeature | 'netem', string[]> = {
  veth: ['ip', 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1'],
  bridge: ['ip', 'link', 'add', 'b0', 'type', 'bridge'],
  vxlan: ['ip', 'link', 'add', 'x0', 'type', 'vxlan', 'id', '1', 'dstport', '4789'],
  ipip: ['ip', 'link', 'add', 't0', 'type', 'ipip', 'local', '10.0.0.1', 'remote', '10.0.0.2'],
  tun: ['ip', 'tuntap', 'add', 'dev', 'u0', 'mode', 'tun'],
  netem: ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'],
};

/** Command (or path) -> Debian package: the one list, shared with ci/install-host.mjs and ci/ensure.sh. */
export const HOST_TOOLS: Record<string, string> = hostTools;

async function which(cmd: string): Promise<Check> {
  if (cmd.startsWith('/')) return existsSync(cmd) ? { ok: true, detail: cmd } : { ok: false, detail: `${cmd} not found` };
  const path = await onPath(cmd);
  return path ? { ok: true, detail: path } : { ok: false, detail: `${cmd} not found` };
}

export async function probeKernel(): Promise<HostReport['kernel']> {
  const ns = probeNetnsName({ pid: process.pid, startTime: processStartTime(process.pid) ?? 0 });
  // Owned before it exists: a signal at any moment removes it.
  const release = own({ down: () => deleteNetns([ns]) });
  try {
    await createNetns([ns]);
    const exec = netnsExecutor(ns);
    const out = {} as HostReport['kernel'];
    for (const [f, argv] of Object.entries(PROBES) as [KernelFeature | 'netem', string[]][]) {
      const r = await exec.run(argv, { reject: false });
      out[f] =
        r.exitCode === 0 ? { ok: true, detail: 'works' } : { ok: false, detail: r.stderr.trim().split('\n')[0] ?? `exit ${r.exitCode}` };
    }
    return out;
  } finally {
    await deleteNetns([ns]);
    release();
  }
}

let kernelOnce: Promise<HostReport['kernel']> | undefined;
/** This kernel's features, probed once per process (a switch asks before it removes anything). */
export const kernelFeatures = () => (kernelOnce ??= probeKernel());

const TOOL_COMMANDS: Record<Tool, string[]> = {
  'cni-plugins': ['cni-plugins'],
  bird: ['bird', 'birdc'],
  flanneld: ['flanneld'],
  etcd: ['etcd'],
  // calico-node's daemons, its CNI plugin, the API server they store in, and the ipset felix calls.
  'calico-node': ['calico-node', 'calico-cni', 'kube-apiserver', 'etcd', 'ipset'],
  // Debian's BIRD 1.6, which confd's templates are written for.
  bird1: ['bird1', 'calico-confd'],
};

/** Whether this host's kernel and tools run `mode`, and what is missing when not. */
/** Whether this kernel has what `mode` needs (its tools are taken as there: a live lab already runs). */
export async function runsOnThisKernel(mode: ModeDef): Promise<Check> {
  const tools = Object.fromEntries(mode.needs.tools.flatMap((t) => TOOL_COMMANDS[t]).map((x) => [x, { ok: true, detail: '' }]));
  return modeNeeds(mode, { kernel: await kernelFeatures(), tools });
}

export function modeNeeds(mode: ModeDef, report: Pick<HostReport, 'kernel' | 'tools'>): Check {
  const missing: string[] = [];
  for (const f of mode.needs.kernel) if (!report.kernel[f]?.ok) missing.push(`kernel ${f} (${report.kernel[f]?.detail ?? 'unknown'})`);
  for (const t of mode.needs.tools)
    for (const x of TOOL_COMMANDS[t]) if (!report.tools[x]?.ok) missing.push(`${x} (${report.tools[x]?.detail})`);
  return missing.length ? { ok: false, detail: `needs ${missing.join(', ')}` } : { ok: true, detail: 'runs here' };
}

/** The tools a mode needs, without asking the kernel: can a guest with its own kernel run it from here? */
export function toolsOnly(report: Pick<HostReport, 'tools'>): Pick<HostReport, 'kernel' | 'tools'> {
  const all: Check = { ok: true, detail: 'a guest kernel has it' };
  return { kernel: Object.fromEntries(Object.keys(PROBES).map((k) => [k, all])) as HostReport['kernel'], tools: report.tools };
}

export async function doctor(): Promise<HostReport> {
  const root = process.getuid?.() === 0;
  const tools: Record<string, Check> = {};
  await Promise.all(
    Object.keys(HOST_TOOLS)
      .filter((t) => !t.startsWith('/'))
      .map(async (t) => {
        const c = await which(t);
        tools[t] = c.ok ? c : { ok: false, detail: `${t} not found: apt-get install ${HOST_TOOLS[t]}` };
      }),
  );
  const cni = cniBinDir();
  tools['cni-plugins'] = cni
    ? { ok: true, detail: cni }
    : { ok: false, detail: 'bridge/host-local plugins not found: apt-get install containernetworking-plugins' };
  const daemons = await Promise.all([
    flanneldBinary(),
    etcdBinary(),
    goVersion(),
    kubeApiserverBinary(),
    flannelCniBinary(),
    calicoNodeBinary(),
    calicoCniBinary(),
    bird1Binary(),
    bird2Binary(),
  ]);
  // The version first: a narrow terminal cuts the (long, cache-keyed) path, not what was built.
  for (const [name, b] of [
    ['flanneld', daemons[0]],
    ['etcd', daemons[1]],
    ['go', daemons[2]],
    // A --manifest lab's API server (the modes are the flanneld-* ones, run from the manifest's DaemonSet).
    ['kube-apiserver', daemons[3]],
    // The flanneld modes' pods attach through it; without it its delegation is reproduced, and the results say so.
    ['flannel-cni', daemons[4]],
    // The real Calico's parts (the calico-node-* modes): built, versioned and shown.
    ['calico-node', daemons[5]],
    ['calico-cni', daemons[6]],
    ['bird1', daemons[7]],
    // Debian's bird2: cnilab's BGP modes, and confd's config for an IPIP pool, rewritten for it.
    ['bird', daemons[8]],
  ] as const)
    tools[name] = b.ok ? { ok: true, detail: `${b.version}  ${b.path}` } : { ok: false, detail: b.detail };
  const confd = calicoConfdDir();
  tools['calico-confd'] = confd
    ? { ok: true, detail: `templates (krt_tunnel declared for stock BIRD)  ${confd}` }
    : { ok: false, detail: 'confd\'s templates are not in the cache: "cnilab install calico-node" copies them from the calico module' };
  tools['netns-dir'] = existsSync('/run/netns') || root ? { ok: true, detail: '/run/netns' } : { ok: false, detail: 'no /run/netns' };
  const kernel = root
    ? await probeKernel()
    : (Object.fromEntries(Object.keys(PROBES).map((k) => [k, { ok: false, detail: 'not probed: run as root' }])) as HostReport['kernel']);
  return { root, kernel, tools };
}
