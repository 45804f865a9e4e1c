// Faults on underlay links, after a mode's wire check: each declared fault is applied, every pod
// pair is probed (inside the lab, as always), and the run says which pairs kept working, how much
// was lost and how the latency changed, against the thresholds the topology gave. The fault is
// removed whatever happens. Loss and delay use netem where the kernel has it; loss falls back to
// an nftables drop (numgen random); a link goes down at its switch port, so the node keeps its routes.
import type { CheckRequest, LabView } from '../backends/backend.ts';
import { kernelFeatures } from '../host/doctor.ts';
import type { ModeDef } from '../modes/mode.ts';
import type { NodeExecutor } from '../node/executor.ts';
import { IF, labNames } from '../plan/names.ts';
import { probeMarker } from '../probe/marker.ts';
import { answerOutcome, markerPayload, startProber } from '../probe/prober.ts';
import type { FaultResult, RunResult } from '../results/schema.ts';
import type { FaultSpec } from '../topology/types.ts';
import { warmUp } from './warmup.ts';

const TABLE = 'cnilab_fault';
const FAULT_DEADLINE_MS = 3_000;
const median = (xs: readonly number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : undefined);

/** Where a fault acts: the link's interfaces, and the switch ports that carry them. */
function targets(
  view: LabView,
  f: FaultSpec,
): { ends: { exec: NodeExecutor; iface: string }[]; ports: { exec: NodeExecutor; iface: string }[] } {
  const t = view.topology;
  const names = labNames(view.lab);
  const sw = (subnet: string) => view.executor(names.switch(subnet));
  if (f.link === 'router') {
    const rtr = view.executor(names.router());
    return {
      ends: t.subnets.map((s) => ({ exec: rtr, iface: IF.routerLeg(s.name) })),
      ports: t.subnets.map((s) => ({ exec: sw(s.name), iface: IF.switchPortToRouter })),
    };
  }
  const node = t.nodes.find((n) => n.name === f.link)!;
  return {
    ends: [{ exec: view.nodeExecutor(node.name), iface: IF.underlay }],
    ports: [{ exec: sw(node.subnet.name), iface: IF.switchPortToNode(node.name) }],
  };
}

const nftLoss = (iface: string, percent: number) =>
  [
    `add table inet ${TABLE}`,
    `add chain inet ${TABLE} out { type filter hook postrouting priority 0; }`,
    `add chain inet ${TABLE} in { type filter hook prerouting priority 0; }`,
    `add rule inet ${TABLE} out oifname "${iface}" numgen random mod 100 < ${percent} drop`,
    `add rule inet ${TABLE} in iifname "${iface}" numgen random mod 100 < ${percent} drop`,
  ].join('\n');

/** Applies a fault; returns how to undo it, or why it cannot be applied here. */
async function apply(view: LabView, f: FaultSpec): Promise<{ undo: () => Promise<void>; note?: string } | { skip: string }> {
  const { ends, ports } = targets(view, f);
  const netem = (await kernelFeatures()).netem.ok;
  const each = (list: typeof ends, argv: (iface: string) => string[]) =>
    Promise.all(list.map((e) => e.exec.run(argv(e.iface), { op: `fault ${f.name}` })));
  switch (f.kind) {
    case 'delay':
    case 'loss': {
      if (netem) {
        const what = f.kind === 'delay' ? ['delay', `${f.ms}ms`] : ['loss', `${f.percent}%`];
        await each(ends, (i) => ['tc', 'qdisc', 'replace', 'dev', i, 'root', 'netem', ...what]);
        return { undo: async () => void (await each(ends, (i) => ['tc', 'qdisc', 'del', 'dev', i, 'root'])) };
      }
      if (f.kind === 'delay') return { skip: 'this kernel has no netem, and nothing else can delay packets' };
      await Promise.all(ends.map((e) => e.exec.run(['nft', '-f', '-'], { input: nftLoss(e.iface, f.percent!), op: `fault ${f.name}` })));
      return {
        undo: async () =>
          void (await Promise.all(ends.map((e) => e.exec.run(['nft', 'delete', 'table', 'inet', TABLE], { reject: false })))),
      };
    }
    case 'down':
      await each(ports, (i) => ['ip', 'link', 'set', i, 'down']);
      return { undo: async () => void (await each(ports, (i) => ['ip', 'link', 'set', i, 'up'])) };
    case 'router-restart': {
      // Down for ms, then up again; the probes after it show whether everything came back.
      await each(ports, (i) => ['ip', 'link', 'set', i, 'down']);
      await new Promise((r) => setTimeout(r, f.ms ?? 2000));
      await each(ports, (i) => ['ip', 'link', 'set', i, 'up']);
      // `ip link set up` returns before the carrier is back (the kernel's link watch reports it
      // later): probes sent meanwhile would be lost to the restart itself, not to what came back.
      const dark = (await Promise.all(ports.map(async (p) => ((await carrierUp(p.exec, p.iface)) ? [] : [p.iface])))).flat();
      return {
        undo: async () => void (await each(ports, (i) => ['ip', 'link', 'set', i, 'up'])),
        // Probed anyway (that is the fault's verdict), but said: what they show may be the restart's own doing.
        ...(dark.length ? { note: `no carrier on ${dark.join(', ')} ${CARRIER_CAP_MS / 1000} s after coming up` } : {}),
      };
    }
  }
}

const CARRIER_CAP_MS = 5_000;
/** Has the link's carrier come back (LOWER_UP) within the cap? A device gone is an error, not "no carrier". */
async function carrierUp(exec: NodeExecutor, iface: string): Promise<boolean> {
  const until = performance.now() + CARRIER_CAP_MS;
  while (performance.now() < until) {
    const r = await exec.run(['ip', '-o', 'link', 'show', 'dev', iface], { op: 'carrier' });
    if (/[<,]LOWER_UP[,>]/.test(r.stdout)) return true;
    await new Promise((res) => setTimeout(res, 10));
  }
  return false;
}

/** Does a pair's traffic cross the faulted link? A node's link: one end on it, not both. The router: different subnets. */
function crosses(view: LabView, f: FaultSpec, src: string, dst: string): boolean {
  const nodeOf = (podId: string) => view.topology.nodes.find((n) => n.name === podId.split('/')[0])!;
  const [a, b] = [nodeOf(src), nodeOf(dst)];
  if (f.link === 'router') return a.subnet.name !== b.subnet.name;
  return a.name !== b.name && (a.name === f.link || b.name === f.link);
}

export async function checkFaults(view: LabView, mode: ModeDef, baseline: RunResult, req: CheckRequest): Promise<FaultResult[]> {
  const out: FaultResult[] = [];
  const pods = new Map(view.pods.map((p) => [p.id, p]));
  const before = baseline.pairs.filter((p) => !p.error && p.observed.reachable);
  const rttBefore = median(before.flatMap((p) => (p.observed.rttMs !== undefined ? [p.observed.rttMs] : [])));
  for (const f of view.topology.faults ?? []) {
    const head = { name: f.name, kind: f.kind, link: f.link };
    const applied = await apply(view, f);
    if ('skip' in applied) {
      out.push({
        ...head,
        status: 'skipped',
        reason: applied.skip,
        kept: 0,
        lost: [],
        lossPercent: 0,
        rttMs: { ...(rttBefore !== undefined ? { before: rttBefore } : {}) },
      });
      continue;
    }
    let probes: { pair: (typeof before)[number]; sent: number; received: number; rttMs?: number; error?: string }[];
    const prober = startProber(labNames(view.lab).prefix);
    try {
      const runTag = Math.floor(Math.random() * 256);
      // A router that comes back or a lossy link is slower to answer than a check: the old 3 s, plus
      // the declared delay on both legs of a round trip through the router, both ways.
      const deadlineMs = FAULT_DEADLINE_MS + (f.kind === 'delay' ? 4 * (f.ms ?? 0) : 0);
      // The fault changed the links: resolve neighbours again first (a link that went down lost
      // them), so what the probes show is the fault's doing, not first contact's.
      await warmUp(view, prober);
      const answers = await prober.round(
        before.map((pair, i) => ({
          from: view.executor(pods.get(pair.src)!.netns),
          dst: pods.get(pair.dst)!.ip,
          payload: markerPayload(probeMarker(runTag, i)),
          count: 10,
        })),
        { intervalMs: 20, deadlineMs },
      );
      probes = answers.map((a, i) => {
        const pair = before[i]!;
        if ('error' in a) return { pair, sent: 0, received: 0, error: a.error };
        const o = answerOutcome(a);
        return { pair, sent: a.sent, received: a.received, ...('rttMs' in o && o.rttMs !== undefined ? { rttMs: o.rttMs } : {}) };
      });
    } finally {
      await Promise.all([applied.undo(), prober.close()]);
    }
    const errors = probes.filter((p) => p.error);
    const ran = probes.filter((p) => !p.error);
    const lost = ran.filter((p) => p.received === 0).map((p) => `${p.pair.src} -> ${p.pair.dst}`);
    const sent = ran.reduce((a, p) => a + p.sent, 0);
    const lossPercent = sent ? Math.round((1000 * (sent - ran.reduce((a, p) => a + p.received, 0))) / sent) / 10 : 0;
    const under = median(ran.flatMap((p) => (p.received > 0 && p.rttMs !== undefined ? [p.rttMs] : [])));
    const why: string[] = [];
    if (errors.length) why.push(`${errors.length} probes did not run (${errors[0]!.error})`);
    const e = f.expect ?? {};
    if (e.reachable === 'kept' && lost.length)
      why.push(`${lost.length} pairs stopped working (${lost.slice(0, 3).join(', ')}${lost.length > 3 ? ', ...' : ''})`);
    if (e.reachable === 'lost') {
      const through = ran
        .filter((p) => p.received > 0 && crosses(view, f, p.pair.src, p.pair.dst))
        .map((p) => `${p.pair.src} -> ${p.pair.dst}`);
      if (through.length)
        why.push(
          `${through.length} pairs across the link still worked (${through.slice(0, 3).join(', ')}${through.length > 3 ? ', ...' : ''})`,
        );
    }
    if (e.maxLossPercent !== undefined && lossPercent > e.maxLossPercent)
      why.push(`${lossPercent}% of probes lost, over ${e.maxLossPercent}%`);
    if (e.maxRttMs !== undefined && under !== undefined && under > e.maxRttMs) why.push(`median RTT ${under} ms, over ${e.maxRttMs} ms`);
    out.push({
      ...head,
      status: why.length ? 'failed' : 'passed',
      ...(why.length ? { reason: why.join('; ') } : {}),
      ...('note' in applied && applied.note ? { note: applied.note } : {}),
      kept: ran.length - lost.length,
      lost,
      lossPercent,
      rttMs: { ...(rttBefore !== undefined ? { before: rttBefore } : {}), ...(under !== undefined ? { under } : {}) },
    });
    req.progress?.(
      `${mode.name}: fault ${f.name}: ${why.length ? 'FAILED' : 'passed'}, ${ran.length - lost.length}/${before.length} pairs kept ` +
        `working, ${lossPercent}% lost${'note' in applied && applied.note ? ` (${applied.note})` : ''}`,
    );
  }
  return out;
}
