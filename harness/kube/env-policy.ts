// A pod's environment is the pod's, not the loader's (pure). In a container, LD_PRELOAD or
// GCONV_PATH act on the image's own files; here the daemon is a host binary run as root, so the
// same variable would load a library of the manifest's choosing into a root process (flanneld and
// the iptables it runs). Variables the dynamic loader, libc, the shell or iptables act on are
// refused with the reason; PATH may name only the system's binary folders, as an image's does.
import { clip } from '../errors.ts';
import { PodSpecError } from './confine.ts';

/** glibc's list of variables it drops for setuid programs (sysdeps/generic/unsecvars.h). */
const LIBC = new Set([
  'GCONV_PATH',
  'GETCONF_DIR',
  'GLIBC_TUNABLES',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'LOCPATH',
  'MALLOC_TRACE',
  'NIS_PATH',
  'NLSPATH',
  'RESOLV_HOST_CONF',
  'RES_OPTIONS',
  'TMPDIR',
  'TZDIR',
]);
/** Read by a shell at start (a daemon's helper scripts) or by iptables to load its extensions. */
const SHELL_AND_TOOLS = new Set([
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'IFS',
  'CDPATH',
  'XTABLES_LIBDIR',
  'IPTABLES_LIB_DIR',
  'IP6TABLES_LIB_DIR',
]);

/** The binary folders of the host, the stand-ins for an image's own (root-owned, not writable by users). */
export const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Why a variable may not reach a root daemon, or undefined when it may. */
export function refusedEnv(name: string, value: string): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    return 'not a plain variable name (letters, digits and "_"): cnilab passes no other kind to a root process';
  if (name.startsWith('LD_')) return "the dynamic loader acts on it: it would load code of the manifest's choosing into a root process";
  if (name.startsWith('BASH_FUNC_')) return 'bash imports it as a function';
  if (LIBC.has(name))
    return "libc acts on it (glibc drops it for privileged programs): it would make a root process read files of the manifest's choosing";
  if (SHELL_AND_TOOLS.has(name)) return "a shell or iptables acts on it at start: it would run or load code of the manifest's choosing";
  if (name === 'PATH') {
    const bad = value.split(':').find((d) => !SYSTEM_PATH.includes(d.replace(/\/$/, '')));
    if (bad !== undefined)
      return `PATH entry ${clip(JSON.stringify(bad), 60)} is not a system binary folder: the daemon's iptables would come from there`;
  }
  return undefined;
}

/** Throws for the first variable that may not reach a root daemon; `field` locates it in the object. */
export function checkEnv(env: readonly { name: string; value: string; field: (string | number)[] }[]): void {
  for (const e of env) {
    const why = refusedEnv(e.name, e.value);
    if (why) throw new PodSpecError(e.field, `${e.name}=${e.value}`, why, `remove ${clip(e.name, 40)} from the container's env`);
  }
}
