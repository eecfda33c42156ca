/**
 * Step-by-step comparison of one machine's model paths on two devices: the device under test (a
 * vhost-vdpa device, or any `VdpaDevice`) and a simulator profile. Both sides run the same harness
 * binding (the machine's room in ./sim/<machine>.ts: the real effects, gated one model step at a time,
 * with the same device-independent faults); after every step each side records what it left behind —
 * the machine's state and context, and what the device itself shows — and the records are compared.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { AnyStateMachine } from 'xstate';
import type { SimVdpaDevice } from '../device/sim/device.js';
import type { VdpaDevice } from '../device/types.js';
import { explore } from './index.js';
import type { MachineModel } from './model.js';
import type { ModelPath } from './paths.js';
import { runPath, type Harness, type PathResult, type StepFailure } from './runner.js';

/** What one step left behind on one device. */
export interface StepRecord {
  /** -1: before the first step. */
  readonly step: number;
  /** The machine's state value (JSON). */
  readonly value: string;
  /** The machine's context (JSON), device paths removed from error texts. */
  readonly context: string;
  /** What the device shows: its status, and what the machine's room reads back (MAC, data-path mode …). */
  readonly deviceStatus: number | string;
}

/** Records per path description. */
export type Trace = Map<string, StepRecord[]>;

/** A step where the two sides left different things behind. */
export interface Difference {
  readonly path: string;
  readonly step: number;
  /** The device under test. */
  readonly device: StepRecord | undefined;
  readonly sim: StepRecord | undefined;
  /** The known quirk this difference is (KNOWN_QUIRKS), if it is one. */
  readonly quirk?: string;
}

/** A documented behaviour of a real device that the simulator profile does not model, recognised by its difference. */
export interface Quirk {
  readonly name: string;
  readonly why: string;
  readonly matches: (d: Difference) => boolean;
}

/**
 * Differences expected between a kernel device and its simulated profile. Empty: on Linux 6.12's
 * vdpa_sim_net every model step agrees with `sim:vdpa_sim_net` (its stale CVQ ack needs two classes in
 * one batch, which these paths never send; `sim:vdpa_sim_net+stale` reproduces it).
 */
export const KNOWN_QUIRKS: readonly Quirk[] = [];

/** An error text without the device path (the same op fails the same way on /dev/vhost-vdpa-N and the simulator). */
export const withoutDevicePath = (s: string | null | undefined): string | null => (s === null || s === undefined ? null : s.replace(/ on \/dev\/\S+/g, ''));

/** The device's status byte, or the error reading it. */
export const statusOf = (dev: VdpaDevice): number | string => {
  const st = dev.getStatus();
  return E.isRight(st) ? st.right : st.left.message;
};

/** Start the records of `path` in `trace`. */
export function tracePath(trace: Trace, path: ModelPath): StepRecord[] {
  const records: StepRecord[] = [];
  trace.set(path.description, records);
  return records;
}

/** The device under test and the simulator to compare with, opened per path by a room's harnesses. */
export interface Sides {
  /** A fresh, owned-by-nobody open of the device under test (throws when it cannot be opened). */
  readonly device: () => VdpaDevice;
  /** A fresh simulator of the compared profile; `mac`: the MAC it starts with (a real device keeps its own across opens). */
  readonly sim: (o?: { readonly mac?: string }) => SimVdpaDevice;
}

/** What a device offers, read once before the run (a room says from it whether it can run at all). */
export interface DeviceOffer {
  readonly features: bigint;
  readonly backend: bigint;
  readonly vqs: number;
  readonly groups: number;
  readonly asids: number;
}

/** One machine's room as the comparison sees it: its paths, and its harness on each side. */
export interface DeviceRoom {
  readonly machine: AnyStateMachine;
  paths(model: MachineModel): readonly ModelPath[];
  /** Why this device cannot run any of the machine's paths (a feature or backend feature it lacks). */
  unsupported?(offer: DeviceOffer): string | undefined;
  /** The two harnesses: the same binding, recording into `trace.device` and `trace.sim`. */
  harnesses(sides: Sides, trace: { readonly device: Trace; readonly sim: Trace }): { readonly device: Harness; readonly sim: Harness };
}

export interface Comparison {
  /** Path failures on either side (a step the machine could not take, an invariant broken). */
  readonly failures: (StepFailure & { readonly side: 'device' | 'sim' })[];
  readonly differences: Difference[];
  /** Transitions and states the machine took on the device under test. */
  readonly transitions: Set<string>;
  readonly states: Set<string>;
  /** Paths run on both sides, and steps compared. */
  paths: number;
  steps: number;
  /** Paths not run on this device, with the reason. */
  readonly infeasible: { readonly path: string; readonly reason: string }[];
}

/** Compare two sides' records of one path. */
export function diffRecords(path: string, a: readonly StepRecord[], b: readonly StepRecord[], quirks: readonly Quirk[] = KNOWN_QUIRKS): Difference[] {
  const out: Difference[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    const d: Difference = { path, step: x?.step ?? y?.step ?? i - 1, device: x, sim: y };
    const q = quirks.find((k) => k.matches(d));
    out.push(q === undefined ? d : { ...d, quirk: q.name });
  }
  return out;
}

/**
 * Run every path on the device under test, then on the simulator, and compare what each step left
 * behind; a transition the planned paths could not take on the device gets src/mbt's second chances
 * (`explore`), each run and compared the same way. `after` runs after each side of a path (the caller
 * closes what the path left open there); once `signal` aborts, no further path runs. `secondChances:
 * false`: the planned paths only.
 */
export async function comparePaths(
  model: MachineModel,
  paths: readonly ModelPath[],
  h: { readonly device: Harness; readonly sim: Harness },
  trace: { readonly device: Trace; readonly sim: Trace },
  o: { readonly after?: () => void; readonly onPath?: (done: number, total: number) => void; readonly signal?: AbortSignal; readonly secondChances?: boolean } = {},
): Promise<Comparison> {
  const out: Comparison = { failures: [], differences: [], transitions: new Set(), states: new Set(), paths: 0, steps: 0, infeasible: [] };
  const one = async (p: ModelPath): Promise<PathResult> => {
    // stopped: the remaining paths (second chances included) end at once, unrecorded
    if (o.signal?.aborted === true) return { ok: true, skipped: 'interrupted', states: new Set(), transitions: new Set() };
    let r: PathResult;
    try {
      r = await runPath(model, h.device, p);
      if (r.skipped !== undefined) {
        out.infeasible.push({ path: p.description, reason: r.skipped });
        return r;
      }
      o.after?.();
      const s = await runPath(model, h.sim, p);
      if (r.failure !== undefined) out.failures.push({ ...r.failure, side: 'device' });
      if (s.failure !== undefined) out.failures.push({ ...s.failure, side: 'sim' });
    } finally {
      o.after?.();
    }
    for (const t of r.transitions) out.transitions.add(t);
    for (const st of r.states) out.states.add(st);
    const a = trace.device.get(p.description) ?? [];
    const b = trace.sim.get(p.description) ?? [];
    out.paths++;
    out.steps += a.length;
    if (r.ok && a.length !== p.steps.length + 1) out.failures.push({ path: p.description, step: a.length - 1, message: `${a.length} records for ${p.steps.length} steps`, side: 'device' });
    out.differences.push(...diffRecords(p.description, a, b));
    // what was compared is in the report: drop the records (a second chance may run the path again)
    trace.device.delete(p.description);
    trace.sim.delete(p.description);
    return r;
  };
  if (o.secondChances === false) {
    for (const [i, p] of paths.entries()) {
      await one(p);
      o.onPath?.(i + 1, paths.length);
    }
  } else await explore(model, h.device, paths, one, o.onPath);
  return out;
}
