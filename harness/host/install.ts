// Builds a real daemon when it is first needed (`run --manifest` needs kube-apiserver, which a plain
// `run` does not), or when asked (`cnilab install`): ci/ensure.sh --only NAME, whose one progress
// line (time so far against the time expected) and log path reach the terminal as they come.
import { UsageError } from '../errors.ts';
import { spawn } from '../kernel/exec.ts';
import { checkoutRoot } from '../kernel/root.ts';
import { type Binary, forgetBinary, goCache, GO_TOOLS } from './daemons.ts';

/** `binary()` when it is there; else NAME is built (Go's output in its log), then looked up again. */
export async function ensureBuilt(name: string, binary: () => Promise<Binary>): Promise<Binary> {
  const b = await binary();
  if (b.ok || process.env[GO_TOOLS[name]!.env]) return b;
  await buildTool(name);
  forgetBinary(name);
  return binary();
}

/** ci/ensure.sh --only NAME, its progress on this terminal; a failure names its log. */
export async function buildTool(name: string): Promise<void> {
  if (!GO_TOOLS[name]) throw new UsageError(`no tool named "${name}"`, `use one of: ${Object.keys(GO_TOOLS).join(', ')}`);
  // A build takes minutes: no time limit but the user's (Ctrl-C cancels it), its line on this terminal.
  const p = spawn(['bash', `${checkoutRoot()}/ci/ensure.sh`, '--only', name]);
  p.stdout?.pipe(process.stderr);
  p.stderr?.pipe(process.stderr);
  const r = await p.wait();
  if (r.exitCode !== 0) {
    const t = GO_TOOLS[name]!;
    throw new UsageError(
      `building ${name} ${t.version} failed (exit ${r.exitCode}); its log: ${goCache()}/${name}-${t.version}/build.log`,
      `read the log; or point ${t.env} at a ${name} binary of your own`,
    );
  }
}
