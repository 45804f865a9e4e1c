// Fault injection for the leak and rollback tests (as felix's FV tests do): CNILAB_FAULT=POINT makes
// the run fail there, CNILAB_FAULT=hang-POINT makes it wait there to be killed. Points:
// after-underlay, program:MODE (after the mode's kernel ops were applied or its daemons started).
export async function injectFault(point: string): Promise<void> {
  const f = process.env.CNILAB_FAULT;
  if (f === point) throw new Error(`injected fault at ${point} (CNILAB_FAULT)`);
  if (f === `hang-${point}`) await new Promise((r) => setTimeout(r, 600_000));
}
