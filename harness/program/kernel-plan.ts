// cnilab's own modes: a pure kernel plan (plan/ + modes/), applied in batches, and BIRD where the
// mode distributes routes by BGP (Calico's BGP modes). Pods are re-made only when the family changes.
import { injectFault } from '../kernel/fault.ts';
import { podMtuOf, type KernelProgram, type ModeDef } from '../modes/mode.ts';
import { startBird } from './bird.ts';
import type { Programmer } from './programmer.ts';
import type { ProgramTarget } from './target.ts';

export function kernelPlanProgrammer(program: KernelProgram): Programmer {
  return {
    kind: 'kernel-plan',
    async program(t: ProgramTarget, mode: ModeDef) {
      const { topology, names, settings } = t.env;
      if (t.state.family !== mode.family) await t.setPods(mode.family, { mtu: podMtuOf(mode, topology, settings) });
      const start = performance.now();
      const ops = program.plan({ topology, names, pods: t.state.pods, settings });
      t.state.mode = mode.name;
      t.state.modeOps = ops;
      t.save();
      await t.apply(ops);
      await injectFault(`program:${mode.name}`);
      if (program.bird) {
        await startBird(t.env, program.bird, (d) => t.record(d));
        t.save();
      }
      t.progress(`mode ${mode.name}: ${ops.length} kernel operations in ${Math.round(performance.now() - start)} ms`);
    },
  };
}
