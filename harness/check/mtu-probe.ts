// The DF probe: on each underlay path, one pod sends another a packet as large as its own MTU with
// DF set. A pods' MTU the path cannot carry shows as a packet that did not pass (the node answers
// "fragmentation needed"), which is how conform proves an MTU finding on the wire rather than by
// arithmetic. A ping that did not run is an error, never "dropped".
import type { LabView } from '../backends/backend.ts';
import { ENCAP_OVERHEAD } from '../modes/common.ts';
import type { ModeDef } from '../modes/mode.ts';
import { IF } from '../plan/names.ts';
import { dfPasses, linkMtu } from '../probe/perf.ts';
import type { MtuProbe, PathKind } from '../results/schema.ts';
import { pathBetween } from '../topology/types.ts';

const PATHS: readonly PathKind[] = ['same-subnet', 'cross-subnet'];
/** IPv4 and ICMP headers: ping's -s is the packet size less these. */
const ICMP_HEADERS = 28;

export async function probePodMtu(lab: LabView, mode: ModeDef): Promise<MtuProbe[]> {
  const t = lab.topology;
  const nodeOf = new Map(t.nodes.map((n) => [n.name, n]));
  const pairs = lab.pods.flatMap((src) => lab.pods.map((dst) => ({ src, dst, a: nodeOf.get(src.node)!, b: nodeOf.get(dst.node)! })));
  // The paths at once: a packet too big waits out ping's deadline, and the probes do not disturb each other.
  const probes = await Promise.all(
    PATHS.map(async (path): Promise<MtuProbe | undefined> => {
      // The first pair on this path the mode must connect: an unreachable path has no MTU to show.
      const found = pairs
        .filter((p) => pathBetween(p.a, p.b) === path)
        .map((p) => ({ ...p, expect: mode.expect(p.a, p.b, path, { topology: t, settings: lab.settings }) }))
        .find((p) => p.expect.reachable);
      if (!found) return undefined;
      const pathMtu = t.mtu - ENCAP_OVERHEAD[found.expect.encap];
      const src = `${found.src.node}/${found.src.name}`;
      const dst = `${found.dst.node}/${found.dst.name}`;
      const exec = lab.executor(found.src.netns);
      let podMtu = 0;
      try {
        podMtu = await linkMtu(exec, IF.podEth);
        const expected = podMtu <= pathMtu ? 'passes' : 'dropped';
        const observed = (await dfPasses(exec, found.dst.ip, podMtu - ICMP_HEADERS, 3)) ? 'passes' : 'dropped';
        return { path, src, dst, podMtu, pathMtu, expected, observed, ok: observed === expected };
      } catch (e) {
        // Not a verdict: the probe did not run, and the run fails saying so.
        const expected = podMtu && podMtu > pathMtu ? 'dropped' : 'passes';
        return { path, src, dst, podMtu, pathMtu, expected, ok: false, error: (e as Error).message.split('\n')[0]! };
      }
    }),
  );
  return probes.filter((p): p is MtuProbe => p !== undefined);
}
