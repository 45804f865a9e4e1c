// What the missing kubelet and container runtime would do with calico.yaml's calico-node DaemonSet
// on one node, as data (pure): calico-node's environment as its pod sees it (configMapKeyRefs and
// fieldRefs resolved, by daemonset.ts), and the CNI config list its install-cni init container
// would write (cni-plugin/pkg/install/install.go: the calico-config ConfigMap's cni_network_config
// with its __PLACEHOLDERS__ filled). A manifest is untrusted: calico-node runs as root in a mount
// namespace that keeps only /var/lib, /var/log and /run in the lab, so an environment value that
// names a path is refused; a CNI plugin is a plain name among the host's plugins.
import type { V1ConfigMap, V1Container, V1DaemonSet } from '@kubernetes/client-node';
import { PodSpecError } from './confine.ts';
import { nodePod } from './daemonset.ts';

/** calico-node's container: by its image (calico/node) or its name, as conform/calico.ts finds it in a file. */
const isCalicoNode = (c: V1Container) => /calico\/node|calico-node/.test(`${c.image ?? ''} ${c.name}`);

/** The DaemonSet that runs calico-node, with that container. */
export function calicoNodeDaemonSet(sets: readonly V1DaemonSet[]): { ds: V1DaemonSet; container: V1Container } | undefined {
  for (const ds of sets) {
    const c = ds.spec?.template.spec?.containers.find(isCalicoNode);
    if (c) return { ds, container: c };
  }
  return undefined;
}

export interface CalicoNodeSpec {
  ds: V1DaemonSet;
  container: V1Container;
  ns: string;
  maps: ReadonlyMap<string, V1ConfigMap>;
}

/** Names of the variables that name a file or folder in Calico's configuration (FELIX_LOGFILEPATH, ETCD_CA_CERT_FILE, ...). */
const PATH_NAME = /(FILE|PATH|DIR|PREFIX|KUBECONFIG|SOCKET)$/;

/** The variables cnilab sets itself whatever the manifest says (the kubeconfig it points at is the lab's). */
export const LAB_OWNED = new Set(['KUBECONFIG']);

/**
 * calico-node's environment on `node` as its pod would have it. A value that names a host path is
 * refused: calico-node would read or write it on this host, outside the lab.
 */
export function calicoNodeEnvOf(spec: CalicoNodeSpec, node: { name: string; ip: string; root: string }): Record<string, string> {
  const pod = nodePod(spec.ds, spec.container, spec.maps, node);
  // calico-node's default datastore is etcdv3 (calico-etcd.yaml): a lab's is its kube-apiserver.
  const store = pod.env.DATASTORE_TYPE ?? 'etcdv3';
  if (store !== 'kubernetes')
    throw new PodSpecError(
      pod.envField.DATASTORE_TYPE ?? pod.containerField,
      store,
      'calico-node would use an etcd datastore: the lab runs Calico on its kube-apiserver (Kubernetes datastore) only',
      'use calico.yaml (DATASTORE_TYPE kubernetes), not calico-etcd.yaml',
    );
  for (const [name, value] of Object.entries(pod.env)) {
    if (LAB_OWNED.has(name)) continue;
    if (value.startsWith('/') || (PATH_NAME.test(name) && value !== '' && value !== 'none'))
      throw new PodSpecError(
        pod.envField[name] ?? pod.containerField,
        value,
        `${name} names a path: calico-node runs as root on this host, with only /var/lib, /var/log and /run kept in the lab`,
        'remove it (calico-node keeps its files in /var/lib/calico, /var/run/calico and /var/log/calico)',
      );
  }
  return pod.env;
}

/** A refusal of the CNI config install-cni would write, with the ConfigMap key it came from (where the file says it). */
export class CniConfigError extends PodSpecError {
  constructor(
    field: (string | number)[],
    value: string,
    why: string,
    fix: string,
    readonly configMap?: { name: string; key: string },
  ) {
    super(field, value, why, fix);
    this.name = 'CniConfigError';
  }
}

/** The install-cni init container: the one whose environment carries CNI_NETWORK_CONFIG. */
function installCni(ds: V1DaemonSet): V1Container | undefined {
  return ds.spec?.template.spec?.initContainers?.find((c) => (c.env ?? []).some((e) => e.name === 'CNI_NETWORK_CONFIG'));
}

/** The CNI plugins a Calico chain may name: Calico's own (built by cnilab) and the host's standard ones. */
const PLUGIN_TYPE = /^[a-z0-9][a-z0-9-]{0,40}$/;

export interface CalicoCniConfig {
  /** The config list as install-cni writes it (placeholders filled; kubeconfig and node name are the node's). */
  list: { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
  /** The pods' MTU it names (__CNI_MTU__ from veth_mtu); 0: the plugin takes felix's /var/lib/calico/mtu. */
  mtu: number;
  /** "ConfigMap kube-system/calico-config key cni_network_config", or where the value came from. */
  from: string;
}

/**
 * The CNI config list install-cni would install on `node` (install.go writeCNIConfig: the
 * placeholders replaced as there, __CNI_MTU__ by CNI_MTU else 1500), or undefined when the
 * DaemonSet installs none (the lab's own is used then, and the run says so).
 */
export function calicoCniConfigOf(
  spec: CalicoNodeSpec,
  node: { name: string; ip: string; root: string },
  kubeconfigPath: string,
): CalicoCniConfig | undefined {
  const init = installCni(spec.ds);
  if (!init) return undefined;
  const pod = nodePod(spec.ds, init, spec.maps, node);
  const field = pod.envField.CNI_NETWORK_CONFIG ?? pod.containerField;
  const raw = pod.env.CNI_NETWORK_CONFIG ?? '';
  const ref = (init.env ?? []).find((e) => e.name === 'CNI_NETWORK_CONFIG')?.valueFrom?.configMapKeyRef;
  const from = ref ? `ConfigMap ${spec.ns}/${ref.name} key ${ref.key}` : `${pod.daemonSet} init container ${init.name} CNI_NETWORK_CONFIG`;
  const mtuText = pod.env.CNI_MTU || '1500';
  const filled = raw
    .replaceAll('__LOG_LEVEL__', pod.env.LOG_LEVEL ?? 'info')
    .replaceAll('__LOG_FILE_PATH__', '/var/log/calico/cni/cni.log')
    .replaceAll('__LOG_FILE_MAX_SIZE__', '100')
    .replaceAll('__LOG_FILE_MAX_AGE__', '30')
    .replaceAll('__LOG_FILE_MAX_COUNT__', '10')
    .replaceAll('__DATASTORE_TYPE__', pod.env.DATASTORE_TYPE ?? 'kubernetes')
    .replaceAll('__KUBERNETES_NODE_NAME__', pod.env.KUBERNETES_NODE_NAME ?? node.name)
    .replaceAll('__KUBECONFIG_FILEPATH__', kubeconfigPath)
    .replaceAll('__CNI_MTU__', mtuText);
  const refuse = (why: string, fix: string): never => {
    throw new CniConfigError(field, raw, `${from}: ${why}`, fix, ref?.name ? { name: ref.name, key: ref.key } : undefined);
  };
  let list: CalicoCniConfig['list'];
  try {
    list = JSON.parse(filled) as CalicoCniConfig['list'];
  } catch (e) {
    return refuse(`not JSON once install-cni fills it (${(e as Error).message})`, 'fix cni_network_config in calico-config');
  }
  if (typeof list !== 'object' || list === null || !Array.isArray(list.plugins) || !list.plugins.length)
    return refuse('not a CNI config list (no "plugins")', 'give a config list with the calico plugin first, as calico.yaml does');
  for (const p of list.plugins) {
    const type = String((p as { type?: unknown }).type ?? '');
    if (!PLUGIN_TYPE.test(type)) refuse(`plugin type ${JSON.stringify(type)} is not a plain plugin name`, 'name a plugin, e.g. portmap');
  }
  const calico = list.plugins[0]!;
  if (calico.type !== 'calico') refuse('its first plugin is not calico', 'put the calico plugin first, as calico.yaml does');
  const ipam = (calico.ipam as { type?: unknown } | undefined)?.type;
  if (ipam !== 'calico-ipam') refuse(`IPAM ${JSON.stringify(ipam)}: cnilab runs the Calico plugin with calico-ipam`, 'use calico-ipam');
  if ((calico.datastore_type ?? 'kubernetes') !== 'kubernetes')
    refuse(`datastore_type ${JSON.stringify(calico.datastore_type)}: the lab is a Kubernetes datastore`, 'use datastore_type kubernetes');
  // The paths the lab points into its folder itself (calicoChain); any other is a host path a root plugin would use.
  const own = new Set([
    'plugins.0.log_file_path',
    'plugins.0.ipam_lock_file',
    'plugins.0.kubernetes.kubeconfig',
    'plugins.0.nodename_file',
  ]);
  const hostPath = pathsIn(list).find(([at]) => !own.has(at));
  if (hostPath)
    refuse(
      `${hostPath[0]} = ${JSON.stringify(hostPath[1])} names a host path a root plugin would use`,
      'remove it from cni_network_config',
    );
  const mtu = Number(calico.mtu ?? 0);
  if (!Number.isInteger(mtu) || mtu < 0 || mtu > 65535)
    refuse(`mtu ${JSON.stringify(calico.mtu)} is not an MTU`, 'write veth_mtu as a number');
  return { list, mtu, from };
}

/** Every string in a JSON value that starts with "/", with where it is ("plugins.0.log_file_path"). */
function pathsIn(v: unknown, at = ''): [string, string][] {
  if (typeof v === 'string') return v.startsWith('/') ? [[at, v]] : [];
  if (typeof v !== 'object' || v === null) return [];
  return Object.entries(v).flatMap(([k, x]) => pathsIn(x, at ? `${at}.${k}` : k));
}
