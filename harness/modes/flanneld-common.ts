// What the modes run by the real flanneld share: how they are described, and the one builder that
// turns a backend into a mode. The daemon programs the kernel; these files only say what it must
// show on the wire and which cnilab model it is checked against.
import type { FlanneldProgram, ModeDef } from './mode.ts';

export const FLANNELD_NEEDS = ['cni-plugins', 'flanneld', 'etcd'] as const;

/** A real-flanneld mode. Wire expectations are the model's when there is one: the model is the claim under test. */
export function flanneldMode(
  def: Omit<ModeDef, 'family' | 'program' | 'expect' | 'podMtu' | 'needs'> &
    Partial<Pick<ModeDef, 'expect' | 'podMtu'>> & {
      kernel: ModeDef['needs']['kernel'];
      flanneld: FlanneldProgram;
    },
): ModeDef {
  const model = def.flanneld.model;
  const expect = def.expect ?? model?.expect;
  const podMtu = def.podMtu ?? model?.podMtu;
  if (!expect || !podMtu) throw new Error(`mode ${def.name}: without a model it must say what it expects and its pod MTU`);
  return {
    name: def.name,
    family: 'flanneld',
    summary: def.summary,
    programs: def.programs,
    needs: { kernel: def.kernel, tools: FLANNELD_NEEDS },
    podMtu,
    expect,
    vxlanPorts: def.vxlanPorts,
    owns: def.owns,
    cited: def.cited,
    ...(def.config ? { config: def.config } : {}),
    program: { flanneld: def.flanneld },
  };
}
