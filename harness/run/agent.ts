// The cnilab agent: what runs inside a guest. It answers a host session's requests (protocol.ts)
// with the netns backend on the guest's own kernel and the same check layer as the host, until it
// is told to exit. Progress goes to stderr, which is the guest console the host streams.
import type { BackendSession } from '../backends/backend.ts';
import { readRequest, sleep, writeResponse, type AgentRequest } from '../backends/guest/protocol.ts';
import { netnsBackend } from '../backends/netns/index.ts';
import { localChecker } from '../check/index.ts';
import { getMode } from '../modes/registry.ts';
import { toWire } from '../errors.ts';

// The shape AGENT_LINE (protocol.ts) matches: a terminal shows these lines, not the kernel's.
const log = (s: string) => process.stderr.write(`[${process.uptime().toFixed(1).padStart(5)}s in the guest] ${s}\n`);

async function handle(req: AgentRequest, state: { session?: BackendSession }): Promise<unknown> {
  const session = () => {
    if (!state.session) throw new Error(`agent: "${req.op}" before "up"`);
    return state.session;
  };
  switch (req.op) {
    case 'up': {
      state.session = await netnsBackend.start(req.topology, {
        name: req.lab,
        checker: localChecker,
        outDir: '/',
        progress: log,
        ...(req.settings ? { settings: req.settings } : {}),
        ...(req.manifest ? { manifest: req.manifest } : {}),
      });
      await state.session.up(getMode(req.mode));
      return null;
    }
    case 'program':
      await session().program(getMode(req.mode));
      return null;
    case 'stale':
      return session().staleState();
    case 'check':
      return session().check(getMode(req.mode), { ...req.check, outDir: req.outDir, progress: log });
    case 'faults':
      return session().faults(getMode(req.mode), req.baseline, { outDir: '/', progress: log });
    case 'measure':
      return session().measure(req.modes.map(getMode), { ...req.perf, progress: log });
    case 'down':
      await state.session?.down();
      return null;
    case 'exit':
      return null;
  }
}

/** Serves requests from `dir` in order until "exit"; a failed request answers with its error and the agent goes on. */
export async function serveAgent(dir: string): Promise<number> {
  log(`agent ready (node ${process.version})`);
  const state: { session?: BackendSession } = {};
  for (let seq = 1; ; seq++) {
    let req = readRequest(dir, seq);
    for (let wait = 2; !req; wait = Math.min(wait * 2, 25)) {
      await sleep(wait);
      req = readRequest(dir, seq);
    }
    try {
      const t0 = performance.now();
      const value = await handle(req, state);
      log(`${req.op} answered in ${Math.round(performance.now() - t0)} ms`);
      writeResponse(dir, seq, { ok: true, value });
    } catch (e) {
      writeResponse(dir, seq, { ok: false, error: toWire(e) });
    }
    if (req.op === 'exit') {
      await state.session?.down();
      return 0;
    }
  }
}
