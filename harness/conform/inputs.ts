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
  /** "file:line" of line `n` (0-based) of a string at `path`. */
  atLineInString(path: Path, n: number): string;
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

/**
 * Limits on what one input may be. A document: etcd's default request limit (1.5 MiB), so the API
 * server could not store a larger object anyway. A file: many such documents. Aliases: yaml's own
 * guard against an alias bomb (a few lines that expand to gigabytes), as an error with the file.
 */
export const INPUT_LIMITS = { fileBytes: 32 * 1024 * 1024, documentBytes: 1.5 * 1024 * 1024, aliases: 100 };

export function readInputs(paths: readonly string[], cwd = process.cwd()): InputDoc[] {
  const files = filesOf(paths);
  if (!files.length) throw new UsageError('no .yaml, .yml or .json file in what was given', 'name the files, or a folder holding them');
  return files.flatMap((file) => {
    // Relative to where the user stands when the file is below it; as given otherwise.
    const rel = relative(cwd, file);
    const shown = rel && !rel.startsWith('..') ? rel : file;
    const size = statSync(file).size;
    if (size > INPUT_LIMITS.fileBytes)
      throw new UsageError(
        `${shown}: ${mib(size)} is more than cnilab reads (${mib(INPUT_LIMITS.fileBytes)})`,
        'split it, or give only the files that matter',
      );
    const lines = new LineCounter();
    // Duplicate keys are an error, as kubectl's YAML reader makes them: a second net-conf.json key
    // would otherwise win silently while the first one's line is cited.
    const docs = parseAllDocuments(readFileSync(file, 'utf8'), { lineCounter: lines, uniqueKeys: true });
    if (!Array.isArray(docs)) return [];
    const bad = docs.find((d) => d.errors.length);
    if (bad) {
      const e = bad.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw new UsageError(
        `${shown}${line ? `:${line}` : ''}: not YAML or JSON: ${e.message.split('\n')[0]}`,
        e.code === 'DUPLICATE_KEY' ? 'write each key once' : 'fix the syntax (a YAML or JSON file, documents separated by ---)',
      );
    }
    return docs
      .map((doc, i) => ({ doc, i }))
      .filter(({ doc }) => doc.contents !== null)
      .flatMap(({ doc, i }) => listItems(toInput(doc, i + 1, shown, lines)));
  });
}

/**
 * A `kind: List` (what `kubectl get ippool -o yaml` prints; also `IPPoolList` and the like) as its
 * items, each a document of its own whose lines are still the file's; any other document as it is.
 */
function listItems(d: InputDoc): InputDoc[] {
  const items = dig(d.value, 'items');
  if (!d.kind?.endsWith('List') || !Array.isArray(items)) return [d];
  return items.map((value, i) => {
    const o = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
    const meta = (o.metadata ?? {}) as Record<string, unknown>;
    const inItem = (path: Path): Path => ['items', i, ...path];
    return {
      file: d.file,
      index: d.index,
      ...(typeof o.kind === 'string' ? { kind: o.kind } : {}),
      ...(typeof meta.name === 'string' ? { name: meta.name } : {}),
      ...(typeof meta.namespace === 'string' ? { namespace: meta.namespace } : {}),
      value,
      at: (path) => d.at(inItem(path)),
      atInString: (path, key) => d.atInString(inItem(path), key),
      atLineInString: (path, n) => d.atLineInString(inItem(path), n),
    };
  });
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

function nodeAt(doc: Document, path: Path): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (node && typeof node === 'object' && 'range' in node) return node as Node;
  }
  return undefined;
}

function toInput(doc: Document, index: number, file: string, lines: LineCounter): InputDoc {
  const [start, , end] = doc.range ?? [0, 0, 0];
  const line = lines.linePos(start).line;
  if (end - start > INPUT_LIMITS.documentBytes)
    throw new UsageError(
      `${file}:${line}: document ${index} is ${mib(end - start)}, ` +
        `more than the API server stores in one object (${mib(INPUT_LIMITS.documentBytes)})`,
      'split it into smaller objects',
    );
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: INPUT_LIMITS.aliases }) as unknown;
  } catch (e) {
    // yaml's guard: "Excessive alias count indicates a resource exhaustion attack".
    throw new UsageError(
      `${file}:${line}: document ${index} expands its YAML aliases too far (${(e as Error).message})`,
      'write the values out instead of through *aliases',
    );
  }
  const o = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  const lineOf = (path: Path) => {
    const n = nodeAt(doc, path);
    return n?.range ? lines.linePos(n.range[0]).line : 1;
  };
  const atLine = (path: Path, n: number) => {
    const node = doc.getIn(path, true);
    if (!isScalar(node) || typeof node.value !== 'string' || !node.range) return `${file}:${lineOf(path)}`;
    // A block scalar (| or >) starts on the line after its indicator; a quoted one on its own line.
    const block = node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED';
    return `${file}:${lines.linePos(node.range[0]).line + (block ? 1 : 0) + n}`;
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
      const text = isScalar(node) && typeof node.value === 'string' ? node.value : '';
      const k = text.split('\n').findIndex((l) => new RegExp(`"${key}"\\s*:`, 'i').test(l));
      return atLine(path, Math.max(k, 0));
    },
    atLineInString: (path, n) => atLine(path, n),
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
