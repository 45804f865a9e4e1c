// One real BIRD per node (and on the router when it is a BGP peer), as calico-node runs it.
// Started daemonised so a lab left up by `cnilab up` keeps routing after the CLI exits.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import pLimit from 'p-limit';
import { TimeoutError } from '../errors.ts';
import { run } from '../kernel/exec.ts';
import { processStartTime } from '../kernel/procs.ts';
import { nodeBirdConfig, routerBirdConfig } from '../modes/bird-config.ts';
import type { BirdPolicy } from '../modes/mode.ts';
import { formatCidr } from '../net/ipv4.ts';
import type { Lab } from './lab.ts';
import { labDir, type LabState } from './state.ts';

type Daemon = LabState['daemons'][number];

export interface BirdInstance {
  netns: string;
  socket: string;
  peers: number;
}

async function startOne(netns: string, base: string, config: string): Promise<Daemon> {
  writeFileSync(`${base}.conf`, config);
  // A killed predecessor leaves its socket and pid file; BIRD would take them for a live instance.
  for (const f of [`${base}.ctl`, `${base}.pid`]) rmSync(f, { force: true });
  await run(['bird', '-c', `${base}.conf`, '-s', `${base}.ctl`, '-P', `${base}.pid`], { netns, op: 'bird' });
  const pid = Number(readFileSync(`${base}.pid`, 'utf8').trim());
  return { netns, pid, startTime: processStartTime(pid) ?? 0, what: `bird ${base}.conf` };
}

/** Parses `birdc show protocols`: name -> state/info of each BGP protocol. */
export function parseProtocols(out: string): Map<string, { state: string; info: string }> {
  const m = new Map<string, { state: string; info: string }>();
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 6 && f[1] === 'BGP') m.set(f[0]!, { state: f[3]!, info: f.slice(5).join(' ') });
  }
  return m;
}

export async function birdProtocols(netns: string, socket: string): Promise<Map<string, { state: string; info: string }>> {
  const r = await run(['birdc', '-s', socket, 'show', 'protocols'], { netns, reject: false });
  return parseProtocols(r.stdout);
}

export async function waitEstablished(instances: readonly BirdInstance[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  const restarted = new Set<string>();
  for (;;) {
    const states = await Promise.all(instances.map(async (i) => ({ i, p: await birdProtocols(i.netns, i.socket) })));
    // BIRD opens its BGP listening socket once; if port 179 was still held by the instance it
    // replaces (seen on slow guests), it never retries by itself. A protocol restart does.
    for (const { i, p } of states) {
      if (!restarted.has(i.socket) && [...p.values()].some((v) => /No listening socket/.test(v.info))) {
        restarted.add(i.socket);
        await run(['birdc', '-s', i.socket, 'restart', 'all'], { netns: i.netns, reject: false });
      }
    }
    const pending = states.flatMap(({ i, p }) => {
      const bad = [...p].filter(([, v]) => !/Established/.test(v.info)).map(([k, v]) => `${i.netns}:${k}=${v.info || v.state}`);
      return p.size < i.peers ? [...bad, `${i.netns}: ${p.size}/${i.peers} sessions configured`] : bad;
    });
    if (pending.length === 0) return;
    last = pending.slice(0, 6).join(', ');
    if (Date.now() > deadline) throw new TimeoutError('BGP sessions to be Established', last, timeoutMs);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function birdBase(lab: Lab, who: string): string {
  return `${labDir(lab.name)}/bird-${who}`;
}

/** Starts BIRD everywhere it belongs and waits for every session; `record` sees each daemon as it starts. */
export async function startBird(lab: Lab, policy: BirdPolicy, record: (d: Daemon) => void): Promise<Daemon[]> {
  const t = lab.topology;
  const asn = lab.state.settings.calico.asn;
  const limit = pLimit(8);
  const instances: BirdInstance[] = [];
  const jobs: Promise<Daemon>[] = [];
  if (t.router?.bgpPeer) {
    const base = birdBase(lab, 'router');
    instances.push({ netns: lab.names.router(), socket: `${base}.ctl`, peers: t.nodes.length });
    jobs.push(limit(() => startOne(lab.names.router(), base, routerBirdConfig(t, { asn, logFile: `${base}.log` })).then((d) => (record(d), d))));
  }
  for (const n of t.nodes) {
    const base = birdBase(lab, n.name);
    instances.push({ netns: lab.names.node(n), socket: `${base}.ctl`, peers: t.router?.bgpPeer ? 1 : t.nodes.length - 1 });
    jobs.push(limit(() => startOne(lab.names.node(n), base, nodeBirdConfig(t, n, policy, { asn, logFile: `${base}.log` })).then((d) => (record(d), d))));
  }
  const daemons = await Promise.all(jobs);
  await waitEstablished(instances);
  await waitBlockRoutes(lab);
  return daemons;
}

export function birdInstances(lab: Lab): BirdInstance[] {
  const t = lab.topology;
  return [
    ...(t.router?.bgpPeer ? [{ netns: lab.names.router(), socket: `${birdBase(lab, 'router')}.ctl`, peers: t.nodes.length }] : []),
    ...t.nodes.map((n) => ({ netns: lab.names.node(n), socket: `${birdBase(lab, n.name)}.ctl`, peers: t.router?.bgpPeer ? 1 : t.nodes.length - 1 })),
  ];
}

/** BGP is converged when every node's kernel has a route for every other node's block. */
export async function waitBlockRoutes(lab: Lab, timeoutMs = 15_000): Promise<void> {
  const t = lab.topology;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing: string[] = [];
    await Promise.all(
      t.nodes.map(async (n) => {
        const r = await run(['ip', '-json', 'route', 'show'], { netns: lab.names.node(n) });
        const have = new Set((JSON.parse(r.stdout) as { dst: string }[]).map((x) => x.dst));
        for (const p of t.nodes) if (p.name !== n.name && !have.has(formatCidr(p.podBlock))) missing.push(`${n.name} has no route to ${p.name}'s block ${formatCidr(p.podBlock)}`);
      }),
    );
    if (missing.length === 0) return;
    if (Date.now() > deadline) throw new TimeoutError('BIRD to program every block route', missing.slice(0, 6).join('; '), timeoutMs);
    await new Promise((r) => setTimeout(r, 200));
  }
}
