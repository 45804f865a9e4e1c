// A property of the validator: a random topology either loads and plans (the underlay, every
// mode's plan and BIRD configs, all pure), or is rejected when it loads, with a TopologyError.
// Never a RangeError or a bad name half-way through a build the validator could have prevented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopologyError } from '../errors.ts';
import { nodeBirdConfig } from '../modes/bird-config.ts';
import { kernelProgram } from '../modes/mode.ts';
import { allModes } from '../modes/registry.ts';
import { labNames } from '../plan/names.ts';
import { calicoPods } from '../plan/pods.ts';
import { planUnderlay } from '../plan/underlay.ts';
import { renderOp } from '../plan/ops.ts';
import { contains, formatCidr, ipv4 } from '../net/ipv4.ts';
import { prng as rng } from '../stats/random.ts';
import { parseTopology } from './load.ts';

function randomTopology(r: () => number): string {
  // Mostly good values, sometimes one that must be refused: both halves of the property get exercised.
  const pick = <T>(good: readonly T[], bad: readonly T[] = []) => {
    const xs = bad.length && r() < 0.07 ? bad : good;
    return xs[Math.floor(r() * xs.length)]!;
  };
  const nSub = 1 + Math.floor(r() * 3);
  const subnets = Array.from(
    { length: nSub },
    (_, i) =>
      `  - { name: s${i}, cidr: ` +
      `${pick(['10.10', '192.168', '172.16'], ['127.0', '224.0', '0.0'])}.${i * 16}.0/${pick([24, 26, 28], [29, 30])} }`,
  );
  const nodes = Array.from(
    { length: 1 + Math.floor(r() * 6) },
    (_, i) => `  - { name: n${i}, subnet: s${pick([Math.floor(r() * nSub)], [nSub])}, pods: ${pick([0, 1, 2, 4, 5, 13], [62, 64, 70])} }`,
  );
  return [
    'name: p',
    `mtu: ${pick([1280, 1500, 9000], [100, 10000])}`,
    `podCidr: ${pick(['10.244.0.0/16', '10.200.0.0/20'], ['127.0.0.0/16', '10.244.0.0/28', '224.0.0.0/16'])}`,
    `subnetLen: ${pick([24, 26], [28, 30, 31])}`,
    `blockSize: ${pick([26, 27, 28], [30, 31, 32])}`,
    'subnets:',
    ...subnets,
    ...(nSub > 1 || r() < 0.3 ? ['router: { name: r1 }'] : []),
    'nodes:',
    ...nodes,
    `flannel: { vni: ${pick([1, 42, 9999999], [10000000, 16777215, 0])}, port: ${pick([8472, 4789, 65535], [0, 70000])} }`,
  ].join('\n');
}

test('1000 random topologies: each loads and plans, or is refused at load', () => {
  let loaded = 0;
  for (let seed = 1; seed <= 1000; seed++) {
    const text = randomTopology(rng(seed));
    let t: ReturnType<typeof parseTopology>;
    try {
      t = parseTopology(text, `seed-${seed}.yaml`);
    } catch (e) {
      assert.ok(e instanceof TopologyError, `seed ${seed}: load threw ${String(e)}\n${text}`);
      continue;
    }
    loaded++;
    const names = labNames('p');
    try {
      planUnderlay(t, names).map(renderOp);
      const pods = calicoPods(t, names);
      // Block ordinal 0 is the tunnel address: every pod inside its node's block, after it.
      for (const p of pods) {
        const n = t.nodes.find((x) => x.name === p.node)!;
        const ip = ipv4(p.ip);
        assert.ok(
          contains(n.podBlock, ip) && ip !== n.podBlock.network,
          `seed ${seed}: pod ${p.id} ${p.ip} outside its block ${formatCidr(n.podBlock)}`,
        );
      }
      for (const m of allModes()) kernelProgram(m)?.plan({ topology: t, names, pods, settings: t.settings }).map(renderOp);
      for (const n of t.nodes) nodeBirdConfig(t, n, { kernelExport: 'all' }, { asn: 64512, logFile: '/x' });
      // Every generated device name fits Linux's 15 characters.
      const devices = [
        ...planUnderlay(t, names),
        ...allModes().flatMap((m) => kernelProgram(m)?.plan({ topology: t, names, pods, settings: t.settings }) ?? []),
      ].flatMap((o) => ('name' in o ? [o.name] : []).concat(o.kind === 'veth' ? [o.peer.name] : []));
      for (const d of devices) assert.ok(d.length <= 15, `seed ${seed}: device name ${d} is ${d.length} characters`);
    } catch (e) {
      assert.fail(`seed ${seed}: loaded, then failed to plan: ${(e as Error).message}\n${text}`);
    }
  }
  assert.ok(loaded >= 20, `only ${loaded} of 1000 loaded: the generator should make valid ones too`);
});
