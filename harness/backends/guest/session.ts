// A BackendSession whose lab lives inside a guest: the guest boots once and runs `cnilab agent`,
// which builds the lab with the netns backend on the guest's own kernel and answers the requests
// of this session (protocol.ts). One boot serves every mode the session programs. Results come
// back marked with this backend, their captures relative to the host's results folder.
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkoutRoot } from '../../kernel/root.ts';
import { CancelledError, fromWire, GuestError } from '../../errors.ts';
import { own } from '../../kernel/lifecycle.ts';
import type { KernelFeature, ModeDef } from '../../modes/mode.ts';
import type { BackendName, FaultResult, RunResult } from '../../results/schema.ts';
import type { PerfOptions, PerfSamples } from '../../results/samples.ts';
import type { Topology } from '../../topology/types.ts';
import type { BackendSession, CheckRequest, StartOptions } from '../backend.ts';
import { readResponse, sleep, writeRequest, type AgentReplies, type AgentRequest } from './protocol.ts';
import { agentBundle } from './bundle.ts';
import { runInGuest, type GuestKind, type GuestRunResult } from './runner.ts';

const ROOT = checkoutRoot();

/** Kernel modules a guest loads for a mode's kernel features (the rest autoload). */
const MODULES: Record<KernelFeature, string[]> = { ipip: ['ipip'], vxlan: ['vxlan'], bridge: ['bridge'], veth: ['veth'], tun: ['tun'] };
/** Every lab's underlay is veth pairs and bridges (bridge also pulls in ipv6, whose sysctls the underlay sets). */
const UNDERLAY: KernelFeature[] = ['veth', 'bridge'];

export interface GuestSessionOptions extends StartOptions {
  memMb?: number;
}

export class GuestSession implements BackendSession {
  private seq = 0;
  private guest: Promise<GuestRunResult> | undefined;
  private booting: Promise<void> | undefined;
  private ended: { error: unknown } | undefined;
  private readonly release: () => void;
  private readonly out: string;
  private readonly ctl: string;
  private downing: Promise<void> | undefined;
  private abort = new AbortController();
  private busy = 0;
  /** The guest's whole console; failures name this file and show one line. */
  readonly consoleLog: string;

  constructor(
    private readonly kind: GuestKind,
    readonly backend: BackendName,
    private readonly topology: Topology,
    private readonly opts: GuestSessionOptions,
  ) {
    this.out = resolve(opts.outDir, backend);
    this.ctl = `${this.out}/ctl`;
    this.consoleLog = resolve(opts.outDir, `${backend}-console.log`);
    this.release = own(this);
  }

  get lab(): string {
    return this.opts.name;
  }

  view() {
    return undefined;
  }

  private async boot(): Promise<void> {
    rmSync(this.out, { recursive: true, force: true });
    mkdirSync(this.ctl, { recursive: true });
    writeFileSync(this.consoleLog, '');
    const onConsole = (line: string) => {
      appendFileSync(this.consoleLog, `${line}\n`);
      this.opts.onConsole?.(line);
    };
    const features = new Set<KernelFeature>([...UNDERLAY, ...(this.opts.modes ?? []).flatMap((m) => m.needs.kernel)]);
    const modules = [...new Set([...features].flatMap((f) => MODULES[f]))];
    const command = [process.execPath, await agentBundle(), 'agent', '--dir', this.ctl];
    this.opts.progress?.(`${this.backend}: booting a guest for lab ${this.lab}`);
    this.guest = runInGuest(this.kind, {
      command,
      cwd: ROOT,
      share: [{ hostPath: this.out, guestPath: this.out }],
      modules,
      timeoutMs: this.opts.timeoutMs ?? 1_800_000,
      name: `cnilab-${this.lab}`,
      memMb: this.opts.memMb ?? 1024,
      signal: this.abort.signal,
      onConsole,
    });
    // One line for tables and reports, naming the whole console's file; the tail kept for the terminal.
    const oneLine = (e: unknown) => {
      const first = e instanceof Error ? e.message.split('\n')[0] : String(e);
      return e instanceof GuestError ? new GuestError(e.kind, `${first} (console: ${this.consoleLog})`, e.consoleTail) : e;
    };
    this.guest.then(
      (r) =>
        (this.ended = {
          error: new GuestError(
            'crashed',
            `${this.kind.name} guest agent exited (${r.exitCode}) before it was asked to (console: ${this.consoleLog})`,
            [],
          ),
        }),
      // Aborted: by a cancelled run, or by down() while busy; either way not the guest's own failure.
      (e: unknown) =>
        (this.ended = {
          error: e instanceof GuestError && e.kind === 'aborted' ? new CancelledError(`${this.kind.name} guest`) : oneLine(e),
        }),
    );
  }

  /** Sends one request and waits for its answer, or for the guest to die. */
  private async call<K extends AgentRequest['op']>(req: Extract<AgentRequest, { op: K }>): Promise<AgentReplies[K]> {
    if (!this.guest) {
      this.booting ??= this.boot();
      await this.booting;
    }
    if (this.ended) throw this.ended.error;
    const seq = ++this.seq;
    writeRequest(this.ctl, seq, req);
    this.busy++;
    try {
      for (let wait = 5; ; wait = Math.min(wait * 2, 50)) {
        const res = readResponse(this.ctl, seq);
        if (res) {
          if (res.ok) return res.value as AgentReplies[K];
          throw fromWire(res.error);
        }
        // Set by the guest's promise meanwhile: TypeScript cannot see that across the await.
        const ended = this.ended as { error: unknown } | undefined;
        if (ended) throw ended.error;
        await sleep(wait);
      }
    } finally {
      this.busy--;
    }
  }

  async up(mode: ModeDef): Promise<void> {
    await this.call({
      op: 'up',
      lab: this.lab,
      topology: this.topology,
      mode: mode.name,
      ...(this.opts.settings ? { settings: this.opts.settings } : {}),
      // A manifest's lab in a guest (a mode this kernel cannot run, IPIP): its own API server there, the same objects.
      ...(this.opts.manifest ? { manifest: this.opts.manifest } : {}),
    });
  }
  async program(mode: ModeDef): Promise<void> {
    await this.call({ op: 'program', mode: mode.name });
  }
  staleState(): Promise<string[]> {
    return this.call({ op: 'stale' });
  }
  async check(mode: ModeDef, req: CheckRequest): Promise<RunResult> {
    const { outDir: _o, progress: _p, ...check } = req;
    const r = await this.call({ op: 'check', mode: mode.name, outDir: this.out, check });
    return { ...r, backend: this.backend, captures: (r.captures ?? []).map((c) => `${this.backend}/${c}`) };
  }
  faults(mode: ModeDef, baseline: RunResult): Promise<FaultResult[]> {
    return this.call({ op: 'faults', mode: mode.name, baseline });
  }
  measure(modes: readonly ModeDef[], opts: PerfOptions): Promise<PerfSamples> {
    const { progress: _p, ...perf } = opts;
    return this.call({ op: 'measure', modes: modes.map((m) => m.name), perf });
  }

  /** Asks the agent to tear down and exit; kills the guest when it does not. Idempotent. */
  down(): Promise<void> {
    this.downing ??= (async () => {
      try {
        // Busy (a request in flight: a cancelled or failed run): end the guest now.
        if (this.busy > 0) this.abort.abort();
        if (this.guest && !this.ended) {
          const polite = (async () => {
            await this.call({ op: 'down' });
            await this.call({ op: 'exit' });
            await this.guest;
          })();
          await Promise.race([polite, sleep(30_000).then(() => Promise.reject(new Error('the guest did not stop in 30 s')))]).catch(() =>
            this.abort.abort(),
          );
        }
        await this.guest?.catch(() => undefined);
      } finally {
        this.release();
      }
    })();
    return this.downing;
  }

  async [Symbol.asyncDispose]() {
    await this.down();
  }
}
