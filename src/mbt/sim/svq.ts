/**
 * machines/svq-switch's room: the data queues of one pair, guest traffic through them, on the simulator
 * (faults from its plan) and on any device (../compare.ts).
 */
import * as E from 'fp-ts/lib/Either.js';
import { svqSwitchMachine } from '../../../machines/svq-switch.js';
import { type SimDeviceOptions } from '../../device/sim/device.js';
import { createDataPath, GuestNic } from '../../effects/datapath.js';
import { startDevice } from '../../effects/lifecycle.js';
import { SvqBackend, svqSwitchEffects, type SvqBackendOptions } from '../../effects/svq.js';
import { backendMask, type VdpaDevice } from '../../device/types.js';
import { formatStatus } from '../../state/lifecycle.js';
import { F, featureNames, maskOf } from '../../virtio/features.js';
import { statusOf, tracePath, withoutDevicePath, type DeviceRoom, type StepRecord, type Trace } from '../compare.js';
import { generatePaths, type ModelPath } from '../paths.js';
import { gatedHarness, type Harness } from '../runner.js';
import { svqEvent, svqInvariants } from '../scripts.js';
import { faultyDevice, right, simDevice, type DeviceOp, type FaultyDevice, type SimEnv, type SvqSnap } from './device.js';
import { ringMappings } from '../../svq/shadow-rings.js';

// ---------------------------------------------------------------------------------------------------
// svq-switch on the simulator: one queue pair's data path with guest traffic through it

export interface SvqEnv extends SimEnv {
  readonly backend: SvqBackend;
  readonly nic: GuestNic;
}

export const DATA_QUEUES = [0, 1] as const;

/** A running device (brought up by machines/device-lifecycle) whose queue pair carries guest traffic, 8 receive buffers posted. */
export async function bringUpDataPath(opts: SimDeviceOptions = {}, backend: SvqBackendOptions = {}): Promise<SvqEnv> {
  const { sim, faulty } = simDevice({ maxQueuePairs: 1, ...opts });
  right(sim.setBackendFeatures(right(sim.getBackendFeatures())));
  const wanted = right(sim.getFeatures()) & ~(F.RING_PACKED | F.MQ | F.RSS | F.HASH_REPORT);
  const up = right(await startDevice(sim, { wanted }, (negotiated) => createDataPath(faulty.device, { queues: DATA_QUEUES, size: 64, negotiated })));
  up.actor.stop();
  const path = up.setup;
  const b = new SvqBackend(path, backend);
  const nic = new GuestNic(path, (qi) => b.notify(qi));
  right(nic.postRx(0, 8));
  return { sim, faulty, backend: b, nic };
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
    const ringMaps = DATA_QUEUES.length * ringMappings({ indirect: false, cvq: false });
    if (mode === 'shadow' && (b.shadows.size !== DATA_QUEUES.length || iotlb !== 1 + ringMaps || shadowMaps !== ringMaps)) bad.push(`shadow with ${b.shadows.size} shadow queue(s), ${shadowMaps} shadow IOVA map(s), ${iotlb} IOTLB entries`);
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

// ---------------------------------------------------------------------------------------------------
// svq-switch on any device: one queue pair's data path switched between passthrough and shadow
// virtqueues by the real effects, guest traffic looping TX → RX in every stable mode

const SVQ_DEVICE_WANT: bigint = maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'STATUS', 'MTU']);
/** The switch points rings after DRIVER_OK, suspended: ENABLE_AFTER_DRIVER_OK, SUSPEND, RESUME. */
const SVQ_DEVICE_BACKEND: bigint = backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH', 'SUSPEND', 'RESUME', 'ENABLE_AFTER_DRIVER_OK']);
/** Frames the guest sends (and the device loops back) in each stable mode, before each check. */
const SVQ_FRAMES = 2;

/**
 * A device to run a path on: `kicked` lets it process what was kicked (the simulator works through its
 * kicks on its own clock; a kernel device in its work item, so the caller waits), `waitMs` bounds the
 * wait for traffic (none on the simulator: what a settle did not do never happens).
 */
export interface Opened {
  readonly dev: VdpaDevice;
  kicked(): Promise<void>;
  readonly waitMs: number;
}

/** `dev` as a path runs it: a device that settles on demand (the simulator) is settled, any other waited for. */
export function openedOf(dev: VdpaDevice): Opened {
  const settle = (dev as { settle?: unknown }).settle;
  if (typeof settle === 'function') {
    return {
      dev,
      kicked: async () => {
        (settle as () => void).call(dev);
        await new Promise((r) => setImmediate(r));
      },
      waitMs: 0,
    };
  }
  return { dev, kicked: () => new Promise((r) => setTimeout(r, 2)), waitMs: 3000 };
}

/** The uAPI call each svq-switch effect makes that its error edge makes fail, on any VdpaDevice. */
const svqDeviceFault = (trigger: string): DeviceOp =>
  trigger === 'suspendDevice' ? 'suspend' : trigger === 'resumeDevice' || trigger === 'rollback' ? 'resume' : trigger === 'mapShadowRings' ? 'iotlbUpdate' : SVQ_OPS[trigger]!;

interface SvqDeviceEnv {
  readonly o: Opened;
  readonly faulty: FaultyDevice;
  readonly backend: SvqBackend;
  readonly nic: GuestNic;
  readonly records: StepRecord[];
}

/** Let the device (and the SVQ pump) run until the transmit queue is empty and `frames` came back (bounded). */
async function drainOn(env: SvqDeviceEnv, rx0: number, frames: number): Promise<void> {
  const { o, nic, backend } = env;
  const rxq = backend.path.queues[0]!.driver;
  const tx = backend.path.queues[1]!.driver;
  const deadline = performance.now() + o.waitMs;
  for (let i = 0; i < 1000; i++) {
    await o.kicked();
    right(nic.reap());
    if (tx.inFlight() === 0 && rx0 - rxq.inFlight() >= frames) return;
    if (performance.now() > deadline && i >= 50) return;
  }
}

/** In a stable mode: the data path is in it, and the guest's frames go out and come back. */
async function svqTraffic(mode: 'shadow' | 'passthrough', env: SvqDeviceEnv, bad: string[]): Promise<string> {
  const { backend, nic } = env;
  const rxq = backend.path.queues[0]!.driver;
  const tx = backend.path.queues[1]!.driver;
  if (backend.mode !== mode) bad.push(`machine in ${mode}, data path in ${backend.mode}`);
  const maps = backend.tree.maps().filter((m) => m.kind === 'hva').length;
  const want = mode === 'shadow' ? DATA_QUEUES.length : 0;
  if (backend.shadows.size !== want || maps !== want * ringMappings({ indirect: false, cvq: false })) bad.push(`${mode} with ${backend.shadows.size} shadow queue(s), ${maps} shadow IOVA map(s)`);
  const rx0 = rxq.inFlight();
  const b0 = nic.rxBytes;
  const sent = nic.sendTx(1, SVQ_FRAMES);
  if (E.isLeft(sent)) bad.push(`sending in ${mode}: ${sent.left.message}`);
  await drainOn(env, rx0, SVQ_FRAMES);
  const received = rx0 - rxq.inFlight();
  if (tx.inFlight() !== 0) bad.push(`${tx.inFlight()} frame(s) stuck on the transmit queue in ${mode}`);
  if (received !== SVQ_FRAMES) bad.push(`${received}/${SVQ_FRAMES} frame(s) received in ${mode}`);
  right(nic.postRx(0, SVQ_FRAMES));
  return ` ${mode}: ${received} frames, ${nic.rxBytes - b0} bytes back`;
}

/**
 * machines/svq-switch over any VdpaDevice. Every error edge is made real by a one-shot failure of the
 * uAPI call its effect makes (SUSPEND, RESUME, an IOTLB update, GET/SET_VRING_BASE, SET_VRING_ADDR, an
 * invalidate); the device's own answers (status, the chains it used, the frames it looped back) are
 * what each step records.
 */
export function svqOnDevice(open: () => Opened, trace: Trace): Harness {
  return gatedHarness<typeof svqSwitchMachine, SvqDeviceEnv>({
    machine: svqSwitchMachine,
    infeasible: svqInfeasible,
    async env(path) {
      const o = open();
      const dev = o.dev;
      right(dev.setOwner());
      right(dev.setBackendFeatures(right(dev.getBackendFeatures()) & SVQ_DEVICE_BACKEND));
      const faulty = faultyDevice(dev);
      // through machines/device-lifecycle; step 7: the data path of one queue pair
      const started = right(await startDevice(dev, { wanted: SVQ_DEVICE_WANT & right(dev.getFeatures()) }, (negotiated) => createDataPath(faulty.device, { queues: DATA_QUEUES, size: 64, negotiated })));
      started.actor.stop();
      const dp = started.setup;
      const backend = new SvqBackend(dp);
      const nic = new GuestNic(dp, (qi) => backend.notify(qi));
      right(nic.postRx(0, 8));
      return { o, faulty, backend, nic, records: tracePath(trace, path) };
    },
    input: () => ({ queues: [...DATA_QUEUES] }),
    effects: (env) => svqSwitchEffects(env.backend),
    async complete(c, gates, env) {
      if (c.outcome === 'error') env.faulty.failNext(svqDeviceFault(c.path));
      await gates.release(c.path);
    },
    event(edge, env) {
      // the owner resets what a failed switch left behind before reusing the device
      if (edge.trigger === 'RESET') right(env.backend.recover());
      return svqEvent(edge);
    },
    async invariants(view, env) {
      const { faulty, backend, nic, records } = env;
      const s = view.snapshot as SvqSnap;
      const bad = svqInvariants(s);
      if (faulty.armed().length) bad.push(`fault armed and not hit: ${faulty.armed().join(', ')}`);
      // the ledger: every chain the guest made available is in flight or reaped, exactly once
      if (nic.posted - nic.reaped !== nic.inFlight()) bad.push(`ledger: posted ${nic.posted}, reaped ${nic.reaped}, in flight ${nic.inFlight()}`);
      const st = statusOf(env.o.dev);
      const traffic = s.matches('passthrough') || s.matches('shadow') ? await svqTraffic(s.matches('shadow') ? 'shadow' : 'passthrough', env, bad) : '';
      records.push({
        step: view.index,
        value: JSON.stringify(s.value),
        context: JSON.stringify({ ...s.context, error: withoutDevicePath(s.context.error) }),
        deviceStatus: `${typeof st === 'number' ? formatStatus(st) : st}; ${backend.mode}, ${backend.shadows.size} shadow(s); guest posted ${nic.posted} reaped ${nic.reaped}${traffic}`,
      });
      return bad;
    },
    async dispose(env) {
      env.backend.stopPump();
      // the pump may be inside a bounded wait for a call: let it see the stop before the fd goes
      await new Promise((r) => setTimeout(r, 30));
      env.o.dev.close();
    },
  });
}

export const svqRoom: DeviceRoom = {
  machine: svqSwitchMachine,
  paths: (model) => generatePaths(model).paths,
  unsupported(offer) {
    const lacking = featureNames(SVQ_DEVICE_WANT & ~offer.features);
    const suspend = backendMask(['SUSPEND', 'RESUME', 'ENABLE_AFTER_DRIVER_OK']);
    if (lacking.length) return `the device does not offer ${lacking.join(', ')}`;
    if ((offer.backend & suspend) !== suspend) return 'switching to shadow virtqueues needs VHOST_BACKEND_F_SUSPEND, _RESUME and _ENABLE_AFTER_DRIVER_OK';
    return undefined;
  },
  harnesses: (sides, trace) => ({ device: svqOnDevice(() => openedOf(sides.device()), trace.device), sim: svqOnDevice(() => openedOf(sides.sim()), trace.sim) }),
};
