// The real daemons a lab can run, and where their binaries are: a user's own (an environment
// variable), else the one ci/ensure.sh built from its Go module into a cache keyed by version, else
// the package's (etcd). What is missing is said with the way to get it.
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import goTools from '../../ci/go-tools.json' with { type: 'json' };
import { run } from '../kernel/exec.ts';

export const GO_TOOLS: Record<
  string,
  { module: string; version: string; wrapper: string; versionVar: string; env: string; binary?: string; firstBuildSeconds?: number }
> = goTools;

export const goCache = () => process.env.CNILAB_GO_CACHE ?? '/var/cache/cnilab/go';

export type Binary = { ok: true; path: string; version: string } | { ok: false; detail: string };

async function versionOf(path: string, args: string[], pick: (out: string) => string | undefined): Promise<string> {
  const r = await run([path, ...args], { reject: false, timeoutMs: 10_000 });
  return pick(`${r.stdout}\n${r.stderr}`) ?? 'unknown version';
}

/** Where `cmd` is on PATH, if it is. */
export async function onPath(cmd: string): Promise<string | undefined> {
  const r = await run(['sh', '-c', `command -v ${cmd}`], { reject: false });
  return r.exitCode === 0 ? r.stdout.trim() : undefined;
}

const memo = new Map<string, Promise<Binary>>();
const once = (key: string, f: () => Promise<Binary>) => {
  const known = memo.get(key);
  if (known) return known;
  const p = f();
  memo.set(key, p);
  return p;
};

/** Looks NAME up afresh next time (it was just built). */
export const forgetBinary = (name: string) => void memo.delete(name);

/** A program ci/ensure.sh builds from its Go module: its $ENV, else the build cached by version. */
function goTool(name: string, versionArgs: string[], pick: (out: string) => string | undefined): Promise<Binary> {
  return once(name, async () => {
    const t = GO_TOOLS[name]!;
    const own = process.env[t.env] || undefined;
    const path = own ?? `${goCache()}/${name}-${t.version}/${t.binary ?? name}`;
    if (!existsSync(path)) {
      return {
        ok: false,
        detail: own
          ? `${t.env}=${own} does not exist`
          : `${name} ${t.version} is not built yet: "cnilab install ${name}" builds it (needs Go and gcc; ` +
            `~${Math.round(expectedBuildSeconds(name) / 60) || 1} min here), or point ${t.env} at a ${name} binary`,
      };
    }
    return { ok: true, path, version: await versionOf(path, versionArgs, pick) };
  });
}

/** How long building NAME takes: this machine's last build of it, else the first-build figure of ci/go-tools.json. */
export function expectedBuildSeconds(name: string): number {
  const first = GO_TOOLS[name]?.firstBuildSeconds ?? 0;
  try {
    const s = Number(readFileSync(`${goCache()}/${name}.seconds`, 'utf8').trim());
    return Number.isFinite(s) && s > 0 ? s : first;
  } catch {
    return first;
  }
}

/** flanneld: $CNILAB_FLANNELD, else the build cached by ci/ensure.sh. */
export const flanneldBinary = () => goTool('flanneld', ['--version'], (o) => o.trim().split('\n')[0]?.trim() || undefined);

/** kube-apiserver: $CNILAB_KUBE_APISERVER, else the build cached by ci/ensure.sh (a wrapper module: ci/kube-apiserver). */
export const kubeApiserverBinary = () => goTool('kube-apiserver', ['--version'], (o) => /Kubernetes (v\S+)/.exec(o)?.[1]);

/**
 * The flannel CNI plugin (flannel-io/cni-plugin): $CNILAB_FLANNEL_CNI, else the build cached by
 * ci/ensure.sh (ci/flannel-cni; its module comes from ../shared/goproxy where that folder exists).
 * Run bare, it prints "CNI Plugin flannel version v1.9.1-flannel1 ...".
 */
export const flannelCniBinary = () => goTool('flannel-cni', [], (o) => /CNI Plugin flannel version (\S+)/.exec(o)?.[1]);

/** calico-node (felix, confd, startup in one binary): $CNILAB_CALICO_NODE, else the build cached by ci/ensure.sh (ci/calico). */
export const calicoNodeBinary = () => goTool('calico-node', ['-v'], (o) => o.trim().split('\n')[0]?.trim() || undefined);

/** Calico's CNI plugin (calico, and calico-ipam beside it): $CNILAB_CALICO_CNI, else the build cached by ci/ensure.sh. */
export const calicoCniBinary = () => goTool('calico-cni', ['-v'], (o) => o.trim().split('\n')[0]?.trim() || undefined);

/** etcd: $CNILAB_ETCD, else Debian's etcd-server on PATH. */
export function etcdBinary(): Promise<Binary> {
  return once('etcd', async () => {
    const own = process.env.CNILAB_ETCD;
    const path = own ?? (await onPath('etcd'));
    if (!path || !existsSync(path))
      return { ok: false, detail: own ? `CNILAB_ETCD=${own} does not exist` : 'etcd not found: apt-get install etcd-server' };
    return { ok: true, path, version: await versionOf(path, ['--version'], (o) => /etcd Version: (\S+)/.exec(o)?.[1]) };
  });
}

/** Go, for doctor: the real-daemon modes need it once, to build their daemons. */
export async function goVersion(): Promise<Binary> {
  const path = await onPath('go');
  if (!path) return { ok: false, detail: 'go not found: the real-daemon modes need it once, to build flanneld' };
  return { ok: true, path, version: await versionOf(path, ['version'], (o) => /go version (\S+)/.exec(o)?.[1]) };
}

/** One phase of an install (ci/ensure.sh writes them): npm, apt, qemu-kernel, build-NAME. */
export interface InstallPhase {
  phase: string;
  seconds: number;
  at: string;
}

/** The last time each install phase ran on this machine, most recent first: where a slow first run went. */
export function installTimes(): InstallPhase[] {
  let text = '';
  try {
    text = readFileSync(`${process.env.CNILAB_CACHE ?? '/var/cache/cnilab'}/install-times`, 'utf8');
  } catch {
    return [];
  }
  const last = new Map<string, InstallPhase>();
  for (const line of text.split('\n')) {
    const [phase, seconds, at] = line.trim().split(' ');
    if (phase && seconds && at && Number.isFinite(Number(seconds))) last.set(phase, { phase, seconds: Number(seconds), at });
  }
  return [...last.values()].sort((a, b) => b.at.localeCompare(a.at));
}

const cacheRoot = () => process.env.CNILAB_CACHE ?? '/var/cache/cnilab';

/**
 * Debian's BIRD 1.6 for calico-node's confd: $CNILAB_BIRD1 (a folder with sbin/bird and sbin/birdc),
 * else the package ci/ensure.sh unpacked into the cache (confd's templates are BIRD 1.x syntax).
 * birdc is beside it.
 */
export function bird1Binary(): Promise<Binary> {
  return once('bird1', async () => {
    const own = process.env.CNILAB_BIRD1;
    const dirs = own
      ? [own]
      : (() => {
          try {
            return readdirSync(cacheRoot())
              .filter((d) => d.startsWith('bird1-'))
              .sort()
              .reverse()
              .map((d) => `${cacheRoot()}/${d}/usr/sbin`);
          } catch {
            return [];
          }
        })();
    const dir = dirs.find((d) => existsSync(`${d}/bird`) && existsSync(`${d}/birdc`));
    if (!dir)
      return {
        ok: false,
        detail: own
          ? `CNILAB_BIRD1=${own} has no bird and birdc`
          : 'BIRD 1.6 is not unpacked yet: "cnilab install calico-node" fetches Debian\'s bird package into the cache',
      };
    const version = await versionOf(`${dir}/bird`, ['--version'], (o) => /BIRD version (\S+)/.exec(o)?.[1]);
    return { ok: true, path: `${dir}/bird`, version };
  });
}

/**
 * Debian's bird2 on PATH (ci/host-tools.json), with its version: cnilab's BGP modes' BIRD, and an
 * IPIP pool's (confd's rendering rewritten for it). A BIRD 1.x there is not it. birdc is beside it.
 */
export function bird2Binary(): Promise<Binary> {
  return once('bird2', async () => {
    const path = await onPath('bird');
    if (!path || !existsSync(`${dirname(path)}/birdc`)) return { ok: false, detail: 'bird and birdc not found: apt-get install bird2' };
    const version = await versionOf(path, ['--version'], (o) => /BIRD version (\S+)/.exec(o)?.[1]);
    if (!version.startsWith('2.')) return { ok: false, detail: `${path} is BIRD ${version}, not 2.x: apt-get install bird2` };
    return { ok: true, path, version };
  });
}

/** confd's templates and conf.d, copied from the calico module by ci/ensure.sh (with krt_tunnel declared for stock BIRD). */
export function calicoConfdDir(): string | undefined {
  const d = `${goCache()}/calico-confd-${GO_TOOLS['calico-node']!.version}`;
  return existsSync(`${d}/templates/bird.cfg.template`) ? d : undefined;
}

/** Where a Go module's files are: the module cache (GOMODCACHE, else `go env`, else ~/go/pkg/mod). */
export function goModuleDir(module: string, version: string): string | undefined {
  const escaped = module.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
  let root = process.env.GOMODCACHE;
  if (!root) {
    const r = spawnSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' });
    root = r.status === 0 ? r.stdout.trim() : `${process.env.HOME ?? '/root'}/go/pkg/mod`;
  }
  const dir = `${root}/${escaped}@${version}`;
  return existsSync(dir) ? dir : undefined;
}

/** The calico module (manifests, CRDs) at the version calico-node is built from. */
export const calicoModuleDir = () => goModuleDir('github.com/projectcalico/calico', GO_TOOLS['calico-node']!.version);
/** flannel's module at the pinned version (its Documentation/ carries upstream's manifests). */
export const flannelModuleDir = () => goModuleDir(GO_TOOLS.flanneld!.module, GO_TOOLS.flanneld!.version);
