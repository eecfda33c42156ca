/**
 * machines/device-lifecycle on the simulator.
 * (Part of the simulated-device harnesses: see ../sim.ts.)
 */
import * as E from 'fp-ts/lib/Either.js';
import { deviceLifecycleMachine } from '../../../machines/device-lifecycle.js';
import { SimVdpaDevice } from '../../device/sim/device.js';
import { lifecycleEffects } from '../../effects/lifecycle.js';
import { STATUS, formatStatus, toHex } from '../../state/lifecycle.js';
import { F } from '../../virtio/features.js';
import { gatedHarness, type Completion } from '../runner.js';
import { lifecycleInvariants, SCRIPT_WANTED } from '../scripts.js';
import { bringUpByHand, LIFECYCLE_OPS, negotiatedWith, right, simDevice, type FaultyDevice, type LifecycleSnap, type SimEnv } from './device.js';

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
