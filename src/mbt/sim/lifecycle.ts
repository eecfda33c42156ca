/**
 * machines/device-lifecycle's room: its harness on the simulator (faults from the simulator's plan),
 * and on any device (the one under test and the simulator profile it is compared with, ../compare.ts).
 */
import * as E from 'fp-ts/lib/Either.js';
import { deviceLifecycleMachine } from '../../../machines/device-lifecycle.js';
import { SimVdpaDevice } from '../../device/sim/device.js';
import { lifecycleEffects } from '../../effects/lifecycle.js';
import { STATUS, formatStatus, toHex } from '../../state/lifecycle.js';
import { F } from '../../virtio/features.js';
import { backendMask, type VdpaDevice } from '../../device/types.js';
import { statusOf, tracePath, withoutDevicePath, type DeviceRoom, type StepRecord, type Trace } from '../compare.js';
import { generatePaths, type ModelPath } from '../paths.js';
import { gatedHarness, type Completion, type Harness } from '../runner.js';
import { lifecycleInvariants, SCRIPT_WANTED } from '../scripts.js';
import { bringUpByHand, faultyDevice, LIFECYCLE_OPS, negotiatedWith, right, simDevice, type FaultyDevice, type LifecycleSnap, type SimEnv } from './device.js';

/**
 * Arrange the device for one device-lifecycle completion: a one-shot failure of the uAPI call for an
 * error (the simulator's own SUSPEND / RESUME refusal where there is one), a GET_FEATURES hiding
 * VERSION_1 for an offer nobody can drive (or `hide` for "other-features"), a device another driver
 * brought up for an ATTACH that finds it running.
 */
export function armLifecycle(c: Completion, lc: LifecycleSnap, dev: { readonly faulty: FaultyDevice; readonly sim?: SimVdpaDevice }, o: { readonly hide?: bigint; readonly wanted?: bigint } = {}): void {
  const op = c.path.split('.').pop()!;
  if (c.outcome === 'error') {
    if (op === 'suspendDevice' && dev.sim !== undefined) dev.sim.setFaults([{ kind: 'suspend-fails', times: 1 }]);
    else if (op === 'resumeDevice' && dev.sim !== undefined) dev.sim.setFaults([{ kind: 'resume-fails', times: 1 }]);
    else dev.faulty.failNext(LIFECYCLE_OPS[op]!);
    return;
  }
  if (op === 'readFeatures') {
    if (c.guard !== 'negotiable' && c.guard !== 'ok') dev.faulty.hideFeaturesOnce(F.VERSION_1);
    else if (c.fault === 'other-features') dev.faulty.hideFeaturesOnce(o.hide ?? F.CTRL_VLAN);
  }
  if (op === 'readStatus' && lc.matches('attaching') && (c.guard === 'driverOkSet' || c.guard === 'ok')) bringUpByHand(dev.faulty.device, BigInt(lc.context.negotiated));
}

export const lifecycleSim = gatedHarness<typeof deviceLifecycleMachine, SimEnv>({
  machine: deviceLifecycleMachine,
  env: () => simDevice(),
  input: () => ({ wanted: `0x${SCRIPT_WANTED.toString(16)}`, resetTimeoutMs: 100 }),
  effects: (env) => lifecycleEffects(env.faulty.device),
  dispose: (env) => env.sim.close(),
  ahead(edge, env) {
    // the device refuses at SET_STATUS(FEATURES_OK), the step before the re-read
    if (edge.source.endsWith('featuresOk.reread') && edge.kind === 'done' && edge.guard === null) env.faulty.refuseFeaturesOkOnce();
  },
  async complete(c, gates, env, view) {
    armLifecycle(c, view.snapshot as LifecycleSnap, env);
    await gates.release(c.path);
  },
  event(edge, env) {
    if (edge.trigger === 'DEVICE_ERROR') env.sim.injectNeedsReset('model-based test');
    if (edge.trigger === 'ATTACH') return { type: 'ATTACH', offered: toHex(right(env.sim.getFeatures())), negotiated: toHex(negotiatedWith(env.sim, SCRIPT_WANTED)) };
    return { type: edge.trigger };
  },
  invariants(view, env) {
    const s = view.snapshot as LifecycleSnap;
    const c = s.context;
    const bad = lifecycleInvariants(s);
    const dev = env.sim.getStatus();
    if (E.isLeft(dev)) return [...bad, `GET_STATUS failed: ${dev.left.message}`];
    // between SET_STATUS(FEATURES_OK) and its re-read the device may have refused it (§3.1.1 step 6)
    const refusedSoFar = s.matches({ active: { featuresOk: 'reread' } }) && dev.right === (c.status & ~STATUS.FEATURES_OK);
    if (dev.right !== c.status && !refusedSoFar) bad.push(`device status ${formatStatus(dev.right)} ≠ machine status ${formatStatus(c.status)}`);
    const suspended = env.sim.isSuspended();
    if (s.matches({ active: { driverOk: 'suspended' } }) && !suspended) bad.push('suspended, but the device runs');
    if ((s.matches({ active: { driverOk: 'running' } }) || s.matches('reset')) && suspended) bad.push(`device suspended in ${JSON.stringify(s.value)}`);
    if (s.matches({ active: 'driverOk' }) && c.negotiated !== toHex(env.sim.negotiatedFeatures())) {
      bad.push(`device runs with ${toHex(env.sim.negotiatedFeatures())}, the machine negotiated ${c.negotiated}`);
    }
    return bad;
  },
});

// ---------------------------------------------------------------------------------------------------
// device-lifecycle on any device (the one under test, or the simulator it is compared with)

/** The backend features the device harnesses ack when offered. */
export const DEVICE_BACKEND: bigint = backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH', 'IOTLB_ASID', 'SUSPEND', 'RESUME']);

/** Why DEVICE_ERROR → … → failed.reporting paths cannot run on a device that is not the simulator's fault plan. */
export const NO_NEEDS_RESET_ON_DEMAND = 'no device here can be made to set NEEDS_RESET: the FAILED write after DEVICE_ERROR is refused on both';

/**
 * DEVICE_ERROR models the device setting NEEDS_RESET; nothing makes a kernel device (or this harness's
 * simulator) set it, so the FAILED written after it carries a NEEDS_RESET the device never set, which
 * the driver's status rule (§2.1.1) refuses: those paths end in an error on both devices.
 */
export function lifecycleDeviceInfeasible(path: ModelPath): string | undefined {
  const i = path.steps.findIndex((st) => st.edge.trigger === 'DEVICE_ERROR');
  if (i < 0) return undefined;
  return path.steps.slice(i).some((st) => st.edge.source.endsWith('failed.reporting') && st.edge.kind === 'done') ? NO_NEEDS_RESET_ON_DEMAND : undefined;
}

interface LifecycleDeviceEnv {
  readonly dev: VdpaDevice;
  readonly faulty: FaultyDevice;
  readonly records: StepRecord[];
}

/**
 * machines/device-lifecycle over any VdpaDevice: `open` gives a fresh device per path. Every error edge
 * fails the uAPI call its effect makes once (`armLifecycle`, without the simulator's own fault plan, so
 * the same on both sides of a comparison). Records what every step left behind (machine state and
 * context, the device's own status) into `trace`; checks the device's status is the machine's.
 */
export function lifecycleOnDevice(open: () => VdpaDevice, trace: Trace): Harness {
  return gatedHarness<typeof deviceLifecycleMachine, LifecycleDeviceEnv>({
    machine: deviceLifecycleMachine,
    env(path) {
      const dev = open();
      right(dev.setOwner());
      right(dev.setBackendFeatures(right(dev.getBackendFeatures()) & DEVICE_BACKEND));
      right(dev.setStatus(0));
      return { dev, faulty: faultyDevice(dev), records: tracePath(trace, path) };
    },
    input: () => ({ wanted: `0x${SCRIPT_WANTED.toString(16)}`, resetTimeoutMs: 100 }),
    effects: (env) => lifecycleEffects(env.faulty.device),
    infeasible: lifecycleDeviceInfeasible,
    ahead(next, env) {
      // the device refuses at SET_STATUS(FEATURES_OK), the step before the re-read
      if (next.source.endsWith('featuresOk.reread') && next.kind === 'done' && next.guard === null) env.faulty.refuseFeaturesOkOnce();
    },
    async complete(c, gates, env, view) {
      armLifecycle(c, view.snapshot as LifecycleSnap, { faulty: env.faulty });
      await gates.release(c.path);
    },
    event(edge, env) {
      // another driver instance negotiated what this device offers and the driver wants
      if (edge.trigger === 'ATTACH') return { type: 'ATTACH', offered: toHex(right(env.dev.getFeatures())), negotiated: toHex(negotiatedWith(env.dev, SCRIPT_WANTED)) };
      return { type: edge.trigger };
    },
    invariants(view, env) {
      const s = view.snapshot as LifecycleSnap;
      const c = s.context;
      const st = env.dev.getStatus();
      env.records.push({ step: view.index, value: JSON.stringify(s.value), context: JSON.stringify({ ...c, error: withoutDevicePath(c.error) }), deviceStatus: statusOf(env.dev) });
      const bad = lifecycleInvariants(s);
      if (E.isLeft(st)) return [...bad, `GET_STATUS: ${st.left.message}`];
      // NEEDS_RESET is the machine's record of a DEVICE_ERROR event (neither device raises it here);
      // between SET_STATUS(FEATURES_OK) and its re-read the device may have cleared FEATURES_OK
      const expect = c.status & ~STATUS.NEEDS_RESET;
      const refusing = s.matches({ active: { featuresOk: 'reread' } }) && st.right === (expect & ~STATUS.FEATURES_OK);
      if (st.right !== expect && !refusing) bad.push(`device status ${formatStatus(st.right)} ≠ machine status ${formatStatus(c.status)}`);
      return bad;
    },
    dispose(env) {
      env.dev.close();
    },
  });
}

export const lifecycleRoom: DeviceRoom = {
  machine: deviceLifecycleMachine,
  paths: (model) => generatePaths(model).paths,
  harnesses: (sides, trace) => ({ device: lifecycleOnDevice(sides.device, trace.device), sim: lifecycleOnDevice(() => sides.sim(), trace.sim) }),
};
