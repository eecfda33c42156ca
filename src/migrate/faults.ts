/**
 * Faults for a migration, injected through the device registry's `faults` capability — not a run
 * option: the caller (the CLI's `--fault`, QMP's `x-fault`, the fault rigs) arms them on the devices
 * once both ends are up (`RunOptions.onWorld`), so bring-up never trips one, and reads back how often
 * each fired. Where a fault acts: CVQ faults on the destination's restore, the others (SUSPEND, RESUME,
 * IOTLB …) on the source.
 */
import * as E from 'fp-ts/lib/Either.js';
import { hasCapability } from '../device/registry.js';
import { CVQ_FAULT_KINDS, formatFault, type Fault } from '../device/sim/faults.js';
import type { VdpaDevice } from '../device/types.js';
import { migrateError, type MigrateError } from '../effects/vdpa-net.js';

export type FaultEnd = 'source' | 'destination';

/** The end a fault acts on. */
export const faultEnd = (f: Fault): FaultEnd => (CVQ_FAULT_KINDS.has(f.kind) ? 'destination' : 'source');

/** The faults of each end, in the order given. */
export function faultEnds(faults: readonly Fault[]): { readonly source: readonly Fault[]; readonly destination: readonly Fault[] } {
  return { source: faults.filter((f) => faultEnd(f) === 'source'), destination: faults.filter((f) => faultEnd(f) === 'destination') };
}

export interface MigrationDevices {
  readonly source: VdpaDevice;
  readonly destination: VdpaDevice;
}

/** Left: a device that must take some of `faults` has no `faults` capability. */
export function checkFaults(devices: MigrationDevices, faults: readonly Fault[]): E.Either<MigrateError, void> {
  const split = faultEnds(faults);
  for (const end of ['source', 'destination'] as const) {
    const d = devices[end];
    if (split[end].length > 0 && !hasCapability(d, 'faults')) return E.left(migrateError('open', `${d.name} takes no injected faults (${split[end].map(formatFault).join(', ')})`));
  }
  return E.right(undefined);
}

/** Arm `faults` on the two devices (nothing armed when `checkFaults` refuses them). */
export function armFaults(devices: MigrationDevices, faults: readonly Fault[]): E.Either<MigrateError, void> {
  const split = faultEnds(faults);
  const ok = checkFaults(devices, faults);
  if (E.isLeft(ok)) return ok;
  for (const end of ['source', 'destination'] as const) {
    const d = devices[end];
    if (split[end].length > 0 && hasCapability(d, 'faults')) d.setFaults(split[end]);
  }
  return E.right(undefined);
}

/** Per requested fault: how often it fired (null: on a device that does not count its faults). */
export interface FaultOutcome {
  readonly spec: string;
  readonly end: FaultEnd;
  readonly fired: number | null;
}

/** How often each of `faults` (armed by `armFaults`) fired. */
export function faultOutcomes(devices: MigrationDevices, faults: readonly Fault[]): FaultOutcome[] {
  const split = faultEnds(faults);
  const hitsOf = (end: FaultEnd): readonly (number | null)[] => {
    const d = devices[end];
    const n = split[end].length;
    const hits = hasCapability(d, 'faults') ? d.faultHits() : [];
    return hits.length === n ? hits : Array.from({ length: n }, () => null);
  };
  const hits = { source: hitsOf('source'), destination: hitsOf('destination') };
  return faults.map((f) => {
    const end = faultEnd(f);
    return { spec: formatFault(f), end, fired: hits[end][split[end].indexOf(f)] ?? null };
  });
}
