// Strict YAML loading: unknown keys are refused, every problem carries file:line:column, and all
// problems are reported at once.
import { readFile, stat } from 'node:fs/promises';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, visit, type Document, type Node } from 'yaml';
import { clip, TopologyError, type TopologyIssue } from '../errors.ts';
import { DEFAULT_SETTINGS, FAULT_KINDS, type FaultKind, type FaultSpec, type Topology, type TopologySpec } from './types.ts';
import { resolveTopology } from './resolve.ts';

type Path = (string | number)[];

/** A topology is a few dozen lines: a larger file is not one (and would only cost memory). */
export const TOPOLOGY_MAX_BYTES = 1024 * 1024;

/** A value as a message shows it: JSON, cut. */
const shown = (v: unknown) => clip(JSON.stringify(v) ?? String(v), 60);

function pathText(path: Path): string {
  return path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${p}` : p), '') || '(top level)';
}

class Reader {
  readonly issues: TopologyIssue[] = [];
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly file?: string,
  ) {}

  issue(path: Path, message: string, fix: string): void {
    const node = this.nodeAt(path);
    const pos = node?.range ? this.lines.linePos(node.range[0]) : undefined;
    this.issues.push({ file: this.file, line: pos?.line, column: pos?.col, path: pathText(path), message, fix });
  }

  private nodeAt(path: Path): Node | undefined {
    // Walk up to the nearest existing node so a missing field points at its parent.
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true);
      if (node && typeof node === 'object' && 'range' in node) return node as Node;
    }
    return undefined;
  }

  value(path: Path): unknown {
    const node = path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
    if (node === undefined || node === null) return undefined;
    if (isScalar(node)) return node.value;
    return node;
  }

  keys(path: Path, allowed: readonly string[], what: string): boolean {
    const node = path.length === 0 ? this.doc.contents : this.doc.getIn(path, true);
    if (!isMap(node)) {
      this.issue(path, `${what} must be a mapping`, `write ${what} as "key: value" lines`);
      return false;
    }
    for (const item of node.items) {
      const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
      if (!allowed.includes(key)) {
        this.issue([...path, key], `unknown field "${key}" in ${what}`, `remove it, or use one of: ${allowed.join(', ')}`);
      }
    }
    return true;
  }

  string(
    path: Path,
    opts: { required?: boolean; pattern?: RegExp; patternText?: string; def?: string; what?: string },
  ): string | undefined {
    const v = this.value(path);
    if (v === undefined) {
      if (opts.required) this.issue(path, 'is missing', `add ${pathText(path)}`);
      return opts.def;
    }
    if (typeof v !== 'string') {
      this.issue(path, `must be a string, got ${shown(v)}`, 'quote the value');
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      this.issue(path, `"${v}" is not a valid ${opts.what ?? 'name'}`, `use ${opts.patternText}`);
      return undefined;
    }
    return v;
  }

  int(path: Path, opts: { def?: number; min: number; max: number; required?: boolean }): number | undefined {
    const v = this.value(path);
    if (v === undefined) {
      if (opts.required) this.issue(path, 'is missing', `add ${pathText(path)}`);
      return opts.def;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < opts.min || v > opts.max) {
      this.issue(path, `must be an integer from ${opts.min} to ${opts.max}, got ${shown(v)}`, `set a value in ${opts.min}..${opts.max}`);
      return undefined;
    }
    return v;
  }

  bool(path: Path, def: boolean): boolean {
    const v = this.value(path);
    if (v === undefined) return def;
    if (typeof v !== 'boolean') {
      this.issue(path, `must be true or false, got ${shown(v)}`, 'write true or false');
      return def;
    }
    return v;
  }

  seq(path: Path, what: string): number {
    const node = this.doc.getIn(path, true);
    if (node === undefined) return 0;
    if (!isSeq(node)) {
      this.issue(path, `${what} must be a list`, `write each entry of ${what} on a line starting with "- "`);
      return 0;
    }
    return node.items.length;
  }
}

export const NAME_RE = /^[a-z][a-z0-9]{0,9}$/;
const NAME_TEXT =
  'lowercase letters and digits, starting with a letter, at most 10 characters (it becomes part of interface and namespace names)';
export const POD_RE = /^[a-z][a-z0-9-]{0,19}$/;
const POD_TEXT = 'lowercase letters, digits and "-", starting with a letter, at most 20 characters';

/** Parses a topology from YAML text. Throws TopologyError listing every problem found. */
export function parseTopology(text: string, file?: string): Topology {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new TopologyError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
        return {
          file,
          line: pos?.line,
          column: pos?.col,
          path: '(yaml)',
          message: e.message.split('\n')[0]!,
          fix: 'fix the YAML syntax at that position',
        };
      }),
    );
  }
  // Aliases: a topology is read field by field, so *a would reach a field as an alias object, and
  // an alias bomb would expand without end. Refused, each with its line.
  const aliases: TopologyIssue[] = [];
  visit(doc, {
    Alias: (_, node) => {
      const pos = node.range ? lines.linePos(node.range[0]) : undefined;
      aliases.push({
        file,
        line: pos?.line,
        column: pos?.col,
        path: '(yaml)',
        message: `YAML alias *${clip(node.source, 40)} is not allowed in a topology`,
        fix: 'write the value out where it is used',
      });
    },
  });
  if (aliases.length) throw new TopologyError(aliases.slice(0, 5));
  const r = new Reader(doc, lines, file);
  const spec = readSpec(r);
  if (r.issues.length > 0 || !spec) throw new TopologyError(r.issues);
  const resolved = resolveTopology(spec, (path, message, fix) => r.issue(path, message, fix));
  if (r.issues.length > 0 || !resolved) throw new TopologyError(r.issues);
  return { ...resolved, source: file };
}

export async function loadTopology(file: string): Promise<Topology> {
  let text: string;
  try {
    const size = (await stat(file)).size;
    if (size > TOPOLOGY_MAX_BYTES)
      throw new TopologyError([
        {
          file,
          path: '(file)',
          message: `${size} bytes: more than a topology can be (${TOPOLOGY_MAX_BYTES})`,
          fix: 'check the path given to --topology',
        },
      ]);
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof TopologyError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new TopologyError([
      { file, path: '(file)', message: `cannot read the file (${code ?? String(e)})`, fix: 'check the path given to --topology' },
    ]);
  }
  return parseTopology(text, file);
}

function readSpec(r: Reader): TopologySpec | undefined {
  if (
    !r.keys(
      [],
      ['name', 'mtu', 'podCidr', 'subnetLen', 'blockSize', 'subnets', 'router', 'nodes', 'flannel', 'calico', 'faults'],
      'the topology',
    )
  )
    return undefined;
  const name = r.string(['name'], {
    required: true,
    pattern: /^[a-z0-9][a-z0-9-]{0,39}$/,
    patternText: 'lowercase letters, digits and "-"',
  });
  const mtu = r.int(['mtu'], { def: 1500, min: 1280, max: 9000 });
  const podCidr = r.string(['podCidr'], { def: '10.244.0.0/16' });
  const subnetLen = r.int(['subnetLen'], { def: 24, min: 8, max: 30 });
  const blockSize = r.int(['blockSize'], { def: 26, min: 20, max: 32 });

  const subnets: TopologySpec['subnets'] = [];
  const nSubnets = r.seq(['subnets'], 'subnets');
  if (r.value(['subnets']) === undefined)
    r.issue(['subnets'], 'is missing', 'add at least one underlay subnet: subnets: [{name: a, cidr: 172.31.10.0/24}]');
  for (let i = 0; i < nSubnets; i++) {
    if (!r.keys(['subnets', i], ['name', 'cidr'], `subnets[${i}]`)) continue;
    const sname = r.string(['subnets', i, 'name'], { required: true, pattern: NAME_RE, patternText: NAME_TEXT });
    const scidr = r.string(['subnets', i, 'cidr'], { required: true });
    if (sname && scidr) subnets.push({ name: sname, cidr: scidr });
  }

  let router: TopologySpec['router'];
  if (r.value(['router']) !== undefined && r.keys(['router'], ['name', 'bgpPeer'], 'router')) {
    router = {
      name: r.string(['router', 'name'], { def: 'router', pattern: NAME_RE, patternText: NAME_TEXT }) ?? 'router',
      bgpPeer: r.bool(['router', 'bgpPeer'], false),
    };
  }
  const d = DEFAULT_SETTINGS;
  // flannel: the Backend of net-conf.json (VNI, Port); calico: FELIX_VXLANVNI, FELIX_VXLANPORT, the AS number.
  if (r.value(['flannel']) !== undefined) r.keys(['flannel'], ['vni', 'port'], 'flannel');
  if (r.value(['calico']) !== undefined) r.keys(['calico'], ['vxlanVni', 'vxlanPort', 'asn'], 'calico');
  const settings = {
    flannel: {
      vni: r.int(['flannel', 'vni'], { def: d.flannel.vni, min: 1, max: 16777215 }) ?? d.flannel.vni,
      port: r.int(['flannel', 'port'], { def: d.flannel.port, min: 1, max: 65535 }) ?? d.flannel.port,
    },
    calico: {
      vxlanVni: r.int(['calico', 'vxlanVni'], { def: d.calico.vxlanVni, min: 1, max: 16777215 }) ?? d.calico.vxlanVni,
      vxlanPort: r.int(['calico', 'vxlanPort'], { def: d.calico.vxlanPort, min: 1, max: 65535 }) ?? d.calico.vxlanPort,
      asn: r.int(['calico', 'asn'], { def: d.calico.asn, min: 1, max: 4294967294 }) ?? d.calico.asn,
    },
  };

  // flanneld names its device flannel.<VNI>; Linux allows 15 characters, so 7 digits at most.
  if (String(settings.flannel.vni).length > 7) {
    r.issue(
      ['flannel', 'vni'],
      `${settings.flannel.vni} makes the device name flannel.${settings.flannel.vni}, over Linux's 15 characters`,
      'use a VNI of at most 9999999',
    );
  }

  const nodes: TopologySpec['nodes'] = [];
  const nNodes = r.seq(['nodes'], 'nodes');
  if (r.value(['nodes']) === undefined) r.issue(['nodes'], 'is missing', 'add at least one node: nodes: [{name: n1, subnet: a, pods: 2}]');
  for (let i = 0; i < nNodes; i++) {
    if (!r.keys(['nodes', i], ['name', 'subnet', 'ip', 'pods'], `nodes[${i}]`)) continue;
    const nname = r.string(['nodes', i, 'name'], { required: true, pattern: NAME_RE, patternText: NAME_TEXT });
    const nsub = r.string(['nodes', i, 'subnet'], { required: true });
    const nip = r.string(['nodes', i, 'ip'], {});
    const pods = readPods(r, ['nodes', i, 'pods']);
    if (nname && nsub && pods) nodes.push({ name: nname, subnet: nsub, ...(nip ? { ip: nip } : {}), pods });
  }
  const faults = readFaults(r);
  if (!name || mtu === undefined || !podCidr || subnetLen === undefined || blockSize === undefined) return undefined;
  return {
    name,
    mtu,
    podCidr,
    subnetLen,
    blockSize,
    subnets,
    ...(router ? { router } : {}),
    nodes,
    settings,
    ...(faults.length ? { faults } : {}),
  };
}

/** faults: [{ kind: loss|down|delay|router-restart, link: NODE|router, percent?, ms?, expect? }] */
function readFaults(r: Reader): FaultSpec[] {
  const out: FaultSpec[] = [];
  const n = r.value(['faults']) === undefined ? 0 : r.seq(['faults'], 'faults');
  for (let i = 0; i < n; i++) {
    if (!r.keys(['faults', i], ['name', 'kind', 'link', 'percent', 'ms', 'expect'], `faults[${i}]`)) continue;
    const kind = r.string(['faults', i, 'kind'], {
      required: true,
      pattern: new RegExp(`^(${FAULT_KINDS.join('|')})$`),
      patternText: `one of ${FAULT_KINDS.join(', ')}`,
      what: 'fault kind',
    }) as FaultKind | undefined;
    const link = r.string(['faults', i, 'link'], { required: true });
    const percent = kind === 'loss' ? r.int(['faults', i, 'percent'], { required: true, min: 1, max: 100 }) : undefined;
    const ms =
      kind === 'delay'
        ? r.int(['faults', i, 'ms'], { required: true, min: 1, max: 10_000 })
        : kind === 'router-restart'
          ? r.int(['faults', i, 'ms'], { def: 2000, min: 100, max: 60_000 })
          : undefined;
    if (kind !== 'loss' && r.value(['faults', i, 'percent']) !== undefined)
      r.issue(['faults', i, 'percent'], `only a loss fault has a percent`, 'remove it, or use kind: loss');
    if ((kind === 'loss' || kind === 'down') && r.value(['faults', i, 'ms']) !== undefined)
      r.issue(['faults', i, 'ms'], `a ${kind} fault has no ms`, 'remove it, or use kind: delay');
    let expect: FaultSpec['expect'];
    if (
      r.value(['faults', i, 'expect']) !== undefined &&
      r.keys(['faults', i, 'expect'], ['reachable', 'maxLossPercent', 'maxRttMs'], `faults[${i}].expect`)
    ) {
      const reachable = r.string(['faults', i, 'expect', 'reachable'], {
        pattern: /^(kept|lost|any)$/,
        patternText: 'kept, lost or any',
        what: 'expectation',
      }) as 'kept' | 'lost' | 'any' | undefined;
      const maxLossPercent = r.int(['faults', i, 'expect', 'maxLossPercent'], { min: 0, max: 100 });
      const maxRttMs = r.int(['faults', i, 'expect', 'maxRttMs'], { min: 1, max: 60_000 });
      expect = {
        ...(reachable ? { reachable } : {}),
        ...(maxLossPercent !== undefined ? { maxLossPercent } : {}),
        ...(maxRttMs !== undefined ? { maxRttMs } : {}),
      };
    }
    const name = r.string(['faults', i, 'name'], {
      def: `${kind}-${link}`,
      pattern: /^[a-z0-9][a-z0-9-]{0,39}$/,
      patternText: 'lowercase letters, digits and "-"',
    });
    if (kind && link && name)
      out.push({ name, kind, link, ...(percent ? { percent } : {}), ...(ms ? { ms } : {}), ...(expect ? { expect } : {}) });
  }
  return out;
}

/** `pods: 2` names them p1, p2; `pods: [web, db]` names them. */
function readPods(r: Reader, path: Path): string[] | undefined {
  const v = r.value(path);
  if (v === undefined) return ['p1', 'p2'];
  if (typeof v === 'number') {
    const n = r.int(path, { min: 0, max: 100 });
    return n === undefined ? undefined : Array.from({ length: n }, (_, k) => `p${k + 1}`);
  }
  const len = r.seq(path, 'pods');
  const names: string[] = [];
  for (let k = 0; k < len; k++) {
    const p = r.string([...path, k], { required: true, pattern: POD_RE, patternText: POD_TEXT });
    if (p) names.push(p);
  }
  return names;
}
