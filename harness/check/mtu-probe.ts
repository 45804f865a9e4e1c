// The DF probe: on each underlay path, one pod sends another a packet as large as its own MTU with
// DF set. A pods' MTU the path cannot carry shows as a packet that did not pass (the node answers
// "fragmentation needed"), which is how conform proves an MTU finding on the wire rather than by
// arithmetic. A ping that did not run is an error, never "dropped".
import type { LabView } from '../backends/backend.ts';
import { ENCAP_OVERHEAD } from '../modes/common.ts';
import type { ModeDef } from '../modes/mode.ts';
import { pingOutcome } from '../probe/ping.ts';
import type { MtuProbe, PathKind } from '../results/schema.ts';
import { pathBetween } from '../topology/types.ts';

const PATHS: readonly PathKind[] = ['same-subnet', 'cross-subnet'];
/** IPv4 and ICMP headers: ping's -s is the packet size less these. */
const ICMP_HEADERS = 28;

export async function probePodMtu(lab: LabView, mode: ModeDef): Promise<MtuProbe[]> {
  const t = lab.topology;
  const nodeOf = new Map(t.nodes.map((n) => [n.name, n]));
  // The paths at once: a packet too big waits out ping's deadline, and the two never share a link.
  const probes = await Promise.all(
    PATHS.map(async (path): Promise<MtuProbe | undefined> => {
      // The first pair on this path the mode must connect: an unreachable path has no MTU to show.
      const pair = lab.pods
        .flatMap((src) => lab.pods.map((dst) => ({ src, dst, a: nodeOf.get(src.node)!, b: nodeOf.get(dst.node)! })))
        .find((p) => pathBetween(p.a, p.b) === path && mode.expect(p.a, p.b, path, { topology: t, settings: lab.settings }).reachable);
      if (!pair) return undefined;
      const expect = mode.expect(pair.a, pair.b, path, { topology: t, settings: lab.settings });
      const pathMtu = t.mtu - ENCAP_OVERHEAD[expect.encap];
      const src = `${pair.src.node}/${pair.src.name}`;
      const dst = `${pair.dst.node}/${pair.dst.name}`;
      const exec = lab.executor(pair.src.netns);
      let podMtu = 0;
      try {
        const link = JSON.parse((await exec.run(['ip', '-json', 'link', 'show', 'eth0'])).stdout) as { mtu: number }[];
        podMtu = link[0]!.mtu;
        const expected = podMtu <= pathMtu ? 'passes' : 'dropped';
        // Three tries: one lost packet must not read as "too big". Too big is answered at once (the
        // node's "frag needed", then the sender's own "message too long"), so this costs nothing then.
        const r = await exec.run(
          ['ping', '-n', '-q', '-M', 'do', '-s', String(podMtu - ICMP_HEADERS), '-c', '3', '-i', '0.2', '-W', '1', pair.dst.ip],
          { reject: false, op: 'ping -M do', timeoutMs: 10_000 },
        );
        const got = pingOutcome(r.exitCode, r.stdout, r.stderr, `DF ping of ${podMtu} bytes from ${src} to ${dst}`);
        const observed = got.received > 0 ? 'passes' : 'dropped';
        return { path, src, dst, podMtu, pathMtu, expected, observed, ok: observed === expected };
      } catch (e) {
        const expected = podMtu && podMtu > pathMtu ? 'dropped' : 'passes';
        return { path, src, dst, podMtu, pathMtu, expected, ok: false, error: (e as Error).message.split('\n')[0]! };
      }
    }),
  );
  return probes.filter((p): p is MtuProbe => p !== undefined);
}
