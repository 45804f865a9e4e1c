// The flannel DaemonSet and its net-conf.json as the API server holds them, and a backend switch
// made the way an operator makes it: a merge patch of net-conf.json in its ConfigMap. Shared by every
// place a manifest runs (the lab's own kube-apiserver, a kind cluster).
import type { V1ConfigMap, V1Container, V1DaemonSet } from '@kubernetes/client-node';
import { UsageError } from '../errors.ts';
import type { ModeConfig } from '../modes/mode.ts';
import { type KubeApi, patchConfigMapKey, readDaemonSetSpec } from './client.ts';
import { fileAt, flannelDaemonSet, netConfigPathOf, nodePod, type PodFile } from './daemonset.ts';

export interface FlannelSpec {
  ds: V1DaemonSet;
  container: V1Container;
  ns: string;
  maps: Map<string, V1ConfigMap>;
}

/** net-conf.json as the API server holds it; one that is no JSON object is said with where it came from. */
function parseNetConf(f: PodFile): Record<string, unknown> & { Backend?: Record<string, unknown> } {
  let v: unknown;
  try {
    v = JSON.parse(f.content);
  } catch (e) {
    throw new UsageError(`${f.from}: not JSON (${(e as Error).message})`, 'fix net-conf.json in the ConfigMap');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`${f.from}: not a JSON object`, 'fix net-conf.json');
  return v as Record<string, unknown>;
}

/** Does a net-conf.json Backend already ask for this mode's setting? (no Type means udp: flannel's default) */
export function backendIs(backend: Record<string, unknown>, want: ModeConfig | undefined): boolean {
  if (want?.cni !== 'flannel') return false;
  const type = String(backend.Type ?? 'udp').toLowerCase();
  const dr = backend.DirectRouting === true;
  return type === want.backend && (type !== 'vxlan' || dr === want.directRouting);
}

/** The DaemonSet running flanneld, with the ConfigMaps its pods read, from the API server. */
export async function flannelSpec(api: KubeApi): Promise<FlannelSpec> {
  const spec = await readDaemonSetSpec(api, flannelDaemonSet);
  if (!spec)
    throw new UsageError(
      'the manifest has no DaemonSet whose container runs flanneld',
      'give the kube-flannel.yml that deploys flannel (its DaemonSet runs /opt/bin/flanneld --kube-subnet-mgr)',
    );
  return spec;
}

/** The net-conf.json flanneld reads (--net-config-path, else its default), as its ConfigMap volume provides it. */
export function netConfOf(spec: FlannelSpec): PodFile & { configMap: NonNullable<PodFile['configMap']> } {
  const pod = nodePod(spec.ds, spec.container, spec.maps, { name: 'node', ip: '0.0.0.0', root: '/node' });
  const path = netConfigPathOf(pod);
  const f = fileAt(pod, path);
  if (!f?.configMap)
    throw new UsageError(
      `the DaemonSet ${pod.daemonSet}'s flanneld reads ${path}, which no ConfigMap volume provides`,
      'mount the ConfigMap holding net-conf.json at /etc/kube-flannel/ (as kube-flannel.yml does)',
    );
  return { ...f, configMap: f.configMap };
}

export interface NetConfSwitch {
  spec: FlannelSpec;
  netConf: PodFile & { backend: Record<string, unknown>; patched: boolean };
}

/**
 * Makes net-conf.json ask for `want`: unchanged when it already does, else its Backend replaced by
 * `backend` (the rest of the file kept) with a merge patch of the ConfigMap, as `kubectl edit` would.
 */
export async function switchNetConf(api: KubeApi, want: { config?: ModeConfig; backend: Record<string, unknown> }): Promise<NetConfSwitch> {
  let spec = await flannelSpec(api);
  let file = netConfOf(spec);
  let patched = false;
  if (!backendIs(parseNetConf(file).Backend ?? {}, want.config)) {
    const conf = { ...parseNetConf(file), Backend: want.backend };
    const { namespace, name, key } = file.configMap;
    await patchConfigMapKey(api, namespace, name, key, `${JSON.stringify(conf, null, 2)}\n`);
    patched = true;
    spec = await flannelSpec(api);
    file = netConfOf(spec);
  }
  return { spec, netConf: { ...file, backend: parseNetConf(file).Backend ?? {}, patched } };
}
