// The agent a guest runs, as one plain-JS file (harness/host/bundle.ts says why): under 9p, each
// small file read costs too. Built fresh from the sources on the host, once per process.
import { bundleCli } from '../../host/bundle.ts';
import { checkoutRoot } from '../../kernel/root.ts';

let built: Promise<string> | undefined;

/** Builds `.cnilab/agent/cnilab.mjs` once per process (fresh from the sources every run) and returns its path. */
export function agentBundle(): Promise<string> {
  built ??= (async () => {
    const out = `${checkoutRoot()}/.cnilab/agent/cnilab.mjs`;
    await bundleCli(out);
    return out;
  })();
  return built;
}
