// flannel's data plane from what users have: the kube-flannel-cfg ConfigMap (net-conf.json,
// cni-conf.json; Canal's ConfigMap carries the same net-conf.json), a bare net-conf.json, and the
// flanneld DaemonSet's args. Every value keeps its source; defaults are flannel's own, cited from
// its v0.28.9 source where they are reproduced.
import { clip, UsageError } from '../errors.ts';
import { duplicateKey } from './json-keys.ts';
import { dig, docName, type InputDoc, keysOf, type Path } from './inputs.ts';
import { closest, type Finding, type Sourced } from './plane.ts';

export interface FlannelPlane {
  cni: 'flannel';
  /** Canal: flannel's networking with Calico's policy (which does not touch the wire). */
  canal: boolean;
  network?: Sourced<string>;
  subnetLen: Sourced<number>;
  backend: Sourced<string>;
  vni: Sourced<number>;
  port: Sourced<number>;
  directRouting: Sourced<boolean>;
  /** Backend.MTU when set: the external MTU (flannel.1 gets it minus 50, pkg/backend/vxlan/device.go). */
  mtu?: Sourced<number>;
  /** The pods' MTU from cni-conf.json's delegate, when set. */
  podMtu?: Sourced<number>;
  ipMasq?: Sourced<boolean>;
  kubeSubnetMgr?: Sourced<boolean>;
  /** `EnableIPv4: false` (an IPv6-only net-conf.json): where it is said. */
  ipv6Only?: Sourced<true>;
  iface?: Sourced<string>;
  /**
   * net-conf.json's Backend object as written (JSON text, not a shown setting): the proof hands it
   * to flanneld verbatim, so the daemon reads the user's words and conform's reading is checked.
   */
  backendJson?: string;
}

/** net-conf.json's keys (pkg/subnet/config.go Config; Go's encoding/json matches them case-insensitively). */
const NET_CONF_KEYS = [
  'Network',
  'IPv6Network',
  'SubnetLen',
  'SubnetMin',
  'SubnetMax',
  'IPv6SubnetLen',
  'IPv6SubnetMin',
  'IPv6SubnetMax',
  'EnableIPv4',
  'EnableIPv6',
  'EnableNFTables',
  'Backend',
] as const;
/** Backend keys by type: vxlan (pkg/backend/vxlan/vxlan.go VXLANConfig), udp (udp_amd64.go), the rest Type only here. */
const BACKEND_KEYS: Record<string, readonly string[]> = {
  vxlan: ['Type', 'VNI', 'Port', 'MTU', 'GBP', 'Learning', 'DirectRouting', 'MacPrefix'],
  udp: ['Type', 'Port'],
  // pkg/backend/wireguard/wireguard.go RegisterNetwork's cfg.
  wireguard: ['Type', 'ListenPort', 'ListenPortV6', 'MTU', 'PSK', 'PersistentKeepaliveInterval', 'Mode'],
  'host-gw': ['Type'],
};
/** Every backend flanneld v0.28.9 registers (backend.Register in pkg/backend/*). */
export const FLANNEL_BACKENDS = ['vxlan', 'host-gw', 'udp', 'ipip', 'ipsec', 'wireguard', 'alloc', 'extension', 'tencent-vpc'] as const;

/** pkg/backend/vxlan/vxlan.go: defaultVNI = 1. */
export const FLANNEL_DEFAULT_VNI = 1;
/** Port 0 in VXLANConfig leaves the kernel's default, which on Linux is 8472 (not IANA's 4789). */
export const FLANNEL_DEFAULT_VXLAN_PORT = 8472;
/** pkg/backend/udp/udp_amd64.go: defaultPort = 8285. */
export const FLANNEL_DEFAULT_UDP_PORT = 8285;
/** pkg/backend/wireguard/wireguard.go: ListenPort 51820 (IPv4's device, flannel-wg). */
export const FLANNEL_DEFAULT_WIREGUARD_PORT = 51820;
/**
 * What flanneld takes from the external interface's MTU for each backend's device, when MTU is not
 * set: vxlan_network.go and udp_network_amd64.go encapOverhead, wireguard_network.go overhead.
 */
export const FLANNEL_MTU_OVERHEAD: Readonly<Record<string, number>> = { vxlan: 50, udp: 28, wireguard: 80, 'host-gw': 0 };

/** pkg/subnet/config.go CheckNetworkConfig: a /24 per node when the Network is /22 or larger, else prefix + 2. */
export function defaultSubnetLen(networkPrefix: number): number {
  return networkPrefix <= 22 ? 24 : networkPrefix + 2;
}

const isFlannelDaemonSet = (d: InputDoc) =>
  d.kind === 'DaemonSet' &&
  containersOf(d).some((c) => /flannel/.test(String(c.c.image ?? '')) && /flanneld/.test(JSON.stringify([c.c.command, c.c.args])));

interface Container {
  c: Record<string, unknown>;
  path: Path;
}
function containersOf(d: InputDoc): Container[] {
  const list = dig(d.value, 'spec', 'template', 'spec', 'containers');
  if (!Array.isArray(list)) return [];
  return list.map((c, i) => ({ c, path: ['spec', 'template', 'spec', 'containers', i] }));
}

/** Does this document configure flannel? */
/** flannel's etcd key for its network config (pkg/subnet/etcd: /coreos.com/network/config). */
const ETCD_CONFIG_KEY = '/coreos.com/network/config';

/**
 * Where a Job writes flannel's network config into etcd with `etcdctl set /coreos.com/network/config
 * JSON` (canal-etcd.yaml's configure-canal): the path of the JSON word, or undefined.
 */
function etcdctlConfigAt(d: InputDoc): Path | undefined {
  if (d.kind !== 'Job') return undefined;
  for (const { c, path } of containersOf(d))
    for (const part of ['command', 'args'] as const) {
      const words = Array.isArray(c[part]) ? (c[part] as unknown[]) : [];
      const k = words.indexOf(ETCD_CONFIG_KEY);
      if (k >= 0 && words.some((w) => typeof w === 'string' && /(^|\/)etcdctl$/.test(w)) && typeof words[k + 1] === 'string')
        return [...path, part, k + 1];
    }
  return undefined;
}

export function isFlannelDoc(d: InputDoc): boolean {
  if (etcdctlConfigAt(d)) return true;
  if (d.kind === 'ConfigMap') return typeof dig(d.value, 'data', 'net-conf.json') === 'string';
  // A bare net-conf.json: keys match case-insensitively, as flanneld's encoding/json reads them.
  if (
    !d.kind &&
    d.value &&
    typeof d.value === 'object' &&
    !Array.isArray(d.value) &&
    Object.keys(d.value).some((k) => k.toLowerCase() === 'network' || k.toLowerCase() === 'ipv6network')
  )
    return true;
  return isFlannelDaemonSet(d);
}

function parseEmbedded(d: InputDoc, key: string): { json: Record<string, unknown>; at: (k: string) => string } {
  const text = String(dig(d.value, 'data', key));
  const dup = duplicateKey(text);
  if (dup)
    throw new UsageError(
      `${d.atLineInString(['data', key], dup.line)}: ${key} in ${docName(d)} has the key "${clip(dup.key, 40)}" twice` +
        `${dup.first === dup.key ? '' : ` (as "${clip(dup.first, 40)}": Go's encoding/json matches keys case-insensitively)`}`,
      'write each key once: flanneld would take the last one without a word',
    );
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error('not a JSON object');
    return { json, at: (k) => d.atInString(['data', key], k) };
  } catch (e) {
    throw new UsageError(
      `${d.at(['data', key])}: ${key} in ${docName(d)} is not JSON: ${(e as Error).message}`,
      `write ${key} as a JSON object (flanneld reads it with encoding/json)`,
    );
  }
}

/** A value by its canonical key, matched case-insensitively as Go does; with the spelling used. */
function field(o: Record<string, unknown>, key: string): { value: unknown; key: string } | undefined {
  const k = Object.keys(o).find((x) => x.toLowerCase() === key.toLowerCase());
  return k === undefined ? undefined : { value: o[k], key: k };
}

export function resolveFlannel(docs: readonly InputDoc[]): { plane: FlannelPlane; findings: Finding[] } {
  const findings: Finding[] = [];
  const confs = docs.filter((d) => isFlannelDoc(d) && !isFlannelDaemonSet(d));
  if (confs.length > 1) {
    throw new UsageError(
      `two flannel network configs: ${docName(confs[0]!)} and ${docName(confs[1]!)}`,
      'give one kube-flannel-cfg ConfigMap or one net-conf.json',
    );
  }
  const { net, atNet, podMtu, canal } = netConfOf(confs[0], docs);
  const plane = flannelSettings(net, atNet, findings, { canal, ...(podMtu ? { podMtu } : {}) });
  const ds = docs.find(isFlannelDaemonSet);
  if (ds) Object.assign(plane, daemonSetFlags(ds));
  return { plane, findings };
}

/** net-conf.json, read: its JSON, where each key is written, the pods' MTU from cni-conf.json, whether it is Canal. */
interface NetConf {
  net: Record<string, unknown>;
  atNet: (k: string) => string;
  podMtu?: Sourced<number>;
  canal: boolean;
}

/** Where net-conf.json is (a ConfigMap, an etcdctl Job, the file itself): its JSON, where each key is, the pods' MTU, Canal. */
function netConfOf(conf: InputDoc | undefined, docs: readonly InputDoc[]): NetConf {
  let net: Record<string, unknown> = {};
  let atNet: (k: string) => string = () => 'flannel defaults';
  let podMtu: Sourced<number> | undefined;
  let canal = false;
  if (conf?.kind === 'ConfigMap') {
    ({ json: net, at: atNet } = parseEmbedded(conf, 'net-conf.json'));
    const data = (dig(conf.value, 'data') ?? {}) as Record<string, unknown>;
    canal = /canal/.test(conf.name ?? '') || 'canal_iface' in data || 'calico_backend' in data;
    if (typeof data['cni-conf.json'] === 'string') {
      const { json: cni, at } = parseEmbedded(conf, 'cni-conf.json');
      const plugins: unknown[] = Array.isArray(cni.plugins) ? cni.plugins : [cni];
      const fl = plugins.find((p) => dig(p, 'type') === 'flannel');
      const mtu = dig(fl, 'delegate', 'mtu');
      if (typeof mtu === 'number') podMtu = { value: mtu, at: at('mtu') };
    }
  } else if (conf && etcdctlConfigAt(conf)) {
    // The JSON etcdctl writes: one word of the Job's command, so every key is on its line.
    const at = etcdctlConfigAt(conf)!;
    try {
      net = JSON.parse(String(dig(conf.value, ...at))) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(
        `${conf.at(at)}: the network config ${docName(conf)} writes is not JSON: ${(e as Error).message}`,
        'write it as a JSON object',
      );
    }
    atNet = () => conf.at(at);
    canal = /canal/.test(conf.name ?? '') || docs.some((d) => d.kind === 'ConfigMap' && /canal/.test(d.name ?? ''));
  } else if (conf) {
    net = conf.value as Record<string, unknown>;
    // A top-level key, else one inside Backend, in the document's own spelling.
    atNet = (k) => {
      const top = field(net, k);
      if (top) return conf.at([top.key]);
      const be = field(net, 'Backend');
      const inner = be && typeof be.value === 'object' && be.value ? field(be.value as Record<string, unknown>, k) : undefined;
      return conf.at(be ? [be.key, ...(inner ? [inner.key] : [])] : []);
    };
  }

  return { net, atNet, ...(podMtu ? { podMtu } : {}), canal };
}

/** net-conf.json as flanneld reads it: unknown keys said, each setting with its source or its default. */
function flannelSettings(
  net: Record<string, unknown>,
  atNet: (k: string) => string,
  findings: Finding[],
  extra: Pick<FlannelPlane, 'canal' | 'podMtu'>,
): FlannelPlane {
  for (const k of keysOf(net))
    if (!NET_CONF_KEYS.some((x) => x.toLowerCase() === k.toLowerCase()))
      findings.push(unknownField(k, NET_CONF_KEYS, atNet(k), 'net-conf.json (flanneld ignores it)'));

  const network = field(net, 'Network');
  const backendObj = field(net, 'Backend')?.value as Record<string, unknown> | undefined;
  const typeField = backendObj ? field(backendObj, 'Type') : undefined;
  // pkg/subnet/config.go parseBackendType: no Backend at all means "udp". flanneld lower-cases the
  // type before it looks the backend up (pkg/backend/manager.go GetBackend): "VXLAN" is vxlan.
  const backend: Sourced<string> = typeField
    ? { value: String(typeField.value).toLowerCase(), at: atNet('Type') }
    : { value: 'udp', at: backendObj ? atNet('Backend') : atNet('Network'), default: true };
  const bkeys = BACKEND_KEYS[backend.value];
  if (backendObj && bkeys)
    for (const k of keysOf(backendObj))
      if (!bkeys.some((x) => x.toLowerCase() === k.toLowerCase()))
        findings.push(unknownField(k, bkeys, atNet(k), `the ${backend.value} backend (flanneld ignores it)`));

  const num = (o: Record<string, unknown> | undefined, k: string): Sourced<number> | undefined => {
    const f = o ? field(o, k) : undefined;
    return f && typeof f.value === 'number' ? { value: f.value, at: atNet(k) } : undefined;
  };
  const prefix = typeof network?.value === 'string' ? Number(network.value.split('/')[1]) : Number.NaN;
  const subnetLen = num(net, 'SubnetLen') ?? {
    value: Number.isNaN(prefix) ? 24 : defaultSubnetLen(prefix),
    at: atNet('Network'),
    default: true as const,
  };
  const vni = num(backendObj, 'VNI') ?? { value: FLANNEL_DEFAULT_VNI, at: backend.at, default: true as const };
  // wireguard names its port ListenPort; vxlan and udp name it Port.
  const givenPort = num(backendObj, backend.value === 'wireguard' ? 'ListenPort' : 'Port');
  const defaultPort =
    backend.value === 'udp'
      ? FLANNEL_DEFAULT_UDP_PORT
      : backend.value === 'wireguard'
        ? FLANNEL_DEFAULT_WIREGUARD_PORT
        : FLANNEL_DEFAULT_VXLAN_PORT;
  const port = givenPort && givenPort.value !== 0 ? givenPort : { value: defaultPort, at: backend.at, default: true as const };
  const dr = backendObj ? field(backendObj, 'DirectRouting') : undefined;
  const mtu = num(backendObj, 'MTU');

  return {
    cni: 'flannel',
    canal: extra.canal,
    ...(typeof network?.value === 'string' ? { network: { value: network.value, at: atNet('Network') } } : {}),
    subnetLen,
    backend,
    vni,
    port,
    directRouting: dr ? { value: dr.value === true, at: atNet('DirectRouting') } : { value: false, at: backend.at, default: true },
    ...(mtu ? { mtu } : {}),
    ...(field(net, 'EnableIPv4')?.value === false ? { ipv6Only: { value: true as const, at: atNet('EnableIPv4') } } : {}),
    ...(extra.podMtu ? { podMtu: extra.podMtu } : {}),
    ...(backendObj && typeof backendObj === 'object' && !Array.isArray(backendObj) ? { backendJson: JSON.stringify(backendObj) } : {}),
  };
}

/** The DaemonSet's flanneld flags: --ip-masq, --kube-subnet-mgr, --iface, each where it is written. */
function daemonSetFlags(ds: InputDoc): Pick<FlannelPlane, 'ipMasq' | 'kubeSubnetMgr' | 'iface'> {
  const ctr = containersOf(ds).find((c) => /flanneld/.test(JSON.stringify([c.c.command, c.c.args])))!;
  const args = [...(Array.isArray(ctr.c.command) ? ctr.c.command : []), ...(Array.isArray(ctr.c.args) ? ctr.c.args : [])].map(String);
  const argAt = (re: RegExp) => {
    const inArgs = Array.isArray(ctr.c.args) ? (ctr.c.args as unknown[]).findIndex((a) => re.test(String(a))) : -1;
    return inArgs >= 0 ? ds.at([...ctr.path, 'args', inArgs]) : ds.at([...ctr.path]);
  };
  const flag = (name: string) => args.some((a) => a === `--${name}` || a === `--${name}=true`);
  const iface = args.find((a) => a.startsWith('--iface='));
  return {
    ipMasq: { value: flag('ip-masq'), at: argAt(/^--ip-masq/) },
    kubeSubnetMgr: { value: flag('kube-subnet-mgr'), at: argAt(/^--kube-subnet-mgr/) },
    ...(iface ? { iface: { value: iface.slice('--iface='.length), at: argAt(/^--iface=/) } } : {}),
  };
}

function unknownField(key: string, known: readonly string[], at: string, where: string): Finding {
  const near = closest(key, known);
  return {
    rule: 'unknown-field',
    severity: 'warning',
    at,
    message: `unknown field "${key}" in ${where}`,
    fix: near ? `did you mean "${near}"?` : `remove it; known: ${known.join(', ')}`,
  };
}
