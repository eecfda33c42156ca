/**
 * Which harness runs each machine's paths: `scripted` settles every actor from the path itself;
 * `sim` binds the real effects (src/effects/) to a fresh simulated device per path, with faults
 * injected where the path takes an error edge.
 */
import { MACHINES } from '../../machines/index.js';
import type { Harness } from './runner.js';
import { cvqScript, lifecycleScript, migrationScript, relayoutScript, svqScript } from './scripts.js';
import { SIM_HARNESSES } from './sim.js';

export type MbtDevice = 'scripted' | 'sim';
export const MBT_DEVICES: readonly MbtDevice[] = ['sim', 'scripted'];

export interface HarnessChoice {
  readonly harness: Harness;
  readonly effects: MbtDevice;
}

const SCRIPTED: readonly Harness[] = [lifecycleScript, svqScript, relayoutScript, cvqScript, migrationScript];

/** One harness per machine (every machine of machines/index.ts must have one), in its order. */
export function harnessesFor(device: MbtDevice): HarnessChoice[] {
  return MACHINES.map((m) => {
    const h = SCRIPTED.find((x) => x.machine.id === m.id);
    if (h === undefined) throw new Error(`machine ${m.id} has no model-based test harness (src/mbt/scripts.ts)`);
    return h;
  }).map((h) => {
    const sim = device === 'sim' ? SIM_HARNESSES.find((s) => s.machine.id === h.machine.id) : undefined;
    return sim === undefined ? { harness: h, effects: 'scripted' } : { harness: sim, effects: 'sim' };
  });
}
