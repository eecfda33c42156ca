/**
 * machines/svq-switch on the simulator: the data queues of one pair, guest traffic through them.
 * (Part of the simulated-device harnesses: see ../sim.ts.)
 */
import * as E from 'fp-ts/lib/Either.js';
import { svqSwitchMachine } from '../../../machines/svq-switch.js';
import { type SimDeviceOptions } from '../../device/sim/device.js';
import { createDataPath, GuestNic } from '../../effects/datapath.js';
import { SvqBackend, svqSwitchEffects } from '../../effects/svq.js';
import { STATUS } from '../../state/lifecycle.js';
import { F } from '../../virtio/features.js';
import type { ModelPath } from '../paths.js';
import { gatedHarness } from '../runner.js';
import { svqEvent, svqInvariants } from '../scripts.js';
import { right, simDevice, type DeviceOp, type SimEnv, type SvqSnap } from './device.js';

// ---------------------------------------------------------------------------------------------------
// svq-switch on the simulator: one queue pair's data path with guest traffic through it

export interface SvqEnv extends SimEnv {
  readonly backend: SvqBackend;
  readonly nic: GuestNic;
}

export const DATA_QUEUES = [0, 1] as const;

export function bringUpDataPath(opts: SimDeviceOptions = {}): SvqEnv {
  const { sim, faulty } = simDevice({ maxQueuePairs: 1, ...opts });
  const negotiated = right(sim.getFeatures()) & ~(F.RING_PACKED | F.MQ | F.RSS | F.HASH_REPORT);
  right(sim.setBackendFeatures(right(sim.getBackendFeatures())));
  right(sim.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER));
  right(sim.setFeatures(negotiated));
  right(sim.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK));
  const path = right(createDataPath(faulty.device, { queues: DATA_QUEUES, size: 64, negotiated }));
  right(sim.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK));
  const backend = new SvqBackend(path);
  const nic = new GuestNic(path, (qi) => backend.notify(qi));
  right(nic.postRx(0, 8));
  return { sim, faulty, backend, nic };
}

/** Let the device, the call pump and the guest run until the transmit queue is empty (bounded). */
export async function drainTraffic(env: SvqEnv): Promise<void> {
  const tx = env.backend.path.queues[1]!;
  for (let i = 0; i < 50 && tx.driver.inFlight() > 0; i++) {
    env.sim.settle();
    await new Promise((r) => setImmediate(r));
    right(env.nic.reap());
  }
}

/** The uAPI call each svq-switch effect makes that an error edge makes fail (rollback: see arrange). */
export const SVQ_OPS: Readonly<Record<string, DeviceOp>> = {
  readVringBases: 'getVringBase',
  pointToShadow: 'setVringAddr',
  drainShadow: 'getVringBase',
  writeBackIndexes: 'setVringBase',
  unmapShadowRings: 'iotlbInvalidate',
  pointToGuest: 'setVringAddr',
};

/** A rollback right after the switch's first step failed has nothing to undo, so it cannot fail. */
export function svqInfeasible(path: ModelPath): string | undefined {
  for (let i = 1; i < path.steps.length; i++) {
    const e = path.steps[i]!.edge;
    const prev = path.steps[i - 1]!.edge;
    if (e.type === 'error:rollback' && prev.type === 'error:suspendDevice') return 'a rollback with nothing to undo cannot fail on a real device';
  }
  return undefined;
}

/** Arrange the device for one svq-switch completion that fails (`op`: the effect's name). */
export function armSvqFault(op: string, env: SimEnv): void {
  if (op === 'suspendDevice') env.sim.setFaults([{ kind: 'suspend-fails', times: 1 }]);
  else if (op === 'resumeDevice' || op === 'rollback') env.sim.setFaults([{ kind: 'resume-fails', times: 1 }]);
  else if (op === 'mapShadowRings') env.sim.setFaults([{ kind: 'iotlb-map-fails', times: 1 }]);
  else env.faulty.failNext(SVQ_OPS[op]!);
}

export const svqSim = gatedHarness<typeof svqSwitchMachine, SvqEnv>({
  machine: svqSwitchMachine,
  env: () => bringUpDataPath(),
  input: () => ({ queues: [...DATA_QUEUES] }),
  effects: (env) => svqSwitchEffects(env.backend),
  infeasible: svqInfeasible,
  dispose: (env) => {
    env.backend.stopPump();
    env.sim.close();
  },
  async complete(c, gates, env) {
    if (c.outcome === 'error') armSvqFault(c.path, env);
    await gates.release(c.path);
  },
  event(edge, env) {
    // the owner resets what a failed switch left behind before reusing the device
    if (edge.trigger === 'RESET') right(env.backend.recover());
    return svqEvent(edge);
  },
  async invariants(view, env) {
    const s = view.snapshot as SvqSnap;
    const bad = svqInvariants(s);
    const { backend: b, nic, sim } = env;
    // the ledger: every chain the guest made available is in flight or reaped, exactly once
    if (nic.posted - nic.reaped !== nic.inFlight()) bad.push(`ledger: posted ${nic.posted}, reaped ${nic.reaped}, in flight ${nic.inFlight()}`);
    const stable = s.matches('passthrough') || s.matches('shadow');
    if (!stable) return bad;
    const mode = s.matches('shadow') ? 'shadow' : 'passthrough';
    if (b.mode !== mode) bad.push(`machine in ${mode}, data path in ${b.mode}`);
    const shadowMaps = b.tree.maps().filter((m) => m.kind === 'hva').length;
    const iotlb = sim.iotlbEntries(0).length;
    if (mode === 'passthrough' && (b.shadows.size !== 0 || shadowMaps !== 0 || iotlb !== 1)) {
      bad.push(`passthrough with ${b.shadows.size} shadow queue(s), ${shadowMaps} shadow IOVA map(s), ${iotlb} IOTLB entries (only guest RAM expected)`);
    }
    if (mode === 'shadow' && (b.shadows.size !== DATA_QUEUES.length || iotlb !== 1 + DATA_QUEUES.length)) bad.push(`shadow with ${b.shadows.size} shadow queue(s), ${iotlb} IOTLB entries`);
    if (sim.isSuspended()) bad.push(`device left suspended in ${mode}`);
    // traffic still flows in this mode: 2 frames out, both looped back into posted receive buffers
    const rx0 = nic.rxBytes;
    const sent = nic.sendTx(1, 2);
    if (E.isLeft(sent)) return [...bad, `sending in ${mode}: ${sent.left.message}`];
    await drainTraffic(env);
    if (b.path.queues[1]!.driver.inFlight() !== 0) bad.push(`${b.path.queues[1]!.driver.inFlight()} frame(s) stuck on the transmit queue in ${mode}`);
    if (nic.rxBytes <= rx0) bad.push(`nothing received in ${mode}`);
    right(nic.postRx(0, 2));
    return bad;
  },
});
