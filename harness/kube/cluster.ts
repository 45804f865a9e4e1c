// What a real cluster (kind, or any from a kubeconfig) needs beyond the manifest, as data and API
// calls shared with the lab's own API server, where they are tested: the kind cluster's config, a
// DaemonSet rollout (restart, and the wait until every node runs the new pods), and one probe pod per
// node, pinned by nodeName, whose addresses the wire check probes.
import type { V1DaemonSet, V1Pod } from '@kubernetes/client-node';
import { PatchStrategy } from '@kubernetes/client-node';
import { formatCidr } from '../net/ipv4.ts';
import type { Topology } from '../topology/types.ts';
import { apiMessage, FIELD_MANAGER, type KubeApi, notFound } from './client.ts';
import { ApiError, TimeoutError } from '../errors.ts';

/** kind's cluster name for a lab: the prefix makes it cnilab's, for `down` and `gc`. */
export const kindCluster = (lab: string) => `cnilab-${lab}`;

/**
 * A kind cluster for the topology: one node per lab node (the first the control plane), no default
 * CNI (the manifest brings flannel), the topology's pod network. kind config v1alpha4.
 */
export function kindConfig(t: Topology): Record<string, unknown> {
  return {
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    networking: { disableDefaultCNI: true, podSubnet: formatCidr(t.podCidr) },
    nodes: t.nodes.map((_, i) => ({ role: i === 0 ? 'control-plane' : 'worker' })),
  };
}

/** What a DaemonSet's rollout still waits for, or undefined when every scheduled node runs the current pods. */
export function rolloutPending(ds: V1DaemonSet): string | undefined {
  const s = ds.status;
  const gen = ds.metadata?.generation ?? 0;
  if (!s || (s.observedGeneration ?? 0) < gen) return `generation ${gen} not yet observed by the controller`;
  const want = s.desiredNumberScheduled;
  if (want === 0) return 'no node is scheduled for it';
  const updated = s.updatedNumberScheduled ?? 0;
  const ready = s.numberAvailable ?? 0;
  if (updated < want) return `${updated} of ${want} pods updated`;
  if (ready < want) return `${ready} of ${want} pods available`;
  return undefined;
}

/** `kubectl rollout restart`: a new pod-template annotation, so the controller replaces every pod. */
export async function rolloutRestart(api: KubeApi, namespace: string, name: string, at = new Date()): Promise<void> {
  const body = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name, namespace },
    spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': at.toISOString() } } } },
  };
  try {
    await api.objects.patch(body, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
  } catch (e) {
    throw new ApiError(`restarting DaemonSet ${namespace}/${name}: ${apiMessage(e)}`);
  }
}

/** Waits until the rollout is done; the timeout says what it still waited for. */
export async function waitRollout(api: KubeApi, namespace: string, name: string, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending: string | undefined = 'not read yet';
  for (;;) {
    pending = rolloutPending(await api.apps.readNamespacedDaemonSet({ namespace, name }));
    if (pending === undefined) return;
    if (Date.now() > deadline) throw new TimeoutError(`DaemonSet ${namespace}/${name} to roll out`, String(pending), timeoutMs);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export const PROBE_NAMESPACE = 'cnilab-probe';
/** A small image with ping; the runner pulls it once. */
export const PROBE_IMAGE = 'busybox:1.36';

/** One probe pod per node, pinned there by nodeName (no scheduler decision), tolerating every taint. */
export function probePod(node: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `probe-${node}`, namespace: PROBE_NAMESPACE, labels: { 'app.kubernetes.io/name': 'cnilab-probe' } },
    spec: {
      nodeName: node,
      tolerations: [{ operator: 'Exists' }],
      terminationGracePeriodSeconds: 0,
      containers: [
        { name: 'probe', image: PROBE_IMAGE, command: ['sleep', '86400'], securityContext: { capabilities: { add: ['NET_RAW'] } } },
      ],
    },
  };
}

/** Creates the probe namespace and pods (what exists already is kept). */
export async function createProbePods(api: KubeApi, nodes: readonly string[]): Promise<void> {
  const exists = (e: unknown) => (e as { code?: number }).code === 409;
  try {
    await api.core.createNamespace({ body: { metadata: { name: PROBE_NAMESPACE } } });
  } catch (e) {
    if (!exists(e)) throw new ApiError(`creating namespace ${PROBE_NAMESPACE}: ${apiMessage(e)}`);
  }
  // The ServiceAccount admission refuses pods whose ServiceAccount is missing; kube-controller-manager
  // makes "default" in a new namespace, but not at once (and the lab's own API server has no
  // controllers): made here, an existing one is fine (measured on the lab's kube-apiserver v1.37.2).
  try {
    await api.core.createNamespacedServiceAccount({ namespace: PROBE_NAMESPACE, body: { metadata: { name: 'default' } } });
  } catch (e) {
    if (!exists(e)) throw new ApiError(`creating ServiceAccount ${PROBE_NAMESPACE}/default: ${apiMessage(e)}`);
  }
  for (const n of nodes) {
    try {
      await api.core.createNamespacedPod({ namespace: PROBE_NAMESPACE, body: probePod(n) });
    } catch (e) {
      if (!exists(e)) throw new ApiError(`creating probe pod on ${n}: ${apiMessage(e)}`);
    }
  }
}

export interface ProbePod {
  node: string;
  name: string;
  ip: string;
  /** The pod sandbox's id, for finding its network namespace on the node. */
  uid: string;
}

/** The probe pods once each runs with an address; the timeout says which did not. */
export async function waitProbePods(api: KubeApi, nodes: readonly string[], timeoutMs = 180_000): Promise<ProbePod[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = (await api.core.listNamespacedPod({ namespace: PROBE_NAMESPACE })).items;
    const ready = nodes.flatMap((n) => {
      const p = pods.find((x) => x.spec?.nodeName === n);
      return p?.status?.phase === 'Running' && p.status.podIP
        ? [{ node: n, name: p.metadata!.name!, ip: p.status.podIP, uid: p.metadata!.uid! }]
        : [];
    });
    if (ready.length === nodes.length) return ready;
    if (Date.now() > deadline) {
      const waiting = nodes.filter((n) => !ready.some((r) => r.node === n));
      const phase = (n: string) => pods.find((x) => x.spec?.nodeName === n)?.status?.phase ?? 'not created';
      throw new TimeoutError('probe pods to run', waiting.map((n) => `${n} (${phase(n)})`).join(', '), timeoutMs);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Removes the probe pods (a cluster from --kubeconfig is not cnilab's to delete). */
export async function deleteProbePods(api: KubeApi): Promise<void> {
  try {
    await api.core.deleteNamespace({ name: PROBE_NAMESPACE });
  } catch (e) {
    if (!notFound(e)) throw new ApiError(`deleting namespace ${PROBE_NAMESPACE}: ${apiMessage(e)}`);
  }
}
