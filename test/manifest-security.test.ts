// A manifest is untrusted input: `run --manifest` runs as root and follows a kube-flannel.yml's args,
// env, volumes and init containers. Each hostile edit of the fixture that an attacker tried (the API
// server accepted every one) is refused before anything is built, with exit 2 and the file:line of
// the field; a canary folder outside the lab stays empty through the whole suite. Secrets a lab
// writes are root's alone, and a run whose flanneld all died says so at once.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { labDir, readState } from '../harness/backends/netns/state.ts';
import { etcdBinary, flanneldBinary, kubeApiserverBinary } from '../harness/host/daemons.ts';
import { clean, labProcesses, lineOf, ROOT, ROOT_SKIP, runCli, tmpOut, uniqueLab, variantFile } from './helpers.ts';

const [flanneld, etcd, apiserver] = await Promise.all([flanneldBinary(), etcdBinary(), kubeApiserverBinary()]);
const SKIP = ROOT_SKIP || (!flanneld.ok && flanneld.detail) || (!etcd.ok && etcd.detail) || (!apiserver.ok && apiserver.detail) || false;
const FIXTURE = readFileSync(`${ROOT}/test/fixtures/kube/kube-flannel.yml`, 'utf8');
/** Far enough up from any folder of the lab to reach /. */
const UP = '/..'.repeat(16);

const canary = tmpOut('canary');
const canaryEmpty = () => assert.deepEqual(readdirSync(canary), [], `the canary folder ${canary} was written to`);

const variant = (from: string, to: string, text = FIXTURE) => variantFile(text, from, to, 'kube-flannel.yml');

/** Runs the manifest and asserts a refusal before anything was built: exit 2, the line, nothing left. */
async function refused(file: string, line: RegExp) {
  const name = uniqueLab('hm');
  const r = await runCli(['run', '--manifest', file, '--name', name, '--out', tmpOut()]);
  assert.equal(r.code, 2, r.stdout + r.stderr.slice(-3000));
  assert.match(r.stderr, line);
  assert.doesNotMatch(r.stderr, /underlay:|internal error|\n\s+at /, 'refused before anything was built, with no stack');
  canaryEmpty();
  clean(name);
  return r.stderr;
}

describe('a hostile manifest reaches nothing outside the lab', { skip: SKIP }, () => {
  after(() => canaryEmpty());

  test('write anywhere by the init container: an install-cni target that climbs out is refused', async () => {
    const f = variant('- /etc/cni/net.d/10-flannel.conflist', `- /etc/cni/net.d${UP}${canary}/x`);
    await refused(f, new RegExp(`kube-flannel\\.yml:${lineOf(f, `${canary}/x`)}: .*initContainers\\[1\\]\\.args\\[1\\] = .*climbs above`));
    assert.equal(existsSync(`${canary}/x`), false);
  });

  test('overwrite anywhere by a mount path: a ConfigMap mounted out of the root, with --net-config-path into it', async () => {
    const victim = `${tmpOut('victim')}/net-conf.json`;
    writeFileSync(victim, 'keep me');
    const f = variant(
      '        - name: flannel-cfg\n          mountPath: /etc/kube-flannel/\n        - name: xtables-lock',
      `        - name: flannel-cfg\n          mountPath: /etc/kube-flannel${UP}${dirname(victim)}\n        - name: xtables-lock`,
      FIXTURE.replace('- --healthz-port=8081', `- --healthz-port=8081\n        - --net-config-path=/etc/kube-flannel${UP}${victim}`),
    );
    await refused(f, /containers\[0\]\.(volumeMounts\[1\]\.mountPath|args\[3\]) = .*climbs above the container's root/);
    assert.equal(readFileSync(victim, 'utf8'), 'keep me');
  });

  test('flanneld writes anywhere: a --subnet-file through the /run/flannel hostPath that climbs out', async () => {
    const f = variant('- --healthz-port=8081', `- --healthz-port=8081\n        - --subnet-file=/run/flannel${UP}${canary}/dir/subnet.env`);
    await refused(f, new RegExp(`kube-flannel\\.yml:${lineOf(f, 'subnet-file')}: .*args\\[3\\] = .*climbs above`));
  });

  test('code execution as root: LD_PRELOAD in the env is refused with the reason', async () => {
    const f = variant(
      '        - name: EVENT_QUEUE_DEPTH',
      `        - name: LD_PRELOAD\n          value: ${canary}/lib.so\n        - name: EVENT_QUEUE_DEPTH`,
    );
    await refused(
      f,
      new RegExp(`kube-flannel\\.yml:${lineOf(f, 'LD_PRELOAD')}: .*env\\[2\\] = "LD_PRELOAD=.*": the dynamic loader acts on it`),
    );
  });

  test("the host's own paths: a positional argument (Go's parser would stop there) is refused", async () => {
    const f = variant('- --ip-masq', '- now\n        - --ip-masq');
    await refused(
      f,
      new RegExp(`kube-flannel\\.yml:${lineOf(f, '- now')}: .*args\\[0\\] = "now": not a flag: Go's flag parser stops at it`),
    );
  });

  test('a net-conf.json key twice (YAML) and a key twice inside net-conf.json: exit 2 at the second one', async () => {
    const twice = variant('  net-conf.json: |', '  net-conf.json: "{}"\n  net-conf.json: |');
    await refused(twice, new RegExp(`kube-flannel\\.yml:${lineOf(twice, 'net-conf.json: |')}:\\d*:? ?.*(unique|twice|duplicate)`, 'i'));
    const inner = variant('"Type": "vxlan"', '"Type": "vxlan",\n        "type": "host-gw"');
    await refused(
      inner,
      new RegExp(`kube-flannel\\.yml:${lineOf(inner, '"type": "host-gw"')}: net-conf\\.json .* has the key "type" twice`),
    );
  });

  test('an alias bomb, an oversized document, a 1 MB value: unusable input, exit 2 naming the file, values cut', async () => {
    const bomb = `${tmpOut('hb')}/bomb.yaml`;
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++)
      levels.push(
        `${'abcdefghi'[i]}: &${'abcdefghi'[i]} [${Array(9)
          .fill(`*${'abcdefghi'[i - 1]}`)
          .join(',')}]`,
      );
    writeFileSync(bomb, `${levels.join('\n')}\n`);
    await refused(bomb, /bomb\.yaml:1: document 1 expands its YAML aliases too far/);
    const big = `${tmpOut('hg')}/big.yaml`;
    writeFileSync(big, `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  a: "${'x'.repeat(2 * 1024 * 1024)}"\n`);
    await refused(big, /big\.yaml:1: document 1 is 2\.0 MiB, more than the API server stores in one object/);
    const huge = variant('"Type": "vxlan"', `"Type": "${'v'.repeat(1024 * 1024)}"`);
    const err = await refused(huge, /kube-flannel\.yml:\d+: /);
    assert.ok(err.length < 4000, `the value is cut in the message (${err.length} characters)`);
  });
});

describe('what a manifest lab keeps on the host', { skip: SKIP }, () => {
  test('secrets are 0600 in 0700 folders: uid nobody reads none; $(VAR) args are expanded as the kubelet does', async () => {
    const name = uniqueLab('hs');
    const f = variant(
      '        - name: EVENT_QUEUE_DEPTH',
      '        - name: POD_IP\n          valueFrom:\n            fieldRef:\n' +
        '              fieldPath: status.podIP\n        - name: EVENT_QUEUE_DEPTH',
      FIXTURE.replace('- --healthz-port=8081', '- --healthz-port=8081\n        - --public-ip=$(POD_IP)'),
    );
    const up = await runCli(['up', '--manifest', f, '--name', name]);
    try {
      assert.equal(up.code, 0, up.stderr.slice(-3000));
      const s = readState(name)!;
      const dir = labDir(name);
      const secrets = [
        `${dir}/nodes/n1/kubeconfig`,
        s.kube!.kubeconfig,
        `${dir}/kube/pki/ca.key`,
        `${dir}/kube/pki/admin.key`,
        `${dir}/kube/pki/sa.key`,
        `${dir}/kube/pki/apiserver.key`,
      ];
      assert.match(readFileSync(secrets[0]!, 'utf8'), /"token": "ey/, 'the node kubeconfig holds a ServiceAccount token');
      for (const file of secrets) {
        assert.equal(statSync(file).mode & 0o777, 0o600, `${file} is 0600`);
        const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', file], { encoding: 'utf8' });
        assert.notEqual(r.status, 0, `uid nobody read ${file}`);
        assert.match(r.stderr, /Permission denied/);
      }
      for (const d of [dir, `${dir}/nodes/n1`, `${dir}/kube/pki`]) assert.equal(statSync(d).mode & 0o777, 0o700, `${d} is 0700`);
      // $(POD_IP) became the node's address, on flanneld's command line as the kubelet would have it.
      const cmdlines = labProcesses(name).filter((l) => /flanneld/.test(l));
      assert.ok(
        cmdlines.some((l) => /--public-ip=172\.31\.10\.11( |$)/.test(l)),
        cmdlines.join('\n'),
      );
      // Its environment is the pod's: nothing of cnilab's own (CNILAB_*, HOME) leaked in.
      const pid = Number(cmdlines[0]!.trim().split(/\s+/)[0]);
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
      assert.ok(env.includes('NODE_NAME=n1') || env.some((e) => /^NODE_NAME=n\d$/.test(e)), env.join(' '));
      assert.ok(!env.some((e) => /^(HOME|CNILAB_\w+|NODE_OPTIONS)=/.test(e)), env.join(' '));
    } finally {
      const down = await runCli(['down', '--name', name]);
      assert.equal(down.code, 0, down.stderr);
    }
    canaryEmpty();
    clean(name);
  });

  test('a run whose flanneld exit fails at once with their log tails, not after the timeout', async () => {
    const name = uniqueLab('hd');
    // A flag flanneld has, with a value it refuses after parsing: every flanneld exits at start.
    const f = variant('- --healthz-port=8081', '- --healthz-port=8081\n        - --subnet-lease-renew-margin=0');
    const r = await runCli(['run', '--manifest', f, '--name', name, '--out', tmpOut()]);
    assert.notEqual(r.code, 0);
    const out = r.stdout + r.stderr;
    // Said at the first exit it sees (the others may still be starting), with that one's log.
    assert.match(out, /(flanneld n\d, )*flanneld n\d exited on (its|their) own \(flanneld n\d: .*Invalid subnet-lease-renew-margin/);
    assert.doesNotMatch(out, /timed out/, 'said when they exited, not when the wait ran out');
    clean(name);
  });
});
