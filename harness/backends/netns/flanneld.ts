// The real flanneld in a lab: etcd as the lab's datastore (its own namespace on the underlay), the
// mode's net-conf.json written into it, one flanneld per node namespace, and the wait until every
// node holds its lease and what flanneld programs for its peers. Both are lab processes: started in
// the lab's namespaces, recorded in the state file, killed by teardown and gc with the namespaces.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import pLimit from 'p-limit';
import { DaemonExitedError, TimeoutError, UsageError } from '../../errors.ts';
import { etcdBinary, flanneldBinary, type Binary } from '../../host/daemons.ts';
import { isCancelled } from '../../kernel/exec.ts';
import { isAlive, processStartTime } from '../../kernel/procs.ts';
import type { ModeSettings } from '../../modes/mode.ts';
import { formatCidr, formatIpv4, maskOf, parseCidr, parseIpv4, type Cidr } from '../../net/ipv4.ts';
import { shellQuote } from '../../net/shell.ts';
import type { ExecutorOf, NodeExecutor } from '../../node/executor.ts';
import { IF, type LabNames } from '../../plan/names.ts';
import type { Topology } from '../../topology/types.ts';
import type { Datastore, LabState } from './state.ts';

type Daemon = LabState['daemons'][number];

export const ETCD_CLIENT_PORT = 2379;

export interface FlanneldEnv {
  topology: Topology;
  names: LabNames;
  settings: ModeSettings;
  labDir: string;
  exec: ExecutorOf;
  /** Where each node's flanneld writes subnet.env, when not the lab's own place (a DaemonSet's mounts say). */
  subnetFiles?: Readonly<Record<string, string>>;
  /** A lab built for perf rounds: its etcd ticks at etcd's default pace (see startEtcd). */
  quiet?: boolean;
}

export async function requireBinary(b: Promise<Binary>): Promise<{ path: string; version: string }> {
  const r = await b;
  if (!r.ok) throw new UsageError(r.detail, 'the flanneld-* modes need flanneld and etcd; "cnilab doctor" shows what is missing');
  return r;
}

export const tail = (file: string, lines = 8) => {
  try {
    // klog lines can carry whole lease structs: each is cut, so a timeout stays readable.
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .slice(-lines)
      .map((l) => (l.length > 200 ? `${l.slice(0, 200)}…` : l))
      .join('\n');
  } catch {
    return '(no log)';
  }
};

/**
 * Starts `argv` in the background of a namespace, detached from this process, so a lab left up by
 * `cnilab up` keeps its daemons (as BIRD daemonises itself). Returns it as a recorded daemon.
 * With `env`, that is its whole environment (`env -i`: nothing of cnilab's own is inherited);
 * names are plain identifiers (kube/env-policy.ts) and every word is quoted.
 */
export async function startDetached(
  exec: Pick<NodeExecutor, 'id' | 'run'>,
  argv: readonly string[],
  log: string,
  what: string,
  opts: { env?: Readonly<Record<string, string>>; cwd?: string } = {},
): Promise<Daemon> {
  const envWords = opts.env ? ['env', '-i', '--', ...Object.entries(opts.env).map(([k, v]) => `${k}=${v}`)] : [];
  const cd = opts.cwd ? `cd ${shellQuote(opts.cwd)} || exit 1; ` : '';
  const cmd = `${cd}setsid ${[...envWords, ...argv].map(shellQuote).join(' ')} >${shellQuote(log)} 2>&1 </dev/null & echo $!`;
  const r = await exec.run(['sh', '-c', cmd], { op: what });
  const pid = Number(r.stdout.trim());
  return { netns: exec.id, pid, startTime: processStartTime(pid) ?? 0, what };
}

export async function poll<T>(what: string, timeoutMs: number, seen: () => string, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (isCancelled() || Date.now() > deadline) throw new TimeoutError(what, seen(), timeoutMs);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** etcd's v3 JSON gateway, driven with curl inside the datastore's namespace (nothing else can reach it). */
export class EtcdClient {
  constructor(
    private readonly exec: NodeExecutor,
    private readonly ip: string,
  ) {}

  private async post(path: string, body: object): Promise<Record<string, unknown>> {
    const url = `http://${this.ip}:${ETCD_CLIENT_PORT}${path}`;
    const r = await this.exec.run(['curl', '-sS', '--max-time', '5', '-X', 'POST', url, '-d', JSON.stringify(body)], {
      op: `etcd ${path}`,
    });
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  async healthy(): Promise<boolean> {
    const url = `http://${this.ip}:${ETCD_CLIENT_PORT}/health`;
    const r = await this.exec.run(['curl', '-sS', '--max-time', '1', url], { reject: false });
    return /"health":\s*"true"/.test(r.stdout);
  }

  async put(key: string, value: string): Promise<void> {
    await this.post('/v3/kv/put', { key: b64(key), value: b64(value) });
  }

  /** Every key under `prefix`, decoded. */
  async range(prefix: string): Promise<Map<string, string>> {
    const r = await this.post('/v3/kv/range', { key: b64(prefix), range_end: b64(prefixEnd(prefix)) });
    const kvs = (r.kvs ?? []) as { key: string; value: string }[];
    return new Map(kvs.map((kv) => [unb64(kv.key), unb64(kv.value)]));
  }
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString();
/** The key after every key with this prefix (etcd's range_end for a prefix scan). */
const prefixEnd = (p: string) => p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1);

/** Starts the lab's etcd (its namespace already made) and waits until it answers. */
export async function startEtcd(env: FlanneldEnv, ds: Datastore, record: (d: Daemon) => void): Promise<void> {
  const etcd = await requireBinary(etcdBinary());
  const dir = `${env.labDir}/etcd`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const client = `http://${ds.ip}:${ETCD_CLIENT_PORT}`;
  const peer = 'http://127.0.0.1:2380';
  const exec = env.exec(ds.netns);
  const log = `${env.labDir}/etcd.log`;
  const d = await startDetached(
    exec,
    [
      etcd.path,
      '--name',
      env.names.lab,
      '--data-dir',
      `${dir}/data`,
      '--listen-client-urls',
      client,
      '--advertise-client-urls',
      client,
      '--listen-peer-urls',
      peer,
      '--initial-advertise-peer-urls',
      peer,
      '--initial-cluster',
      `${env.names.lab}=${peer}`,
      // A one-member cluster on a veth: elections in 100 ms instead of 1 s (measured: healthy in
      // 0.1 s). But a 10 ms tick keeps ~6% of a core busy (measured), so a lab built for perf
      // rounds, where the cores are what is measured, keeps etcd's defaults and waits ~1 s more.
      '--heartbeat-interval',
      env.quiet ? '100' : '10',
      '--election-timeout',
      env.quiet ? '1000' : '100',
    ],
    log,
    `etcd ${etcd.version}`,
  );
  record(d);
  const c = new EtcdClient(exec, ds.ip);
  await poll(
    'etcd to answer',
    15_000,
    () => tail(log),
    async () => ((await c.healthy()) ? true : undefined),
  );
}

export interface Lease {
  subnet: string;
  publicIp: string;
  /** The backend that wrote it: after a restart with a new backend, old leases linger until renewed. */
  backendType: string;
  vtepMac?: string;
}

/** net-conf.json as kube-flannel.yml's ConfigMap carries it: the network, the lease size, the backend. */
export function netConf(t: Topology, backend: Record<string, unknown>): string {
  return JSON.stringify({ Network: formatCidr(t.podCidr), SubnetLen: t.nodes[0]?.podSubnet.prefix ?? 24, Backend: backend });
}

export const subnetFile = (env: FlanneldEnv, node: string) => env.subnetFiles?.[node] ?? `${env.labDir}/flannel/${node}/subnet.env`;
const flanneldLog = (env: FlanneldEnv, node: string) => `${env.labDir}/flanneld-${node}.log`;

/** Writes net-conf.json and starts flanneld on every node, as the DaemonSet's pods would start. */
export async function startFlanneld(
  env: FlanneldEnv,
  ds: Datastore,
  backend: Record<string, unknown>,
  record: (d: Daemon) => void,
): Promise<{ version: string }> {
  const bin = await requireBinary(flanneldBinary());
  await new EtcdClient(env.exec(ds.netns), ds.ip).put(`${ds.prefix}/config`, netConf(env.topology, backend));
  const limit = pLimit(8);
  await Promise.all(
    env.topology.nodes.map((n) =>
      limit(async () => {
        // A new backend restarts flanneld; its subnet file stays, as /run/flannel does, so it keeps its lease.
        mkdirSync(`${env.labDir}/flannel/${n.name}`, { recursive: true });
        record(
          await startDetached(
            env.exec(env.names.node(n)),
            [
              bin.path,
              `--etcd-endpoints=http://${ds.ip}:${ETCD_CLIENT_PORT}`,
              `--etcd-prefix=${ds.prefix}`,
              `--iface=${IF.underlay}`,
              `--subnet-file=${subnetFile(env, n.name)}`,
            ],
            flanneldLog(env, n.name),
            `flanneld ${n.name}`,
          ),
        );
      }),
    ),
  );
  return { version: bin.version };
}

/** flanneld's subnet.env for a node: the lease, the network, the MTU and whether it masquerades. */
export interface SubnetEnv {
  network: Cidr;
  subnet: Cidr;
  mtu: number;
  ipMasq: boolean;
}

export function parseSubnetEnv(text: string): SubnetEnv | undefined {
  const v = Object.fromEntries(
    text
      .split('\n')
      .map((l) => l.trim().split('='))
      .filter((kv) => kv.length === 2),
  ) as Record<string, string>;
  const network = parseCidr(v.FLANNEL_NETWORK ?? '');
  // FLANNEL_SUBNET is the bridge's address with the lease's length (10.244.96.1/24): its network is the lease.
  const [addr, len] = (v.FLANNEL_SUBNET ?? '').split('/');
  const ip = parseIpv4(addr ?? '');
  const sub = ip === null ? 'bad' : parseCidr(`${formatIpv4((ip & maskOf(Number(len))) >>> 0)}/${len}`);
  const mtu = Number(v.FLANNEL_MTU);
  if (typeof network === 'string' || typeof sub === 'string' || !Number.isInteger(mtu)) return undefined;
  return { network, subnet: sub, mtu, ipMasq: v.FLANNEL_IPMASQ === 'true' };
}

export function readSubnetEnv(env: FlanneldEnv, node: string): SubnetEnv | undefined {
  const f = subnetFile(env, node);
  return existsSync(f) ? parseSubnetEnv(readFileSync(f, 'utf8')) : undefined;
}

/** The leases in etcd, by node (matched on their public IP). */
export async function readLeases(env: FlanneldEnv, ds: Datastore): Promise<Map<string, Lease>> {
  const kv = await new EtcdClient(env.exec(ds.netns), ds.ip).range(`${ds.prefix}/subnets/`);
  const byIp = new Map(env.topology.nodes.map((n) => [formatIpv4(n.ip), n.name]));
  const out = new Map<string, Lease>();
  for (const [key, value] of kv) {
    const subnet = key.slice(key.lastIndexOf('/') + 1).replace('-', '/');
    const v = JSON.parse(value) as { PublicIP?: string; BackendType?: string; BackendData?: { VtepMAC?: string } | null };
    const node = v.PublicIP ? byIp.get(v.PublicIP) : undefined;
    if (node)
      out.set(node, {
        subnet,
        publicIp: v.PublicIP!,
        backendType: v.BackendType ?? '',
        ...(v.BackendData?.VtepMAC ? { vtepMac: v.BackendData.VtepMAC } : {}),
      });
  }
  return out;
}

/**
 * Waits until every node has written subnet.env and holds a lease for the current backend, then
 * until `settled` says the kernel holds what it must (bounded; the timeout shows flanneld's logs).
 */
export async function waitFlanneld(
  env: FlanneldEnv,
  leasesOf: () => Promise<Map<string, Lease>>,
  leaseType: string,
  settled: (leases: Map<string, Lease>) => Promise<string[]>,
  daemons: readonly Daemon[],
  timeoutMs = 30_000,
): Promise<Map<string, Lease>> {
  const logs = () =>
    env.topology.nodes
      .slice(0, 3)
      .map((n) => `${n.name}: ${tail(flanneldLog(env, n.name), 3)}`)
      .join(' | ');
  // A flanneld that exited will not take its lease: said at once, with its log, not after the timeout.
  const noneExited = () => {
    const dead = env.topology.nodes.filter((n) => daemons.some((d) => d.what === `flanneld ${n.name}` && !isAlive(d)));
    if (dead.length)
      throw new DaemonExitedError(
        dead.map((n) => `flanneld ${n.name}`),
        dead.map((n) => tail(flanneldLog(env, n.name), 4)),
      );
  };
  let pending: string[] = [];
  let leases = await poll(`every flanneld to take a lease (BackendType "${leaseType}")`, timeoutMs, logs, async () => {
    noneExited();
    if (env.topology.nodes.some((n) => !readSubnetEnv(env, n.name))) return undefined;
    const l = await leasesOf();
    return env.topology.nodes.every((n) => l.get(n.name)?.backendType === leaseType) ? l : undefined;
  });
  await poll(
    'flanneld to program every node',
    timeoutMs,
    () => `${pending.slice(0, 4).join('; ')} | ${logs()}`,
    async () => {
      noneExited();
      // Read again each time: a lease left in etcd by an earlier run of the same backend already
      // has the right BackendType, but the VTEP MAC of a flannel.1 that is gone; flanneld renews it.
      leases = await leasesOf();
      pending = await settled(leases);
      return pending.length === 0 ? true : undefined;
    },
  );
  return leases;
}

/** The topology with flanneld's leases in place of its own per-node pod subnets (the model's input). */
export function withLeases(t: Topology, leases: ReadonlyMap<string, Lease>): Topology {
  return {
    ...t,
    nodes: t.nodes.map((n) => {
      const l = leases.get(n.name);
      const c = l ? parseCidr(l.subnet) : undefined;
      return c && typeof c !== 'string' ? { ...n, podSubnet: c } : n;
    }),
  };
}

/**
 * What flanneld left from the backend it ran before (it was restarted with a new net-conf.json): the
 * facts the kernel held before the restart and still holds, which the new backend does not program
 * (`programs`: the model's facts; without a model, whatever is on the new backend's own devices).
 */
export function leftBehind(
  before: ReadonlyMap<string, ReadonlySet<string>>,
  after: ReadonlyMap<string, ReadonlySet<string>>,
  programs: (node: string, fact: string) => boolean,
): string[] {
  return [...after].flatMap(([node, facts]) =>
    [...facts].filter((f) => before.get(node)?.has(f) && !programs(node, f)).map((f) => `${node}: ${f}`),
  );
}
