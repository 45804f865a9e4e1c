// The lab's Kubernetes API, through @kubernetes/client-node 1.x (2.x throws at import on Node 20):
// a manifest applied the way `kubectl apply --server-side` applies it, the Node objects a kubelet
// would register, and the reads and patches a CNI's DaemonSet needs. Every call names what it did
// when the API server refuses it, with the server's own message.
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  loadYaml,
  PatchStrategy,
  type V1ConfigMap,
  type V1Container,
  type V1DaemonSet,
  type V1Node,
  VersionApi,
} from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import pLimit from 'p-limit';
import { ApiError, CnilabError, crossesGuests } from '../errors.ts';
import { poll } from '../kernel/poll.ts';
import { configMapsOf } from './daemonset.ts';

/** The field manager cnilab's writes carry, as kubectl's carry "kubectl". */
export const FIELD_MANAGER = 'cnilab';

/** An object of a manifest the API server refused: which document, which object, and why. */
export class ManifestRejected extends CnilabError {
  /** Bad input, though only the API server could tell. */
  readonly exitCode = 2;
  constructor(where: string, message: string) {
    super(`${where}: the API server refused it: ${message}`);
    this.name = 'ManifestRejected';
  }
}
// A guest's API server refusing the manifest is the user's input too (run-modes.ts catches it by class).
crossesGuests('ManifestRejected', ManifestRejected);

/** The message of a refused call: the Status object's own, else the HTTP code. */
export function apiMessage(e: unknown): string {
  const x = e as { code?: number; body?: unknown; message?: string };
  if (typeof x?.code === 'number') {
    const body = typeof x.body === 'string' ? safeJson(x.body) : x.body;
    const m = (body as { message?: string } | undefined)?.message;
    return m ? `${m} (HTTP ${x.code})` : `HTTP ${x.code}`;
  }
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

const safeJson = (s: string): unknown => {
  try {
    return JSON.parse(s);
  } catch {
    return { message: s.slice(0, 300) };
  }
};

export const notFound = (e: unknown) => (e as { code?: number })?.code === 404;

export interface KubeApi {
  config: KubeConfig;
  objects: KubernetesObjectApi;
  core: CoreV1Api;
  apps: AppsV1Api;
  crds: ApiextensionsV1Api;
  version: VersionApi;
}

const clients = new Map<string, KubeApi>();
/**
 * The clients of a kubeconfig, made once per content (waits poll the API server many times a
 * second): a lab of the same name made again later has another port and CA, so another content.
 */
export function kubeApi(kubeconfigFile: string): KubeApi {
  const text = readFileSync(kubeconfigFile, 'utf8');
  const known = clients.get(text);
  if (known) return known;
  const api = makeApi(text);
  clients.set(text, api);
  return api;
}

function makeApi(kubeconfig: string): KubeApi {
  const config = new KubeConfig();
  config.loadFromString(kubeconfig);
  return {
    config,
    objects: KubernetesObjectApi.makeApiClient(config),
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    crds: config.makeApiClient(ApiextensionsV1Api),
    version: config.makeApiClient(VersionApi),
  };
}

/** A manifest's object, with where it came from (file and document), for messages. */
export interface ManifestObject {
  where: string;
  object: KubernetesObject;
}

export const objectName = (o: KubernetesObject) =>
  `${o.kind ?? '?'} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? '?'}`;

/**
 * An object as read from YAML, made into client-node's model of its kind: the client serializes
 * by its model's attribute names, so a plain object's `x-kubernetes-int-or-string` (a CRD's schema,
 * where the model says `xKubernetesIntOrString`) would be dropped and the API server would refuse
 * Calico's CRDs ("type: Required value"). Kinds it has no model for pass as they are.
 */
export function typedForApply(o: KubernetesObject): KubernetesObject {
  return loadYaml<KubernetesObject>(JSON.stringify(o));
}

/**
 * Namespaces first, then CustomResourceDefinitions (each waited for until Established, so the
 * objects of its kind can follow), then everything else in the order written: kubectl's order.
 */
export function applyOrder(objs: readonly ManifestObject[]): ManifestObject[] {
  const rank = (o: ManifestObject) => (o.object.kind === 'Namespace' ? 0 : o.object.kind === 'CustomResourceDefinition' ? 1 : 2);
  return [...objs].sort((a, b) => rank(a) - rank(b));
}

/**
 * Server-side apply of every object, in applyOrder; returns what was applied, by name. Namespaces
 * and CRDs go one at a time (what follows needs them); the rest, which the API server takes in any
 * order, go 8 at a time, and a refusal is the first refused object as written. A progress line
 * every 2 s says how far it is: 5,000 objects take a while.
 */
export async function applyManifest(
  api: KubeApi,
  objs: readonly ManifestObject[],
  progress: (m: string) => void = () => {},
  opts: { concurrency?: number } = {},
): Promise<string[]> {
  const t = performance.now();
  const ordered = applyOrder(objs);
  let applied = 0;
  let said = t;
  const one = async (o: ManifestObject) => {
    try {
      await api.objects.patch(typedForApply(o.object), undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (e) {
      throw new ManifestRejected(o.where, apiMessage(e));
    }
    if (o.object.kind === 'CustomResourceDefinition') {
      const name = o.object.metadata!.name!;
      await poll(
        `CustomResourceDefinition ${name} to be Established`,
        30_000,
        () => 'not Established',
        async () => {
          const crd = await api.crds.readCustomResourceDefinition({ name });
          return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
        },
        200,
      );
    }
    applied++;
    if (performance.now() - said > 2000) {
      said = performance.now();
      progress(`manifest: ${applied}/${ordered.length} objects applied (${((said - t) / 1000).toFixed(0)} s)`);
    }
  };
  const first = ordered.filter((o) => o.object.kind === 'Namespace' || o.object.kind === 'CustomResourceDefinition');
  for (const o of first) await one(o);
  const limit = pLimit(opts.concurrency ?? 8);
  const rest = await Promise.allSettled(ordered.slice(first.length).map((o) => limit(() => one(o))));
  const refused = rest.find((r) => r.status === 'rejected');
  if (refused) throw refused.reason;
  progress(`manifest: ${ordered.length} objects applied (server-side) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  return ordered.map((o) => objectName(o.object));
}

export interface NodeSpec {
  name: string;
  ip: string;
  podCidr: string;
  labels?: Record<string, string>;
}

/** The Node objects a kubelet would register: name, the labels it sets, spec.podCIDR, its InternalIP. */
export async function registerNodes(api: KubeApi, nodes: readonly NodeSpec[]): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      const body: V1Node = {
        metadata: {
          name: n.name,
          labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', ...n.labels },
          // Every kubelet registers its Node with this annotation (pkg/kubelet/kubelet_node_status.go
          // initialNode). flanneld 0.28.9 relies on a Node having some: on a Node without annotations its
          // AcquireLease writes into a nil map and panics (pkg/subnet/kube/kube.go), measured here.
          annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
        },
        spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr] },
      };
      try {
        await api.core.createNode({ body });
      } catch (e) {
        if ((e as { code?: number }).code !== 409) throw new ApiError(`registering Node ${n.name}: ${apiMessage(e)}`);
      }
      // status is a subresource: a JSON Patch on it (client-node's default patch type).
      await api.core.patchNodeStatus({
        name: n.name,
        body: [{ op: 'add', path: '/status/addresses', value: [{ type: 'InternalIP', address: n.ip }] }],
      });
    }),
  );
}

export async function readDaemonSets(api: KubeApi): Promise<V1DaemonSet[]> {
  return (await api.apps.listDaemonSetForAllNamespaces()).items;
}

export async function readConfigMap(api: KubeApi, namespace: string, name: string): Promise<V1ConfigMap | undefined> {
  try {
    return await api.core.readNamespacedConfigMap({ namespace, name });
  } catch (e) {
    if (notFound(e)) return undefined;
    throw new ApiError(`reading ConfigMap ${namespace}/${name}: ${apiMessage(e)}`);
  }
}

/** One key of a ConfigMap's data, changed by a merge patch (what `kubectl edit` would leave). */
export async function patchConfigMapKey(api: KubeApi, namespace: string, name: string, key: string, value: string): Promise<void> {
  const cm: KubernetesObject & { data: Record<string, string> } = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace },
    data: { [key]: value },
  };
  try {
    await api.objects.patch(cm, undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch);
  } catch (e) {
    throw new ApiError(`patching ${key} in ConfigMap ${namespace}/${name}: ${apiMessage(e)}`);
  }
}

export async function readNodes(api: KubeApi): Promise<V1Node[]> {
  return (await api.core.listNode()).items;
}

/** A token for a ServiceAccount (TokenRequest), as the kubelet projects one into a pod. */
export async function serviceAccountToken(api: KubeApi, namespace: string, name: string): Promise<string> {
  try {
    const r = await api.core.createNamespacedServiceAccountToken({
      namespace,
      name,
      body: { spec: { audiences: [], expirationSeconds: 86_400 } },
    });
    return r.status!.token;
  } catch (e) {
    throw new ApiError(`a token for ServiceAccount ${namespace}/${name}: ${apiMessage(e)}`);
  }
}

/** The API server's version once it serves with its bootstrap done; throws what it answered until then. */
export async function apiReady(api: KubeApi): Promise<string> {
  const v = (await api.version.getCode()).gitVersion;
  // The "default" namespace comes from the bootstrap controller, after the post-start hooks: ready.
  await api.core.readNamespace({ name: 'default' });
  return v;
}

/** A kubeconfig for one user: a client certificate, or a bearer token (a ServiceAccount's). */
export function kubeconfigText(
  server: string,
  caFile: string,
  user: { certFile: string; keyFile: string } | { token: string },
  namespace = 'default',
): string {
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'cnilab', cluster: { server, 'certificate-authority': caFile } }],
      users: [
        {
          name: 'cnilab',
          user: 'token' in user ? { token: user.token } : { 'client-certificate': user.certFile, 'client-key': user.keyFile },
        },
      ],
      contexts: [{ name: 'cnilab', context: { cluster: 'cnilab', user: 'cnilab', namespace } }],
      'current-context': 'cnilab',
    },
    null,
    1,
  );
}

/**
 * The same kubeconfig with its files' contents inlined (certificate-authority-data, client-*-data):
 * for a daemon whose mount namespace hides the lab's folder (calico-node -startup's private /run).
 */
export function inlineKubeconfig(text: string): string {
  const k = JSON.parse(text) as {
    clusters: { cluster: Record<string, string> }[];
    users: { user: Record<string, string> }[];
  };
  const inline = (o: Record<string, string>, key: string) => {
    if (!o[key]) return;
    o[`${key}-data`] = readFileSync(o[key]).toString('base64');
    delete o[key];
  };
  for (const c of k.clusters) inline(c.cluster, 'certificate-authority');
  for (const u of k.users) {
    inline(u.user, 'client-certificate');
    inline(u.user, 'client-key');
  }
  return JSON.stringify(k, null, 1);
}

/** A CNI's DaemonSet as the API server holds it: the one `find` picks, its container, and the ConfigMaps its pods read. */
export async function readDaemonSetSpec(
  api: KubeApi,
  find: (sets: readonly V1DaemonSet[]) => { ds: V1DaemonSet; container: V1Container } | undefined,
): Promise<{ ds: V1DaemonSet; container: V1Container; ns: string; maps: Map<string, V1ConfigMap> } | undefined> {
  const found = find(await readDaemonSets(api));
  if (!found) return undefined;
  const ns = found.ds.metadata?.namespace ?? 'default';
  const read = await Promise.all(configMapsOf(found.ds).map(async (name) => [name, await readConfigMap(api, ns, name)] as const));
  return { ...found, ns, maps: new Map(read.flatMap(([n, cm]) => (cm ? [[n, cm] as const] : []))) };
}
