// The lazy build, without building anything: ci/ensure.sh --only NAME with a stand-in `go` first in
// PATH and a cache of the test's own. A missing binary leads to a build step with its progress line
// and log; a failing build says where it failed and where its log is; doctor says what is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { checkoutRoot } from '../kernel/root.ts';
import { GO_TOOLS } from './daemons.ts';

/** A `go` that "builds" by writing a stand-in binary after a moment, or fails like a compile error. */
function fakeGo(dir: string): void {
  writeFileSync(
    `${dir}/go`,
    `#!/bin/sh
[ "$1" = env ] && { echo https://proxy.example; exit 0; }
[ -n "$FAKE_GO_FAIL" ] && { echo "go: downloading x"; echo "main.go:3:1: syntax error" >&2; exit 1; }
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
sleep 0.5; printf '#!/bin/sh\\necho fake\\n' > "$out"; chmod +x "$out"
`,
  );
  chmodSync(`${dir}/go`, 0o755);
}

/** A folder with the stand-in `go` and a Go cache of its own, removed after `body`. */
function withFakeGo(body: (dir: string, cache: string) => void): void {
  const dir = mkdtempSync(`${tmpdir()}/cnilab-fakego-`);
  try {
    fakeGo(dir);
    body(dir, `${dir}/cache`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function ensureOnly(name: string, env: Record<string, string>) {
  return spawnSync('bash', [`${checkoutRoot()}/ci/ensure.sh`, '--only', name], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

test('a tool that is not built is built when asked: one progress line with time so far and expected, Go output in its log', () => {
  withFakeGo((dir, cache) => {
    const v = GO_TOOLS['kube-apiserver']!.version;
    const env = { PATH: `${dir}:${process.env.PATH}`, CNILAB_GO_CACHE: cache, CNILAB_KUBE_APISERVER: '', CNILAB_CACHE: dir };
    const r = ensureOnly('kube-apiserver', env);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(`${cache}/kube-apiserver-${v}/kube-apiserver`), 'the binary is in the cache');
    assert.match(
      r.stderr,
      new RegExp(
        `building kube-apiserver ${v} from its Go module, once \\(Go's output: ${cache}/kube-apiserver-${v}/build\\.log\\)\\n` +
          `\\r  kube-apiserver: \\d+s of ~${GO_TOOLS['kube-apiserver']!.firstBuildSeconds}s`,
      ),
    );
    assert.ok(/\r/.test(r.stderr), 'the line is rewritten in place while it builds');
    assert.match(readFileSync(`${cache}/kube-apiserver.seconds`, 'utf8'), /^\d+\n$/, 'how long it took, for next time');
    assert.match(readFileSync(`${dir}/install-times`, 'utf8'), /^build-kube-apiserver \d+ \d{4}-\d\d-\d\dT[\d:]+Z\n$/, 'and for doctor');
    // Built: the next call does nothing, and says nothing.
    assert.equal(ensureOnly('kube-apiserver', env).stderr, '');
    // Only that one: flanneld was not touched.
    assert.equal(existsSync(`${cache}/flanneld-${GO_TOOLS.flanneld!.version}`), false);
    const bad = ensureOnly('nope', env);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--only nope: no such tool in ci\/go-tools\.json/);
  });
});

test('a build that fails says which step failed and where its log is, and leaves no binary', () => {
  withFakeGo((dir, cache) => {
    const v = GO_TOOLS['flannel-cni']!.version;
    const r = ensureOnly('flannel-cni', {
      PATH: `${dir}:${process.env.PATH}`,
      CNILAB_GO_CACHE: cache,
      CNILAB_FLANNEL_CNI: '',
      FAKE_GO_FAIL: '1',
    });
    assert.match(
      r.stderr,
      new RegExp(`building flannel-cni ${v} failed at go build \\(exit 1\\); its log: ${cache}/flannel-cni-${v}/build\\.log`),
    );
    assert.match(r.stderr, /main\.go:3:1: syntax error/, 'its last lines are shown');
    assert.notEqual(r.status, 0, 'asked for by name, a failed build fails the install');
    assert.doesNotMatch(r.stderr, /reproduce its delegation/);
    assert.equal(existsSync(`${cache}/flannel-cni-${v}/flannel`), false);
    // doctor's word for it: not built yet, and the command that builds it.
    const d = spawnSync(
      process.execPath,
      ['--import', 'tsx', '-e', "import('./harness/host/daemons.ts').then(async (m) => console.log((await m.flannelCniBinary()).detail))"],
      {
        cwd: checkoutRoot(),
        encoding: 'utf8',
        env: { ...process.env, CNILAB_GO_CACHE: cache, CNILAB_FLANNEL_CNI: '' },
      },
    );
    assert.match(d.stdout, /flannel-cni v\S+ is not built yet: "cnilab install flannel-cni" builds it/);
  });
});

test('doctor reads the last time of each install phase, most recent first', () => {
  const dir = mkdtempSync(`${tmpdir()}/cnilab-times-`);
  try {
    writeFileSync(
      `${dir}/install-times`,
      'apt 95 2026-12-01T10:00:00Z\nbuild-flanneld 118 2026-12-01T10:02:00Z\nnonsense\napt 3 2026-12-06T09:00:00Z\n',
    );
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '-e', "import('./harness/host/daemons.ts').then((m) => console.log(JSON.stringify(m.installTimes())))"],
      {
        cwd: checkoutRoot(),
        encoding: 'utf8',
        env: { ...process.env, CNILAB_CACHE: dir },
      },
    );
    assert.deepEqual(JSON.parse(r.stdout), [
      { phase: 'apt', seconds: 3, at: '2026-12-06T09:00:00Z' },
      { phase: 'build-flanneld', seconds: 118, at: '2026-12-01T10:02:00Z' },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
