// Plans applied from the host in a few scripts (many namespaces each) and CNI calls batched the same
// way: a failure still names the namespace, the failing line and what the tool said; force goes on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { KernelError } from '../harness/errors.ts';
import { applyPlan } from '../harness/node/apply.ts';
import { cniBinDir, cniCalls, type CniCall } from '../harness/node/cni.ts';
import { createNetns, deleteNetns, netnsExecutor } from '../harness/node/netns.ts';
import type { KernelOp } from '../harness/plan/ops.ts';
import { netnsOf, ROOT_SKIP, uniqueLab } from './helpers.ts';

describe('batched kernel work, and what its failures say', { skip: ROOT_SKIP }, () => {
  const lab = uniqueLab('ap');
  const ns = Array.from({ length: 7 }, (_, i) => `cnilab-${lab}-node-n${i}`);
  const ipam = mkdtempSync(`${tmpdir()}/cnilab-ipam-`);
  before(() => createNetns(ns));
  after(async () => {
    await deleteNetns(ns);
    rmSync(ipam, { recursive: true, force: true });
    assert.deepEqual(netnsOf(lab), []);
  });

  const addr = (n: string, dev: string, cidr: string): KernelOp => ({ kind: 'addr', netns: n, dev, cidr });
  const up = (n: string): KernelOp => ({ kind: 'link-set', netns: n, name: 'lo', up: true });

  test('every namespace gets its ops; a bad line is named with its namespace', async () => {
    await applyPlan(
      ns.flatMap((n, i) => [up(n), addr(n, 'lo', `10.99.${i}.1/32`), { kind: 'sysctl', netns: n, key: 'net.ipv4.ip_forward', value: '1' }]),
      netnsExecutor,
    );
    for (const [i, n] of ns.entries()) {
      assert.match(execFileSync('ip', ['-n', n, '-4', 'addr', 'show', 'lo'], { encoding: 'utf8' }), new RegExp(`10\\.99\\.${i}\\.1/32`));
      assert.equal(execFileSync('ip', ['netns', 'exec', n, 'cat', '/proc/sys/net/ipv4/ip_forward'], { encoding: 'utf8' }).trim(), '1');
    }
    const bad = ns[3]!;
    const err = await applyPlan(
      ns.map((n) => (n === bad ? addr(n, 'nosuchdev', '10.98.0.1/32') : addr(n, 'lo', '10.98.0.1/32'))),
      netnsExecutor,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof KernelError, String(err));
    assert.match(err.message, new RegExp(`in ${bad} failed`));
    assert.match(err.message, /failing line: addr (add|replace) 10\.98\.0\.1\/32 dev nosuchdev/);
    assert.match(err.message, /Cannot find device "nosuchdev"/);
  });

  test('sysctls for every namespace come from one helper; a bad key is named with its namespace', async () => {
    const bad = ns[2]!;
    const err = await applyPlan(
      ns.map((n): KernelOp => ({ kind: 'sysctl', netns: n, key: n === bad ? 'net.ipv4.no_such_knob' : 'net.ipv4.ip_forward', value: '0' })),
      netnsExecutor,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof KernelError, String(err));
    assert.match(err.message, new RegExp(`sysctl in ${bad} failed`));
    assert.match(err.message, /failing line: .*net\.ipv4\.no_such_knob/);
    assert.match(err.message, /No such file or directory/);
  });

  test('force goes past what is already gone', async () => {
    await applyPlan(
      ns.map((n): KernelOp => ({ kind: 'link-del', netns: n, name: 'nosuchdev' })),
      netnsExecutor,
      { force: true },
    );
  });

  test('CNI calls in one script: results in order, and a failing call named with what the plugin said', async (t) => {
    const bin = cniBinDir();
    if (!bin) return t.skip('no CNI plugins here');
    const call = (i: number, ipamType = 'host-local'): CniCall => ({
      cmd: 'ADD',
      node: netnsExecutor(ns[0]!),
      pod: netnsExecutor(ns[i]!),
      containerId: `c${i}`,
      ifname: 'eth0',
      binDir: bin,
      chain: [
        {
          plugin: 'bridge',
          config: {
            cniVersion: '1.0.0',
            name: 'cnilab-test',
            type: 'bridge',
            bridge: 'cnitest0',
            isGateway: true,
            ipam: { type: ipamType, subnet: '10.97.0.0/24', dataDir: ipam },
          },
        },
      ],
    });
    const res = await cniCalls([call(1), call(2)]);
    assert.deepEqual(
      res.map((r) => r?.ips?.[0]?.address),
      ['10.97.0.2/24', '10.97.0.3/24'],
    );
    const err = await cniCalls([call(3), call(4, 'no-such-ipam'), call(5)]).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof KernelError, String(err));
    assert.match(err.message, new RegExp(`CNI ADD bridge for ${ns[4]} in ${ns[0]} failed`));
    assert.match(err.message, /no-such-ipam/);
    // The call after the failing one never ran.
    assert.doesNotMatch(execFileSync('ip', ['-n', ns[5]!, 'link'], { encoding: 'utf8' }), /eth0/);
  });

  test('a chain runs as a runtime runs it: portmap after bridge gets its result as prevResult; a failing link is named', async (t) => {
    const bin = cniBinDir();
    if (!bin || !existsSync(`${bin}/portmap`)) return t.skip('no CNI plugins with portmap here');
    const base = { cniVersion: '0.3.1', name: 'cnilab-chain' };
    const bridge = {
      plugin: 'bridge',
      config: {
        ...base,
        type: 'bridge',
        bridge: 'cnitest1',
        isGateway: true,
        ipam: { type: 'host-local', subnet: '10.98.0.0/24', dataDir: ipam },
      },
    };
    const portmap = { plugin: 'portmap', config: { ...base, type: 'portmap', capabilities: { portMappings: true } } };
    const call = (cmd: 'ADD' | 'DEL', chain: CniCall['chain']): CniCall => ({
      cmd,
      node: netnsExecutor(ns[0]!),
      pod: netnsExecutor(ns[6]!),
      containerId: 'chain',
      ifname: 'eth0',
      binDir: bin,
      chain,
    });
    // portmap alone refuses to run unchained ("must be called as chained plugin"): its success is the prevResult.
    const [res] = await cniCalls([call('ADD', [bridge, portmap])]);
    assert.equal(res?.ips?.[0]?.address, '10.98.0.2/24', 'the last plugin passes the chain result on');
    await cniCalls([call('DEL', [bridge, portmap])]);
    assert.doesNotMatch(execFileSync('ip', ['-n', ns[6]!, 'link'], { encoding: 'utf8' }), /eth0/, 'DEL ran the chain in reverse');
    const bad = { plugin: 'portmap', config: { ...base, type: 'portmap', runtimeConfig: { portMappings: 'nonsense' } } };
    const err = await cniCalls([call('ADD', [bridge, bad])]).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof KernelError, String(err));
    assert.match(err.message, /CNI ADD portmap for/);
  });
});
