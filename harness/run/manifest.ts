// `--manifest`: a user's kube-flannel.yml or calico.yaml (files or folders, many documents) read and
// judged before anything is built, then handed to the lab as objects for its kube-apiserver. The
// lab's network comes from the manifest (net-conf.json's Network, SubnetLen, VNI, port, MTU; the
// pool calico-node would make, its block size, felix's VNI and port), and the first mode is the real
// daemon with the manifest's own data plane; other modes are reached through its ConfigMap (flannel)
// or the IPPool and calico_backend (Calico).
import type { LabManifest } from '../backends/backend.ts';
import type { CalicoPlane } from '../conform/calico.ts';
import { networkingOf } from '../conform/calico-lint.ts';
import { type Conformance, conform } from '../conform/conform.ts';
import type { Reading } from '../conform/daemon-check.ts';
import { docName, readInputs } from '../conform/inputs.ts';
import { UsageError } from '../errors.ts';
import type { KubernetesObject, V1ConfigMap, V1DaemonSet } from '@kubernetes/client-node';
import { PodSpecError } from '../kube/confine.ts';
import { flannelDaemonSet, flanneldLaunch, nodePod } from '../kube/daemonset.ts';
import type { InputDoc } from '../conform/inputs.ts';
import { calicoCniConfigOf, calicoNodeDaemonSet, calicoNodeEnvOf, CniConfigError } from '../kube/calico-daemonset.ts';
import { type EncapMode, isRealDaemon, type ModeDef } from '../modes/mode.ts';
import { allModes, modesFor } from '../modes/registry.ts';
import type { Topology } from '../topology/types.ts';

export interface ManifestLab {
  manifest: LabManifest;
  /** The topology with the manifest's network and lease or block size, VNI, port and MTU. */
  topology: Topology;
  /** The CNI the manifest deploys. */
  cni: 'flannel' | 'calico';
  /**
   * The real daemon's mode for the manifest's own data plane (net-conf.json's backend; the IPPool
   * calico-node makes from CALICO_IPV4POOL_*, and calico_backend), or why none runs here.
   */
  mode: ModeDef | { none: string };
  /** What the manifest's own data plane is called ("net-conf.json is flanneld-vxlan", "IPPool ipipMode Always, ..."). */
  says: string;
  /** conform's reading of the manifest: what its own mode's daemon must program (checked after that mode's run). */
  reading?: Reading;
}

const DAEMONSET_HINT =
  'give the kube-flannel.yml that deploys flannel (a DaemonSet running flanneld --kube-subnet-mgr and its ConfigMap), ' +
  'or the calico.yaml that deploys Calico (the calico-node DaemonSet and calico-config)';

/** `placeUnderlay`: the topology is cnilab's default, to move clear of the manifest's pod network (conform.ts). */
export async function readManifest(paths: readonly string[], topology: Topology, placeUnderlay = false): Promise<ManifestLab> {
  const docs = readInputs(paths);
  const objects = docs.flatMap((d) => {
    const v = d.value as KubernetesObject | null;
    if (v === null || v === undefined) return [];
    if (typeof v !== 'object' || !v.kind || !v.apiVersion || !v.metadata?.name)
      throw new UsageError(`${docName(d)}: not a Kubernetes object (apiVersion, kind and metadata.name are needed)`, DAEMONSET_HINT);
    return [{ where: docName(d), object: v }];
  });
  // The same tests the lab applies to the DaemonSets it reads back from the API server.
  const sets = objects.filter((o) => o.object.kind === 'DaemonSet').map((o) => o.object as V1DaemonSet);
  const cni = flannelDaemonSet(sets) ? 'flannel' : calicoNodeDaemonSet(sets) ? 'calico' : undefined;
  if (!cni) throw new UsageError(`no DaemonSet running flanneld or calico-node in ${paths.join(', ')}`, DAEMONSET_HINT);
  checkPodSpec(docs, cni);
  // The same reading and lint as `cnilab conform`: an error there is an error before anything is built.
  const { conformance, topology: lab, mode } = await conform(docs, topology, { runs: (m) => isRealDaemon(m), placeUnderlay });
  const bad = conformance.findings.find((f) => f.severity === 'error');
  if (bad) throw new UsageError(`${bad.at}: ${bad.message}`, bad.fix ?? 'fix the manifest ("cnilab conform FILE --explain" says more)');
  if (conformance.cni !== cni)
    throw new UsageError(
      `${paths.join(', ')}: its DaemonSet runs ${cni === 'flannel' ? 'flanneld' : 'calico-node'}, but its config is ${conformance.cni}'s`,
      "give one CNI's manifest",
    );
  const manifest = { files: [...new Set(docs.map((d) => d.file))], objects };
  const reading = conformance.reading ? { reading: conformance.reading } : {};
  if (!lab)
    throw new UsageError(`${paths.join(', ')}: ${'skip' in conformance.proof ? conformance.proof.skip : 'no lab from it'}`, DAEMONSET_HINT);
  if (cni === 'calico') return { manifest, topology: lab, cni, ...calicoNodeModeOf(conformance), ...reading };
  if (!mode || !isRealDaemon(mode))
    throw new UsageError(
      `${paths.join(', ')}: ${'skip' in conformance.proof ? conformance.proof.skip : 'no real-flanneld mode for its backend'}`,
      'use a backend the real flanneld runs here: vxlan (with or without DirectRouting), host-gw or udp',
    );
  return { manifest, topology: lab, cni, mode, says: `its net-conf.json is ${mode.name}`, ...reading };
}

/** The calico-node mode of the manifest's pool and networking backend (IPIP's runs where ipip does: a guest here), or why none. */
function calicoNodeModeOf(c: Conformance): Pick<ManifestLab, 'mode' | 'says'> {
  const plane = c.plane as CalicoPlane;
  const pool = plane.pools.find((p) => p.name === c.pool);
  if (!pool) return { mode: { none: 'no IPv4 pool selects the nodes' }, says: 'no pool' };
  const says = `IPPool ipipMode ${pool.ipipMode.value}, vxlanMode ${pool.vxlanMode.value}, calico_backend ${plane.backend.value}`;
  const mode = modesFor({
    cni: 'calico',
    ipipMode: pool.ipipMode.value as EncapMode,
    vxlanMode: pool.vxlanMode.value as EncapMode,
    backend: networkingOf(plane),
  }).find(isRealDaemon);
  return { mode: mode ?? { none: `no calico-node mode for ${says}` }, says };
}

/**
 * The daemon's pod as the lab would run it, made from the file before anything is built: every
 * path it names confined, its env and command line checked (kube/daemonset.ts), Calico's CNI config
 * as install-cni would write it (kube/calico-daemonset.ts). A refusal points at the file and line.
 */
function checkPodSpec(docs: readonly InputDoc[], cni: 'flannel' | 'calico'): void {
  const daemonSet = cni === 'flannel' ? flannelDaemonSet : calicoNodeDaemonSet;
  const dsDoc = docs.find((d) => d.kind === 'DaemonSet' && daemonSet([d.value as V1DaemonSet]));
  if (!dsDoc) return;
  const ds = dsDoc.value as V1DaemonSet;
  const ns = ds.metadata?.namespace ?? 'default';
  const maps = new Map(
    docs
      .filter((d) => d.kind === 'ConfigMap' && (d.namespace ?? 'default') === ns && d.name)
      .map((d) => [d.name!, d.value as V1ConfigMap] as const),
  );
  try {
    const root = '/run/cnilab/LAB/nodes/NODE';
    const node = { name: 'NODE', ip: '192.0.2.1', root };
    if (cni === 'calico') {
      const spec = { ds, container: calicoNodeDaemonSet([ds])!.container, ns, maps };
      calicoNodeEnvOf(spec, node);
      calicoCniConfigOf(spec, node, `${root}/etc/cni/net.d/calico-kubeconfig`);
      return;
    }
    const pod = nodePod(ds, flannelDaemonSet([ds])!.container, maps, node);
    flanneldLaunch(pod, { binary: 'flanneld', root, kubeconfig: `${root}/kubeconfig`, hasDefaultRoute: true });
  } catch (e) {
    if (!(e instanceof PodSpecError)) throw e;
    // A CNI config is refused where it is written: the ConfigMap's key, not the env that names it.
    const cm =
      e instanceof CniConfigError && e.configMap ? docs.find((d) => d.kind === 'ConfigMap' && d.name === e.configMap!.name) : undefined;
    if (cm && e instanceof CniConfigError) throw new UsageError(`${cm.at(['data', e.configMap!.key])}: ${docName(cm)}: ${e.why}`, e.fix);
    throw new UsageError(`${dsDoc.at(e.field)}: ${docName(dsDoc)}: ${e.message.split('\n')[0]}`, e.fix);
  }
}

/** Where a manifest runs: the lab's own kube-apiserver (netns, or a guest for a mode this kernel lacks) or kind. */
export function manifestBackend(backend: string): void {
  if (backend !== 'auto' && backend !== 'netns' && backend !== 'kind')
    throw new UsageError(
      `--manifest runs on the netns backend (the lab's own kube-apiserver) or on kind, not ${backend}`,
      'leave --backend out (a mode this kernel cannot run goes to a guest, its own API server there), or give netns or kind',
    );
}

/**
 * A manifest's modes: its own data plane's first, then the others asked, each the same real
 * daemon's (what its DaemonSet runs: flanneld-* reached by patching net-conf.json, calico-node-* by
 * patching the IPPool and calico_backend). The one place that says what a manifest can run.
 */
export function manifestModes(ml: ManifestLab, more: readonly ModeDef[], backend: string): { own?: ModeDef; modes: ModeDef[] } {
  manifestBackend(backend);
  if (ml.cni === 'calico' && backend === 'kind')
    throw new UsageError(
      '--backend kind runs kube-flannel.yml so far, not a calico.yaml',
      'leave --backend out: the lab runs calico-node itself',
    );
  // What its DaemonSet can run: the real daemon's modes of its CNI (the modes' own data says which).
  const runnable = allModes().filter((m) => isRealDaemon(m) && m.config?.cni === ml.cni);
  const names = runnable.map((m) => m.name).join(', ');
  const daemon = ml.cni === 'flannel' ? 'flanneld' : 'calico-node';
  const other = more.find((m) => !runnable.includes(m));
  if (other)
    throw new UsageError(
      `--modes ${other.name} cannot run from this manifest: its DaemonSet runs ${daemon}`,
      `give one of ${names}, reached by patching ${ml.cni === 'flannel' ? 'its net-conf.json' : 'the IPPool and calico_backend'}`,
    );
  const own = 'none' in ml.mode ? undefined : ml.mode;
  if (!own && !more.length)
    throw new UsageError(
      'none' in ml.mode ? ml.mode.none : ml.says,
      `add --modes with one of ${names}: its DaemonSet runs with the pool patched to that mode`,
    );
  const modes = [...(own ? [own] : []), ...more.filter((m) => m.name !== own?.name)];
  return { ...(own ? { own } : {}), modes };
}
