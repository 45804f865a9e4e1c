import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareResults, hasRegression, renderComparison } from './compare.ts';
import { pair, results, run } from './fixtures.ts';
import { renderHtml } from './html.ts';
import { renderJunit } from './junit.ts';
import { renderMarkdown } from './markdown.ts';
import { niceTicks } from './svg.ts';
import { validateResults } from './validate.ts';

const sample = () =>
  results([
    run('flannel-vxlan', [14, 14.2, 13.8]),
    run('calico-bgp', [18, 18.3, 17.9]),
    run('calico-ipip-always', [3, 3.1, 2.9], {
      backend: 'uml',
      perf: {
        comparable: false,
        ratioScope: 'guest',
        ratioToUnderlay: { mean: 0.81, ci95: 0.04 },
        throughputGbps: { mean: 3, ci95: 0.2, samples: [3, 3.1, 2.9] },
      },
    }),
    { mode: 'calico-ipip-crosssubnet', backend: 'netns', status: 'skipped', reason: 'needs kernel ipip', pairs: [] },
    run('<script>alert(1)</script>', [1, 1, 1], {
      status: 'failed',
      pairs: [pair({ ok: false, mismatch: 'expected encap vxlan, saw none' })],
    }),
  ]);

test('markdown: every mode, the skipped reason, failures, uml kept out of ratios, the cited figures', () => {
  const md = renderMarkdown(sample());
  for (const m of ['flannel-vxlan', 'calico-bgp', 'calico-ipip-always', 'calico-ipip-crosssubnet'])
    assert.match(md, new RegExp(`\\| ${m} \\|`));
  assert.match(md, /calico-ipip-crosssubnet: needs kernel ipip/);
  assert.match(md, /expected encap vxlan, saw none/);
  // A guest's ratio is shown, marked as a ratio inside the guest; its absolute Gbit/s is not.
  assert.match(md, /\| calico-ipip-always \| uml \| ✅ passed \| 2\/2 \| – \| 0\.81 ± 0\.04 ᵍ \|/);
  assert.match(md, /ᵍ calico-ipip-always ran in a guest kernel/);
  // 30% ± 2% against 20–30% crosses the upper bound: no claim of agreement.
  assert.match(md, /flannel-vxlan \| 30% .*VXLAN-based: 20–30% \| inconclusive/);
  assert.ok(md.split('\n').length < 60, 'short enough for a PR comment');
});

test('html: self-contained, one chart per metric, text escaped', () => {
  const html = renderHtml(sample());
  for (const metric of ['throughput-ratio', 'rtt', 'throughput', 'mtu']) {
    assert.equal(html.split(`data-metric="${metric}"`).length - 1, 1, metric);
  }
  assert.equal((html.match(/<svg/g) ?? []).length, 4);
  assert.doesNotMatch(html, /(src|href)=["']?https?:/);
  assert.doesNotMatch(html, /<script>alert/);
  assert.match(html, /&lt;script&gt;alert/);
  // uml runs are shown but not in the ratio chart
  const ratioSvg = html.slice(
    html.indexOf('data-metric="throughput-ratio"'),
    html.indexOf('</svg>', html.indexOf('data-metric="throughput-ratio"')),
  );
  assert.doesNotMatch(ratioSvg, /calico-ipip-always/);
  assert.match(html, /calico-ipip-always \(uml\)/);
});

test('html without perf: the table alone, no charts', () => {
  const r = results([run('flannel-host-gw', [1, 2], { perf: undefined })]);
  delete r.underlay;
  assert.equal((renderHtml(r).match(/<svg/g) ?? []).length, 0);
});

test('junit: a case per pair, failures and skips counted', () => {
  const xml = renderJunit(sample());
  assert.equal((xml.match(/<testcase /g) ?? []).length, 2 + 2 + 2 + 1 + 1);
  assert.equal((xml.match(/<failure /g) ?? []).length, 1);
  assert.equal((xml.match(/<skipped /g) ?? []).length, 1);
  assert.match(xml, /^<\?xml/);
  assert.doesNotMatch(xml, /<script>/);
});

test('compare: a clear 10% drop is slower, noisy overlap is within noise', () => {
  const a = results([run('flannel-vxlan', [14, 14.1, 13.9, 14.05]), run('calico-bgp', [18, 21, 15, 19])]);
  const b = results([run('flannel-vxlan', [12.6, 12.7, 12.5, 12.65]), run('calico-bgp', [17, 20, 16, 19.5])]);
  const c = compareResults(a, b);
  assert.equal(c.modes.find((m) => m.mode === 'flannel-vxlan@netns')!.throughput!.verdict, 'slower');
  assert.equal(c.modes.find((m) => m.mode === 'calico-bgp@netns')!.throughput!.verdict, 'within noise');
  assert.ok(hasRegression(c));
  assert.match(renderComparison(c), /flannel-vxlan@netns: passed; throughput 14\.01 -> 12\.61 Gbit\/s \(-10\.0%, p=0\.000\): slower/);
  assert.ok(!hasRegression(compareResults(a, a)));
});

test('compare: a pair that starts failing is a regression', () => {
  const a = results([run('flannel-vxlan', [1, 1])]);
  const b = results([
    run('flannel-vxlan', [1, 1], {
      status: 'failed',
      pairs: [pair({ ok: false, mismatch: 'expected VNI 1, saw 2' }), pair({ src: 'n1/p1', dst: 'n2/p1', path: 'same-subnet' })],
    }),
  ]);
  const c = compareResults(a, b);
  assert.ok(hasRegression(c));
  assert.match(renderComparison(c), /n1\/p1 -> n3\/p1: ok -> MISMATCH \(expected VNI 1, saw 2\)/);
});

test('validate: accepts a real shape, rejects with the JSON path', () => {
  assert.equal(validateResults(JSON.parse(JSON.stringify(sample()))).ok, true);
  const bad = JSON.parse(JSON.stringify(sample()));
  bad.runs[1].pairs[0].expected.encap = 'gre';
  delete bad.runs[0].status;
  const v = validateResults(bad);
  assert.equal(v.ok, false);
  if (!v.ok) {
    assert.ok(v.errors.includes('runs[1].pairs[0].expected.encap: expected one of none|vxlan|ipip|udp, got "gre"'), v.errors.join('\n'));
    assert.ok(v.errors.some((e) => e.startsWith('runs[0].status:')));
  }
});

test('nice ticks are round and cover the maximum', () => {
  assert.deepEqual(niceTicks(1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(34.7), [0, 10, 20, 30, 40]);
  assert.deepEqual(niceTicks(1472, 3), [0, 500, 1000, 1500]);
});

test('html has every section report.md has, from the same rows; perf columns only when measured; legend from the families', () => {
  const withDaemon = run('calico-node-vxlan-always', [9, 9.1, 8.9], {
    family: 'calico-node',
    daemon: 'calico-node v3.28.5+a0db560f0520',
    daemonFacts: {
      leases: { n1: '10.244.40.128/26' },
      cni: 'Calico CNI plugin',
      leftBehind: ['n1: route 10.244.217.0/26 via 172.31.10.12 dev eth0 proto bird'],
    },
    modelDiff: { model: 'calico-vxlan-always', compared: 39, differences: [] },
    phases: { build: 80, probe: 6, teardown: 1200 },
  });
  const failing = run('flannel-host-gw', [1, 1, 1], {
    status: 'failed',
    pairs: [pair({ ok: false, mismatch: 'unreachable' })],
    captures: ['pcaps/flannel-host-gw/a.pcap'],
    captureStats: [
      {
        segment: 'a',
        captured: 120,
        droppedByKernel: 0,
        written: 120,
        sawEnd: false,
        incomplete: 'capture incomplete on segment a: its end-of-round marker did not reach the file within 10000 ms',
      },
    ],
  });
  const r = results([...sample().runs, withDaemon, failing]);
  const md = renderMarkdown(r);
  const html = renderHtml(r);
  const mdSections = [...md.matchAll(/^\*\*([^*]+)\*\*/gm)]
    .map((m) => m[1]!.trim())
    .filter((s) => !/^(Precision|Schedule|underlay)/.test(s));
  assert.ok(mdSections.length >= 4, mdSections.join(', '));
  for (const s of mdSections) assert.ok(html.includes(`<h2>${s}`), `report.html lacks "${s}"`);
  assert.match(html, /only in the|calico-vxlan-always \(39 facts\)/);
  assert.match(html, /proto bird/);
  assert.match(html, /<a href="pcaps\/flannel-host-gw\/a\.pcap">/);
  assert.match(md, /\*\*Captures\*\* 1 of 1 captures were not whole/);
  assert.match(md, /\| flannel-host-gw \| a \| 120 in the file; tcpdump: 120 captured, 0 dropped by the kernel \| its end-of-round marker/);
  assert.match(html, /<td>its end-of-round marker did not reach the file within 10000 ms<\/td>/);
  assert.match(html, /calico-node \(the real daemon\)/, "legend from the modes' families");
  assert.match(html, /#8a3f00/);
  // A plain run: no perf columns at all.
  const plain = results(r.runs.map(({ perf: _p, ...rest }) => rest));
  delete plain.underlay;
  assert.doesNotMatch(renderHtml(plain), /<th>Gbit\/s<\/th>|<th>vs underlay<\/th>/);
  assert.match(renderHtml(r), /<th>Gbit\/s<\/th>/);
});

test('which mode is faster: the pairs as a matrix and a sentence each, the same in report.md and report.html', () => {
  const r = results([run('flannel-host-gw', [19, 19.2, 18.8]), run('flannel-vxlan', [17.5, 17.6, 17.4]), run('calico-bgp', [19, 19, 19])]);
  r.underlay!.stop = {
    why: 'budget',
    rounds: 6,
    elapsedMs: 170_000,
    target: 0.05,
    budgetMs: 180_000,
    halfWidths: {},
    missed: [],
    margin: 0.03,
    pairs: [
      { a: 'flannel-host-gw', b: 'flannel-vxlan', diff: 0.079, lo: 0.051, hi: 0.108, rounds: 6, verdict: 'faster' },
      { a: 'flannel-host-gw', b: 'calico-bgp', diff: 0.004, lo: -0.012, hi: 0.02, rounds: 6, verdict: 'equivalent' },
      { a: 'flannel-vxlan', b: 'calico-bgp', diff: -0.03, lo: -0.08, hi: 0.02, rounds: 6, verdict: 'undecided', needed: 14 },
    ],
  };
  const md = renderMarkdown(r);
  assert.match(md, /### Which mode is faster\?/);
  assert.match(md, /\| flannel-host-gw \| – \| \+7\.9% \| ≈ \|/);
  assert.match(md, /\| flannel-vxlan \| −7\.3% \| – \| \? \|/);
  assert.match(md, /- flannel-host-gw vs flannel-vxlan: faster by 7\.9% \[5\.1, 10\.8\]/);
  assert.match(md, /- flannel-host-gw vs calico-bgp: equivalent within ±3\.0% \(0\.4% \[-1\.2, 2\.0\]\)/);
  assert.match(
    md,
    /Not told apart, the budget ran out first .*flannel-vxlan vs calico-bgp: undecided \(-3\.0% \[-8\.0, 2\.0\]; needs ~8 more rounds\)/,
  );
  const html = renderHtml(r);
  assert.match(html, /<h2>Which mode is faster\?<\/h2>/);
  assert.match(html, /<td>flannel-host-gw<\/td><td>–<\/td><td>\+7\.9%<\/td><td>≈<\/td>/);
  assert.match(html, /<li>flannel-vxlan vs calico-bgp: undecided/);
});
