// The CLI's lab lifecycle as root: up, status --json in its documented shape, switch, down.
// (Bad input needs no root: harness/cli/cli.test.ts.)
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { netnsOf, ROOT, ROOT_SKIP, runCli, uniqueLab } from './helpers.ts';

describe('cli lab lifecycle', { skip: ROOT_SKIP }, () => {
  const name = uniqueLab('cl');
  after(async () => {
    await runCli(['down', '--name', name]);
    assert.deepEqual(netnsOf(name), []);
  });

  test('up, status --json, switch, down', async () => {
    const up = await runCli(['up', '--mode', 'flannel-vxlan', '--name', name]);
    assert.equal(up.code, 0, up.stderr);
    const st = await runCli(['status', '--name', name, '--json']);
    const s = JSON.parse(st.stdout);
    assert.equal(s.lab, name);
    assert.equal(s.mode, 'flannel-vxlan');
    assert.deepEqual(Object.keys(s.nodes[0]).slice(0, 5), ['name', 'netns', 'subnet', 'underlayIp', 'underlayIf']);
    assert.deepEqual(
      s.nodes.map((n: { underlayIp: string }) => n.underlayIp),
      ['172.31.10.11', '172.31.10.12', '172.31.20.11'],
    );
    assert.match(s.nodes[2].pods[0].ip, /^10\.244\.3\.\d+$/);
    assert.equal(s.nodes[0].pods[0].netns, `cnilab-${name}-pod-n1-p1`);
    const sw = await runCli(['switch', 'calico-vxlan-crosssubnet', '--name', name]);
    assert.equal(sw.code, 0, sw.stdout + sw.stderr);
    assert.match(sw.stdout, /no state of the previous mode is left/);
    const down = await runCli(['down', '--name', name]);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(netnsOf(name), []);
  });
});

describe('bin/cnilab runs its prebuilt bundle', { skip: ROOT_SKIP }, () => {
  const name = uniqueLab('bn');
  const bin = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((res) =>
      execFile(`${ROOT}/bin/cnilab`, args, (e, stdout, stderr) => res({ code: e ? ((e.code as number) ?? 1) : 0, stdout, stderr })),
    );
  after(async () => {
    await bin(['down', '--name', name]);
    assert.deepEqual(netnsOf(name), []);
  });

  test('the bundle says what the sources say, and checks a lab from it (the prober found from the bundle)', async () => {
    const [fromBundle, fromSources] = await Promise.all([bin(['modes']), runCli(['modes'])]);
    assert.ok(existsSync(`${ROOT}/.cnilab/cli/cnilab.mjs`), 'bin/cnilab built its bundle');
    assert.equal(fromBundle.stdout, fromSources.stdout);
    const up = await bin(['up', '--mode', 'flannel-vxlan', '--name', name]);
    assert.equal(up.code, 0, up.stderr);
    const out = mkdtempSync(`${tmpdir()}/cnilab-bundle-`);
    try {
      const check = await bin(['check', '--name', name, '--out', out]);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.equal((check.stdout.match(/ {2}ok$/gm) ?? []).length, 30, check.stdout);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
