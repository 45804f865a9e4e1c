// Calico's data plane from what users have: the manifest install (calico-config ConfigMap, the
// calico-node DaemonSet's env, configMapKeyRefs followed), Calico's own resources (IPPool,
// FelixConfiguration, BGPConfiguration, BGPPeer; projectcalico.org/v3 and crd.projectcalico.org/v1
// alike) and the tigera-operator Installation. Every value keeps its source; defaults are Calico's
// own, cited from projectcalico/calico (2026-08 main) and tigera/operator where they are reproduced.
import { UsageError } from '../errors.ts';
import type { EncapMode } from '../modes/mode.ts';
import { dig, docName, type InputDoc, keysOf, type Path } from './inputs.ts';
import { closest, type Finding, type Sourced } from './plane.ts';

export const ENCAP_MODES: readonly EncapMode[] = ['Never', 'Always', 'CrossSubnet'];

export interface CalicoPool {
  name: string;
  /** Where the pool comes from: a resource, the Installation, or calico-node's env at first start. */
  origin: 'IPPool' | 'Installation' | 'calico-node env';
  cidr: Sourced<string>;
  blockSize: Sourced<number>;
  /** As written when it is not a mode Calico knows (a finding says so). */
  ipipMode: Sourced<string>;
  vxlanMode: Sourced<string>;
  natOutgoing: Sourced<boolean>;
  disabled: Sourced<boolean>;
  nodeSelector: Sourced<string>;
}

export interface CalicoPlane {
  cni: 'calico';
  install: 'manifest' | 'operator' | 'resources';
  /** flannel-migration's calico.yaml ("file:line" of its nodeSelector): the migration controller makes the pool. */
  migration?: string;
  /** Where the first Calico document is ("file:line"): where a finding about what is missing points. */
  source?: string;
  /** The Installation's `ipPools: []` ("file:line"): the operator makes no pool, the user's IPPools are elsewhere. */
  poolsElsewhere?: string;
  /** calico_backend / CALICO_NETWORKING_BACKEND as written: bird (BGP), vxlan or none. */
  backend: Sourced<string>;
  pools: CalicoPool[];
  vxlanVni: Sourced<number>;
  vxlanPort: Sourced<number>;
  /** The pods' MTU when set (veth_mtu, Installation mtu); 0 or unset: felix derives it. */
  podMtu?: Sourced<number>;
  ipipMtu?: Sourced<number>;
  vxlanMtu?: Sourced<number>;
  /** The CNI config's IPAM plugin when the manifest installs one (calico-ipam; host-local: policy only). */
  ipam?: Sourced<string>;
  nodeToNodeMesh: Sourced<boolean>;
  asNumber: Sourced<number>;
  bgpPeers: Sourced<string>[];
}

/** The node label flannel-migration's calico-node selects on (manifests/flannel-migration/calico.yaml). */
const MIGRATION_LABEL = 'projectcalico.org/node-network-during-migration';

/** node/pkg/lifecycle/startup/startup.go: DEFAULT_IPV4_POOL_CIDR, DEFAULT_IPV4_POOL_BLOCK_SIZE. */
export const CALICO_DEFAULT_CIDR = '192.168.0.0/16';
export const CALICO_DEFAULT_BLOCK_SIZE = 26;
/** ippool.go: blockSize "Defaults to 26 for IPv4 and 122 for IPv6" (the operator's IPPool says the same). */
export const CALICO_DEFAULT_BLOCK_SIZE_V6 = 122;
const defaultBlockSize = (cidr: unknown) =>
  typeof cidr === 'string' && cidr.includes(':') ? CALICO_DEFAULT_BLOCK_SIZE_V6 : CALICO_DEFAULT_BLOCK_SIZE;
/** felix/config/config_params.go: VXLANVNI `int;4096`, VXLANPort `int;4789`. */
export const CALICO_DEFAULT_VNI = 4096;
export const CALICO_DEFAULT_VXLAN_PORT = 4789;
/** BGPConfiguration asNumber: 64512 when unset (api/pkg/apis/projectcalico/v3/bgpconfig.go). */
export const CALICO_DEFAULT_AS = 64512;
export const CALICO_BACKENDS = ['bird', 'vxlan', 'none'] as const;

/** api/pkg/apis/projectcalico/v3/ippool.go IPPoolSpec (json names; Kubernetes matches them exactly). */
const IPPOOL_KEYS = [
  'cidr',
  'vxlanMode',
  'ipipMode',
  'natOutgoing',
  'disabled',
  'disableBGPExport',
  'blockSize',
  'nodeSelector',
  'namespaceSelector',
  'allowedUses',
  'assignmentMode',
  'ipip',
  'nat-outgoing',
];
/** tigera/operator api/v1/installation_types.go IPPool. */
const OPERATOR_POOL_KEYS = [
  'name',
  'cidr',
  'encapsulation',
  'natOutgoing',
  'nodeSelector',
  'blockSize',
  'disableBGPExport',
  'disableNewAllocations',
  'allowedUses',
  'assignmentMode',
];
/** ... and CalicoNetworkSpec. */
const CALICO_NETWORK_KEYS = [
  'linuxDataplane',
  'windowsDataplane',
  'bgp',
  'ipPools',
  'mtu',
  'nodeAddressAutodetectionV4',
  'nodeAddressAutodetectionV6',
  'hostPorts',
  'multiInterfaceMode',
  'containerIPForwarding',
  'linuxPolicySetupTimeoutSeconds',
  'sysctl',
  'kubeProxyManagement',
  'bpfNetworkBootstrap',
  'clusterRoutingMode',
];
/** api/pkg/apis/projectcalico/v3/bgpconfig.go BGPConfigurationSpec. */
const BGPCONFIG_KEYS = [
  'logSeverityScreen',
  'nodeToNodeMeshEnabled',
  'asNumber',
  'serviceLoadBalancerIPs',
  'serviceExternalIPs',
  'serviceClusterIPs',
  'serviceLoadBalancerAggregation',
  'communities',
  'prefixAdvertisements',
  'listenPort',
  'nodeMeshPassword',
  'nodeMeshMaxRestartTime',
  'bindMode',
  'ignoredInterfaces',
  'localWorkloadPeeringIPV4',
  'localWorkloadPeeringIPV6',
  'programClusterRoutes',
  'ipv4NormalRoutePriority',
  'ipv6NormalRoutePriority',
];
/**
 * The FelixConfiguration fields that shape the wire. Felix has ~200 fields; a key close to one of
 * these but not it (vxlanVni for vxlanVNI) is dropped by the API server, so it is reported.
 */
const FELIX_WIRE_KEYS = ['vxlanVNI', 'vxlanPort', 'vxlanMTU', 'ipipMTU', 'vxlanEnabled', 'ipipEnabled', 'wireguardEnabled', 'wireguardMTU'];

const CALICO_KINDS = new Set(['IPPool', 'Installation', 'FelixConfiguration', 'BGPConfiguration', 'BGPPeer']);
const isCalicoApi = (d: InputDoc) => /projectcalico\.org|operator\.tigera\.io/.test(String(dig(d.value, 'apiVersion') ?? ''));

interface Container {
  c: Record<string, unknown>;
  path: Path;
}
function calicoNodeContainer(d: InputDoc): Container | undefined {
  if (d.kind !== 'DaemonSet') return undefined;
  const list = dig(d.value, 'spec', 'template', 'spec', 'containers');
  if (!Array.isArray(list)) return undefined;
  const i = list.findIndex((c) => /calico\/node|calico-node/.test(`${dig(c, 'image') ?? ''} ${dig(c, 'name') ?? ''}`));
  return i < 0 ? undefined : { c: list[i] as Record<string, unknown>, path: ['spec', 'template', 'spec', 'containers', i] };
}

/** A calico-config-like ConfigMap: Calico's manifest settings (Canal's too, next to flannel's net-conf.json). */
const isCalicoConfigMap = (d: InputDoc) => d.kind === 'ConfigMap' && typeof dig(d.value, 'data', 'calico_backend') === 'string';

/** Does this document configure Calico's networking (not just Canal's policy side)? */
export function isCalicoDoc(d: InputDoc): boolean {
  if (d.kind && CALICO_KINDS.has(d.kind) && isCalicoApi(d)) return true;
  if (calicoNodeContainer(d)) return true;
  return isCalicoConfigMap(d) && typeof dig(d.value, 'data', 'net-conf.json') !== 'string';
}

/** The calico-node env this reads: one that points into a ConfigMap not given is said, not defaulted quietly. */
const ENV_READ = [
  'CALICO_NETWORKING_BACKEND',
  'CALICO_IPV4POOL_CIDR',
  'CALICO_IPV4POOL_IPIP',
  'CALICO_IPV4POOL_VXLAN',
  'CALICO_IPV4POOL_BLOCK_SIZE',
  'CALICO_IPV4POOL_NAT_OUTGOING',
  'CALICO_IPV4POOL_NODE_SELECTOR',
  'FELIX_VXLANVNI',
  'FELIX_VXLANPORT',
  'FELIX_IPINIPMTU',
  'FELIX_VXLANMTU',
];

/** An env value with its source: a literal, or the ConfigMap key it references (followed). */
interface EnvValue {
  value: string;
  at: string;
}
function envOf(ctr: Container, ds: InputDoc, docs: readonly InputDoc[], findings: Finding[]): Map<string, EnvValue> {
  const out = new Map<string, EnvValue>();
  const env = Array.isArray(ctr.c.env) ? (ctr.c.env as unknown[]) : [];
  env.forEach((e, i) => {
    const name = String(dig(e, 'name') ?? '');
    const here = ds.at([...ctr.path, 'env', i]);
    if (typeof dig(e, 'value') === 'string') out.set(name, { value: String(dig(e, 'value')), at: here });
    const ref = dig(e, 'valueFrom', 'configMapKeyRef') as { name?: string; key?: string } | undefined;
    if (ref?.name && ref.key) {
      const cm = docs.find((d) => d.kind === 'ConfigMap' && d.name === ref.name);
      const v = dig(cm?.value, 'data', ref.key);
      if (cm && typeof v === 'string') out.set(name, { value: v, at: cm.at(['data', ref.key]) });
      else if (ENV_READ.includes(name))
        findings.push({
          rule: 'configmap-missing',
          severity: 'warning',
          at: here,
          message: `${name} reads ${ref.name}/${ref.key}, which is not among the inputs: Calico's default is assumed`,
          fix: `give the ConfigMap ${ref.name} too (it is in the same manifest)`,
        });
    }
  });
  return out;
}

function unknownFields(o: unknown, known: readonly string[], at: (k: string) => string, where: string): Finding[] {
  return keysOf(o)
    .filter((k) => !known.includes(k))
    .map((k) => {
      const near = closest(k, known);
      return {
        rule: 'unknown-field',
        severity: 'warning' as const,
        at: at(k),
        message: `unknown field "${k}" in ${where} (the API server drops it)`,
        fix: near ? `did you mean "${near}"?` : `remove it; known: ${known.join(', ')}`,
      };
    });
}

/** Env and resource spellings of a mode, to Calico's: startup.go createIPPool lower-cases and accepts off/cross-subnet. */
function normMode(v: string): string {
  const l = v.toLowerCase();
  if (l === '' || l === 'off' || l === 'never') return 'Never';
  if (l === 'always') return 'Always';
  if (l === 'crosssubnet' || l === 'cross-subnet') return 'CrossSubnet';
  return v;
}

/** What every part of a Calico reading looks at: the documents, calico-node's env, the ConfigMap, the Installation. */
interface CalicoInputs {
  docs: readonly InputDoc[];
  mine: InputDoc[];
  ds: InputDoc | undefined;
  env: Map<string, EnvValue>;
  cm: InputDoc | undefined;
  inst: InputDoc | undefined;
  net: Record<string, unknown> | undefined;
  instAt: (...p: Path) => string;
  platformIpam: Sourced<string> | undefined;
  findings: Finding[];
}

export function resolveCalico(docs: readonly InputDoc[]): { plane: CalicoPlane; findings: Finding[] } {
  const c = calicoInputs(docs);
  const { mine, ds, cm, inst, net, instAt, findings } = c;
  const backend = calicoBackend(c);
  const { pools, resources, instPools } = calicoPools(c);
  const { vxlanVni, vxlanPort, podMtu, ipipMtu, vxlanMtu } = felixSettings(c);
  const ipam = calicoIpam(c);
  const { nodeToNodeMesh, asNumber, bgpPeers } = bgpSettings(c);
  return {
    plane: {
      cni: 'calico',
      install: inst ? 'operator' : ds || cm ? 'manifest' : 'resources',
      ...(mine[0] ? { source: mine[0].at([]) } : {}),
      // flannel-migration's calico.yaml: calico-node only on migrated nodes; the migration controller makes the pool.
      ...(ds && dig(ds.value, 'spec', 'template', 'spec', 'nodeSelector', MIGRATION_LABEL) !== undefined
        ? { migration: ds.at(['spec', 'template', 'spec', 'nodeSelector', MIGRATION_LABEL]) }
        : {}),
      ...(inst && !resources.length && Array.isArray(net?.ipPools) && !instPools.length ? { poolsElsewhere: instAt('ipPools') } : {}),
      backend,
      pools,
      vxlanVni,
      vxlanPort,
      ...(podMtu ? { podMtu } : {}),
      ...(ipipMtu ? { ipipMtu } : {}),
      ...(vxlanMtu ? { vxlanMtu } : {}),
      ...(ipam ? { ipam } : {}),
      nodeToNodeMesh,
      asNumber,
      bgpPeers,
    },
    findings,
  };
}

function calicoInputs(docs: readonly InputDoc[]): CalicoInputs {
  const findings: Finding[] = [];
  const mine = docs.filter(isCalicoDoc);
  const ds = mine.find((d) => calicoNodeContainer(d));
  const env = ds ? envOf(calicoNodeContainer(ds)!, ds, docs, findings) : new Map<string, EnvValue>();
  const cm = docs.find(isCalicoConfigMap);
  const installs = mine.filter((d) => d.kind === 'Installation');
  if (installs.length > 1)
    throw new UsageError(
      `two Installations: ${docName(installs[0]!)} and ${docName(installs[1]!)}`,
      'the operator reads one Installation, named default',
    );
  const inst = installs[0];
  const net = dig(inst?.value, 'spec', 'calicoNetwork') as Record<string, unknown> | undefined;
  const instAt = (...p: Path) => inst!.at(['spec', 'calicoNetwork', ...p]);
  // An Installation whose cni.type is not Calico (AmazonVPC, AzureVNET, GKE): the platform's CNI and
  // IPAM network the pods, and the operator makes Calico enforce policy only, with no pool (operator
  // api/v1/installation_types.go CNISpec: the IPAM follows the plugin type).
  const cniType = dig(inst?.value, 'spec', 'cni', 'type');
  const platformIpam =
    typeof cniType === 'string' && cniType !== 'Calico'
      ? {
          value: String(dig(inst?.value, 'spec', 'cni', 'ipam', 'type') ?? (cniType === 'GKE' ? 'HostLocal' : cniType)),
          at: inst!.at(['spec', 'cni', 'type']),
        }
      : undefined;
  if (inst && net) findings.push(...unknownFields(net, CALICO_NETWORK_KEYS, (k) => instAt(k), 'Installation spec.calicoNetwork'));

  return { docs, mine, ds, env, cm, inst, net, instAt, platformIpam, findings };
}

/** calico_backend: the env (following its configMapKeyRef), the ConfigMap, the operator's bgp, or the default. */
function calicoBackend(c: CalicoInputs): Sourced<string> {
  const { ds, env, cm, inst, net, instAt, platformIpam } = c;
  // The networking backend: the env (following its configMapKeyRef), the ConfigMap alone, or the
  // operator's bgp (Enabled: bird; Disabled: vxlan, as the operator renders CALICO_NETWORKING_BACKEND).
  const bgpOpt = net && typeof net.bgp === 'string' ? { value: net.bgp, at: instAt('bgp') } : undefined;
  const envBackend = env.get('CALICO_NETWORKING_BACKEND');
  const cmBackend = dig(cm?.value, 'data', 'calico_backend');
  return envBackend
    ? { value: envBackend.value, at: envBackend.at }
    : typeof cmBackend === 'string'
      ? { value: cmBackend, at: cm!.at(['data', 'calico_backend']) }
      : bgpOpt
        ? { value: bgpOpt.value === 'Disabled' ? 'vxlan' : 'bird', at: bgpOpt.at }
        : platformIpam
          ? // The operator defaults bgp to Disabled on a platform CNI: calico-node runs no BIRD.
            { value: 'none', at: platformIpam.at, default: true }
          : // node/filesystem/etc/rc.local: anything but exactly "none" or "vxlan" (unset too) starts BIRD.
            {
              value: 'bird',
              at: inst ? inst.at(['spec']) : ds ? ds.at([]) : 'calico-node default (BIRD unless none or vxlan)',
              default: true,
            };
}

/** The pools calico-node uses: IPPool resources, else the Installation's, else the env's default pool. */
function calicoPools(c: CalicoInputs): { pools: CalicoPool[]; resources: InputDoc[]; instPools: Record<string, unknown>[] } {
  const { mine, ds, env, cm, inst, net, instAt, findings } = c;
  // Pools: resources first; the Installation's and the env's are created only when no pool exists
  // (startup.go configureIPPools lists the pools first; the operator's ipPools "to create if none exist").
  const pools: CalicoPool[] = [];
  const resources = mine.filter((d) => d.kind === 'IPPool');
  for (const d of resources) {
    const spec = (dig(d.value, 'spec') ?? {}) as Record<string, unknown>;
    const at = (k: string) => d.at(k in spec ? ['spec', k] : ['spec']);
    // A default is placed at the pool's spec: where one would write the field.
    const here = d.at(['spec']);
    findings.push(...unknownFields(spec, IPPOOL_KEYS, at, `IPPool ${d.name ?? ''} spec`));
    const str = (k: string, dflt: string, note: string): Sourced<string> =>
      typeof spec[k] === 'string' && spec[k] !== '' ? { value: String(spec[k]), at: at(k) } : { value: dflt, at: note, default: true };
    pools.push({
      name: d.name ?? `pool ${pools.length + 1}`,
      origin: 'IPPool',
      cidr: typeof spec.cidr === 'string' ? { value: spec.cidr, at: at('cidr') } : { value: '', at: d.at(['spec']) },
      // ippool.go: blockSize 26 for IPv4, 122 for IPv6; ipipMode and vxlanMode default to Never; nodeSelector all().
      blockSize:
        typeof spec.blockSize === 'number' ? { value: spec.blockSize, at: at('blockSize') } : dflt(defaultBlockSize(spec.cidr), here),
      ipipMode: typeof spec.ipipMode === 'string' ? { value: spec.ipipMode, at: at('ipipMode') } : dflt('Never', here),
      vxlanMode: typeof spec.vxlanMode === 'string' ? { value: spec.vxlanMode, at: at('vxlanMode') } : dflt('Never', here),
      natOutgoing: bool(spec, 'natOutgoing', at, false, here),
      disabled: bool(spec, 'disabled', at, false, here),
      nodeSelector: str('nodeSelector', 'all()', here),
    });
  }
  const instPools = Array.isArray(net?.ipPools) ? (net.ipPools as Record<string, unknown>[]) : [];
  const envPool = ['CALICO_IPV4POOL_CIDR', 'CALICO_IPV4POOL_IPIP', 'CALICO_IPV4POOL_VXLAN', 'CALICO_IPV4POOL_BLOCK_SIZE'].filter((k) =>
    env.has(k),
  );
  if (resources.length && (instPools.length || envPool.length))
    findings.push({
      rule: 'pool-settings-ignored',
      severity: 'warning',
      at: instPools.length ? instAt('ipPools') : env.get(envPool[0]!)!.at,
      message:
        `${instPools.length ? 'the Installation ipPools' : envPool.join(', ')} only create a pool when none exists: ` +
        'the IPPool resources win',
      fix: 'set the encapsulation on the IPPool resource, and drop the other',
    });
  if (!resources.length && inst) pools.push(...installationPools(c, inst, instPools));
  if (!resources.length && !inst && (ds || cm)) pools.push(envDefaultPool(c));
  return { pools, resources, instPools };
}

/** Felix's VXLAN and MTU settings: env over FelixConfiguration, then felix's defaults. */
function felixSettings(c: CalicoInputs) {
  const { mine, env, cm, net, instAt, findings } = c;
  // Felix: env over FelixConfiguration (felix/config/config_params.go SourcesInDescendingOrder:
  // EnvironmentVariable before the datastore), then felix's defaults.
  const felix = mine.find((d) => d.kind === 'FelixConfiguration' && (d.name === 'default' || !d.name));
  const fspec = (dig(felix?.value, 'spec') ?? {}) as Record<string, unknown>;
  for (const k of keysOf(fspec)) {
    const near = closest(k, FELIX_WIRE_KEYS);
    if (near && near !== k)
      findings.push({
        rule: 'unknown-field',
        severity: 'warning',
        at: felix!.at(['spec', k]),
        message: `unknown field "${k}" in FelixConfiguration spec (the API server drops it)`,
        fix: `did you mean "${near}"?`,
      });
  }
  const felixNum = (envName: string, key: string): Sourced<number> | undefined => {
    const v = env.get(envName);
    if (v) return { value: Number(v.value), at: v.at };
    if (typeof fspec[key] === 'number') return { value: fspec[key] as number, at: felix!.at(['spec', key]) };
    return undefined;
  };
  const vxlanVni = felixNum('FELIX_VXLANVNI', 'vxlanVNI') ?? dflt(CALICO_DEFAULT_VNI, 'felix/config/config_params.go');
  const vxlanPort = felixNum('FELIX_VXLANPORT', 'vxlanPort') ?? dflt(CALICO_DEFAULT_VXLAN_PORT, 'felix/config/config_params.go');
  // 0 means "detect" for every MTU (felix: IpInIpMtu `int;0`; the manifest's veth_mtu "0").
  const nonZero = (s: Sourced<number> | undefined) => (s && s.value !== 0 ? s : undefined);
  const vethRaw = dig(cm?.value, 'data', 'veth_mtu');
  const podMtu = nonZero(
    typeof net?.mtu === 'number'
      ? { value: net.mtu, at: instAt('mtu') }
      : typeof vethRaw === 'string' && vethRaw.trim() !== ''
        ? { value: Number(vethRaw), at: cm!.at(['data', 'veth_mtu']) }
        : undefined,
  );
  const ipipMtu = nonZero(felixNum('FELIX_IPINIPMTU', 'ipipMTU'));
  const vxlanMtu = nonZero(felixNum('FELIX_VXLANMTU', 'vxlanMTU'));

  return { vxlanVni, vxlanPort, podMtu, ipipMtu, vxlanMtu };
}

/** The pods' IPAM, when it is not calico-ipam's to say (a platform's, host-local). */
function calicoIpam(c: CalicoInputs): Sourced<string> | undefined {
  const { docs, platformIpam } = c;
  // The IPAM of the CNI config calico.yaml installs: host-local (calico-policy-only.yaml, from the
  // node's podCIDR) means Calico does not allocate, and the platform routes the pods.
  const cniCm = docs.find((d) => d.kind === 'ConfigMap' && typeof dig(d.value, 'data', 'cni_network_config') === 'string');
  const cniConf = String(dig(cniCm?.value, 'data', 'cni_network_config') ?? '');
  const ipamType = /"ipam"\s*:\s*\{[^}]*"type"\s*:\s*"([^"]+)"/.exec(cniConf)?.[1];
  return (
    platformIpam ?? (ipamType && cniCm ? { value: ipamType, at: cniCm.atInString(['data', 'cni_network_config'], 'ipam') } : undefined)
  );
}

/** BGP: BGPConfiguration "default" and the BGPPeers. */
function bgpSettings(c: CalicoInputs) {
  const { mine, findings } = c;
  // BGP: BGPConfiguration "default"; the mesh is on unless it says otherwise.
  const bgp = mine.find((d) => d.kind === 'BGPConfiguration');
  const bspec = (dig(bgp?.value, 'spec') ?? {}) as Record<string, unknown>;
  if (bgp) findings.push(...unknownFields(bspec, BGPCONFIG_KEYS, (k) => bgp.at(['spec', k]), 'BGPConfiguration spec'));
  const nodeToNodeMesh =
    typeof bspec.nodeToNodeMeshEnabled === 'boolean'
      ? { value: bspec.nodeToNodeMeshEnabled, at: bgp!.at(['spec', 'nodeToNodeMeshEnabled']) }
      : dflt(true, 'api/.../v3/bgpconfig.go');
  const asNumber =
    bspec.asNumber !== undefined
      ? { value: Number(bspec.asNumber), at: bgp!.at(['spec', 'asNumber']) }
      : dflt(CALICO_DEFAULT_AS, 'api/.../v3/bgpconfig.go');
  const bgpPeers = mine
    .filter((d) => d.kind === 'BGPPeer')
    .map((d) => ({ value: String(dig(d.value, 'spec', 'peerIP') ?? dig(d.value, 'spec', 'peerSelector') ?? '?'), at: d.at(['spec']) }));

  return { nodeToNodeMesh, asNumber, bgpPeers };
}

/** The operator's pools (Installation ipPools, or its default one): made only when no IPPool exists. */
function installationPools(c: CalicoInputs, inst: InputDoc, instPools: Record<string, unknown>[]): CalicoPool[] {
  const { net, instAt, platformIpam, findings } = c;
  // No ipPools key: the operator's default pool. `ipPools: []` is an explicit "none" (the operator
  // creates no pool then), not the default.
  const list = platformIpam ? [] : instPools.length ? instPools : Array.isArray(net?.ipPools) ? [] : [{}];
  return list.map((p, i): CalicoPool => {
    const at = (k: string) => (instPools.length ? instAt('ipPools', i, ...(k in p ? [k] : [])) : inst.at(['spec']));
    const here = at('');
    if (instPools.length) findings.push(...unknownFields(p, OPERATOR_POOL_KEYS, (k) => at(k), `Installation ipPools[${i}]`));
    // installation_types.go IPPool: encapsulation "Default: IPIP", natOutgoing Enabled, nodeSelector all(), blockSize 26.
    const enc = typeof p.encapsulation === 'string' ? { value: p.encapsulation, at: at('encapsulation') } : dflt('IPIP', here);
    const modes = fromEncapsulation(enc.value);
    const near = closest(enc.value, ENCAPSULATIONS);
    if (!modes)
      findings.push({
        rule: 'encapsulation-invalid',
        severity: 'error',
        at: enc.at,
        message: `encapsulation "${enc.value}" is not one the operator knows: it refuses the Installation`,
        fix: `use one of ${ENCAPSULATIONS.join(', ')}${near ? ` (did you mean "${near}"?)` : ''}`,
      });
    const m = modes ?? { ipip: 'Never', vxlan: 'Never' };
    return {
      name: typeof p.name === 'string' ? p.name : 'default-ipv4-ippool',
      origin: 'Installation',
      cidr: typeof p.cidr === 'string' ? { value: p.cidr, at: at('cidr') } : dflt(CALICO_DEFAULT_CIDR, here),
      blockSize: typeof p.blockSize === 'number' ? { value: p.blockSize, at: at('blockSize') } : dflt(defaultBlockSize(p.cidr), here),
      ipipMode: { value: m.ipip, at: enc.at, ...(enc.default ? { default: true as const } : {}) },
      vxlanMode: { value: m.vxlan, at: enc.at, ...(enc.default ? { default: true as const } : {}) },
      natOutgoing: typeof p.natOutgoing === 'string' ? { value: p.natOutgoing === 'Enabled', at: at('natOutgoing') } : dflt(true, here),
      disabled:
        typeof p.disableNewAllocations === 'boolean'
          ? { value: p.disableNewAllocations, at: at('disableNewAllocations') }
          : dflt(false, here),
      nodeSelector: typeof p.nodeSelector === 'string' ? { value: p.nodeSelector, at: at('nodeSelector') } : dflt('all()', here),
    };
  });
}

/** calico-node's default-ipv4-ippool from its env, made at first start when no pool exists. */
function envDefaultPool(c: CalicoInputs): CalicoPool {
  const { ds, env, cm } = c;
  // calico-node creates default-ipv4-ippool from its env at first start (startup.go configureIPPools,
  // createIPPool): CIDR 192.168.0.0/16, block 26, IPIP and VXLAN "" = Never, NAT outgoing true.
  // A default is placed at calico-node's env list (or the ConfigMap given alone): where one would set it.
  const here = ds ? ds.at([...calicoNodeContainer(ds)!.path, 'env']) : cm!.at(['data']);
  const e = (k: string, dfltValue: string) => {
    const v = env.get(k);
    return v ? { value: v.value, at: v.at } : dflt(dfltValue, here);
  };
  const ipip = e('CALICO_IPV4POOL_IPIP', 'Never');
  const vxlan = e('CALICO_IPV4POOL_VXLAN', 'Never');
  const block = e('CALICO_IPV4POOL_BLOCK_SIZE', String(CALICO_DEFAULT_BLOCK_SIZE));
  const nat = e('CALICO_IPV4POOL_NAT_OUTGOING', 'true');
  return {
    name: 'default-ipv4-ippool',
    origin: 'calico-node env',
    cidr: e('CALICO_IPV4POOL_CIDR', CALICO_DEFAULT_CIDR),
    blockSize: { ...block, value: Number(block.value) },
    ipipMode: { ...ipip, value: normMode(ipip.value) },
    vxlanMode: { ...vxlan, value: normMode(vxlan.value) },
    natOutgoing: { ...nat, value: !['false', '0', 'no', 'n', 'f'].includes(nat.value.toLowerCase()) },
    disabled: dflt(false, here),
    nodeSelector: e('CALICO_IPV4POOL_NODE_SELECTOR', 'all()'),
  };
}

const ENCAPSULATIONS = ['IPIP', 'IPIPCrossSubnet', 'VXLAN', 'VXLANCrossSubnet', 'None'];
/** The operator's encapsulation as an IPPool's two modes (tigera/operator pkg/controller/ippool: ToProjectCalicoV1). */
function fromEncapsulation(e: string): { ipip: EncapMode; vxlan: EncapMode } | undefined {
  switch (e) {
    case 'IPIP':
      return { ipip: 'Always', vxlan: 'Never' };
    case 'IPIPCrossSubnet':
      return { ipip: 'CrossSubnet', vxlan: 'Never' };
    case 'VXLAN':
      return { ipip: 'Never', vxlan: 'Always' };
    case 'VXLANCrossSubnet':
      return { ipip: 'Never', vxlan: 'CrossSubnet' };
    case 'None':
      return { ipip: 'Never', vxlan: 'Never' };
  }
  return undefined;
}

function dflt<T>(value: T, at: string): Sourced<T> {
  return { value, at, default: true };
}

function bool(spec: Record<string, unknown>, k: string, at: (k: string) => string, d: boolean, here: string): Sourced<boolean> {
  return typeof spec[k] === 'boolean' ? { value: spec[k] as boolean, at: at(k) } : dflt(d, here);
}
