// cnilab next to mininet, same shape, same machine: `sudo npx tsx bench/peer-mininet/run.ts
// [--rounds 5] [--sizes 6,60]`. Installs mininet and bridge-utils from Debian first (for this
// benchmark only; nothing else in cnilab uses them). Per size: hosts (mininet) or pods (cnilab,
// 2 per node) split over two subnets behind a router; build, probe every ordered pair, tear down.
// The tools alternate within each round, in a random order. mininet probes with net.ping (one
// pair after another, 1 ping each); cnilab's probe is its warm-up plus the prober round (3 pings a
// pair, all at once), and "check" adds the captures and their decoding, which mininet has no part
// of. cnilab's teardown waits until the kernel has removed the namespaces; mininet's net.stop()
// returns when its shells are gone.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { Lab } from '../../harness/backends/netns/lab.ts';
import { checkMode } from '../../harness/check/index.ts';
import { getMode } from '../../harness/modes/registry.ts';
import { median, spread, twoSubnets } from '../shape.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, sizes: { type: 'string', default: '6,60' } } });
const rounds = Number(values.rounds);
const sizes = values.sizes.split(',').map(Number);
const HERE = new URL('.', import.meta.url).pathname;
const mode = getMode('flannel-vxlan');

if (!existsSync('/usr/lib/python3/dist-packages/mininet/net.py') || !existsSync('/usr/sbin/brctl')) {
  console.error('installing mininet and bridge-utils from Debian (benchmark only)');
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'mininet', 'bridge-utils'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

interface Sample {
  build: number;
  probe: number;
  check?: number;
  teardown: number;
}

function mininet(hosts: number): Sample {
  const out = execFileSync('/usr/bin/python3', [`${HERE}two_subnets.py`, String(hosts)], { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').at(-1)!);
  if (r.lossPercent > 0) throw new Error(`mininet lost ${r.lossPercent}% of its pings at ${hosts} hosts`);
  return { build: r.build, probe: r.probe, teardown: r.teardown };
}

async function cnilab(pods: number, round: number): Promise<Sample> {
  const out = mkdtempSync(`${tmpdir()}/cnilab-peer-`);
  const t0 = performance.now();
  const lab = await Lab.up(twoSubnets(`peer${pods}`, pods / 2), mode, { name: `peer${pods}r${round}` });
  const build = (performance.now() - t0) / 1000;
  let probe = 0;
  let check = 0;
  try {
    const t1 = performance.now();
    const r = await checkMode(lab, mode, { outDir: out });
    check = (performance.now() - t1) / 1000;
    probe = ((r.phases?.warmup ?? 0) + (r.phases?.probe ?? 0)) / 1000;
    if (r.status !== 'passed') throw new Error(`cnilab ${pods} pods: ${r.reason}`);
  } finally {
    await lab.down();
    rmSync(out, { recursive: true, force: true });
  }
  return { build, probe, check, teardown: (lab.timings.teardownMs ?? 0) / 1000 };
}

const samples = new Map<string, Sample[]>();
const add = (k: string, s: Sample) => samples.set(k, [...(samples.get(k) ?? []), s]);
for (let r = 0; r < rounds; r++) {
  for (const size of sizes) {
    const order = Math.random() < 0.5 ? ['mininet', 'cnilab'] : ['cnilab', 'mininet'];
    for (const tool of order) {
      const s = tool === 'mininet' ? mininet(size) : await cnilab(size, r);
      add(`${size}|${tool}`, s);
      console.error(`round ${r + 1}, ${size}, ${tool}: ${JSON.stringify(s)}`);
    }
  }
}

const f = (x: number) => (x < 0.1 ? x.toFixed(3) : x.toFixed(2));
const spreadS = (xs: number[]) => spread(xs, f);
const cpu = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: 'utf8' }).trim();
console.log(
  `\ncnilab vs mininet 2.3.0, ${rounds} rounds, seconds (min / median / max); ${cpu}, ${execFileSync('nproc').toString().trim()} cores\n`,
);
console.log('| size | tool | build | probe all pairs | check (+ captures, decode) | teardown |\n|---|---|---|---|---|---|');
for (const size of sizes) {
  for (const tool of ['cnilab', 'mininet']) {
    const s = samples.get(`${size}|${tool}`)!;
    const check = tool === 'cnilab' ? spreadS(s.map((x) => x.check!)) : '–';
    console.log(
      `| ${size} ${tool === 'cnilab' ? 'pods' : 'hosts'} | ${tool} | ${spreadS(s.map((x) => x.build))} | ` +
        `${spreadS(s.map((x) => x.probe))} | ${check} | ${spreadS(s.map((x) => x.teardown))} |`,
    );
  }
  const c = samples.get(`${size}|cnilab`)!;
  const m = samples.get(`${size}|mininet`)!;
  const ratio = (k: keyof Sample) => (median(m.map((x) => x[k] as number)) / median(c.map((x) => x[k] as number))).toFixed(1);
  console.log(`| ${size} | mininet / cnilab (medians) | ${ratio('build')}x | ${ratio('probe')}x | – | ${ratio('teardown')}x |`);
}
