// What this host can do, asked of the kernel itself: each feature is tried in a throwaway namespace
// of our own (the root namespace is never touched).
import { existsSync } from 'node:fs';
import { run } from '../kernel/exec.ts';
import { createNetns, deleteNetns } from '../kernel/apply.ts';
import { allModes } from '../modes/registry.ts';
import type { KernelFeature, ModeDef, Tool } from '../modes/mode.ts';
import { cniBinDir } from '../pods/cni.ts';
import { NETNS_PREFIX } from '../plan/names.ts';

export interface Check {
  ok: boolean;
  detail: string;
}

export interface HostReport {
  root: boolean;
  kernel: Record<KernelFeature | 'netem', Check>;
  tools: Record<string, Check>;
  modes: { mode: string; family: string; netns: Check; }[];
}

const PROBES: Record<KernelFeature | 'netem', string[]> = {
  veth: ['ip', 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1'],
  bridge: ['ip', 'link', 'add', 'b0', 'type', 'bridge'],
  vxlan: ['ip', 'link', 'add', 'x0', 'type', 'vxlan', 'id', '1', 'dstport', '4789'],
  ipip: ['ip', 'link', 'add', 't0', 'type', 'ipip', 'local', '10.0.0.1', 'remote', '10.0.0.2'],
  netem: ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'],
};

async function which(cmd: string): Promise<Check> {
  const r = await run(['sh', '-c', `command -v ${cmd}`], { reject: false });
  return r.exitCode === 0 ? { ok: true, detail: r.stdout.trim() } : { ok: false, detail: `${cmd} not found` };
}

const TOOL_PACKAGES: Record<string, string> = {
  ip: 'iproute2',
  bridge: 'iproute2',
  nsenter: 'util-linux',
  tcpdump: 'tcpdump',
  ping: 'iputils-ping',
  bird: 'bird2',
  birdc: 'bird2',
  iperf3: 'iperf3',
  tshark: 'tshark',
  'linux.uml': 'user-mode-linux',
};

export async function probeKernel(): Promise<HostReport['kernel']> {
  const ns = `${NETNS_PREFIX}d${process.pid.toString(36)}-probe`;
  await createNetns([ns]);
  try {
    const out = {} as HostReport['kernel'];
    for (const [f, argv] of Object.entries(PROBES) as [KernelFeature | 'netem', string[]][]) {
      const r = await run(argv, { netns: ns, reject: false });
      out[f] = r.exitCode === 0 ? { ok: true, detail: 'works' } : { ok: false, detail: r.stderr.trim().split('\n')[0] ?? `exit ${r.exitCode}` };
    }
    return out;
  } finally {
    await deleteNetns([ns]);
  }
}

export function modeNeeds(mode: ModeDef, report: Pick<HostReport, 'kernel' | 'tools'>): Check {
  const missing: string[] = [];
  for (const f of mode.kernel) if (!report.kernel[f]?.ok) missing.push(`kernel ${f} (${report.kernel[f]?.detail ?? 'unknown'})`);
  const toolMap: Record<Tool, string[]> = { 'cni-plugins': ['cni-plugins'], bird: ['bird', 'birdc'] };
  for (const t of mode.tools) for (const x of toolMap[t]) if (!report.tools[x]?.ok) missing.push(`${x} (${report.tools[x]?.detail})`);
  return missing.length ? { ok: false, detail: `needs ${missing.join(', ')}` } : { ok: true, detail: 'runs here' };
}

export async function doctor(): Promise<HostReport> {
  const root = process.getuid?.() === 0;
  const tools: Record<string, Check> = {};
  await Promise.all(Object.keys(TOOL_PACKAGES).map(async (t) => {
    const c = await which(t);
    tools[t] = c.ok ? c : { ok: false, detail: `${t} not found: apt-get install ${TOOL_PACKAGES[t]}` };
  }));
  const cni = cniBinDir();
  tools['cni-plugins'] = cni ? { ok: true, detail: cni } : { ok: false, detail: 'bridge/host-local plugins not found: apt-get install containernetworking-plugins' };
  tools['netns-dir'] = existsSync('/run/netns') || root ? { ok: true, detail: '/run/netns' } : { ok: false, detail: 'no /run/netns' };
  const kernel = root
    ? await probeKernel()
    : (Object.fromEntries(Object.keys(PROBES).map((k) => [k, { ok: false, detail: 'not probed: run as root' }])) as HostReport['kernel']);
  const modes = allModes().map((m) => ({ mode: m.name, family: m.family, netns: modeNeeds(m, { kernel, tools }) }));
  return { root, kernel, tools, modes };
}
