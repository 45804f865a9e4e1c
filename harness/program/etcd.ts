// The lab's etcd: flanneld's datastore and the kube-apiserver's store, in a namespace of its own on
// the first subnet, one member, driven through its v3 JSON gateway with curl inside the lab (only
// the lab's namespaces reach it). It lives until the lab goes down.
import { mkdirSync, rmSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import { etcdBinary, type Binary } from '../host/daemons.ts';
import type { NodeExecutor } from '../node/executor.ts';
import { type LabDaemon, startDaemon, waitReady } from './daemon.ts';
import type { LabEnv } from './env.ts';

export const ETCD_CLIENT_PORT = 2379;

/** Where the lab's etcd listens and under which prefix flannel keeps its network. */
export interface Datastore {
  netns: string;
  ip: string;
  prefix: string;
}

/** A daemon's binary, or a UsageError saying what is missing. */
export async function requireBinary(b: Promise<Binary>): Promise<{ path: string; version: string }> {
  const r = await b;
  if (!r.ok) throw new UsageError(r.detail, 'the flanneld-* modes need flanneld and etcd; "cnilab doctor" shows what is missing');
  return r;
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
export async function startEtcd(env: LabEnv, ds: Datastore, record: (d: LabDaemon) => void): Promise<void> {
  const etcd = await requireBinary(etcdBinary());
  const dir = `${env.labDir}/etcd`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const client = `http://${ds.ip}:${ETCD_CLIENT_PORT}`;
  const peer = 'http://127.0.0.1:2380';
  const exec = env.exec(ds.netns);
  const log = `${env.labDir}/etcd.log`;
  const d = await startDaemon(
    exec,
    {
      what: `etcd ${etcd.version}`,
      log,
      argv: [
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
    },
    record,
  );
  const c = new EtcdClient(exec, ds.ip);
  await waitReady('etcd to answer', { timeoutMs: 15_000, daemons: [d] }, async () => ((await c.healthy()) ? true : undefined));
}
