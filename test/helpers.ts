// Shared by the tests that need root: what the host holds of cnilab, and a CLI runner.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertRunPassed } from '../assertions/index.ts';
import type { LabView } from '../harness/backends/backend.ts';
import type { RunResult } from '../harness/results/schema.ts';
import type { Lab } from '../harness/backends/netns/lab.ts';
import { checkMode } from '../harness/check/index.ts';
import { getMode } from '../harness/modes/registry.ts';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../..');
export const isRoot = process.getuid?.() === 0;
export const ROOT_SKIP = isRoot ? false : 'needs root: builds network namespaces';

export function netnsOf(lab: string): string[] {
  return netnsStartingWith(`cnilab-${lab}-`);
}

export function netnsStartingWith(prefix: string): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(prefix));
}

/** Whether a process works in the lab's state folder (calico-node's daemons: their command lines name no lab). */
const worksIn = (pid: string, lab: string) => {
  try {
    // Seen from outside its mount namespace, the path is its mount's own (/cnilab/LAB/... without /run).
    return readlinkSync(`/proc/${pid}/cwd`).includes(`cnilab/${lab}/`);
  } catch {
    return false;
  }
};

export function labProcesses(lab: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  // Zombies are not running processes: pid 1 of some sandboxes reaps them late.
  // Daemons started from a path (flanneld from the Go cache, etcd) count by their program's name.
  return out
    .split('\n')
    .filter(
      (l) =>
        ((/ (\S*\/)?(bird|tcpdump|iperf3|ping|linux\.uml|flanneld|etcd|kube-apiserver|icmp-prober\.py|ns-forward\.py)( |$)/.test(l) &&
          l.includes(lab)) ||
          worksIn(l.trim().split(/\s+/)[0]!, lab)) &&
        !/ Z/.test(l),
    );
}

/** `detached`: the run leads a process group of its own, as a CI runner's job does (kill -pid reaches all of it). */
export function cli(args: string[], env: Record<string, string> = {}, opts: { detached?: boolean } = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', `${ROOT}/harness/cli/main.ts`, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
}

export function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const p = cli(args, env);
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d) => (stdout += d));
  p.stderr!.on('data', (d) => (stderr += d));
  return new Promise((res) => p.on('exit', (code, signal) => res({ code, signal, stdout, stderr })));
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const uniqueLab = (tag: string) =>
  `${tag}${process.pid.toString(36).slice(-4)}${Math.floor(Math.random() * 1296).toString(36)}`.slice(0, 12);

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A results directory removed when the test process exits, whatever the outcome. */
export function tmpOut(tag = 'test'): string {
  const d = mkdtempSync(`${tmpdir()}/cnilab-${tag}-`);
  made.push(d);
  return d;
}

/** A guest's capture came back to the host and opens in tshark with IP protocol 4 (IPIP) in it. */
export function assertIpipCaptured(pcap: string): void {
  assert.ok(existsSync(pcap), `${pcap} did not come back from the guest`);
  if (!existsSync('/usr/bin/tshark')) return;
  const protos = execFileSync('tshark', ['-r', pcap, '-Y', 'ip.proto == 4', '-T', 'fields', '-e', 'ip.proto'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  assert.ok(protos.split('\n').filter(Boolean).length > 0, `tshark finds no IPIP packet in ${pcap}`);
}

/** Nothing of `lab` is left: no namespace, no process, no state folder. */
export function clean(lab: string): void {
  assert.deepEqual(netnsOf(lab), [], `namespaces of ${lab} left`);
  assert.deepEqual(labProcesses(lab), [], `processes of ${lab} left`);
  assert.equal(existsSync(`${process.env.CNILAB_STATE_DIR ?? '/run/cnilab'}/${lab}`), false, `state dir of ${lab} left`);
}

/** The exit code of a CLI process, once it exits. */
export const exited = (p: ChildProcess) => new Promise<number | null>((r) => p.on('exit', (c) => r(c)));

/** What a CLI process has printed on stderr so far (read `.text`). */
export function stderrOf(p: ChildProcess): { text: string } {
  const s = { text: '' };
  p.stderr!.on('data', (d) => (s.text += d));
  return s;
}

/** Processes named `comm` running in a namespace. */
export const inNetns = (netns: string, comm: string) =>
  execFileSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' })
    .split('\n')
    .filter((p) => p && existsSync(`/proc/${p}/comm`) && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm);

/**
 * A real daemon's lab switched to cnilab's own flannel-vxlan: nothing stale, none of `comms` left
 * in any node, the wire passes, no daemon report; the lab is then taken down and must be gone.
 */
export async function leaveForOwnMode(lab: Lab, comms: readonly string[], more: (lab: Lab) => void = () => {}): Promise<void> {
  try {
    await lab.switchTo(getMode('flannel-vxlan'));
    assert.deepEqual(await lab.staleState(), []);
    for (const n of lab.topology.nodes)
      assert.deepEqual(
        comms.flatMap((c) => inNetns(lab.names.node(n), c)),
        [],
        `${comms.join(', ')} stopped on ${n.name}`,
      );
    more(lab);
    assertRunPassed(await checkMode(lab, getMode('flannel-vxlan'), { outDir: tmpOut(), count: 1 }));
    assert.equal(lab.daemonReport(), undefined);
  } finally {
    await lab.down();
  }
  clean(lab.name);
}

/** SIGKILL a run (nothing of it can clean up), see that it left its processes, then `cnilab gc` must reap all of `lab`. */
export async function killThenGc(run: ChildProcess, lab: string): Promise<void> {
  run.kill('SIGKILL');
  await new Promise((r) => run.on('exit', r));
  assert.ok(labProcesses(lab).length > 0, 'a SIGKILLed run leaves its daemons');
  const gc = await runCli(['gc']);
  assert.equal(gc.code, 0, gc.stderr);
  clean(lab);
}

/** `text` with `from` replaced by `to`, written as `name` in a folder of its own; `text` must hold `from`. */
export function variantFile(text: string, from: string, to: string, name: string): string {
  assert.ok(text.includes(from), `the fixture holds ${from}`);
  const f = `${tmpOut('variant')}/${name}`;
  writeFileSync(f, text.replace(from, to));
  return f;
}

/** The 1-based number of the first line of `file` holding `needle` (0: none). */
export const lineOf = (file: string, needle: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(needle)) + 1;

/** A live lab seen through other executors or capture points: the check layer takes any LabView. */
export function viewOf(lab: Lab, over: Partial<Pick<LabView, 'executor' | 'nodeExecutor' | 'capturePoints'>>): LabView {
  return {
    lab: lab.lab,
    backend: lab.backend,
    topology: lab.topology,
    settings: lab.settings,
    mode: lab.mode,
    pods: lab.pods,
    capturePoints: over.capturePoints ?? lab.capturePoints,
    executor: over.executor ?? ((ns) => lab.executor(ns)),
    nodeExecutor: over.nodeExecutor ?? ((n) => lab.nodeExecutor(n)),
  };
}

/** The daemon is the real calico-node, its pods hold calico-ipam's addresses, and the model agrees with the kernel. */
export function assertRealCalico(r: RunResult, model: string, pool: { ipipMode: string; vxlanMode: string }): void {
  assert.match(r.daemon ?? '', /^calico-node v3\.28\.5\+[0-9a-f]{12}$/);
  const facts = r.daemonFacts!;
  assert.match(facts.cni, /^Calico CNI plugin v3\.28\.5\+[0-9a-f]{12} with calico-ipam/);
  assert.equal(facts.calico?.pool.ipipMode, pool.ipipMode);
  assert.equal(facts.calico?.pool.vxlanMode, pool.vxlanMode);
  assert.match(facts.calico?.apiserver ?? '', /^kube-apiserver v1\./);
  assert.deepEqual(Object.keys(facts.leases).sort(), ['n1', 'n2', 'n3']);
  for (const blocks of Object.values(facts.leases)) assert.match(blocks, /^10\.244\.\d+\.\d+\/26(,|$)/);
  assert.equal(r.modelDiff?.model, model);
  assert.ok((r.modelDiff?.compared ?? 0) > 10, 'the model planned something to compare');
  assert.deepEqual(r.modelDiff?.differences, [], `cnilab's ${model} differs from calico-node`);
}
