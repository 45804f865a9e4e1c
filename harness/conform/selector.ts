// Calico's label selector, the part IPPool and Installation nodeSelectors use: all(), has(k),
// k == "v", k != "v", k in {..}, k not in {..}, !, &&, || and parentheses. Enough to tell which lab
// nodes a pool selects; anything else is reported as not understood rather than guessed at.
// Grammar: projectcalico/calico libcalico-go/lib/selector/parser (the same operators).

export type Labels = Readonly<Record<string, string>>;
export type Selector = (labels: Labels) => boolean;

export function parseSelector(text: string): Selector | { error: string } {
  const tokens = text.match(/\s*(&&|\|\||==|!=|[!(){},]|not\s+in\b|in\b|all\(\)|has\(|"[^"]*"|'[^']*'|[A-Za-z0-9_./-]+)/g);
  if (text.trim() === '') return () => true;
  if (!tokens || tokens.join('').replace(/\s/g, '') !== text.replace(/\s/g, '')) return { error: `cannot read "${text}"` };
  const toks = tokens.map((t) => t.trim());
  let i = 0;
  const peek = () => toks[i];
  const take = (want?: string) => {
    const t = toks[i++];
    if (t === undefined || (want !== undefined && t.replace(/\s+/g, ' ') !== want))
      throw new Error(`expected ${want ?? 'more'} at "${t ?? 'end'}"`);
    return t;
  };
  const str = () => {
    const t = take();
    if (!/^["'].*["']$/.test(t)) throw new Error(`expected a quoted value at "${t}"`);
    return t.slice(1, -1);
  };
  const or = (): Selector => {
    let l = and();
    while (peek() === '||') {
      take();
      const a = l;
      const b = and();
      l = (x) => a(x) || b(x);
    }
    return l;
  };
  const and = (): Selector => {
    let l = unary();
    while (peek() === '&&') {
      take();
      const a = l;
      const b = unary();
      l = (x) => a(x) && b(x);
    }
    return l;
  };
  const unary = (): Selector => {
    const t = peek();
    if (t === '!') {
      take();
      const s = unary();
      return (x) => !s(x);
    }
    if (t === '(') {
      take();
      const s = or();
      take(')');
      return s;
    }
    if (t === 'all()') {
      take();
      return () => true;
    }
    if (t === 'has(') {
      take();
      const k = take();
      take(')');
      return (x) => k in x;
    }
    const key = take();
    if (!/^[A-Za-z0-9_./-]+$/.test(key)) throw new Error(`expected a label at "${key}"`);
    const op = take().replace(/\s+/g, ' ');
    if (op === '==' || op === '!=') {
      const v = str();
      return op === '==' ? (x) => x[key] === v : (x) => x[key] !== v;
    }
    if (op === 'in' || op === 'not in') {
      take('{');
      const set = new Set<string>();
      while (peek() !== '}') {
        set.add(str());
        if (peek() === ',') take();
      }
      take('}');
      return op === 'in' ? (x) => x[key] !== undefined && set.has(x[key]) : (x) => x[key] === undefined || !set.has(x[key]);
    }
    throw new Error(`unknown operator "${op}"`);
  };
  try {
    const s = or();
    if (i < toks.length) throw new Error(`unexpected "${toks[i]}"`);
    return s;
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** The labels a kubelet gives every node: what a lab node would carry in a cluster. */
export const nodeLabels = (name: string): Labels => ({
  'kubernetes.io/hostname': name,
  'kubernetes.io/os': 'linux',
  'kubernetes.io/arch': 'amd64',
});
