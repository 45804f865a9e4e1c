import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DecodedPacket } from '../capture/decode.ts';
import { probeMarker } from '../probe/marker.ts';
import { parsePing } from '../probe/ping.ts';
import { WireTally } from './classify.ts';
import { judge, observe, pairResult } from './verdict.ts';

function echo(payload: Uint8Array, encap: DecodedPacket['encap'], type = 8): DecodedPacket {
  return {
    tsNs: 0n,
    encap,
    src: 1,
    dst: 2,
    protocol: 1,
    ttl: 64,
    totalLength: 84,
    dontFragment: false,
    icmp: { type, code: 0, id: 1, seq: 1, payload },
  };
}
const withMarker = (tag: number, i: number) => new Uint8Array([...new Uint8Array(16), ...probeMarker(tag, i), ...probeMarker(tag, i)]);

test('the tally attributes echo requests to their probe, ignores replies and other runs', () => {
  const t = new WireTally(7);
  const vx = { kind: 'vxlan' as const, vni: 1, port: 8472, outerSrc: 10, outerDst: 11 };
  t.add(echo(withMarker(7, 3), vx));
  t.add(echo(withMarker(7, 3), vx));
  t.add(echo(withMarker(7, 3), vx, 0));
  t.add(echo(withMarker(8, 3), { kind: 'none' }));
  t.add(echo(withMarker(7, 300), { kind: 'ipip', outerSrc: 1, outerDst: 2 }));
  assert.deepEqual(t.get(3), { packets: 2, encaps: [vx] });
  assert.equal(t.get(300).encaps[0]!.kind, 'ipip');
  assert.deepEqual(t.get(4), { packets: 0, encaps: [] });
});

test('judge: every kind of mismatch is named', () => {
  const vx = { reachable: true, encap: 'vxlan' as const, vni: 1, port: 8472 };
  assert.deepEqual(judge(vx, { ...vx, rttMs: 0.1 }, []), { ok: true });
  assert.match(judge(vx, { reachable: false, encap: 'none' }, []).mismatch!, /expected reachable, got no reply/);
  assert.match(
    judge({ reachable: false, encap: 'none' }, { reachable: true, encap: 'none' }, []).mismatch!,
    /expected no reply, got a reply/,
  );
  assert.match(judge(vx, { reachable: true, encap: 'none' }, []).mismatch!, /expected encap vxlan, saw none/);
  assert.match(judge(vx, { ...vx, vni: 2 }, []).mismatch!, /expected VNI 1, saw 2/);
  assert.match(judge(vx, { ...vx, port: 4789 }, []).mismatch!, /expected UDP port 8472, saw 4789/);
  // Unreachable as expected: what crossed the wire does not matter.
  assert.deepEqual(judge({ reachable: false, encap: 'none' }, { reachable: false, encap: 'vxlan', vni: 1, port: 8472 }, []), { ok: true });
});

test('observe: mixed encapsulation, an invisible cross-node probe, same-node traffic on the wire', () => {
  const mixed = observe(
    'same-subnet',
    { reachable: true },
    { packets: 2, encaps: [{ kind: 'vxlan', vni: 1, port: 8472 }, { kind: 'none' }] },
  );
  assert.match(mixed.problems[0]!, /mixed encapsulation/);
  assert.match(observe('cross-subnet', { reachable: true }, { packets: 0, encaps: [] }).problems[0]!, /none of its packets was seen/);
  assert.match(observe('same-node', { reachable: true }, { packets: 3, encaps: [{ kind: 'none' }] }).problems[0]!, /left the node/);
  assert.deepEqual(observe('same-node', { reachable: true, rttMs: 0.02 }, { packets: 0, encaps: [] }), {
    observed: { reachable: true, encap: 'none', rttMs: 0.02 },
    problems: [],
  });
  const r = pairResult(
    'n1/p1',
    'n3/p1',
    'cross-subnet',
    { reachable: true, encap: 'ipip' },
    { reachable: true },
    { packets: 3, encaps: [{ kind: 'ipip', outerSrc: 1, outerDst: 2 }] },
  );
  assert.deepEqual([r.ok, r.observed.encap, r.observed.wirePackets], [true, 'ipip', 3]);
});

test('ping summaries: all, some and none received', () => {
  assert.deepEqual(
    parsePing('3 packets transmitted, 3 received, 0% packet loss, time 101ms\nrtt min/avg/max/mdev = 0.040/0.052/0.061/0.008 ms\n'),
    { sent: 3, received: 3, rttMs: 0.052 },
  );
  assert.deepEqual(
    parsePing('3 packets transmitted, 1 received, 66.6667% packet loss, time 2003ms\nrtt min/avg/max/mdev = 0.050/0.050/0.050/0.000 ms\n'),
    { sent: 3, received: 1, rttMs: 0.05 },
  );
  assert.deepEqual(
    parsePing(
      'From 172.31.10.1 icmp_seq=1 Destination Net Unreachable\n3 packets transmitted, 0 received, +3 errors, 100% packet loss, time ' +
        '2040ms\n',
    ),
    { sent: 3, received: 0 },
  );
  assert.deepEqual([...probeMarker(0x12, 0x345)], [0xc1, 0x1a, 0xb5, 0x12, 0x03, 0x45]);
});

test('a probe that did not run fails its pair as an error, whatever was expected', () => {
  const r = pairResult(
    'n1/p1',
    'n3/p1',
    'cross-subnet',
    { reachable: false, encap: 'none' },
    { error: 'ping exited 2: connect: Network is unreachable' },
    { packets: 0, encaps: [] },
  );
  assert.equal(r.ok, false);
  assert.equal(r.error, 'ping exited 2: connect: Network is unreachable');
  assert.match(r.mismatch!, /^probe did not run: /);
});
