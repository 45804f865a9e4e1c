// Calls real CNI plugins the way kubelet does: inside the node's namespace, config on stdin,
// parameters in CNI_* variables, the result as JSON on stdout.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { KernelError } from '../errors.ts';
import type { NodeExecutor } from './executor.ts';

export const CNI_PATHS = ['/usr/lib/cni', '/opt/cni/bin'];

export function cniBinDir(): string | undefined {
  return CNI_PATHS.find((d) => existsSync(`${d}/bridge`) && existsSync(`${d}/host-local`));
}

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
}

/** Runs a plugin in the node, for the pod's namespace (its executor's netnsPath). */
export async function cniCall(
  cmd: 'ADD' | 'DEL',
  args: {
    node: NodeExecutor;
    pod: NodeExecutor;
    containerId: string;
    ifname: string;
    config: object;
    /** Where the plugins it delegates to are (CNI_PATH). */
    binDir: string;
    /** A plugin name in binDir, or the absolute path of one elsewhere (a user's own flannel plugin). */
    plugin: string;
  },
): Promise<CniResult | undefined> {
  const pluginPath = args.plugin.startsWith('/') ? args.plugin : `${args.binDir}/${args.plugin}`;
  const env = {
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: args.containerId,
    CNI_NETNS: args.pod.netnsPath,
    CNI_IFNAME: args.ifname,
    CNI_PATH: args.plugin.startsWith('/') ? `${dirname(args.plugin)}:${args.binDir}` : args.binDir,
  };
  const r = await args.node.run([pluginPath], {
    input: JSON.stringify(args.config),
    env,
    reject: false,
    op: `CNI ${cmd} ${args.plugin}`,
  });
  if (r.exitCode !== 0) {
    // Plugins report errors as JSON on stdout ({code, msg, details}).
    let said = r.stderr.trim() || r.stdout.trim();
    try {
      const e = JSON.parse(r.stdout) as { msg?: string; details?: string };
      said = [e.msg, e.details].filter(Boolean).join(': ') || said;
    } catch {
      /* not JSON: keep the raw text */
    }
    throw new KernelError({
      op: `CNI ${cmd} ${args.plugin} for ${args.pod.id}`,
      where: args.node.id,
      command: `${pluginPath} (${Object.entries(env)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')})`,
      exitCode: r.exitCode,
      stderr: said,
    });
  }
  return cmd === 'ADD' ? (JSON.parse(r.stdout) as CniResult) : undefined;
}
