// The kind backend: a kind cluster (or any kind cluster from --kubeconfig) runs the user's manifest
// with flannel's own images. The manifest goes through the same client-node code as the lab's own
// API server (apply, net-conf.json switch, rollout wait, probe pods), and the wire is checked by the
// same check layer: the node containers' and probe pods' network namespaces are files the host can
// enter (/proc/PID/ns/net, the pod's netns under the node's /proc/PID/root), so captures run the
// host's tcpdump inside each node's namespace (nsenter) and probes leave from the probe pods.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { LabError, UnsupportedError, UsageError } from '../../errors.ts';
import { own } from '../../kernel/lifecycle.ts';
import { isAlive, processStartTime } from '../../kernel/procs.ts';
import { applyManifest, kubeApi, type KubeApi, readNodes } from '../../kube/client.ts';
import {
  createProbePods,
  deleteProbePods,
  kindCluster,
  kindConfig,
  PROBE_NAMESPACE,
  rolloutRestart,
  waitProbePods,
  waitRollout,
} from '../../kube/cluster.ts';
import { flannelAnnotationsOf } from '../../kube/annotations.ts';
import { switchNetConf } from '../../kube/flannel-config.ts';
import { flanneldProgram, isRealDaemon, type ModeDef, type ModeSettings } from '../../modes/mode.ts';
import { formatCidr, parseCidr } from '../../net/ipv4.ts';
import { cniBinDir } from '../../node/cni.ts';
import { NsenterExecutor } from '../../node/netns.ts';
import type { NodeExecutor } from '../../node/executor.ts';
import type { PodRuntime } from '../../plan/pods.ts';
import type { KubeFacts, RunResult } from '../../results/schema.ts';
import type { PerfOptions } from '../../results/samples.ts';
import { resolveTopology } from '../../topology/resolve.ts';
import type { Topology } from '../../topology/types.ts';
import type { Backend, BackendSession, CapturePoint, CheckRequest, LabView, StartOptions } from '../backend.ts';
import { stateRoot } from '../netns/state.ts';
import { attachKind, KIND, kindDir, type KindState, kindStateFile } from './attach.ts';
import {
  clusters,
  containerPid,
  createCluster,
  deleteCluster,
  installCniPlugins,
  type KindTools,
  kindSubnet,
  kindTools,
  nodeContainers,
  podNetnsInNode,
} from './docker.ts';

class KindSession implements BackendSession, LabView {
  readonly backend = KIND;
  private tools?: KindTools;
  private api?: KubeApi;
  private kubeconfig?: string;
  private release: () => void = () => {};
  private current?: ModeDef;
  private view_?: { topology: Topology; pods: PodRuntime[]; execs: Map<string, NodeExecutor>; nodes: Map<string, NodeExecutor> };
  private facts?: Pick<RunResult, 'daemon' | 'daemonFacts'>;

  constructor(
    private readonly asked: Topology,
    private readonly opts: StartOptions,
  ) {}

  get lab() {
    return this.opts.name;
  }
  get cluster() {
    return kindCluster(this.opts.name);
  }
  get topology(): Topology {
    return this.view_?.topology ?? this.asked;
  }
  get settings(): ModeSettings {
    return this.opts.settings ?? this.asked.settings;
  }
  get mode() {
    return this.current;
  }
  get pods(): readonly PodRuntime[] {
    return this.view_?.pods ?? [];
  }
  executor(netns: string): NodeExecutor {
    const e = this.view_?.execs.get(netns);
    if (!e) throw new LabError(`no pod namespace ${netns} in kind cluster ${this.cluster}`);
    return e;
  }
  nodeExecutor(node: string): NodeExecutor {
    const e = this.view_?.nodes.get(node);
    if (!e) throw new LabError(`no node ${node} in kind cluster ${this.cluster}`);
    return e;
  }
  /** Each node's eth0, inside its container: every packet between nodes is seen where it leaves and arrives. */
  get capturePoints(): CapturePoint[] {
    return [...(this.view_?.nodes ?? [])].map(([node, exec]) => ({ segment: node, exec, iface: 'eth0', nodes: [node] }));
  }
  daemonReport() {
    return this.facts;
  }

  private progress(m: string) {
    this.opts.progress?.(m);
  }

  private saveState(created: boolean) {
    mkdirSync(kindDir(this.lab), { recursive: true });
    const s: KindState = {
      lab: this.lab,
      cluster: this.cluster,
      created,
      owner: { pid: process.pid, startTime: processStartTime(process.pid) ?? 0 },
    };
    writeFileSync(kindStateFile(this.lab), JSON.stringify(s, null, 1));
  }

  async up(mode: ModeDef): Promise<void> {
    const t = await kindTools();
    if (!t.ok) throw new UnsupportedError(`the kind backend cannot run here: ${t.detail}`);
    if (!this.opts.manifest) throw new UsageError('--backend kind runs a manifest', 'give --manifest kube-flannel.yml');
    this.tools = t.tools;
    this.release = own(this);
    const own_ = this.opts.kubeconfig;
    this.saveState(!own_);
    this.kubeconfig = own_ ?? `${kindDir(this.lab)}/kubeconfig`;
    if (!own_) {
      this.progress(`kind: creating cluster ${this.cluster} (${this.asked.nodes.length} nodes, no default CNI)`);
      await createCluster(t.tools, this.cluster, kindConfig(this.asked), this.kubeconfig, kindDir(this.lab));
    }
    this.api = kubeApi(this.kubeconfig);
    const containers = own_ ? (await readNodes(this.api)).map((n) => n.metadata!.name!) : await nodeContainers(t.tools, this.cluster);
    const bin = cniBinDir();
    if (!bin)
      throw new UsageError('CNI plugins not found on the host', 'apt-get install containernetworking-plugins (copied into the kind nodes)');
    for (const c of containers) await installCniPlugins(c, bin);
    await applyManifest(this.api, this.opts.manifest.objects, (m) => this.progress(m));
    await this.program(mode);
    await createProbePods(this.api, containers);
    const probes = await waitProbePods(this.api, containers);
    await this.buildView(containers, probes);
  }

  /** The topology as the cluster has it: one Docker network, each node's InternalIP and podCIDR. */
  private async buildView(containers: string[], probes: Awaited<ReturnType<typeof waitProbePods>>): Promise<void> {
    const nodes = await readNodes(this.api!);
    const subnet = await kindSubnet();
    const names = containers.map((_, i) => this.asked.nodes[i]?.name ?? `n${i + 1}`);
    const ipOf = (c: string) => nodes.find((n) => n.metadata?.name === c)?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    const problems: string[] = [];
    const resolved = resolveTopology(
      {
        name: this.asked.name,
        mtu: this.asked.mtu,
        podCidr: formatCidr(this.asked.podCidr),
        subnetLen: this.asked.subnetLen,
        blockSize: this.asked.blockSize,
        subnets: [{ name: 'kind', cidr: subnet }],
        nodes: containers.map((c, i) => ({ name: names[i]!, subnet: 'kind', ip: ipOf(c) ?? '', pods: ['probe'] })),
        settings: this.settings,
      },
      (p, m) => problems.push(`${p.join('.')}: ${m}`),
    );
    if (!resolved) throw new LabError(`the kind cluster does not fit a topology: ${problems.join('; ')}`);
    const podCidrOf = (c: string) => nodes.find((n) => n.metadata?.name === c)?.spec?.podCIDR;
    const topology: Topology = {
      ...resolved,
      nodes: resolved.nodes.map((n, i) => {
        // The controller manager's allocation, which flannel leases: a node without one cannot be judged.
        const c = parseCidr(podCidrOf(containers[i]!) ?? '');
        if (typeof c === 'string') throw new LabError(`kind node ${containers[i]} has no podCIDR: ${c}`);
        return { ...n, podSubnet: c };
      }),
    } as Topology;
    const execs = new Map<string, NodeExecutor>();
    const nodeExecs = new Map<string, NodeExecutor>();
    const pods: PodRuntime[] = [];
    for (const [i, c] of containers.entries()) {
      const pid = await containerPid(c);
      const name = names[i]!;
      nodeExecs.set(name, new NsenterExecutor(`kind ${c}`, `/proc/${pid}/ns/net`));
      const probe = probes.find((p) => p.node === c)!;
      // /var/run is a symlink to /run in the node image: an absolute link under /proc/PID/root would
      // resolve against the host's root, so the path is taken without it.
      const inNode = (await podNetnsInNode(c, probe.name, PROBE_NAMESPACE)).replace(/^\/var\/run\//, '/run/');
      const netns = `kind-${name}-probe`;
      execs.set(netns, new NsenterExecutor(`kind ${c} pod ${probe.name}`, `/proc/${pid}/root${inNode}`));
      pods.push({ node: name, name: 'probe', id: `${name}/probe`, netns, ip: probe.ip, hostIf: '' });
    }
    this.view_ = { topology, pods, execs, nodes: nodeExecs };
  }

  /** A mode in kind is the manifest's net-conf.json: patched when it asks for another, then a rollout. */
  async program(mode: ModeDef): Promise<void> {
    const fl = flanneldProgram(mode);
    if (!fl || mode.config?.cni !== 'flannel')
      throw new UsageError(`mode ${mode.name} cannot run on kind`, "kind runs the manifest's flannel: give flanneld-* modes");
    const api = this.api!;
    const sw = await switchNetConf(api, { config: mode.config, backend: fl.backend(this.settings) });
    const ds = sw.spec.ds.metadata!;
    // A patched ConfigMap reaches running pods only through new ones: the rollout an operator starts.
    if (sw.netConf.patched) await rolloutRestart(api, ds.namespace!, ds.name!);
    await waitRollout(api, ds.namespace!, ds.name!);
    this.current = mode;
    const nodes = await readNodes(api);
    const image = sw.spec.container.image ?? 'flanneld';
    const annotations = Object.fromEntries(nodes.map((n) => [n.metadata!.name!, flannelAnnotationsOf(n)]));
    const kube: KubeFacts = {
      apiserver: `kind cluster ${this.cluster}`,
      daemonSet: `${ds.namespace}/${ds.name}, container ${sw.spec.container.name}`,
      netConf: { from: sw.netConf.from, backend: sw.netConf.backend, patched: sw.netConf.patched },
      args: [...(sw.spec.container.command ?? []), ...(sw.spec.container.args ?? [])],
      added: [],
      annotations,
    };
    this.facts = {
      daemon: `flanneld (${image})`,
      daemonFacts: {
        leases: Object.fromEntries(nodes.map((n) => [n.metadata!.name!, n.spec?.podCIDR ?? '?'])),
        cni: "the manifest's cni-conf.json with its own flannel CNI plugin (its init container), delegating to bridge",
        kube,
      },
    };
    this.progress(
      `mode ${mode.name}: DaemonSet ${ds.namespace}/${ds.name} rolled out${sw.netConf.patched ? ' after patching net-conf.json' : ''}`,
    );
  }

  /** No model of flannel's kernel state is compared in kind: nothing is judged stale here. */
  async staleState(): Promise<string[]> {
    return [];
  }
  check(mode: ModeDef, req: CheckRequest) {
    return this.opts.checker.check(this, mode, req);
  }
  async faults() {
    if (this.asked.faults?.length) throw new UnsupportedError('faults are not injected on kind (the netns backend injects them)');
    return [];
  }
  async measure(_modes: readonly ModeDef[], _opts: PerfOptions): Promise<never> {
    throw new UnsupportedError('--perf on kind is not measured (its ratios would set a container network against the host)');
  }
  private downing?: Promise<void>;
  down(): Promise<void> {
    this.downing ??= (async () => {
      try {
        if (this.tools && !this.opts.kubeconfig) await deleteCluster(this.tools, this.cluster);
        else if (this.api) await deleteProbePods(this.api);
        rmSync(kindDir(this.lab), { recursive: true, force: true });
      } finally {
        this.release();
      }
    })();
    return this.downing;
  }
  view() {
    return this.view_ ? this : undefined;
  }
  async [Symbol.asyncDispose]() {
    await this.down();
  }
}

/** kind clusters of dead runs (their owner gone), and cnilab-* clusters no state file claims. */
async function reapKind(): Promise<string[]> {
  const t = await kindTools();
  if (!t.ok) return [];
  const said: string[] = [];
  const known = new Set<string>();
  for (const lab of existsSync(stateRoot()) ? readdirSync(stateRoot()) : []) {
    const f = kindStateFile(lab);
    if (!existsSync(f)) continue;
    const s = JSON.parse(readFileSync(f, 'utf8')) as KindState;
    known.add(s.cluster);
    if (s.owner && isAlive(s.owner)) continue;
    if (s.created) await deleteCluster(t.tools, s.cluster);
    rmSync(kindDir(lab), { recursive: true, force: true });
    said.push(`kind cluster ${s.cluster}`);
  }
  for (const c of await clusters(t.tools))
    if (c.startsWith('cnilab-') && !known.has(c)) {
      await deleteCluster(t.tools, c);
      said.push(`kind cluster ${c} (no lab claimed it)`);
    }
  return said;
}

export const kindBackend: Backend = {
  name: KIND,
  comparable: false,
  onlyWhenAsked: true,
  async available() {
    const t = await kindTools();
    return t.ok ? { ok: true, detail: t.detail } : { ok: false, detail: t.detail };
  },
  supports: (mode) =>
    isRealDaemon(mode) && mode.config?.cni === 'flannel'
      ? { ok: true, detail: "the manifest's flannel in a kind cluster" }
      : { ok: false, detail: "kind runs the manifest's flannel: flanneld-* modes only" },
  start: async (topology, opts) => new KindSession(topology, opts),
  reap: reapKind,
  attach: attachKind,
};
