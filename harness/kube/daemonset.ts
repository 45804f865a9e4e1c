// What the missing kubelet would do with a CNI's DaemonSet on one node, as data (pure): which
// container runs flanneld, its command line and environment as the pod would see them, and where
// each of its mounts lands on the node. cnilab has no container runtime: a pod's files live under
// the node's folder in the lab (`root`), and path flags are pointed there instead of a mount.
import type { V1ConfigMap, V1Container, V1DaemonSet, V1EnvVar } from '@kubernetes/client-node';

export interface PodFile {
  /** Path inside the container. */
  path: string;
  content: string;
  /** "ConfigMap kube-flannel/kube-flannel-cfg key net-conf.json". */
  from: string;
  configMap?: { namespace: string; name: string; key: string };
}

export interface NodePod {
  /** The pod the DaemonSet would run on this node (its name, as its controller would give it). */
  pod: string;
  node: string;
  namespace: string;
  daemonSet: string;
  container: string;
  serviceAccount: string;
  /** command + args, as written. */
  argv: string[];
  env: Record<string, string>;
  /** Files its configMap volumes put in the container. */
  files: PodFile[];
  /** Container path prefix -> node path (hostPath volumes), longest first. */
  hostPaths: [string, string][];
  /** Container path prefix -> the configMap volume that sits there. */
  configMounts: [string, string][];
  /** The CNI config the init containers install into /etc/cni/net.d, when one does. */
  cniConf?: PodFile;
}

const isFlanneld = (c: V1Container) =>
  [...(c.command ?? []), ...(c.args ?? [])].some((a) => /(^|\/)flanneld$/.test(a)) || (c.args ?? []).includes('--kube-subnet-mgr');

/** The DaemonSet that runs flanneld (its container's command, or --kube-subnet-mgr), with that container. */
export function flannelDaemonSet(sets: readonly V1DaemonSet[]): { ds: V1DaemonSet; container: V1Container } | undefined {
  for (const ds of sets) {
    const c = ds.spec?.template.spec?.containers.find(isFlanneld);
    if (c) return { ds, container: c };
  }
  return undefined;
}

/** The ConfigMaps a pod template mounts or reads from, by name. */
export function configMapsOf(ds: V1DaemonSet): string[] {
  const spec = ds.spec?.template.spec;
  const vols = (spec?.volumes ?? []).flatMap((v) => (v.configMap?.name ? [v.configMap.name] : []));
  const envs = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].flatMap((c) =>
    (c.env ?? []).flatMap((e) => (e.valueFrom?.configMapKeyRef?.name ? [e.valueFrom.configMapKeyRef.name] : [])),
  );
  return [...new Set([...vols, ...envs])];
}

const under = (path: string, prefix: string) =>
  path === prefix.replace(/\/$/, '') || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);

/** Where a container path lands: the node path of its hostPath mount, or undefined. */
export function hostPathOf(pod: Pick<NodePod, 'hostPaths'>, path: string): string | undefined {
  for (const [prefix, host] of pod.hostPaths) {
    if (under(path, prefix)) return host.replace(/\/$/, '') + path.slice(prefix.replace(/\/$/, '').length);
  }
  return undefined;
}

/** The pod's file at a container path, if a configMap volume puts one there. */
export const fileAt = (pod: Pick<NodePod, 'files'>, path: string) => pod.files.find((f) => f.path === path);

function envValue(
  e: V1EnvVar,
  pod: { name: string; namespace: string; node: string; nodeIp: string; sa: string },
  maps: ReadonlyMap<string, V1ConfigMap>,
): string {
  if (e.value !== undefined) return e.value;
  const f = e.valueFrom?.fieldRef?.fieldPath;
  if (f) {
    // The downward API's fields a node's pod can read (hostNetwork: its IPs are the node's).
    const fields: Record<string, string> = {
      'metadata.name': pod.name,
      'metadata.namespace': pod.namespace,
      'spec.nodeName': pod.node,
      'spec.serviceAccountName': pod.sa,
      'status.podIP': pod.nodeIp,
      'status.hostIP': pod.nodeIp,
    };
    const v = fields[f];
    if (v === undefined) throw new Error(`env ${e.name}: fieldRef ${f} is not one cnilab can give a pod`);
    return v;
  }
  const ref = e.valueFrom?.configMapKeyRef;
  if (ref) {
    const v = maps.get(ref.name ?? '')?.data?.[ref.key];
    if (v === undefined && !ref.optional) throw new Error(`env ${e.name}: ConfigMap ${ref.name} has no key ${ref.key}`);
    return v ?? '';
  }
  if (e.valueFrom?.secretKeyRef) throw new Error(`env ${e.name}: secretKeyRef is not supported (cnilab creates no Secrets for pods)`);
  // A container's requests and limits: no cgroup limits are set in a lab, so there is nothing to give.
  if (e.valueFrom?.resourceFieldRef) return '';
  return '';
}

function filesOfVolume(
  volume: string,
  mountPath: string,
  subPath: string | undefined,
  ds: V1DaemonSet,
  maps: ReadonlyMap<string, V1ConfigMap>,
): PodFile[] {
  const v = ds.spec?.template.spec?.volumes?.find((x) => x.name === volume);
  const name = v?.configMap?.name;
  if (!name) return [];
  const cm = maps.get(name);
  if (!cm && !v.configMap?.optional) throw new Error(`volume ${volume}: ConfigMap ${name} does not exist`);
  const ns = ds.metadata?.namespace ?? 'default';
  const items = v.configMap?.items?.length
    ? v.configMap.items.map((i) => [i.key, i.path] as const)
    : Object.keys(cm?.data ?? {}).map((k) => [k, k] as const);
  return items.flatMap(([key, rel]) => {
    const content = cm?.data?.[key];
    if (content === undefined) return [];
    if (subPath !== undefined && subPath !== rel) return [];
    const path = subPath !== undefined ? mountPath : `${mountPath.replace(/\/$/, '')}/${rel}`;
    return [{ path, content, from: `ConfigMap ${ns}/${name} key ${key}`, configMap: { namespace: ns, name, key } }];
  });
}

/**
 * The pod of `ds` on `node`. The CNI config is the file an init container copies into
 * /etc/cni/net.d (kube-flannel.yml's install-cni: `install-conf SRC DST`, older ones `cp SRC DST`).
 */
export function nodePod(
  ds: V1DaemonSet,
  container: V1Container,
  maps: ReadonlyMap<string, V1ConfigMap>,
  node: { name: string; ip: string; root: string },
): NodePod {
  const spec = ds.spec!.template.spec!;
  const namespace = ds.metadata?.namespace ?? 'default';
  const dsName = ds.metadata?.name ?? 'daemonset';
  const sa = spec.serviceAccountName ?? 'default';
  const pod = `${dsName}-${node.name}`;
  const env = Object.fromEntries(
    (container.env ?? []).map((e) => [e.name, envValue(e, { name: pod, namespace, node: node.name, nodeIp: node.ip, sa }, maps)]),
  );
  const mountsOf = (c: V1Container) => c.volumeMounts ?? [];
  const hostPathsOf = (c: V1Container): [string, string][] =>
    mountsOf(c)
      .flatMap((m): [string, string][] => {
        const hp = spec.volumes?.find((v) => v.name === m.name)?.hostPath?.path;
        return hp ? [[m.mountPath, `${node.root}${hp}`]] : [];
      })
      .sort((a, b) => b[0].length - a[0].length);
  const files = mountsOf(container).flatMap((m) => filesOfVolume(m.name, m.mountPath, m.subPath, ds, maps));
  const configMounts = mountsOf(container).flatMap((m): [string, string][] => {
    const cm = spec.volumes?.find((v) => v.name === m.name)?.configMap?.name;
    return cm ? [[m.mountPath, cm]] : [];
  });
  let cniConf: PodFile | undefined;
  for (const init of spec.initContainers ?? []) {
    const words = [...(init.command ?? []), ...(init.args ?? [])];
    const dst = words.find((w) => w.startsWith('/etc/cni/net.d/'));
    if (!dst) continue;
    const initFiles = mountsOf(init).flatMap((m) => filesOfVolume(m.name, m.mountPath, m.subPath, ds, maps));
    const src = initFiles.find((f) => words.includes(f.path));
    if (src) cniConf = { path: dst, content: src.content, from: src.from };
  }
  return {
    pod,
    node: node.name,
    namespace,
    daemonSet: `${namespace}/${dsName}`,
    container: container.name,
    serviceAccount: sa,
    argv: [...(container.command ?? []), ...(container.args ?? [])],
    env,
    files,
    hostPaths: hostPathsOf(container),
    configMounts,
    ...(cniConf ? { cniConf } : {}),
  };
}

/** flanneld's path flags and their defaults (flannel main.go: --net-config-path, --subnet-file). */
export const FLANNELD_PATH_FLAGS = {
  '--net-config-path': '/etc/kube-flannel/net-conf.json',
  '--subnet-file': '/run/flannel/subnet.env',
} as const;

const flagValue = (args: readonly string[], flag: string): string | undefined => {
  for (const [i, a] of args.entries()) {
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
    if (a === flag) return args[i + 1];
  }
  return undefined;
};

export interface FlanneldLaunch {
  argv: string[];
  env: Record<string, string>;
  /** Files to write on the node before it starts: node path -> content. */
  files: PodFile[];
  /** Where its path flags point on the node. */
  netConf: string;
  subnetFile: string;
  /** What cnilab added to the DaemonSet's command line, and why, for the run's facts. */
  added: string[];
}

/**
 * The DaemonSet's flanneld command line on a node of the lab: its own binary in place of the
 * image's, the manifest's args as written, plus what the kubelet and the container would supply
 * (a kubeconfig for the in-cluster config, NODE_NAME, path flags pointing where the mounts land).
 */
export function flanneldLaunch(
  pod: NodePod,
  opts: { binary: string; root: string; kubeconfig: string; hasDefaultRoute: boolean },
): FlanneldLaunch {
  const args = pod.argv.slice(pod.argv.findIndex((a) => /(^|\/)flanneld$/.test(a)) + 1);
  const added: string[] = [
    `--kubeconfig-file=${opts.kubeconfig} (the in-cluster config a pod gets from its ServiceAccount)`,
    `NODE_NAME=${pod.node}`,
  ];
  const extra: string[] = [`--kubeconfig-file=${opts.kubeconfig}`];
  const files: FlanneldLaunch['files'] = [];
  const nodePath = (path: string) => {
    const f = fileAt(pod, path);
    const onNode = hostPathOf(pod, path) ?? `${opts.root}${path}`;
    if (f) files.push({ ...f, path: onNode });
    return onNode;
  };
  const paths = Object.fromEntries(
    Object.entries(FLANNELD_PATH_FLAGS).map(([flag, dflt]) => {
      const inPod = flagValue(args, flag) ?? dflt;
      const onNode = nodePath(inPod);
      extra.push(`${flag}=${onNode}`);
      added.push(`${flag}=${onNode} (${inPod} in the pod)`);
      return [flag, onNode];
    }),
  ) as Record<keyof typeof FLANNELD_PATH_FLAGS, string>;
  const kept = args.filter((a, i) => {
    const flag = Object.keys(FLANNELD_PATH_FLAGS).find((f) => a === f || a.startsWith(`${f}=`));
    const isValue = i > 0 && Object.keys(FLANNELD_PATH_FLAGS).includes(args[i - 1]!);
    return !flag && !isValue;
  });
  if (!opts.hasDefaultRoute && !args.some((a) => /^--(iface|iface-regex|public-ip)\b/.test(a))) {
    // flanneld picks the interface of the default route; a lab node on a one-subnet lab has none.
    extra.push('--iface=eth0');
    added.push('--iface=eth0 (the node has no default route for flanneld to find its interface by)');
  }
  return {
    argv: [opts.binary, ...kept, ...extra],
    // NODE_NAME: how flanneld outside a pod learns its node (pkg/subnet/kube/kube.go NewSubnetManager).
    env: { ...pod.env, NODE_NAME: pod.node },
    files,
    netConf: paths['--net-config-path'],
    subnetFile: paths['--subnet-file'],
    added,
  };
}
