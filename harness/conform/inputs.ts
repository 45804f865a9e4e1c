// The user's files as documents that remember where each value came from: multi-document YAML or
// JSON, any number of files and folders, in any order. A value's source is "file:line"; a value
// inside an embedded JSON string (a ConfigMap's net-conf.json) points at its own line.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isScalar, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { UsageError } from '../errors.ts';

export type Path = (string | number)[];

export interface InputDoc {
  file: string;
  /** 1-based, in its file. */
  index: number;
  /** apiVersion/kind/name when it is a Kubernetes object. */
  kind?: string;
  name?: string;
  namespace?: string;
  value: unknown;
  /** "file:line" of the node at `path` (or its nearest parent). */
  at(path: Path): string;
  /** "file:line" of a key inside a JSON document embedded as a string at `path`. */
  atInString(path: Path, key: string): string;
}

const INPUT_EXT = /\.(ya?ml|json)$/i;

function filesOf(paths: readonly string[]): string[] {
  return paths.flatMap((p) => {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch {
      throw new UsageError(`${p}: no such file or folder`, 'give the path of a manifest, a net-conf.json, or a folder of them');
    }
    if (!st.isDirectory()) return [p];
    return readdirSync(p)
      .sort()
      .filter((f) => INPUT_EXT.test(f))
      .map((f) => join(p, f));
  });
}

export function readInputs(paths: readonly string[], cwd = process.cwd()): InputDoc[] {
  const files = filesOf(paths);
  if (!files.length) throw new UsageError('no .yaml, .yml or .json file in what was given', 'name the files, or a folder holding them');
  return files.flatMap((file) => {
    // Relative to where the user stands when the file is below it; as given otherwise.
    const rel = relative(cwd, file);
    const shown = rel && !rel.startsWith('..') ? rel : file;
    const lines = new LineCounter();
    const docs = parseAllDocuments(readFileSync(file, 'utf8'), { lineCounter: lines, uniqueKeys: false });
    if (!Array.isArray(docs)) return [];
    const bad = docs.find((d) => d.errors.length);
    if (bad) {
      const e = bad.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw new UsageError(
        `${shown}${line ? `:${line}` : ''}: not YAML or JSON: ${e.message.split('\n')[0]}`,
        'fix the syntax (a YAML or JSON file, documents separated by ---)',
      );
    }
    return docs
      .map((doc, i) => ({ doc, i }))
      .filter(({ doc }) => doc.contents !== null)
      .map(({ doc, i }) => toInput(doc, i + 1, shown, lines));
  });
}

function nodeAt(doc: Document, path: Path): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (node && typeof node === 'object' && 'range' in node) return node as Node;
  }
  return undefined;
}

function toInput(doc: Document, index: number, file: string, lines: LineCounter): InputDoc {
  const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const o = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  const lineOf = (path: Path) => {
    const n = nodeAt(doc, path);
    return n?.range ? lines.linePos(n.range[0]).line : 1;
  };
  return {
    file,
    index,
    ...(typeof o.kind === 'string' ? { kind: o.kind } : {}),
    ...(typeof meta.name === 'string' ? { name: meta.name } : {}),
    ...(typeof meta.namespace === 'string' ? { namespace: meta.namespace } : {}),
    value,
    at: (path) => `${file}:${lineOf(path)}`,
    atInString: (path, key) => {
      const node = doc.getIn(path, true);
      if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return `${file}:${lineOf(path)}`;
      const start = lines.linePos(node.range[0]).line;
      // A block scalar (| or >) starts on the line after its indicator; a quoted one on its own line.
      const block = node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED';
      const k = node.value.split('\n').findIndex((l) => new RegExp(`"${key}"\\s*:`, 'i').test(l));
      return `${file}:${k < 0 ? start : start + (block ? 1 : 0) + k}`;
    },
  };
}

/** The value at a path through plain objects and arrays, or undefined. */
export function dig(v: unknown, ...path: (string | number)[]): unknown {
  let cur = v;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/** Keys of a map, in the document's own spelling (for unknown-field findings). */
export function keysOf(v: unknown): string[] {
  return v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v) : [];
}

/** What document this is, for messages: "kube-flannel.yml document 2 (ConfigMap kube-flannel-cfg)". */
export function docName(d: InputDoc): string {
  return `${d.file} document ${d.index}${d.kind ? ` (${d.kind}${d.name ? ` ${d.name}` : ''})` : ''}`;
}
