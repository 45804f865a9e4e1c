import { UsageError } from '../errors.ts';
import { flannelHostGw } from './flannel-host-gw.ts';
import { flannelVxlan, flannelVxlanDirectRouting } from './flannel-vxlan.ts';
import { calicoBgp } from './calico-bgp.ts';
import { calicoIpipAlways, calicoIpipCrossSubnet } from './calico-ipip.ts';
import { calicoVxlanAlways, calicoVxlanCrossSubnet } from './calico-vxlan.ts';
import { MODE_NAMES, isModeName, type ModeDef, type ModeName } from './mode.ts';

const registry = new Map<ModeName, ModeDef>();
export function registerMode(m: ModeDef): void {
  registry.set(m.name, m);
}
[flannelHostGw, flannelVxlan, flannelVxlanDirectRouting, calicoBgp, calicoIpipAlways, calicoIpipCrossSubnet, calicoVxlanAlways, calicoVxlanCrossSubnet].forEach(registerMode);

export function allModes(): ModeDef[] {
  return MODE_NAMES.flatMap((n) => (registry.has(n) ? [registry.get(n)!] : []));
}

export function getMode(name: string): ModeDef {
  const m = isModeName(name) ? registry.get(name) : undefined;
  if (!m) throw new UsageError(`unknown mode "${name}"`, `use one of: ${allModes().map((x) => x.name).join(', ')}`);
  return m;
}

/** Parses a comma-separated --modes value, reporting every unknown name at once. */
export function parseModeList(text: string): ModeDef[] {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = parts.filter((p) => !isModeName(p) || !registry.has(p));
  if (parts.length === 0 || unknown.length > 0) {
    throw new UsageError(`--modes: unknown mode${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ') || '(empty)'}`, `use a comma-separated list of: ${allModes().map((x) => x.name).join(', ')}`);
  }
  // Repeats are kept on purpose: `--modes a,b,a` visits a again, a live transition back.
  return parts.map(getMode);
}
