// The real Calico's parts as the install step builds them (ci/calico, release-v3.28): each binary runs
// and says its version, and the CNI plugin answers as calico and as calico-ipam by its file name.
// The calico-node modes run them (test/calico-node.test.ts); these tests keep the build itself honest.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { calicoCniBinary, calicoNodeBinary } from '../harness/host/daemons.ts';

const [node, cni] = await Promise.all([calicoNodeBinary(), calicoCniBinary()]);

describe("the real Calico's binaries", () => {
  test('calico-node runs and says the release it was built from', { skip: !node.ok && node.detail }, () => {
    assert.ok(node.ok);
    assert.match(node.version, /^v3\.28\.5\+[0-9a-f]{12}$/);
    const help = spawnSync(node.path, ['-h'], { encoding: 'utf8' });
    for (const f of ['-felix', '-confd', '-startup', '-allocate-tunnel-addrs']) assert.match(help.stderr, new RegExp(`\\s${f}\\b`), f);
  });

  test('the CNI plugin answers VERSION as calico and, by its other name, as calico-ipam', { skip: !cni.ok && cni.detail }, () => {
    assert.ok(cni.ok);
    const ipam = `${dirname(cni.path)}/calico-ipam`;
    assert.ok(existsSync(ipam), 'calico-ipam sits beside it');
    for (const bin of [cni.path, ipam]) {
      const r = spawnSync(bin, [], { input: '{"cniVersion":"0.3.1"}', encoding: 'utf8', env: { CNI_COMMAND: 'VERSION' } });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /"supportedVersions":\[[^\]]*"0\.3\.1"/);
    }
  });
});
