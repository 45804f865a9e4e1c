// Captures are whole by construction: a check ends its round with a marker frame on every capture
// and stops tcpdump only once the file holds it. A tcpdump frozen (SIGSTOP) through the probe round
// is waited for and every pair is judged; one that never catches up makes the pairs it covers
// errors, never mismatches, and results.json says which capture and why.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CapturePoint } from '../harness/backends/backend.ts';
import { Lab } from '../harness/backends/netns/lab.ts';
import { checkMode } from '../harness/check/check.ts';
import { forEachPacket } from '../harness/capture/pcap-reader.ts';
import { decode, DEFAULT_VXLAN_PORTS } from '../harness/capture/decode.ts';
import { getMode } from '../harness/modes/registry.ts';
import type { NodeExecutor } from '../harness/node/executor.ts';
import { labProcesses, netnsOf, ROOT, ROOT_SKIP, tmpOut, uniqueLab, viewOf } from './helpers.ts';
import { loadTopology } from '../harness/topology/load.ts';

/** Freezes segment `seg`'s tcpdump once it listens; `resume` (when given) thaws it. */
function freezing(lab: Lab, seg: string) {
  const frozen: number[] = [];
  const hold = (e: NodeExecutor): NodeExecutor => ({
    ...e,
    id: e.id,
    netnsPath: e.netnsPath,
    run: (argv, o) => e.run(argv, o),
    apply: (ops, o) => e.apply(ops, o),
    readFile: (f) => e.readFile(f),
    exists: () => e.exists(),
    spawn: (argv, o) => {
      const p = e.spawn(argv, o);
      let err = '';
      p.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
        if (p.pid && !frozen.includes(p.pid) && /listening on/.test(err)) {
          process.kill(p.pid, 'SIGSTOP');
          frozen.push(p.pid);
        }
      });
      return p;
    },
  });
  const points: CapturePoint[] = lab.capturePoints.map((c) => (c.segment === seg ? { ...c, exec: hold(c.exec) } : c));
  const view = viewOf(lab, { capturePoints: points });

  const thaw = () => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
  };
  return { view, frozen, thaw };
}

describe('captures are whole, or their pairs are errors', { skip: ROOT_SKIP }, () => {
  const name = uniqueLab('cap');
  let lab: Lab;

  before(async () => {
    lab = await Lab.up(await loadTopology(`${ROOT}/topologies/two-subnets.yaml`), getMode('flannel-vxlan'), { name });
  });
  after(async () => {
    await lab?.down();
    assert.deepEqual(netnsOf(name), [], 'namespaces left after down');
    assert.deepEqual(labProcesses(name), [], 'processes left after down');
  });

  test('a tcpdump frozen through the whole probe round is waited for: every pair judged, and passing', async () => {
    const { view, frozen, thaw } = freezing(lab, 'a');
    const out = tmpOut('cap-late');
    // Thawed a second after the probe round ended, well inside the end marker's wait: under the
    // old fixed drain (150 ms) the round's packets were still in its ring when it was stopped.
    const progress = (m: string) => {
      if (/probed \d+ pairs/.test(m)) setTimeout(thaw, 1000);
    };
    try {
      const r = await checkMode(view, getMode('flannel-vxlan'), { outDir: out, progress });
      assert.equal(frozen.length, 1, 'the capture of segment a was frozen');
      assert.equal(r.status, 'passed', r.reason);
      assert.equal(r.pairs.filter((p) => p.error).length, 0);
      const a = r.captureStats?.find((c) => c.segment === 'a');
      assert.ok(a?.sawEnd, 'segment a saw its end marker');
      assert.equal(a?.droppedByKernel, 0);
      assert.equal(a?.written, a?.captured);
      // The file holds the round: every cross-node pair's VXLAN packets are on segment a.
      let vxlan = 0;
      await forEachPacket(`${out}/${r.captures![r.captureStats!.indexOf(a!)]}`, (raw) => {
        if (decode(raw, { vxlanPorts: DEFAULT_VXLAN_PORTS })?.encap.kind === 'vxlan') vxlan++;
      });
      assert.ok(vxlan >= 2 * 3 * 16, `segment a holds the round's VXLAN packets (${vxlan})`);
    } finally {
      thaw();
    }
  });

  test('a tcpdump that never catches up: the pairs it covers are errors naming it, the rest are judged', async () => {
    const { view, frozen, thaw } = freezing(lab, 'a');
    const out = tmpOut('cap-short');
    try {
      const r = await checkMode(view, getMode('flannel-vxlan'), { outDir: out, captureWaitMs: 1500 });
      assert.equal(frozen.length, 1);
      assert.equal(r.status, 'failed');
      const a = r.captureStats?.find((c) => c.segment === 'a');
      assert.equal(a?.sawEnd, false);
      assert.match(
        a?.incomplete ?? '',
        /^capture incomplete on segment a: its end-of-round marker did not reach the file within 1500 ms \(/,
      );
      assert.equal(r.captureStats?.find((c) => c.segment === 'b')?.incomplete, undefined, 'segment b was whole');
      const onA = new Set(lab.topology.nodes.filter((n) => n.subnet.name === 'a').map((n) => n.name));
      const touchesA = (id: string) => onA.has(id.split('/')[0]!);
      for (const p of r.pairs) {
        if (touchesA(p.src) || touchesA(p.dst)) {
          assert.equal(p.ok, false);
          assert.match(p.error ?? '', /capture incomplete on segment a/, `${p.src} -> ${p.dst} is an error`);
          assert.match(p.mismatch ?? '', /^not judged: /);
          assert.equal(p.observed.reachable, true, 'what the probe saw is kept');
        } else assert.ok(p.ok, `${p.src} -> ${p.dst} (only segment b) is judged: ${p.mismatch}`);
      }
      assert.ok(
        r.pairs.some((p) => p.ok),
        'pairs on segment b alone were judged',
      );
      assert.match(r.reason ?? '', /28 pairs were not judged \(capture incomplete on segment a/);
    } finally {
      thaw();
    }
  });
});
