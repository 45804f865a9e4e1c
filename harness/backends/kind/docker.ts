// The Docker and kind side of the kind backend: the commands, nothing else. kind and the Docker
// engine cannot run on cnilab's own machines (no engine); these run on hosts that have them (the
// GitHub workflow's kind job), and everything before them is shared and tested on the lab's own API.
import { existsSync, writeFileSync } from 'node:fs';
import { GO_TOOLS, goCache, onPath } from '../../host/daemons.ts';
import { run } from '../../kernel/exec.ts';
import { LabError } from '../../errors.ts';

export interface KindTools {
  kind: string;
}

/** Docker answering and a kind binary ($CNILAB_KIND, the build ci/ensure.sh made, or kind on PATH), or why not. */
export async function kindTools(): Promise<{ ok: true; tools: KindTools; detail: string } | { ok: false; detail: string }> {
  const docker = await onPath('docker');
  if (!docker) return { ok: false, detail: 'no docker command here (kind runs its nodes as Docker containers)' };
  const info = await run(['docker', 'info', '--format', '{{.ServerVersion}}'], { reject: false, timeoutMs: 15_000 });
  if (info.exitCode !== 0)
    return { ok: false, detail: `no Docker engine answers (docker info: ${(info.stderr || info.stdout).trim().split('\n')[0]})` };
  const t = GO_TOOLS.kind;
  const built = t ? `${goCache()}/kind-${t.version}/kind` : undefined;
  const kind = process.env.CNILAB_KIND ?? (built && existsSync(built) ? built : await onPath('kind'));
  if (!kind) return { ok: false, detail: 'no kind binary: run "bash ci/ensure.sh" where Docker runs, or set CNILAB_KIND' };
  return { ok: true, tools: { kind }, detail: `Docker ${info.stdout.trim()}, ${kind}` };
}

export async function createCluster(tools: KindTools, name: string, config: object, kubeconfig: string, dir: string): Promise<void> {
  const file = `${dir}/kind-config.json`;
  writeFileSync(file, JSON.stringify(config, null, 1));
  // No --wait: without a CNI the nodes stay NotReady until the manifest's DaemonSet runs.
  await run([tools.kind, 'create', 'cluster', '--name', name, '--config', file, '--kubeconfig', kubeconfig], {
    op: 'kind create cluster',
    timeoutMs: 600_000,
  });
}

export async function deleteCluster(tools: KindTools, name: string): Promise<void> {
  // A failure is said: the state file stays, so `down` or `gc` can try again.
  await run([tools.kind, 'delete', 'cluster', '--name', name], { op: 'kind delete cluster', timeoutMs: 180_000 });
}

export async function clusters(tools: KindTools): Promise<string[]> {
  const r = await run([tools.kind, 'get', 'clusters'], { op: 'kind get clusters' });
  return r.stdout.split('\n').filter((l) => l.trim());
}

/** The node containers of a cluster, the control plane first: kind names them after the cluster. */
export async function nodeContainers(tools: KindTools, cluster: string): Promise<string[]> {
  const r = await run([tools.kind, 'get', 'nodes', '--name', cluster], { op: 'kind get nodes' });
  const names = r.stdout.split('\n').filter((l) => l.trim());
  return names.sort(
    (a, b) => Number(b.endsWith('control-plane')) - Number(a.endsWith('control-plane')) || a.localeCompare(b, 'en', { numeric: true }),
  );
}

/** A container's init pid on the host: its namespaces are /proc/PID/ns/*, its files /proc/PID/root. */
export async function containerPid(container: string): Promise<number> {
  const r = await run(['docker', 'inspect', '-f', '{{.State.Pid}}', container], { op: 'docker inspect' });
  return Number(r.stdout.trim());
}

/** The IPv4 subnet of the Docker network kind puts its nodes on. */
export async function kindSubnet(network = 'kind'): Promise<string> {
  const r = await run(['docker', 'network', 'inspect', network, '-f', '{{range .IPAM.Config}}{{.Subnet}} {{end}}'], {
    op: 'docker network inspect',
  });
  const v4 = r.stdout.split(/\s+/).find((s) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(s));
  if (!v4) throw new LabError(`docker network ${network} has no IPv4 subnet: ${r.stdout.trim()}`);
  return v4;
}

/**
 * kind's node image ships no bridge plugin, which flannel's delegates to: the host's plugins are
 * copied into each node's /opt/cni/bin (what the upstream flannel e2e on kind does too).
 */
export async function installCniPlugins(
  container: string,
  binDir: string,
  plugins = ['bridge', 'host-local', 'portmap', 'loopback'],
): Promise<void> {
  const have = (await run(['docker', 'exec', container, 'ls', '/opt/cni/bin'], { reject: false })).stdout.split('\n');
  for (const p of plugins.filter((x) => !have.includes(x)))
    await run(['docker', 'cp', `${binDir}/${p}`, `${container}:/opt/cni/bin/${p}`], { op: `docker cp ${p}` });
}

/** The network namespace file of a pod sandbox inside a node, from the node's own CRI (crictl). */
export async function podNetnsInNode(container: string, podName: string, namespace: string): Promise<string> {
  const id = (
    await run(['docker', 'exec', container, 'crictl', 'pods', '--name', podName, '--namespace', namespace, '-q'], { op: 'crictl pods' })
  ).stdout
    .trim()
    .split('\n')[0];
  if (!id) throw new LabError(`no sandbox for pod ${namespace}/${podName} on ${container}`);
  const r = await run(['docker', 'exec', container, 'crictl', 'inspectp', id], { op: 'crictl inspectp' });
  return (
    sandboxNetns(r.stdout) ??
    (() => {
      throw new LabError(`crictl inspectp ${id} on ${container} names no network namespace`);
    })()
  );
}

/** The network namespace path in `crictl inspectp` JSON (info.runtimeSpec.linux.namespaces, type network). */
export function sandboxNetns(inspect: string): string | undefined {
  const v = JSON.parse(inspect) as { info?: { runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } } } };
  return v.info?.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
}
