// The console protocol every guest speaks: its init prints a marker with a per-run nonce and the
// command's exit status (or the setup step that failed), then powers off. The marker is the only
// truth: a guest kernel's own exit status says nothing.
export const EXIT_MARKER = '@@CNILAB-GUEST-EXIT';
export const SETUP_MARKER = '@@CNILAB-GUEST-SETUP-FAILED';
export const TAIL_LINES = 40;

// reboot(LINUX_REBOOT_MAGIC1, MAGIC2, LINUX_REBOOT_CMD_POWER_OFF) (x86_64 syscall 169)
const PERL_POWEROFF = `syscall(169, 0xfee1dead, 672274793, 0x4321fedc, 0)`;

/** Shell functions every guest init script starts with: `off` powers the guest off, `fail STEP` reports a setup failure. */
export function shellPrelude(nonce: string): string {
  return `export PATH=/usr/sbin:/usr/bin:/sbin:/bin
NONCE=${nonce}
off() {
  sync
  echo o > /proc/sysrq-trigger 2>/dev/null
  sleep 3 2>/dev/null
  perl -e '${PERL_POWEROFF}' 2>/dev/null
  sleep 1000
}
fail() {
  echo
  echo "${SETUP_MARKER} $NONCE $*@@"
  off
  # off returns when the power-off already took the root away (sleep and perl no longer exec, seen
  # on a busy host): the job must not run after a failed setup. init exiting ends the guest.
  exit 1
}`;
}

/** The lines that end a guest's job: print the exit marker, then power off. `code` is a shell expression. */
export function shellEpilogue(code: string): string {
  return `code=${code}
sync
echo
echo "${EXIT_MARKER} $NONCE $code@@"
off
`;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The command's exit status from the console, or undefined when the marker never came. */
export function parseExitMarker(console: string, nonce: string): number | undefined {
  const re = new RegExp(`${escapeRe(EXIT_MARKER)} ${escapeRe(nonce)} (\\d+)@@`, 'g');
  let code: number | undefined;
  for (const m of console.matchAll(re)) code = Number(m[1]);
  return code;
}

/** The failed setup step, when the guest init reported one. */
export function parseSetupFailure(console: string, nonce: string): string | undefined {
  const m = new RegExp(`${escapeRe(SETUP_MARKER)} ${escapeRe(nonce)} (.*)@@`).exec(console);
  return m?.[1];
}

export function isMarkerLine(line: string, nonce: string): boolean {
  return line.startsWith(`${EXIT_MARKER} ${nonce} `) || line.startsWith(`${SETUP_MARKER} ${nonce} `);
}

/** Splits a byte stream into lines; strips the CR a guest tty adds. */
export class LineSplitter {
  private rest = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: string): void {
    const parts = (this.rest + chunk).split('\n');
    this.rest = parts.pop() ?? '';
    for (const p of parts) this.onLine(p.replace(/\r+$/, '').replace(/\r/g, ''));
  }
  flush(): void {
    if (this.rest) this.onLine(this.rest.replace(/\r/g, ''));
    this.rest = '';
  }
}

/** Name part usable in a guest id and a file name: [A-Za-z0-9_.-], at most 32 characters. */
export function sanitizeName(name: string): string {
  const s = name
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[-.]+/, '')
    .slice(0, 32);
  return s || 'guest';
}
