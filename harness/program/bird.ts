// One real BIRD per node (and on the router when it is a BGP peer), as calico-node runs it.
// Started daemonised so a lab left up by `cnilab up` keeps routing after the CLI exits.
import { rmSync, writeFileSync } from 'node:fs';
import pLimit from 'p-limit';
import { TimeoutError } from '../errors.ts';
import { nodeBirdConfig, routerBirdConfig } from '../modes/bird-config.ts';
import type { BirdPolicy } from '../modes/mode.ts';
import { formatCidr } from '../net/ipv4.ts';
import type { NodeExecutor } from '../node/executor.ts';
import { type LabDaemon, startDaemon } from './daemon.ts';
import type { LabEnv } from './env.ts';

/** What BIRD needs of a lab: where its nodes are, how to reach them, and a folder for its files. */
export type BirdEnv = LabEnv;

export interface BirdInstance {
  exec: NodeExecutor;
  socket: string;
  peers: number;
}

function startOne(exec: NodeExecutor, base: string, config: string, record: (d: LabDaemon) => void): Promise<LabDaemon> {
  writeFileSync(`${base}.conf`, config);
  // A killed predecessor leaves its socket and pid file; BIRD would take them for a live instance.
  for (const f of [`${base}.ctl`, `${base}.pid`]) rmSync(f, { force: true });
  // BIRD forks itself into the background once its config is read: its pid is in its pid file.
  return startDaemon(
    exec,
    {
      what: `bird ${base}.conf`,
      argv: ['bird', '-c', `${base}.conf`, '-s', `${base}.ctl`, '-P', `${base}.pid`],
      log: `${base}.log`,
      pidFile: `${base}.pid`,
    },
    record,
  );
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

export async function birdProtocols(exec: NodeExecutor, socket: string): Promise<Map<string, { state: string; info: string }>> {
  const r = await exec.run(['birdc', '-s', socket, 'show', 'protocols'], { reject: false });
  return parseProtocols(r.stdout);
}

export async function waitEstablished(instances: readonly BirdInstance[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  const restarted = new Set<string>();
  for (;;) {
    const states = await Promise.all(instances.map(async (i) => ({ i, p: await birdProtocols(i.exec, i.socket) })));
    // BIRD opens its BGP listening socket once; if port 179 was still held by the instance it
    // replaces (seen on slow guests), it never retries by itself. A protocol restart does.
    for (const { i, p } of states) {
      if (!restarted.has(i.socket) && [...p.values()].some((v) => /No listening socket/.test(v.info))) {
        restarted.add(i.socket);
        await i.exec.run(['birdc', '-s', i.socket, 'restart', 'all'], { reject: false });
      }
    }
    const pending = states.flatMap(({ i, p }) => {
      const bad = [...p].filter(([, v]) => !/Established/.test(v.info)).map(([k, v]) => `${i.exec.id}:${k}=${v.info || v.state}`);
      return p.size < i.peers ? [...bad, `${i.exec.id}: ${p.size}/${i.peers} sessions configured`] : bad;
    });
    if (pending.length === 0) return;
    last = pending.slice(0, 6).join(', ');
    if (Date.now() > deadline) throw new TimeoutError('BGP sessions to be Established', last, timeoutMs);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const birdBase = (env: BirdEnv, who: string) => `${env.labDir}/bird-${who}`;

/** Starts BIRD everywhere it belongs and waits for every session; `record` sees each daemon as it starts. */
export async function startBird(env: BirdEnv, policy: BirdPolicy, record: (d: LabDaemon) => void): Promise<LabDaemon[]> {
  const t = env.topology;
  const asn = env.settings.calico.asn;
  const limit = pLimit(8);
  const instances: BirdInstance[] = [];
  const jobs: Promise<LabDaemon>[] = [];
  const start = (netns: string, who: string, peers: number, config: (logFile: string) => string) => {
    const base = birdBase(env, who);
    const exec = env.exec(netns);
    instances.push({ exec, socket: `${base}.ctl`, peers });
    jobs.push(limit(() => startOne(exec, base, config(`${base}.log`), record)));
  };
  if (t.router?.bgpPeer) start(env.names.router(), 'router', t.nodes.length, (logFile) => routerBirdConfig(t, { asn, logFile }));
  for (const n of t.nodes)
    start(env.names.node(n), n.name, t.router?.bgpPeer ? 1 : t.nodes.length - 1, (logFile) =>
      nodeBirdConfig(t, n, policy, { asn, logFile }),
    );
  const daemons = await Promise.all(jobs);
  await waitEstablished(instances);
  await waitBlockRoutes(env);
  return daemons;
}

/**
 * The router's BIRD alone, as the route reflector the real calico-node's BIRD peers with (cnilab's
 * part of the network, not Calico's); `routerEstablished` waits for its sessions with every node.
 */
export function startRouterBird(env: BirdEnv, record: (d: LabDaemon) => void): Promise<LabDaemon> {
  const base = birdBase(env, 'router');
  return startOne(
    env.exec(env.names.router()),
    base,
    routerBirdConfig(env.topology, { asn: env.settings.calico.asn, logFile: `${base}.log` }),
    record,
  );
}

export const routerEstablished = (env: BirdEnv, timeoutMs: number) =>
  waitEstablished(
    [{ exec: env.exec(env.names.router()), socket: `${birdBase(env, 'router')}.ctl`, peers: env.topology.nodes.length }],
    timeoutMs,
  );

/** BGP is converged when every node's kernel has a route for every other node's block. */
export async function waitBlockRoutes(env: BirdEnv, timeoutMs = 15_000): Promise<void> {
  const t = env.topology;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing: string[] = [];
    await Promise.all(
      t.nodes.map(async (n) => {
        const r = await env.exec(env.names.node(n)).run(['ip', '-json', 'route', 'show']);
        const have = new Set((JSON.parse(r.stdout) as { dst: string }[]).map((x) => x.dst));
        for (const p of t.nodes)
          if (p.name !== n.name && !have.has(formatCidr(p.podBlock)))
            missing.push(`${n.name} has no route to ${p.name}'s block ${formatCidr(p.podBlock)}`);
      }),
    );
    if (missing.length === 0) return;
    if (Date.now() > deadline) throw new TimeoutError('BIRD to program every block route', missing.slice(0, 6).join('; '), timeoutMs);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The BIRD instances a lab runs (for tests and status): where, its control socket, how many sessions. */
export function birdInstances(env: BirdEnv): BirdInstance[] {
  const t = env.topology;
  return [
    ...(t.router?.bgpPeer ? [{ exec: env.exec(env.names.router()), socket: `${birdBase(env, 'router')}.ctl`, peers: t.nodes.length }] : []),
    ...t.nodes.map((n) => ({
      exec: env.exec(env.names.node(n)),
      socket: `${birdBase(env, n.name)}.ctl`,
      peers: t.router?.bgpPeer ? 1 : t.nodes.length - 1,
    })),
  ];
}
