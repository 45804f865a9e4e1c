// A key written twice in one JSON object (pure). JSON.parse keeps the last value silently, and so
// does Go's encoding/json, which flanneld (net-conf.json) and libcni (cni-conf.json) read with; it
// also matches keys case-insensitively, so "Network" and "network" are the same field to it. Two
// values for one field in a config are input nobody can judge: conform and --manifest refuse it.

export interface DuplicateKey {
  key: string;
  /** Both spellings, as written. */
  first: string;
  /** 0-based line of the second one in the text. */
  line: number;
}

export function duplicateKey(text: string, caseInsensitive = true): DuplicateKey | undefined {
  const stack: (Map<string, string> | null)[] = [];
  let line = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    else if (c === '{') stack.push(new Map());
    else if (c === '[') stack.push(null);
    else if (c === '}' || c === ']') stack.pop();
    else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const raw = text.slice(i, j + 1);
      i = j;
      let k = j + 1;
      while (/\s/.test(text[k] ?? '')) k++;
      const obj = stack.at(-1);
      if (text[k] !== ':' || !obj) continue;
      let key: string;
      try {
        key = JSON.parse(raw) as string;
      } catch {
        return undefined; // not JSON: JSON.parse says so where the caller parses it
      }
      const norm = caseInsensitive ? key.toLowerCase() : key;
      const seen = obj.get(norm);
      if (seen !== undefined) return { key, first: seen, line };
      obj.set(norm, key);
    }
  }
  return undefined;
}
