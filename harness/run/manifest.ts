// `--manifest`: a user's kube-flannel.yml (files or folders, many documents) read and judged before
// anything is built, then handed to the lab as objects for its kube-apiserver. The lab's network
// comes from the manifest's net-conf.json (Network, SubnetLen, VNI, port, MTU), and the first mode is
// the real flanneld with the manifest's own backend; other modes are reached through its ConfigMap.
import type { LabManifest } from '../backends/backend.ts';
import { conform } from '../conform/conform.ts';
import { docName, readInputs } from '../conform/inputs.ts';
import { UsageError } from '../errors.ts';
import type { KubernetesObject, V1ConfigMap, V1DaemonSet } from '@kubernetes/client-node';
import { PodSpecError } from '../kube/confine.ts';
import { flannelDaemonSet, flanneldLaunch, nodePod } from '../kube/daemonset.ts';
import type { InputDoc } from '../conform/inputs.ts';
import { isRealDaemon, type ModeDef } from '../modes/mode.ts';
import type { Topology } from '../topology/types.ts';

export interface ManifestLab {
  manifest: LabManifest;
  /** The topology with the manifest's network and lease size, VNI, port and MTU. */
  topology: Topology;
  /** The real flanneld mode of the manifest's own net-conf.json. */
  mode: ModeDef;
}

const DAEMONSET_HINT = 'give the kube-flannel.yml that deploys flannel (a DaemonSet running flanneld --kube-subnet-mgr and its ConfigMap)';

export async function readManifest(paths: readonly string[], topology: Topology): Promise<ManifestLab> {
  const docs = readInputs(paths);
  const objects = docs.flatMap((d) => {
    const v = d.value as KubernetesObject | null;
    if (v === null || v === undefined) return [];
    if (typeof v !== 'object' || !v.kind || !v.apiVersion || !v.metadata?.name)
      throw new UsageError(`${docName(d)}: not a Kubernetes object (apiVersion, kind and metadata.name are needed)`, DAEMONSET_HINT);
    return [{ where: docName(d), object: v }];
  });
  // The same test the lab applies to the DaemonSets it reads back from the API server.
  const sets = objects.filter((o) => o.object.kind === 'DaemonSet').map((o) => o.object as V1DaemonSet);
  if (!flannelDaemonSet(sets)) throw new UsageError(`no DaemonSet running flanneld in ${paths.join(', ')}`, DAEMONSET_HINT);
  checkPodSpec(docs);
  // The same reading and lint as `cnilab conform`: an error there is an error before anything is built.
  const { conformance, topology: lab, mode } = await conform(docs, topology, { runs: (m) => isRealDaemon(m) });
  const bad = conformance.findings.find((f) => f.severity === 'error');
  if (bad) throw new UsageError(`${bad.at}: ${bad.message}`, bad.fix ?? 'fix the manifest ("cnilab conform FILE --explain" says more)');
  if (conformance.cni !== 'flannel')
    throw new UsageError(
      `${paths.join(', ')} configures Calico networking`,
      '--manifest runs flannel\'s DaemonSet; check Calico configs with "cnilab conform"',
    );
  if (!lab || !mode || !isRealDaemon(mode))
    throw new UsageError(
      `${paths.join(', ')}: ${'skip' in conformance.proof ? conformance.proof.skip : 'no real-flanneld mode for its backend'}`,
      'use a backend the real flanneld runs here: vxlan (with or without DirectRouting), host-gw or udp',
    );
  return { manifest: { files: [...new Set(docs.map((d) => d.file))], objects }, topology: lab, mode };
}

/**
 * The flanneld pod as the lab would run it, made from the file before anything is built: every
 * path it names confined, its env and command line checked (kube/daemonset.ts). A refusal points
 * at the file and line of the field.
 */
function checkPodSpec(docs: readonly InputDoc[]): void {
  const dsDoc = docs.find((d) => d.kind === 'DaemonSet' && flannelDaemonSet([d.value as V1DaemonSet]));
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
    const pod = nodePod(ds, flannelDaemonSet([ds])!.container, maps, { name: 'NODE', ip: '192.0.2.1', root });
    flanneldLaunch(pod, { binary: 'flanneld', root, kubeconfig: `${root}/kubeconfig`, hasDefaultRoute: true });
  } catch (e) {
    if (!(e instanceof PodSpecError)) throw e;
    throw new UsageError(`${dsDoc.at(e.field)}: ${docName(dsDoc)}: ${e.message.split('\n')[0]}`, e.fix);
  }
}
