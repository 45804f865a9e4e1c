// The CLI's contract: bad input is refused with a message naming the field and the fix, and changes
// nothing on the host; status --json has the documented shape.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { netnsOf, ROOT_SKIP, runCli, uniqueLab } from './helpers.ts';

const allNetns = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

describe('cli input errors', () => {
  const dir = mkdtempSync(`${tmpdir()}/cnilab-cli-`);
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('an unknown flag names the flag and lists the known ones; exit 2', async () => {
    const r = await runCli(['run', '--frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--frobnicate/);
    assert.match(r.stderr, /--topology/);
  });

  test('unknown modes are all named, with the valid list', async () => {
    const r = await runCli(['run', '--modes', 'flannel-vxlan,calico-gre,weave']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /"calico-gre", "weave"/);
    assert.match(r.stderr, /calico-vxlan-crosssubnet/);
  });

  test('a bad topology gives file:line errors and creates nothing', async () => {
    const before = allNetns();
    const f = `${dir}/bad.yaml`;
    writeFileSync(f, 'name: bad\nsubnets:\n  - { name: a, cidr: 10.0.0.1/24 }\nnodes:\n  - { name: n1, subnet: z }\n');
    const r = await runCli(['run', '--topology', f]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${f}:3:\\d+: subnets\\[0\\]\\.cidr: .*host bits are set; the network is 10.0.0.0/24`));
    assert.equal(allNetns(), before);
  });

  test('an unknown command lists the commands', async () => {
    const r = await runCli(['frob']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /run, up, switch/);
  });

  test('--backend accepts netns, uml or auto only', async () => {
    const r = await runCli(['run', '--backend', 'docker']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--backend "docker".*\n.*netns, uml or auto/);
  });
});

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
    assert.deepEqual(s.nodes.map((n: { underlayIp: string }) => n.underlayIp), ['192.168.10.11', '192.168.10.12', '192.168.20.11']);
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
