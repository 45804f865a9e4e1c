// flanneld's command line as its own parser reads it (pure). flannel v0.28.9 main.go defines its
// flags on one flag.FlagSet (init(): the list below, plus klog's v, vmodule and log_backtrace_at
// copied by copyFlag) and parses os.Args[1:] with Go's flag package, which stops at the first
// argument that is not a flag, or at `--`: every flag after that is ignored. So a positional
// argument in a manifest would make flanneld miss the path flags cnilab gives it and use the
// host's default paths. Such a command line is refused, and so is a flag flanneld does not have
// (flag.ExitOnError: it would exit at once).
import { PodSpecError } from './confine.ts';

/** Flags that take no value (Go's IsBoolFlag): `--ip-masq`, or `--ip-masq=false`. */
const BOOL = new Set([
  'ip-masq',
  'ip-masq-fully-random-disable',
  'kube-subnet-mgr',
  'version',
  'iptables-forward-rules',
  'ip-blackhole-route',
  'set-node-network-unavailable',
]);
const VALUED = new Set([
  'etcd-endpoints',
  'etcd-prefix',
  'etcd-keyfile',
  'etcd-certfile',
  'etcd-cafile',
  'etcd-username',
  'etcd-password',
  'iface',
  'iface-regex',
  'iface-can-reach',
  'subnet-file',
  'public-ip',
  'public-ipv6',
  'subnet-lease-renew-margin',
  'kube-api-url',
  'kube-annotation-prefix',
  'kubeconfig-file',
  'healthz-ip',
  'healthz-port',
  'iptables-resync',
  'net-config-path',
  'v',
  'vmodule',
  'log_backtrace_at',
]);

/** Flags naming a file on the node: cnilab points each where the pod's mounts land. */
export const PATH_FLAGS = ['net-config-path', 'subnet-file', 'kubeconfig-file', 'etcd-keyfile', 'etcd-certfile', 'etcd-cafile'] as const;
export type PathFlag = (typeof PATH_FLAGS)[number];

/** Defaults of the path flags that have one (main.go init). */
export const PATH_DEFAULTS: Partial<Record<PathFlag, string>> = {
  'net-config-path': '/etc/kube-flannel/net-conf.json',
  'subnet-file': '/run/flannel/subnet.env',
};

/** The env variable flanneld reads a flag from when the command line does not set it (flagutil.SetFlagsFromEnv). */
export const envOfFlag = (flag: string) => `FLANNELD_${flag.toUpperCase().replace(/-/g, '_')}`;

export interface ParsedFlag {
  name: string;
  /** Undefined for a bool flag written bare. */
  value?: string;
  /** Indices in the argument list this flag used (the flag, and its value when separate). */
  at: number[];
}

/**
 * Parses flanneld's arguments (after its binary) as flag.FlagSet.parseOne does, or throws for the
 * first one it refuses. `field(i)` locates argument i in the object.
 */
export function parseFlanneldArgs(args: readonly string[], field: (i: number) => (string | number)[]): ParsedFlag[] {
  const out: ParsedFlag[] = [];
  for (let i = 0; i < args.length; i++) {
    const s = args[i]!;
    if (s.length < 2 || s[0] !== '-')
      throw new PodSpecError(
        field(i),
        s,
        "not a flag: Go's flag parser stops at it, so flanneld would ignore the flags after it " +
          "(cnilab's path flags among them) and use the host's own paths",
        'remove the argument, or write it as a --flag=value',
      );
    if (s === '--') throw new PodSpecError(field(i), s, 'ends the flags: flanneld would ignore every flag after it', 'remove the `--`');
    const body = s.startsWith('--') ? s.slice(2) : s.slice(1);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === 'help' || name === 'h' || name === 'version')
      throw new PodSpecError(field(i), s, 'flanneld would print and exit instead of running', 'remove it');
    if (!BOOL.has(name) && !VALUED.has(name))
      throw new PodSpecError(
        field(i),
        s,
        'flanneld v0.28.9 has no such flag: it would exit at once',
        'remove it, or spell it as flanneld --help does',
      );
    if (eq >= 0 || BOOL.has(name)) {
      out.push({ name, ...(eq >= 0 ? { value: body.slice(eq + 1) } : {}), at: [i] });
      continue;
    }
    if (i + 1 >= args.length) throw new PodSpecError(field(i), s, 'the flag needs a value and none follows', `write ${s}=VALUE`);
    out.push({ name, value: args[i + 1]!, at: [i, i + 1] });
    i++;
  }
  return out;
}

/** The last value given for `name` (Go's flag.Set: the last one wins). */
export const lastValue = (flags: readonly ParsedFlag[], name: string) => flags.filter((f) => f.name === name).at(-1);
