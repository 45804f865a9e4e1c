// What flanneld publishes on its Node (--kube-subnet-mgr): the annotations under its prefix, and the
// VTEP MAC inside backend-data. Pure, and light: `cnilab status` reads it without loading a client.
import type { V1Node } from '@kubernetes/client-node';

/** flanneld's default annotation prefix (main.go --kube-annotation-prefix). */
export const FLANNEL_ANNOTATIONS = 'flannel.alpha.coreos.com';

/** A Node's flannel annotations, keys whole. */
export const flannelAnnotationsOf = (n: V1Node): Record<string, string> =>
  Object.fromEntries(Object.entries(n.metadata?.annotations ?? {}).filter(([k]) => k.startsWith(`${FLANNEL_ANNOTATIONS}/`)));

/** One flannel annotation by its short key (backend-type, public-ip, ...). */
export const flannelAnnotation = (a: Readonly<Record<string, string>>, key: string): string | undefined =>
  a[`${FLANNEL_ANNOTATIONS}/${key}`];

/** The VTEP MAC in backend-data (vxlan), or undefined (host-gw writes "null"; a mangled value has none). */
export function vtepMacOf(a: Readonly<Record<string, string>>): string | undefined {
  try {
    return (JSON.parse(flannelAnnotation(a, 'backend-data') ?? 'null') as { VtepMAC?: string } | null)?.VtepMAC;
  } catch {
    return undefined;
  }
}
