// Before the measured probes: every neighbour a pod pair's packets will need is resolved, and the
// underlay's round trip is measured (it sets the reply deadline). A pod pings its own node, every
// node pings every other node: that resolves pod <-> gateway, node <-> pod, node <-> node and
// node <-> router on every path a pair can take, in every mode (tunnel neighbours are permanent).
// So ARP, a proxy-ARP delay (up to 0.8 s by default) or an ARP retry never lands in a pair's RTT or
// verdict. The first contact's own round trip is reported on its own.
import type { LabView } from '../backends/backend.ts';
import { formatIpv4 } from '../net/ipv4.ts';
import { replyDeadlineMs } from '../probe/deadline.ts';
import { markerPayload, type Probe, type Prober } from '../probe/prober.ts';
import type { Probing } from '../results/schema.ts';
import { percentile } from '../stats/stats.ts';

/** Warm-up payloads carry this tag, not a run's marker: the wire tally never counts them. */
const WARMUP_PAYLOAD = markerPayload(Uint8Array.of(0x77, 0x61, 0x72, 0x6d));
/** First contact may wait out an ARP retry (1 s) or a proxy-ARP delay; it ends as soon as all answered. */
const FIRST_CONTACT_DEADLINE_MS = 2_500;
const STEADY_DEADLINE_MS = 1_000;

const ms = (x: number) => Math.round(x * 1000) / 1000;
function summary(xs: readonly number[]): { p50: number; max: number } | undefined {
  if (!xs.length) return undefined;
  return { p50: ms(percentile(xs, 50)), max: ms(Math.max(...xs)) };
}

export async function warmUp(lab: LabView, prober: Prober): Promise<Probing> {
  const t = lab.topology;
  const ipOf = new Map(t.nodes.map((n) => [n.name, formatIpv4(n.ip)]));
  const podProbes: Probe[] = lab.pods.map((p) => ({
    from: lab.executor(p.netns),
    dst: ipOf.get(p.node)!,
    payload: WARMUP_PAYLOAD,
    count: 1,
  }));
  const nodeProbes: Probe[] = t.nodes.flatMap((a) =>
    t.nodes
      .filter((b) => b.name !== a.name)
      .map((b) => ({ from: lab.nodeExecutor(a.name), dst: formatIpv4(b.ip), payload: WARMUP_PAYLOAD, count: 1 })),
  );
  const all = [...podProbes, ...nodeProbes];
  const first = await prober.round(all, { deadlineMs: FIRST_CONTACT_DEADLINE_MS });
  const rtts = (answers: typeof first) => answers.flatMap((a) => ('error' in a ? [] : a.rttsMs));
  const answered = first.filter((a) => !('error' in a) && a.received > 0).length;
  const steady = await prober.round(
    all.map((p) => ({ ...p, count: 3 })),
    { intervalMs: 5, deadlineMs: STEADY_DEADLINE_MS },
  );
  // Node to node is the underlay; a one-node lab has only its pods' links to go by.
  const underlay = rtts(steady.slice(podProbes.length));
  const basis = underlay.length ? underlay : rtts(steady);
  const under = summary(basis);
  const firstContact = summary(rtts(first));
  const errors = first.flatMap((a) => ('error' in a ? [a.error] : []));
  return {
    deadlineMs: replyDeadlineMs(basis),
    ...(under ? { underlayRttMs: under } : {}),
    ...(firstContact ? { firstContactMs: firstContact } : {}),
    warmup: { probes: all.length, answered, ...(errors.length ? { error: errors[0]! } : {}) },
  };
}
