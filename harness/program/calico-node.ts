// calico-node in a lab, per node, as calico-node's container runs it (node/filesystem/etc/rc.local
// and its runit services): `-startup` once, `-allocate-tunnel-addrs` once, felix supervised (runsv
// starts it again when it exits: felix exits with 129 on every encapsulation change), and for the
// BIRD backend confd rendering BIRD 1.6's config and BIRD itself (for an IPIP pool, stock BIRD 2 on a
// rewrite of that rendering: bird2-from-confd.py). Every one runs in the node's
// namespace with a mount namespace of its own: calico-node writes fixed paths (/var/lib/calico,
// and /var/run/calico for -startup), which an overlay sends into the lab's folder instead of the host.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import pLimit from 'p-limit';
import { readInputs, docName } from '../conform/inputs.ts';
import { LabError, UsageError } from '../errors.ts';
import { pythonHelper } from '../kernel/root.ts';
import { bird1Binary, bird2Binary, calicoCniBinary, calicoConfdDir, calicoModuleDir, calicoNodeBinary } from '../host/daemons.ts';
import { applyManifest, inlineKubeconfig, type KubeApi, type ManifestObject, objectName } from '../kube/client.ts';
import { type CalicoNodeProgram, calicoBird } from '../modes/mode.ts';
import { formatCidr, formatIpv4 } from '../net/ipv4.ts';
import type { ResolvedNode } from '../topology/types.ts';
import type { KubeState } from './apiserver.ts';
import { type DaemonSpec, type LabDaemon, runOnce, startDaemon, waitReady } from './daemon.ts';
import type { LabEnv } from './env.ts';

export interface CalicoBinaries {
  node: { path: string; version: string };
  cni: { path: string; version: string };
  /**
   * The BIRD backend's BIRD and its birdc; `check`: BIRD 1.6, which checks confd's rendering as
   * Calico's does (check_cmd); `rewrite`: for BIRD 2, the command that rewrites that rendering for it first.
   */
  bird?: { path: string; birdc: string; version: string; check: string; rewrite?: string[] };
}

/** Rewrites confd's BIRD 1.x rendering for stock BIRD 2 (IPIP pools: krt_tunnel, see calicoBird): the command. */
const bird2Rewrite = () => pythonHelper('harness/program/bird2-from-confd.py');

/**
 * The binaries a calico-node mode needs, or a UsageError saying how to get the missing one (the
 * run turns it into the mode's skip reason before anything is built).
 */
export async function calicoBinaries(prog: CalicoNodeProgram): Promise<CalicoBinaries> {
  const [node, cni, bird, two] = await Promise.all([calicoNodeBinary(), calicoCniBinary(), bird1Binary(), bird2Binary()]);
  const hint = 'the calico-node modes need calico-node, the Calico CNI plugin and (for BGP) BIRD 1.6: "cnilab install calico-node"';
  if (!node.ok) throw new UsageError(node.detail, hint);
  if (!cni.ok) throw new UsageError(cni.detail, hint);
  const flavour = calicoBird(prog);
  if (flavour && !bird.ok) throw new UsageError(bird.detail, hint);
  if (flavour && !calicoConfdDir()) throw new UsageError("confd's templates are not in the cache", hint);
  if (!flavour || !bird.ok) return { node, cni };
  const one = { path: bird.path, birdc: `${dirname(bird.path)}/birdc`, version: bird.version, check: bird.path };
  if (flavour === 'bird1') return { node, cni, bird: one };
  // An IPIP pool: confd's config checked by BIRD 1.6, run by stock BIRD 2 (calicoBird).
  if (!two.ok) throw new UsageError(`an IPIP pool runs confd's config in BIRD 2: ${two.detail}`, 'bash ci/ensure.sh installs bird2');
  const bird2 = { path: two.path, birdc: `${dirname(two.path)}/birdc`, version: two.version };
  return { node, cni, bird: { ...bird2, check: bird.path, rewrite: bird2Rewrite() } };
}

/** Calico's CRDs, read from the calico module in the Go module cache (libcalico-go/config/crd): never copied into the repo. */
export function calicoCrds(): ManifestObject[] {
  const dir = calicoModuleDir();
  const crds = dir ? `${dir}/libcalico-go/config/crd` : undefined;
  if (!crds || !existsSync(crds))
    throw new UsageError('the calico module is not in the Go module cache', '"cnilab install calico-node" fetches it');
  const files = readdirSync(crds)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => `${crds}/${f}`);
  return readInputs(files).flatMap((d) => (d.value ? [{ where: docName(d), object: d.value as ManifestObject['object'] }] : []));
}

/**
 * Applies Calico's CRDs to the lab's API server once (a lab keeps them across modes); a CRD the
 * user's manifest brought (calico.yaml carries them all) is the manifest's, not replaced.
 */
export async function ensureCalicoCrds(api: KubeApi, kube: KubeState, progress: (m: string) => void): Promise<void> {
  if (kube.calicoCrds !== undefined) return;
  const have = new Set(kube.applied ?? []);
  const missing = calicoCrds().filter((c) => !have.has(objectName(c.object)));
  kube.calicoCrds = missing.length ? (await applyManifest(api, missing, progress)).length : 0;
}

export const calicoDir = (env: LabEnv, node: string) => `${env.labDir}/calico/${node}`;
/** felix's /var/lib/calico/mtu, as its overlay keeps it in the lab's folder. */
export const felixMtuFile = (env: LabEnv, node: string) => `${calicoDir(env, node)}/felix/upper/calico/mtu`;
const birdDir = (env: LabEnv, node: string) => `${calicoDir(env, node)}/bird`;
const birdSocket = (env: LabEnv, node: string) => `${birdDir(env, node)}/bird.ctl`;
/** Where BIRD 2's rewrite of confd's rendering goes (bird2-from-confd.py). */
const bird2Dir = (env: LabEnv, node: string) => `${birdDir(env, node)}/bird2`;

/**
 * calico-node's environment on a node: what calico.yaml's DaemonSet sets (DATASTORE_TYPE, CLUSTER_TYPE,
 * CALICO_NETWORKING_BACKEND, CALICO_IPV4POOL_* with the lab's pool and block size, the MTUs from
 * veth_mtu when set, FELIX_DEFAULTENDPOINTTOHOSTACTION, FELIX_IPV6SUPPORT, FELIX_HEALTHENABLED),
 * what the kubelet would fill in (NODENAME from spec.nodeName), and what a lab must say itself: the
 * node's IP (no autodetection guesswork), the lab's AS, quiet file logging, nft iptables (v3.28's
 * `auto` picks legacy in a fresh namespace without a kubelet's hint), no usage reports, and a 10 s
 * route refresh.
 */
export function calicoNodeEnv(env: LabEnv, n: ResolvedNode, prog: CalicoNodeProgram): Record<string, string> {
  const { calico } = env.settings;
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    DATASTORE_TYPE: 'kubernetes',
    FELIX_DATASTORETYPE: 'kubernetes',
    KUBECONFIG: '/var/lib/calico/kubeconfig',
    WAIT_FOR_DATASTORE: 'true',
    NODENAME: n.name,
    FELIX_FELIXHOSTNAME: n.name,
    CALICO_NETWORKING_BACKEND: prog.backend,
    CLUSTER_TYPE: prog.backend === 'bird' ? 'k8s,bgp' : 'k8s',
    IP: `${formatIpv4(n.ip)}/${formatCidr(n.subnet.cidr).split('/')[1]}`,
    CALICO_IPV4POOL_CIDR: formatCidr(env.topology.podCidr),
    CALICO_IPV4POOL_BLOCK_SIZE: String(env.topology.blockSize),
    // The node's AS (-startup writes it on the Calico Node), the lab's as its router peers with it.
    AS: String(calico.asn),
    // veth_mtu as calico.yaml hands it on (FELIX_IPINIPMTU, FELIX_VXLANMTU and the CNI config's mtu), when a config sets it.
    ...(env.settings.podMtu ? { FELIX_IPINIPMTU: String(env.settings.podMtu), FELIX_VXLANMTU: String(env.settings.podMtu) } : {}),
    CALICO_IPV4POOL_IPIP: prog.pool.ipipMode,
    CALICO_IPV4POOL_VXLAN: prog.pool.vxlanMode,
    FELIX_VXLANVNI: String(calico.vxlanVni),
    FELIX_VXLANPORT: String(calico.vxlanPort),
    FELIX_DEFAULTENDPOINTTOHOSTACTION: 'ACCEPT',
    FELIX_IPV6SUPPORT: 'false',
    FELIX_HEALTHENABLED: 'true',
    FELIX_IPTABLESBACKEND: 'nft',
    FELIX_USAGEREPORTINGENABLED: 'false',
    // felix checks the kernel's routes against its own every 90 s by default; a route it left to
    // someone else (BIRD's, persisted after a switch) is only taken back then. 10 s bounds a switch.
    FELIX_ROUTEREFRESHINTERVAL: '10',
    FELIX_LOGSEVERITYSCREEN: 'info',
    FELIX_LOGFILEPATH: 'none',
    FELIX_LOGSEVERITYSYS: 'none',
    CALICO_DISABLE_FILE_LOGGING: 'true',
  };
}

type Role = 'startup' | 'tunnel-addrs' | 'felix' | 'confd';

/**
 * A calico-node run on a node: its own overlay of /var/lib (calico/kubeconfig put in its upper
 * folder first), and for -startup an empty /run as well (it makes /var/run/calico for BIRD).
 */
function calicoSpec(
  env: LabEnv,
  n: ResolvedNode,
  role: Role,
  run: { argv: string[]; environment: Record<string, string>; kubeconfig: string; cwd?: string },
): DaemonSpec {
  const dir = `${calicoDir(env, n.name)}/${role}`;
  mkdirSync(`${dir}/upper/calico`, { recursive: true, mode: 0o700 });
  writeFileSync(`${dir}/upper/calico/kubeconfig`, run.kubeconfig, { mode: 0o600 });
  return {
    what: `calico-node ${role === 'felix' || role === 'confd' ? role : `-${role}`} ${n.name}`,
    log: `${calicoDir(env, n.name)}/${role}.log`,
    argv: run.argv,
    env: run.environment,
    // /var/log too: felix logs to /var/log/calico/felix.log unless told otherwise (calico.yaml does
    // not tell it), which in calico-node's container is the container's own folder.
    overlays: { '/var/lib': dir, '/var/log': `${dir}/log` },
    ...(role === 'startup' ? { tmpfs: ['/run'] } : {}),
    // In the lab's folder (confd's own cwd is where it renders BIRD's config): felix's command line
    // names nothing of the lab, its working folder does (what the leak tests look for).
    cwd: run.cwd ?? calicoDir(env, n.name),
  };
}

/** felix under a supervisor, as runsv keeps it in calico-node's container: started again a second after it exits. */
const supervised = (bin: string) => [
  'sh',
  '-c',
  'while :; do "$@"; echo "cnilab: felix exited with $?; starting it again in 1 s, as runsv does in calico-node\'s container"; ' +
    'sleep 1; done',
  'felix',
  bin,
  '-felix',
];

/** How often felix exited and was started again on a node, from its supervisor's lines in its log. */
export function felixRestarts(env: LabEnv, node: string): number {
  try {
    return (readFileSync(`${calicoDir(env, node)}/felix.log`, 'utf8').match(/^cnilab: felix exited with/gm) ?? []).length;
  } catch {
    return 0;
  }
}

/**
 * confd's own folder for a node: conf.d with each BIRD template's destination, check and reload
 * pointed at the node's BIRD (the stock ones name /etc/calico and `sv hup bird`), templates from the cache.
 */
function confdConf(env: LabEnv, n: ResolvedNode, bird: NonNullable<CalicoBinaries['bird']>): string {
  const src = calicoConfdDir()!;
  const dir = `${calicoDir(env, n.name)}/confd-conf`;
  const out = birdDir(env, n.name);
  for (const p of [dir, out, bird.path, bird.birdc, bird.check, ...(bird.rewrite ?? [])])
    if (!/^[A-Za-z0-9/._+-]+$/.test(p))
      throw new UsageError(`${p}: a path confd runs must be plain`, 'use a lab folder without spaces or quotes');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(`${dir}/conf.d`, { recursive: true, mode: 0o700 });
  mkdirSync(out, { recursive: true, mode: 0o700 });
  symlinkSync(`${src}/templates`, `${dir}/templates`);
  const configure = `${bird.birdc} -s ${birdSocket(env, n.name)} configure >/dev/null 2>&1 || true`;
  // For BIRD 2 the rewrite comes first; when it fails, the reload fails and confd logs why (its log
  // is what a daemon wait shows), while BIRD keeps the config it has.
  const reload = bird.rewrite ? `${bird.rewrite.join(' ')} ${out} ${bird2Dir(env, n.name)} ${bird.path} && ${configure}` : configure;
  for (const f of ['bird.toml', 'bird_ipam.toml', 'bird_aggr.toml']) {
    const toml = readFileSync(`${src}/conf.d/${f}`, 'utf8')
      .replace(/^dest = "\/etc\/calico\/confd\/config\/([^"]+)"$/m, `dest = "${out}/$1"`)
      .replace(/^check_cmd = "bird -p -c \{\{\.src\}\}"$/m, `check_cmd = "${bird.check} -p -c {{.src}}"`)
      .replace(/^reload_cmd = "sv hup bird \|\| true"$/m, `reload_cmd = "${reload}"`);
    if (!toml.includes(`dest = "${out}/`) || toml.includes('sv hup'))
      throw new LabError(`confd's ${f} changed shape: cannot point it at the lab (the cached templates are not v3.28's)`);
    writeFileSync(`${dir}/conf.d/${f}`, toml);
  }
  return dir;
}

/**
 * How calico-node is launched on the lab's nodes: its environment per node and the kubeconfig its
 * /var/lib/calico/kubeconfig holds (cnilab's own, or, from a manifest, its DaemonSet's, see
 * calico-launch.ts), the CNI config list install-cni would write, and what the lab added to either.
 */
export interface CalicoLaunch {
  envOf(n: ResolvedNode): Record<string, string>;
  kubeconfig: string;
}

/**
 * calico-node -allocate-tunnel-addrs once more on every node, after a pool patch with calico-node
 * running (its container runs it as a service that follows the pools; here it runs once a change).
 */
export async function allocateTunnelAddrs(env: LabEnv, launch: CalicoLaunch, bins: CalicoBinaries): Promise<void> {
  await Promise.all(
    env.topology.nodes.map((n) =>
      runOnce(
        env.exec(env.names.node(n)),
        calicoSpec(env, n, 'tunnel-addrs', {
          argv: [bins.node.path, '-allocate-tunnel-addrs', '-allocate-tunnel-addrs-run-once'],
          environment: launch.envOf(n),
          kubeconfig: launch.kubeconfig,
        }),
        60_000,
      ),
    ),
  );
}

/** The node's kubeconfig for calico-node: the lab's admin credentials, inlined (its -startup cannot see the lab's folder). */
export const calicoKubeconfig = (adminKubeconfig: string, server: string) => {
  const k = JSON.parse(inlineKubeconfig(readFileSync(adminKubeconfig, 'utf8'))) as { clusters: { cluster: { server: string } }[] };
  for (const c of k.clusters) c.cluster.server = server;
  return JSON.stringify(k, null, 1);
};

/**
 * What a kubelet leaves in every node's iptables, and felix reads to pick its iptables backend
 * (felix/environment/feature_detect_linux.go DetectBackend, after kubernetes-sigs/iptables-wrappers):
 * the KUBE-IPTABLES-HINT chain in mangle, made by the host's iptables (nft on Debian).
 */
async function kubeletIptablesHint(env: LabEnv, n: ResolvedNode): Promise<void> {
  const exec = env.exec(env.names.node(n));
  const has = await exec.run(['iptables-nft', '-t', 'mangle', '-S', 'KUBE-IPTABLES-HINT'], { reject: false, op: 'kubelet iptables hint' });
  if (has.exitCode !== 0) await exec.run(['iptables-nft', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT'], { op: 'kubelet iptables hint' });
}

/**
 * calico-node on every node: -startup (which writes the Calico Node and, the first time, the
 * IPPool) on all nodes, then `afterStartup` (the pool set to the mode's), then per node
 * -allocate-tunnel-addrs, felix, and for the BIRD backend confd, then BIRD once confd rendered its
 * config. Nodes in parallel; every daemon recorded as it starts.
 */
export async function startCalicoNode(
  env: LabEnv,
  launch: CalicoLaunch,
  bins: CalicoBinaries,
  record: (d: LabDaemon) => void,
  afterStartup: () => Promise<void>,
): Promise<{ daemons: string[] }> {
  const limit = pLimit(8);
  const bin = bins.node.path;
  const spec = (n: ResolvedNode, role: Role, argv: string[], cwd?: string) =>
    calicoSpec(env, n, role, { argv, environment: launch.envOf(n), kubeconfig: launch.kubeconfig, ...(cwd ? { cwd } : {}) });
  const exec = (n: ResolvedNode) => env.exec(env.names.node(n));
  await Promise.all(
    env.topology.nodes.map((n) =>
      limit(async () => {
        await kubeletIptablesHint(env, n);
        await runOnce(exec(n), spec(n, 'startup', [bin, '-startup']), 60_000);
      }),
    ),
  );
  await afterStartup();
  await Promise.all(
    env.topology.nodes.map((n) =>
      limit(async () => {
        await runOnce(exec(n), spec(n, 'tunnel-addrs', [bin, '-allocate-tunnel-addrs', '-allocate-tunnel-addrs-run-once']), 60_000);
        // The MTU file of the felix before (another pool mode) must not pass for this one's.
        rmSync(felixMtuFile(env, n.name), { force: true });
        await startDaemon(exec(n), spec(n, 'felix', supervised(bin)), record);
        if (!bins.bird) return;
        const bird = bins.bird;
        const confd = await startDaemon(
          exec(n),
          spec(n, 'confd', [bin, '-confd', '-confd-confdir', confdConf(env, n, bird)], birdDir(env, n.name)),
          record,
        );
        // A pid file from the mode before would be read as this BIRD's.
        rmSync(`${birdDir(env, n.name)}/bird.pid`, { force: true });
        const parts = ['bird.cfg', 'bird_ipam.cfg', 'bird_aggr.cfg'].map((f) => `${birdDir(env, n.name)}/${f}`);
        await waitReady(`confd to render BIRD's config on ${n.name}`, { timeoutMs: 60_000, daemons: [confd] }, async () =>
          parts.every((p) => existsSync(p)) ? true : undefined,
        );
        // BIRD 2 runs the rewrite of what confd rendered; confd's reload_cmd rewrites it again on every change.
        if (bird.rewrite)
          await exec(n).run([...bird.rewrite, birdDir(env, n.name), bird2Dir(env, n.name), bird.path], {
            op: `rewrite confd's BIRD config for BIRD 2 on ${n.name}`,
          });
        const cfg = `${bird.rewrite ? bird2Dir(env, n.name) : birdDir(env, n.name)}/bird.cfg`;
        await startDaemon(
          exec(n),
          {
            what: `bird ${n.name}`,
            log: `${calicoDir(env, n.name)}/bird.log`,
            argv: [bird.path, '-c', cfg, '-s', birdSocket(env, n.name), '-P', `${birdDir(env, n.name)}/bird.pid`],
            pidFile: `${birdDir(env, n.name)}/bird.pid`,
            cwd: birdDir(env, n.name),
          },
          record,
        );
      }),
    ),
  );
  return {
    daemons: [
      '-startup',
      '-allocate-tunnel-addrs',
      'felix (supervised)',
      ...(bins.bird ? ['confd', `BIRD ${bins.bird.version}${bins.bird.rewrite ? " on confd's rendering rewritten for it" : ''}`] : []),
    ],
  };
}
