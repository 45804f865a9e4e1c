// What cnilab reads and writes of Calico's own objects in a lab's kube-apiserver (Kubernetes
// datastore): the IPPool users patch to change encapsulation, the block affinities calico-ipam
// records, the Node annotations calico-node writes (libcalico-go lib/backend/k8s/resources/node.go),
// and the probe Pods a kubelet would have made, which the Calico CNI plugin and felix look up.
import { type KubernetesObject, PatchStrategy } from '@kubernetes/client-node';
import { ApiError } from '../errors.ts';
import { apiMessage, FIELD_MANAGER, type KubeApi, notFound } from './client.ts';

export const CALICO_CRD_GROUP = 'crd.projectcalico.org/v1';
/** The pool calico-node -startup makes from CALICO_IPV4POOL_* (node/pkg/lifecycle/startup/startup.go). */
export const DEFAULT_POOL = 'default-ipv4-ippool';

export interface PoolSpec {
  cidr: string;
  ipipMode: string;
  vxlanMode: string;
}

type IPPool = KubernetesObject & { spec?: Partial<PoolSpec> & Record<string, unknown> };

export async function readPool(api: KubeApi, name = DEFAULT_POOL): Promise<IPPool | undefined> {
  try {
    return (await api.objects.read({ apiVersion: CALICO_CRD_GROUP, kind: 'IPPool', metadata: { name } })) as IPPool;
  } catch (e) {
    if (notFound(e)) return undefined;
    throw new ApiError(`reading IPPool ${name}: ${apiMessage(e)}`);
  }
}

/** Sets a pool's encapsulation by a merge patch, as `kubectl patch ippool ... --type merge` would. */
export async function patchPoolModes(api: KubeApi, modes: Pick<PoolSpec, 'ipipMode' | 'vxlanMode'>, name = DEFAULT_POOL): Promise<void> {
  const body: IPPool = { apiVersion: CALICO_CRD_GROUP, kind: 'IPPool', metadata: { name }, spec: { ...modes } };
  try {
    await api.objects.patch(body, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
  } catch (e) {
    throw new ApiError(`patching IPPool ${name} to ipipMode ${modes.ipipMode}, vxlanMode ${modes.vxlanMode}: ${apiMessage(e)}`);
  }
}

/** The blocks calico-ipam gave each node (its BlockAffinities), in address order. */
export async function blockAffinities(api: KubeApi): Promise<Map<string, string[]>> {
  const list = (await api.objects.list(CALICO_CRD_GROUP, 'BlockAffinity')) as {
    items: (KubernetesObject & { spec?: { node?: string; cidr?: string; state?: string } })[];
  };
  const out = new Map<string, string[]>();
  for (const a of list.items) {
    const { node, cidr, state } = a.spec ?? {};
    if (!node || !cidr || (state && state !== 'confirmed')) continue;
    out.set(node, [...(out.get(node) ?? []), cidr].sort());
  }
  return out;
}

/** What calico-node wrote on a Node: its tunnel addresses and VXLAN MAC (annotations of the Kubernetes datastore). */
export interface CalicoNodeInfo {
  vxlanTunnelAddr?: string;
  vxlanMac?: string;
  ipipTunnelAddr?: string;
  bgpAddr?: string;
}

export async function calicoNodeInfo(api: KubeApi): Promise<Map<string, CalicoNodeInfo>> {
  const nodes = (await api.core.listNode()).items;
  return new Map(
    nodes.map((n) => {
      const a = n.metadata?.annotations ?? {};
      const info: CalicoNodeInfo = {
        ...(a['projectcalico.org/IPv4VXLANTunnelAddr'] ? { vxlanTunnelAddr: a['projectcalico.org/IPv4VXLANTunnelAddr'] } : {}),
        ...(a['projectcalico.org/VXLANTunnelMACAddr'] ? { vxlanMac: a['projectcalico.org/VXLANTunnelMACAddr'] } : {}),
        ...(a['projectcalico.org/IPv4IPIPTunnelAddr'] ? { ipipTunnelAddr: a['projectcalico.org/IPv4IPIPTunnelAddr'] } : {}),
        ...(a['projectcalico.org/IPv4Address'] ? { bgpAddr: a['projectcalico.org/IPv4Address'] } : {}),
      };
      return [n.metadata!.name!, info];
    }),
  );
}

const exists = (e: unknown) => (e as { code?: number })?.code === 409;

/**
 * The probe pods as a kubelet would know them: a Namespace with its default ServiceAccount (the
 * controller manager makes it in a cluster; a lab has none), and one Pod per probe pod, bound to its
 * node. The Calico CNI plugin refuses a pod it cannot find; felix makes workload endpoints from them.
 */
export async function registerPods(api: KubeApi, namespace: string, pods: readonly { name: string; node: string }[]): Promise<void> {
  const make = async (what: string, f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      if (!exists(e)) throw new ApiError(`creating ${what}: ${apiMessage(e)}`);
    }
  };
  await make(`Namespace ${namespace}`, () => api.core.createNamespace({ body: { metadata: { name: namespace } } }));
  await make(`ServiceAccount ${namespace}/default`, () =>
    api.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'default' } } }),
  );
  await Promise.all(
    pods.map((p) =>
      make(`Pod ${namespace}/${p.name}`, () =>
        api.core.createNamespacedPod({
          namespace,
          body: {
            metadata: { name: p.name, labels: { 'app.kubernetes.io/managed-by': 'cnilab' } },
            // Never run: the lab makes its namespace and the CNI plugin its network, as a kubelet would.
            spec: { nodeName: p.node, containers: [{ name: 'probe', image: 'cnilab/probe:none' }] },
          },
        }),
      ),
    ),
  );
}

export async function deletePods(api: KubeApi, namespace: string, names: readonly string[]): Promise<void> {
  await Promise.all(
    names.map(async (name) => {
      try {
        await api.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 });
      } catch (e) {
        if (!notFound(e)) throw new ApiError(`deleting Pod ${namespace}/${name}: ${apiMessage(e)}`);
      }
    }),
  );
}

/** The Node label that says which underlay subnet a lab node is on. */
export const SUBNET_LABEL = 'cnilab.io/subnet';

/**
 * The topology's router as every node's BGP route reflector, as Calico users set up a top-of-rack
 * peer: the node-to-node mesh off (BGPConfiguration default), and one BGPPeer per subnet with the
 * router's address there, for the nodes on that subnet (api/pkg/apis/projectcalico/v3/bgppeer.go).
 * Server-side applied; returns what it wrote, one line each.
 */
export async function applyRouteReflector(
  api: KubeApi,
  asn: number,
  subnets: readonly { name: string; routerIp: string }[],
): Promise<string[]> {
  const objects: (KubernetesObject & { spec: Record<string, unknown> })[] = [
    {
      apiVersion: CALICO_CRD_GROUP,
      kind: 'BGPConfiguration',
      metadata: { name: 'default' },
      spec: { nodeToNodeMeshEnabled: false, asNumber: asn },
    },
    ...subnets.map((s) => ({
      apiVersion: CALICO_CRD_GROUP,
      kind: 'BGPPeer',
      metadata: { name: `cnilab-router-${s.name}` },
      spec: { peerIP: s.routerIp, asNumber: asn, nodeSelector: `${SUBNET_LABEL} == '${s.name}'` },
    })),
  ];
  for (const o of objects)
    try {
      await api.objects.patch(o, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (e) {
      throw new ApiError(`applying ${o.kind} ${o.metadata?.name}: ${apiMessage(e)}`);
    }
  return objects.map((o) => `${o.kind} ${o.metadata?.name}: ${JSON.stringify(o.spec)}`);
}
