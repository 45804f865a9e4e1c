// What the missing kubelet would do with a CNI's DaemonSet on one node, as data (pure): which
// container runs flanneld, its command line and environment as the pod would see them, and where
// each of its mounts lands on the node. cnilab has no container runtime: a pod's files live under
// the node's folder in the lab (`root`), and path flags are pointed there instead of a mount. A
// manifest is untrusted: every path it names is confined to the root (confine.ts), its env is
// checked (env-policy.ts) and its flanneld command line parsed as flanneld parses it
// (flanneld-flags.ts); a refusal names the field of the DaemonSet (PodSpecError).
import type { V1ConfigMap, V1Container, V1DaemonSet, V1EnvVar } from '@kubernetes/client-node';
import { UsageError } from '../errors.ts';
import { containerPath, PodSpecError, underRoot } from './confine.ts';
import { checkEnv, SYSTEM_PATH } from './env-policy.ts';
import { expand, expandEnv } from './expand.ts';
import { envOfFlag, lastValue, PATH_DEFAULTS, PATH_FLAGS, type ParsedFlag, parseFlanneldArgs, type PathFlag } from './flanneld-flags.ts';

type Field = (string | number)[];
const POD_SPEC: Field = ['spec', 'template', 'spec'];

export interface PodFile {
  /** Path inside the container (normalised). */
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
  /** The node's folder in the lab: every path of the pod lands under it. */
  root: string;
  namespace: string;
  daemonSet: string;
  container: string;
  /** Where the container is in the DaemonSet (for a refusal's field). */
  containerField: Field;
  /** How many of `argv`'s words are the container's command (the rest are its args). */
  commandWords: number;
  serviceAccount: string;
  /** command + args, `$(VAR)` expanded as the kubelet does. */
  argv: string[];
  /** The container's environment, expanded and checked (env-policy.ts), in order. */
  env: Record<string, string>;
  /** Where each env variable is in the DaemonSet. */
  envField: Record<string, Field>;
  /** Files its configMap volumes put in the container. */
  files: PodFile[];
  /** Container path prefix -> node path (hostPath volumes), longest first. */
  hostPaths: [string, string][];
  /** Container path prefix -> the configMap volume that sits there. */
  configMounts: [string, string][];
  /** The CNI config the init containers install into /etc/cni/net.d, when one does: `nodePath` is where it lands. */
  cniConf?: PodFile & { nodePath: string };
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

const under = (path: string, prefix: string) => path === prefix || prefix === '/' || path.startsWith(`${prefix}/`);

/** Where a container path lands: the node path of its hostPath mount, or undefined. `path` is normalised first. */
export function hostPathOf(pod: Pick<NodePod, 'hostPaths'>, path: string, field: Field = []): string | undefined {
  const p = containerPath(path, field);
  for (const [prefix, host] of pod.hostPaths) {
    if (under(p, prefix)) return prefix === '/' ? `${host}${p === '/' ? '' : p}` : host + p.slice(prefix.length);
  }
  return undefined;
}

/** Where a container path lands on the node: its hostPath mount's folder, else the same path under the root. */
export const nodePathOf = (pod: Pick<NodePod, 'hostPaths' | 'root'>, path: string, field: Field = []) =>
  hostPathOf(pod, path, field) ?? underRoot(pod.root, path, field);

/** The pod's file at a container path, if a configMap volume puts one there. */
export const fileAt = (pod: Pick<NodePod, 'files'>, path: string) => {
  const p = containerPath(path, []);
  return pod.files.find((f) => f.path === p);
};

interface PodIds {
  name: string;
  namespace: string;
  node: string;
  nodeIp: string;
  sa: string;
}

function envValue(e: V1EnvVar, field: Field, pod: PodIds, maps: ReadonlyMap<string, V1ConfigMap>): string {
  const refuse = (why: string, fix: string): never => {
    throw new PodSpecError(field, e.name, why, fix);
  };
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
    return fields[f] ?? refuse(`fieldRef ${f} is not one cnilab can give a pod`, `use one of ${Object.keys(fields).join(', ')}`);
  }
  const ref = e.valueFrom?.configMapKeyRef;
  if (ref) {
    const v = maps.get(ref.name ?? '')?.data?.[ref.key];
    if (v === undefined && !ref.optional)
      refuse(`ConfigMap ${ref.name} has no key ${ref.key}`, 'add the key, or mark the reference optional');
    return v ?? '';
  }
  if (e.valueFrom?.secretKeyRef) refuse('secretKeyRef is not supported (cnilab creates no Secrets for pods)', 'give the value directly');
  // A container's requests and limits: no cgroup limits are set in a lab, so there is nothing to give.
  return '';
}

/** The container's environment as the kubelet gives it: in order, `$(VAR)` expanded, then checked. */
function containerEnv(c: V1Container, cField: Field, ids: PodIds, maps: ReadonlyMap<string, V1ConfigMap>) {
  const list = c.env ?? [];
  const fieldOf = (i: number): Field => [...cField, 'env', i];
  const env = expandEnv(
    list.map((e, i) => ({ ...e, i })),
    (e) => envValue(e, fieldOf(e.i), ids, maps),
  );
  // A name given twice: the later one is the value, and the one a refusal points at.
  const envField = Object.fromEntries(list.map((e, i) => [e.name, fieldOf(i)]));
  checkEnv([...env].map(([name, value]) => ({ name, value, field: envField[name]! })));
  return { env: Object.fromEntries(env), envField };
}

function filesOfVolume(
  mount: { name: string; mountPath: string; subPath?: string },
  mountField: Field,
  ds: V1DaemonSet,
  maps: ReadonlyMap<string, V1ConfigMap>,
): PodFile[] {
  const vi = ds.spec?.template.spec?.volumes?.findIndex((x) => x.name === mount.name) ?? -1;
  const v = ds.spec?.template.spec?.volumes?.[vi];
  const name = v?.configMap?.name;
  if (!name) return [];
  const cm = maps.get(name);
  if (!cm && !v.configMap?.optional)
    throw new PodSpecError(
      [...POD_SPEC, 'volumes', vi, 'configMap', 'name'],
      name,
      `ConfigMap ${name} does not exist`,
      'add it to the manifest',
    );
  const ns = ds.metadata?.namespace ?? 'default';
  const mountPath = containerPath(mount.mountPath, [...mountField, 'mountPath']);
  const subPath = mount.subPath === undefined ? undefined : containerPath(mount.subPath, [...mountField, 'subPath']).slice(1);
  const items = v.configMap?.items?.length
    ? v.configMap.items.map(
        (it, i) => [it.key, containerPath(it.path, [...POD_SPEC, 'volumes', vi, 'configMap', 'items', i, 'path']).slice(1)] as const,
      )
    : Object.keys(cm?.data ?? {}).map((k) => [k, k] as const);
  return items.flatMap(([key, rel]) => {
    const content = cm?.data?.[key];
    if (content === undefined) return [];
    if (subPath !== undefined && subPath !== rel) return [];
    const path = subPath !== undefined ? mountPath : containerPath(`${mountPath}/${rel}`, [...mountField, 'mountPath']);
    return [{ path, content, from: `ConfigMap ${ns}/${name} key ${key}`, configMap: { namespace: ns, name, key } }];
  });
}

/** A container's mounts as data: its configMap files, and its hostPath prefixes (longest first). */
function mountsOf(c: V1Container, cField: Field, ds: V1DaemonSet, maps: ReadonlyMap<string, V1ConfigMap>, root: string) {
  const volumes = ds.spec?.template.spec?.volumes ?? [];
  const mounts = (c.volumeMounts ?? []).map((m, i) => ({ m, field: [...cField, 'volumeMounts', i] as Field }));
  const hostPaths = mounts
    .flatMap(({ m, field }): [string, string][] => {
      const vi = volumes.findIndex((v) => v.name === m.name);
      const hp = volumes[vi]?.hostPath?.path;
      if (!hp) return [];
      if (!hp.startsWith('/'))
        throw new PodSpecError([...POD_SPEC, 'volumes', vi, 'hostPath', 'path'], hp, 'a hostPath must be absolute', 'write it from /');
      return [[containerPath(m.mountPath, [...field, 'mountPath']), underRoot(root, hp, [...POD_SPEC, 'volumes', vi, 'hostPath', 'path'])]];
    })
    .sort((a, b) => b[0].length - a[0].length);
  const files = mounts.flatMap(({ m, field }) => filesOfVolume(m, field, ds, maps));
  const configMounts = mounts.flatMap(({ m, field }): [string, string][] => {
    const cm = volumes.find((v) => v.name === m.name)?.configMap?.name;
    return cm ? [[containerPath(m.mountPath, [...field, 'mountPath']), cm]] : [];
  });
  return { hostPaths, files, configMounts };
}

const CNI_DIR = '/etc/cni/net.d';

/**
 * The CNI config an init container copies into /etc/cni/net.d (kube-flannel.yml's install-cni:
 * `install-conf SRC DST`, older ones `cp SRC DST`), with where it lands on the node.
 */
function installedCniConf(ds: V1DaemonSet, maps: ReadonlyMap<string, V1ConfigMap>, root: string): NodePod['cniConf'] {
  let found: NodePod['cniConf'];
  for (const [ii, init] of (ds.spec?.template.spec?.initContainers ?? []).entries()) {
    const iField: Field = [...POD_SPEC, 'initContainers', ii];
    const cmd = init.command ?? [];
    const words = [...cmd, ...(init.args ?? [])];
    const fieldOf = (w: number): Field => (w < cmd.length ? [...iField, 'command', w] : [...iField, 'args', w - cmd.length]);
    const di = words.findIndex((w) => w.startsWith(`${CNI_DIR}/`));
    if (di < 0) continue;
    const dst = containerPath(words[di]!, fieldOf(di));
    if (!dst.startsWith(`${CNI_DIR}/`))
      throw new PodSpecError(fieldOf(di), words[di]!, `the CNI config it installs would leave ${CNI_DIR}`, `name a file in ${CNI_DIR}`);
    const mounts = mountsOf(init, iField, ds, maps, root);
    const src = mounts.files.find((f) => words.some((w) => w.startsWith('/') && containerPath(w, []) === f.path));
    if (src) found = { ...src, path: dst, nodePath: hostPathOf(mounts, dst) ?? underRoot(root, dst, fieldOf(di)) };
  }
  return found;
}

/** The pod of `ds` on `node`, every path confined to `node.root`, its env expanded and checked. */
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
  // A container or an init container (install-cni's environment carries Calico's CNI config).
  const ci = spec.containers.indexOf(container);
  const ii = spec.initContainers?.indexOf(container) ?? -1;
  const containerField: Field = ci < 0 && ii >= 0 ? [...POD_SPEC, 'initContainers', ii] : [...POD_SPEC, 'containers', Math.max(ci, 0)];
  const { env, envField } = containerEnv(container, containerField, { name: pod, namespace, node: node.name, nodeIp: node.ip, sa }, maps);
  const lookup = (n: string) => env[n];
  const command = container.command ?? [];
  const cniConf = installedCniConf(ds, maps, node.root);
  return {
    pod,
    node: node.name,
    root: node.root,
    namespace,
    daemonSet: `${namespace}/${dsName}`,
    container: container.name,
    containerField,
    commandWords: command.length,
    serviceAccount: sa,
    argv: [...command, ...(container.args ?? [])].map((w) => expand(w, lookup)),
    env,
    envField,
    ...mountsOf(container, containerField, ds, maps, node.root),
    ...(cniConf ? { cniConf } : {}),
  };
}

export interface FlanneldLaunch {
  argv: string[];
  /** The whole environment it runs with (nothing inherited from cnilab's own). */
  env: Record<string, string>;
  /** Files to write on the node before it starts (`path`: the node path). */
  files: PodFile[];
  /** Where its path flags point on the node. */
  netConf: string;
  subnetFile: string;
  /** What cnilab added to the DaemonSet's command line, and why, for the run's facts. */
  added: string[];
}

/** Where argument `i` of the pod's argv is in the DaemonSet. */
const argField = (pod: NodePod, i: number): Field =>
  i < pod.commandWords ? [...pod.containerField, 'command', i] : [...pod.containerField, 'args', i - pod.commandWords];

/** flanneld's own arguments in the pod's argv, and where they start; a command that wraps flanneld is refused. */
function flanneldArgs(pod: NodePod): { args: string[]; from: number } {
  const at = pod.argv.findIndex((a) => /(^|\/)flanneld$/.test(a));
  // No flanneld word: the image's entrypoint is flanneld and the argv is all its arguments.
  if (at < 0 && pod.commandWords === 0) return { args: pod.argv, from: 0 };
  if (at !== 0)
    throw new PodSpecError(
      argField(pod, 0),
      pod.argv[0] ?? '',
      'cnilab runs flanneld itself, with the arguments that follow it: a command before it (a shell, a wrapper) would not run as written',
      'make flanneld the command, e.g. command: [/opt/bin/flanneld], with its flags as args',
    );
  return { args: pod.argv.slice(1), from: 1 };
}

/** The container path flanneld uses for a path flag: the command line's, else FLANNELD_<FLAG>'s, else its default. */
function pathFlag(pod: NodePod, flags: readonly ParsedFlag[], from: number, flag: PathFlag): { inPod: string; field: Field } | undefined {
  const given = lastValue(flags, flag);
  if (given?.value !== undefined) return { inPod: given.value, field: argField(pod, from + given.at.at(-1)!) };
  const fromEnv = pod.env[envOfFlag(flag)];
  if (fromEnv) return { inPod: fromEnv, field: pod.envField[envOfFlag(flag)]! };
  const d = PATH_DEFAULTS[flag];
  return d === undefined ? undefined : { inPod: d, field: [...pod.containerField, 'args'] };
}

/** The file flanneld reads its network config from, in the pod (--net-config-path, FLANNELD_NET_CONFIG_PATH, or the default). */
export function netConfigPathOf(pod: NodePod): string {
  const { args, from } = flanneldArgs(pod);
  return pathFlag(
    pod,
    parseFlanneldArgs(args, (i) => argField(pod, from + i)),
    from,
    'net-config-path',
  )!.inPod;
}

/**
 * The DaemonSet's flanneld command line on a node of the lab: its own binary in place of the
 * image's, cnilab's flags first (so no argument of the manifest can hide them from flanneld's
 * parser), then the manifest's args as written, less the path flags cnilab points where the
 * mounts land; plus what the kubelet would supply (a kubeconfig for the in-cluster config,
 * NODE_NAME). The environment is the pod's alone.
 */
export function flanneldLaunch(
  pod: NodePod,
  opts: { binary: string; root: string; kubeconfig: string; hasDefaultRoute: boolean },
): FlanneldLaunch {
  const { args, from } = flanneldArgs(pod);
  const flags = parseFlanneldArgs(args, (i) => argField(pod, from + i));
  const added: string[] = [
    `--kubeconfig-file=${opts.kubeconfig} (the in-cluster config a pod gets from its ServiceAccount)`,
    `NODE_NAME=${pod.node}`,
  ];
  const extra: string[] = [`--kubeconfig-file=${opts.kubeconfig}`];
  const files: FlanneldLaunch['files'] = [];
  const onNode: Partial<Record<PathFlag, string>> = {};
  for (const flag of PATH_FLAGS) {
    if (flag === 'kubeconfig-file') continue;
    const p = pathFlag(pod, flags, from, flag);
    if (!p) continue;
    const path = nodePathOf(pod, p.inPod, p.field);
    const f = fileAt(pod, p.inPod);
    if (f) files.push({ ...f, path });
    onNode[flag] = path;
    extra.push(`--${flag}=${path}`);
    added.push(`--${flag}=${path} (${p.inPod} in the pod)`);
  }
  // flanneld reads FLANNELD_<FLAG> for a flag the command line does not set: cnilab sets them all.
  const env = Object.fromEntries(Object.entries(pod.env).filter(([k]) => !PATH_FLAGS.some((f) => envOfFlag(f) === k)));
  const own = new Set(flags.filter((f) => (PATH_FLAGS as readonly string[]).includes(f.name)).flatMap((f) => f.at));
  const kept = args.filter((_, i) => !own.has(i));
  if (!opts.hasDefaultRoute && !flags.some((f) => ['iface', 'iface-regex', 'iface-can-reach', 'public-ip'].includes(f.name))) {
    // flanneld picks the interface of the default route; a lab node on a one-subnet lab has none.
    extra.push('--iface=eth0');
    added.push('--iface=eth0 (the node has no default route for flanneld to find its interface by)');
  }
  return {
    argv: [opts.binary, ...extra, ...kept],
    // NODE_NAME: how flanneld outside a pod learns its node (pkg/subnet/kube/kube.go NewSubnetManager).
    // PATH: an image's own, unless the pod sets one (checked: system folders only).
    env: { PATH: SYSTEM_PATH.join(':'), ...env, NODE_NAME: pod.node },
    files,
    netConf: onNode['net-config-path']!,
    subnetFile: onNode['subnet-file']!,
    added,
  };
}

/**
 * Runs a check of a DaemonSet as the API server holds it (checked as the file was, in
 * run/manifest.ts): a refusal names the object, since the API server has no file:line.
 */
export function heldDaemonSetCheck(ds: V1DaemonSet): <T>(f: () => T) => T {
  const dsName = `DaemonSet ${ds.metadata?.namespace ?? 'default'}/${ds.metadata?.name}`;
  return (f) => {
    try {
      return f();
    } catch (e) {
      if (e instanceof PodSpecError) throw new UsageError(`${dsName} (as the API server holds it): ${e.message.split('\n')[0]}`, e.fix);
      throw e;
    }
  };
}
