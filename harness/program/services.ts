// The lab's services, made once and kept until the lab goes down: etcd (flanneld's datastore, the
// API server's store) and, for a manifest's lab or the real Calico, the kube-apiserver with the
// manifest applied (if any) and one Node per lab node registered. Each in a namespace of its own on the first subnet, recorded
// in the state before it exists.
import { LabError } from '../errors.ts';
import { planControlHost, planDatastore } from '../plan/datastore.ts';
import { formatCidr, formatIpv4 } from '../net/ipv4.ts';
import { applyManifest, kubeApi, registerNodes } from '../kube/client.ts';
import { SUBNET_LABEL } from '../kube/calico.ts';
import { type KubeState, startApiserver } from './apiserver.ts';
import { type Datastore, startEtcd } from './etcd.ts';
import type { ProgramTarget } from './target.ts';

export async function ensureDatastore(t: ProgramTarget): Promise<Datastore> {
  if (t.state.datastore) return t.state.datastore;
  const plan = planDatastore(t.env.topology, t.env.names);
  t.addHost(plan.netns);
  await t.apply(plan.ops, { createNodes: true });
  const ds: Datastore = { netns: plan.netns, ip: plan.ip, prefix: `/cnilab/${t.env.names.lab}/network` };
  await startEtcd(t.env, ds, (d) => t.record(d));
  t.state.datastore = ds;
  t.save();
  return ds;
}

export async function ensureKube(t: ProgramTarget, ds: Datastore): Promise<KubeState> {
  if (!t.state.kube) {
    const start = performance.now();
    const plan = planControlHost(t.env.topology, t.env.names, 'apiserver', [ds.ip]);
    t.addHost(plan.netns);
    await t.apply(plan.ops, { createNodes: true });
    t.state.kube = await startApiserver(t.env, ds, plan, (d) => t.record(d));
    t.save();
    t.progress(`kube-apiserver ${t.state.kube.version} serving at ${t.state.kube.server} in ${Math.round(performance.now() - start)} ms`);
  }
  const kube = t.state.kube;
  if (!kube.applied) {
    // A lab without a manifest (the real Calico's) still gets its Nodes registered.
    if (t.state.manifest && !t.manifestObjects)
      throw new LabError(
        `lab ${t.env.names.lab}: its manifest was never applied, and this process does not hold it (run it again with --manifest)`,
      );
    const api = kubeApi(kube.kubeconfig);
    kube.applied = t.manifestObjects ? await applyManifest(api, t.manifestObjects, t.progress) : [];
    await registerNodes(
      api,
      t.env.topology.nodes.map((n) => ({
        name: n.name,
        ip: formatIpv4(n.ip),
        podCidr: formatCidr(n.podSubnet),
        // Which underlay subnet a node is on, for selectors (a BGPPeer with the subnet's router).
        labels: { [SUBNET_LABEL]: n.subnet.name },
      })),
    );
    t.save();
  }
  return kube;
}
