// What the modes run by the real calico-node share: the one builder that turns an IPPool setting into
// a mode. calico-node programs the kernel; these files only say which pool, which networking backend,
// and which cnilab model it is checked against (whose wire expectations are the claim under test).
import { type CalicoNodeProgram, calicoBird, type ModeDef, type Tool } from './mode.ts';

export function calicoNodeMode(
  def: Pick<ModeDef, 'name' | 'summary' | 'programs' | 'vxlanPorts' | 'owns' | 'cited' | 'onlyWhenNamed'> & {
    kernel: ModeDef['needs']['kernel'];
    calicoNode: CalicoNodeProgram;
  },
): ModeDef {
  const model = def.calicoNode.model;
  // BIRD 1.6 checks confd's rendering either way (its check_cmd); an IPIP pool runs it in BIRD 2.
  const bird = calicoBird(def.calicoNode);
  const tools: Tool[] = [
    'cni-plugins',
    'calico-node',
    ...(bird ? (['bird1'] as const) : []),
    ...(bird === 'bird2' ? (['bird'] as const) : []),
  ];
  return {
    name: def.name,
    family: 'calico-node',
    summary: def.summary,
    programs: def.programs,
    needs: { kernel: def.kernel, tools },
    podMtu: model.podMtu,
    expect: model.expect,
    vxlanPorts: def.vxlanPorts,
    owns: def.owns,
    cited: def.cited,
    program: { calicoNode: def.calicoNode },
    // The pool's modes and the networking backend: what a calico.yaml must say for this mode to be its own.
    config: { cni: 'calico', ...def.calicoNode.pool, backend: def.calicoNode.backend },
    ...(def.onlyWhenNamed ? { onlyWhenNamed: def.onlyWhenNamed } : {}),
  };
}
