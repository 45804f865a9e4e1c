// The lab's real kube-apiserver: its own namespace on the underlay (one more control host, next to
// the lab's etcd, which it stores into under the lab's prefix), a CA and certificates made for the
// lab, and a door on the host's loopback for cnilab's own client (the namespace is reachable from
// nowhere else). Both are lab processes: recorded, killed by teardown and gc with the namespaces.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import { type Binary, kubeApiserverBinary } from '../host/daemons.ts';
import { pythonHelper } from '../kernel/root.ts';
import { run } from '../kernel/exec.ts';
import { apiMessage, apiReady, kubeApi, kubeconfigText } from '../kube/client.ts';
import { makePki, pkiFiles } from '../kube/pki.ts';
import type { NodeExecutor } from '../node/executor.ts';
import { netnsPath } from '../plan/names.ts';
import { type LabDaemon, startDaemon, waitReady } from './daemon.ts';
import type { LabEnv } from './env.ts';
import { type Datastore, ETCD_CLIENT_PORT } from './etcd.ts';

/** The lab's kube-apiserver: where it listens, and cnilab's own kubeconfig (through the host's door). */
export interface KubeState {
  netns: string;
  ip: string;
  version: string;
  /** The URL the lab's nodes reach it at. */
  server: string;
  ca: string;
  /** cnilab's admin kubeconfig (https://127.0.0.1:PORT, the forwarder). */
  kubeconfig: string;
  /** Set once the manifest was applied and the nodes registered. */
  applied?: string[];
  /** Set once Calico's CRDs (from the calico module) were applied, for the real calico-node. */
  calicoCrds?: number;
  /** Where each node's flanneld writes subnet.env (the DaemonSet's mounts say). */
  subnetFiles?: Record<string, string>;
  /** The CNI config the DaemonSet's init container installs, as it was for the current mode. */
  cniConf?: { from: string; content: string; path: string };
}

export const APISERVER_PORT = 6443;
/** The Service network the API server needs; nothing routes it (no kube-proxy in a lab). */
const SERVICE_CIDR = '10.96.0.0/16';

export async function requireApiserver(b: Promise<Binary> = kubeApiserverBinary()): Promise<{ path: string; version: string }> {
  const r = await b;
  if (!r.ok) throw new UsageError(r.detail, 'a --manifest lab needs kube-apiserver and etcd; "cnilab doctor" shows what is missing');
  return r;
}

/**
 * Starts `argv` on the host, detached: the forwarder must open its listening socket in the host's
 * namespace before it moves into the lab's. It prints its port first: read from its log.
 */
async function startForwarder(
  host: { netns: string; ip: string },
  log: string,
  record: (d: LabDaemon) => void,
): Promise<{ daemon: LabDaemon; port: number }> {
  const argv = [...pythonHelper('harness/node/ns-forward.py'), netnsPath(host.netns), host.ip, String(APISERVER_PORT)];
  // Started from the host's namespace, recorded in the lab's: where it lives once it has moved.
  const daemon = await startDaemon({ id: host.netns, run: (a, o) => run(a, o) }, { what: 'API forwarder', argv, log }, record);
  const port = await waitReady('the API forwarder to listen', { timeoutMs: 10_000, daemons: [daemon] }, async () => {
    const first = Number(readFileSync(log, 'utf8').split('\n')[0]);
    return Number.isInteger(first) && first > 0 ? first : undefined;
  });
  return { daemon, port };
}

/** Starts the API server on its host (namespace made) against the lab's etcd; returns once it answers. */
export async function startApiserver(
  env: LabEnv,
  ds: Datastore,
  host: { netns: string; ip: string },
  record: (d: LabDaemon) => void,
): Promise<KubeState> {
  const bin = await requireApiserver();
  const dir = `${env.labDir}/kube`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = await makePki(`${dir}/pki`, [host.ip, '127.0.0.1', '10.96.0.1']);
  const exec: NodeExecutor = env.exec(host.netns);
  const log = `${env.labDir}/kube-apiserver.log`;
  const d = await startDaemon(
    exec,
    {
      what: `kube-apiserver ${bin.version}`,
      log,
      argv: [
        bin.path,
        `--etcd-servers=http://${ds.ip}:${ETCD_CLIENT_PORT}`,
        // Under the lab's own prefix: two labs never share an etcd, but the prefix keeps it obvious.
        `--etcd-prefix=/cnilab/${env.names.lab}/registry`,
        `--bind-address=${host.ip}`,
        `--advertise-address=${host.ip}`,
        `--secure-port=${APISERVER_PORT}`,
        `--cert-dir=${dir}/certs`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.ca}`,
        `--service-account-issuer=https://kubernetes.default.svc`,
        `--service-account-key-file=${pki.saPub}`,
        `--service-account-signing-key-file=${pki.saKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--authorization-mode=RBAC',
        // As every cluster a CNI is installed on (kubeadm sets it): calico.yaml's DaemonSet is privileged.
        '--allow-privileged=true',
        // Its door listens on the host's loopback: nobody without the lab's certificates or a token gets in.
        '--anonymous-auth=false',
        // Nothing in a lab uses them, and on 2 cores they cost start-up time.
        '--enable-priority-and-fairness=false',
        '--profiling=false',
      ],
    },
    record,
  );
  const fwd = await startForwarder(host, `${env.labDir}/kube-forward.log`, record);
  const kubeconfig = `${dir}/admin.kubeconfig`;
  writeFileSync(kubeconfig, kubeconfigText(`https://127.0.0.1:${fwd.port}`, pki.ca, { certFile: pki.adminCert, keyFile: pki.adminKey }), {
    mode: 0o600,
  });
  const api = kubeApi(kubeconfig);
  // Its last answer is kept for the timeout's message, next to its log: a certificate problem shows there.
  let last = 'no answer yet';
  const version = await waitReady(
    'kube-apiserver to answer',
    { timeoutMs: 90_000, daemons: [d, fwd.daemon], seen: () => last },
    async () => {
      try {
        return await apiReady(api);
      } catch (e) {
        last = apiMessage(e);
        return undefined;
      }
    },
  );
  return {
    netns: host.netns,
    ip: host.ip,
    version,
    server: `https://${host.ip}:${APISERVER_PORT}`,
    ca: pkiFiles(`${dir}/pki`).ca,
    kubeconfig,
  };
}
