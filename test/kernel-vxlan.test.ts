// The kernel fact conform's Canal rules rest on (vxlan-clash, vxlan-port-shared): two VXLAN devices
// may share a UDP port when their VNIs differ (one socket, demultiplexed by VNI), and the kernel
// refuses a second device with the same port and VNI. Checked on this kernel, so a kernel that
// behaves otherwise fails here rather than making conform's findings wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createNetns, deleteNetns, netnsExecutor } from '../harness/node/netns.ts';
import { labNames } from '../harness/plan/names.ts';
import { ROOT_SKIP, uniqueLab } from './helpers.ts';

test('two VXLAN devices on one port: other VNIs are accepted, the same VNI refused', { skip: ROOT_SKIP }, async () => {
  // A lab-named namespace: gc reaps it if this process dies before the finally.
  const ns = labNames(uniqueLab('vx')).node('k1');
  await createNetns([ns]);
  try {
    const x = netnsExecutor(ns);
    for (const argv of [
      ['ip', 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1'],
      ['ip', 'addr', 'add', '10.9.0.1/24', 'dev', 'u0'],
      ['ip', 'link', 'set', 'u0', 'up'],
    ])
      await x.run(argv);
    const vxlan = async (name: string, vni: number) => {
      const add = ['ip', 'link', 'add', name, 'type', 'vxlan', 'id', String(vni), 'dstport', '4789', 'local', '10.9.0.1', 'dev', 'u0'];
      const r = await x.run(add, { reject: false });
      // A device is only bound to its port when up: that is where a clash would show.
      return r.exitCode === 0 ? x.run(['ip', 'link', 'set', name, 'up'], { reject: false }) : r;
    };
    assert.equal((await vxlan('flannel.1', 1)).exitCode, 0);
    assert.equal((await vxlan('vxlan.calico', 4096)).exitCode, 0, 'another VNI on the same port is accepted');
    const same = await vxlan('again.1', 1);
    assert.notEqual(same.exitCode, 0, 'the same port and VNI is refused');
    assert.match(same.stderr, /VNI already exists|File exists/);
  } finally {
    await deleteNetns([ns]);
  }
});
