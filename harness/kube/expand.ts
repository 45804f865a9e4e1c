// `$(VAR)` in a container's env, command and args, expanded as the kubelet expands them (pure).
// The syntax is k8s.io/kubernetes third_party/forked/golang/expansion/expand.go (Expand,
// tryReadVariableName): `$$` is a literal `$`; `$(NAME)` is NAME's value, or stays `$(NAME)` when
// NAME is not defined; a `$` before anything else, or a `$(` never closed, stays as written.
// Which names are defined: pkg/kubelet/kubelet_pods.go makeEnvironmentVariables expands an env
// `value` against the variables defined above it (dependent env, in order); valueFrom values are
// not expanded. Command and args are expanded against the whole environment
// (pkg/kubelet/container/helpers.go ExpandContainerCommandAndArgs).

export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const rest = input.slice(cursor + 1);
    let advance = 1;
    if (rest[0] === '$') out += '$';
    else if (rest[0] === '(') {
      const close = rest.indexOf(')', 1);
      if (close < 0) out += '$(';
      else {
        const name = rest.slice(1, close);
        out += lookup(name) ?? `$(${name})`;
        advance = close + 1;
      }
    } else {
      // A code point, not a UTF-16 unit, as Go's utf8.DecodeRuneInString reads it.
      const r = String.fromCodePoint(rest.codePointAt(0)!);
      out += `$${r}`;
      advance = r.length;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/**
 * A container's environment in order, each `value` expanded against the ones above it; `resolved`
 * gives a valueFrom variable's value (not expanded, as the kubelet does not expand it).
 */
export function expandEnv<E extends { name: string; value?: string }>(env: readonly E[], resolved: (e: E) => string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of env) {
    out.set(e.name, e.value !== undefined ? expand(e.value, (n) => out.get(n)) : resolved(e));
  }
  return out;
}
