// The CLI's input contract, without root: bad input is refused with one message naming the field
// and the fix, exit 2, before anything is built.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const MAIN = new URL('./main.ts', import.meta.url).pathname;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a user starts it: a process of its own (one test proves the entry point). */
function spawnCli(args: string[]): Promise<CliResult> {
  const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  return new Promise((res) => p.on('exit', (code) => res({ code, stdout, stderr })));
}

/**
 * The CLI's main() in this process, its output captured: a spawn costs ~1 s of tsx start-up per
 * call, and these tests make ~80 calls. One call at a time (the capture is process-wide).
 */
let queue: Promise<unknown> = Promise.resolve();
function runCli(args: string[]): Promise<CliResult> {
  const call = queue.then(async () => {
    const { main } = await import('./main.ts');
    const out = { stdout: '', stderr: '' };
    // console.log, not process.stdout.write: the test runner reports through the latter.
    const saved = { log: console.log, stderr: process.stderr.write };
    console.log = (...a: unknown[]) => {
      out.stdout += `${a.map(String).join(' ')}\n`;
    };
    process.stderr.write = ((chunk: string | Uint8Array) => {
      out.stderr += String(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      const code = await main(args);
      return { code, ...out };
    } finally {
      console.log = saved.log;
      process.stderr.write = saved.stderr;
    }
  });
  queue = call.catch(() => undefined);
  return call;
}

describe('cli input errors', () => {
  const dir = mkdtempSync(`${tmpdir()}/cnilab-cli-`);
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('--help lists every command and mode, within 100 columns', async () => {
    const r = await runCli(['--help']);
    const text = r.stdout + r.stderr;
    for (const c of ['run', 'compare', 'up', 'switch', 'check', 'status', 'down', 'gc', 'doctor', 'modes', '--budget', 'flanneld-udp'])
      assert.match(text, new RegExp(`${c}\\b`));
    for (const l of text.split('\n')) assert.ok(l.length <= 100, `${l.length} columns: ${l}`);
  });

  test('every command answers --help, -h and "help CMD" with exit 0: its flags (exactly those its parser takes), an example', async () => {
    const { COMMAND_HELP } = await import('./help.ts');
    await Promise.all(
      Object.entries(COMMAND_HELP).map(async ([cmd, h]) => {
        const [a, b, c, bad] = await Promise.all([
          runCli([cmd, '--help']),
          runCli([cmd, '-h']),
          runCli(['help', cmd]),
          runCli([cmd, '--no-such-flag-xyz']),
        ]);
        for (const r of [a, b, c]) {
          assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
          assert.match(r.stdout, new RegExp(`^usage: cnilab ${cmd}\\b[\\s\\S]*\\nexample:\\n  `));
          for (const l of r.stdout.split('\n')) assert.ok(l.length <= 100, `${cmd} --help: ${l.length} columns: ${l}`);
        }
        // The parser's own list, from its refusal of an unknown flag ("flags of "run": --topology, ...").
        assert.equal(bad.code, 2, `${cmd}: ${bad.stderr}`);
        const parsed = (/flags of "[^"]+": (.*?); see/.exec(bad.stderr)?.[1] ?? '').split(', ').filter((f) => f.startsWith('--'));
        const documented = h.flags.map(([f]) => f.split(' ')[0]!);
        assert.deepEqual(documented.sort(), parsed.sort(), `${cmd}: the help's flags are the parser's`);
      }),
    );
  });

  test("--version says cnilab's version and the pinned daemons' (the entry point, as a process)", async () => {
    const r = await spawnCli(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^cnilab \d+\.\d+\.\d+\n {2}flanneld v\S+\n[\s\S]*flannel-cni v\S+/);
  });

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
    const f = `${dir}/bad.yaml`;
    writeFileSync(f, 'name: bad\nsubnets:\n  - { name: a, cidr: 10.0.0.1/24 }\nnodes:\n  - { name: n1, subnet: z }\n');
    const r = await runCli(['run', '--topology', f]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${f}:3:\\d+: subnets\\[0\\]\\.cidr: .*host bits are set; the network is 10.0.0.0/24`));
    assert.doesNotMatch(r.stderr, /underlay:|namespaces/, 'nothing was built');
  });

  test('an unknown command lists the commands', async () => {
    const r = await runCli(['frob']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /run, up, switch/);
  });

  test('--backend accepts netns, uml, qemu, kind or auto only', async () => {
    const r = await runCli(['run', '--backend', 'docker']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--backend "docker".*\n.*netns, uml, qemu, kind or auto/);
  });
});

describe('cli error lines', () => {
  test('a prefix appears once, and no stack trace is printed', async () => {
    const r = await runCli(['run', '--count', 'x']);
    assert.equal(r.code, 2);
    assert.equal((r.stderr.match(/cnilab run:/g) ?? []).length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});

describe('cli flags and output folders', () => {
  test('an empty --modes is an error, not "all modes"', async () => {
    const r = await runCli(['run', '--modes', '']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--modes is empty/);
  });

  test('a mode named twice is an error naming it', async () => {
    const r = await runCli(['run', '--modes', 'flannel-vxlan,calico-bgp,flannel-vxlan']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--modes names "flannel-vxlan" more than once/);
  });

  test('--out inside /proc is refused at once, in one line, exit 2', async () => {
    const t0 = Date.now();
    const r = await runCli(['run', '--out', '/proc/1/x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--out \/proc\/1\/x: \/proc\/1\/x is inside a kernel file system/);
    assert.ok(Date.now() - t0 < 10_000, 'no spinning');
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('--out under a file is refused with the reason, exit 2', async () => {
    const dir = mkdtempSync(`${tmpdir()}/cnilab-out-`);
    try {
      writeFileSync(`${dir}/file`, '');
      const r = await runCli(['run', '--out', `${dir}/file/sub`]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /cannot write there \(a part of the path is a file\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--verbose and --quiet together are refused', async () => {
    const r = await runCli(['run', '--verbose', '--quiet']);
    assert.equal(r.code, 2);
  });
});
