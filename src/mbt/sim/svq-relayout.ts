/**
 * machines/svq-relayout on the simulator: one queue pair forwarded by SVQ (no passthrough), guest
 * traffic through it, the shadow rings moved between 64 and 32 entries (32 < the guest's 64: the stash).
 * (Part of the simulated-device harnesses: see ../sim.ts.)
 */
import * as E from 'fp-ts/lib/Either.js';
import type { SnapshotFrom } from 'xstate';
import { svqRelayoutMachine } from '../../../machines/svq-relayout.js';
import { GUEST_RAM_GPA, createDataPath, GuestNic, type DataPath } from '../../effects/datapath.js';
import { ShadowRingSets, svqRelayoutEffects } from '../../effects/svq-relayout.js';
import { AddressSpace } from '../../memory/address-space.js';
import { decodeBase } from '../../ring/index.js';
import { backendMask, VHOST_ACCESS_RW, type VdpaDevice } from '../../device/types.js';
import { startDevice } from '../../effects/lifecycle.js';
import { IovaTree } from '../../svq/iova-tree.js';
import { formatStatus } from '../../state/lifecycle.js';
import { F, featureNames, hasFeature, maskOf } from '../../virtio/features.js';
import { statusOf, tracePath, withoutDevicePath, type DeviceRoom, type StepRecord, type Trace } from '../compare.js';
import { generatePaths } from '../paths.js';
import type { ModelEdge } from '../model.js';
import type { ModelPath } from '../paths.js';
import { gatedHarness, type Harness } from '../runner.js';
import { relayoutEvent, relayoutInvariants } from '../scripts.js';
import { faultyDevice, right, simDevice, type DeviceOp, type FaultyDevice, type SimEnv } from './device.js';
import { openedOf, type Opened } from './svq.js';

type RelayoutSnap = SnapshotFrom<typeof svqRelayoutMachine>;

const QUEUES = [0, 1] as const;
const GUEST_SIZE = 64;
/** The two shadow geometries: the guest's size, and half of it. */
export const RELAYOUT_SIM_SIZES: readonly [number, number] = [GUEST_SIZE, GUEST_SIZE / 2];

/** Each weighting gives its own shortest paths: the rollback also reached with new rings mapped, and with SVQs forwarding on them. */
const RELAYOUT_WEIGHTS = [
  () => 1,
  (e: ModelEdge) => (e.type === 'error:suspendDevice' || e.type === 'error:mapShadowRings' ? 100 : 1),
  (e: ModelEdge) => (e.type.startsWith('error:') && e.type !== 'error:resumeDevice' && e.type !== 'error:rollback' ? 100 : 1),
];

export interface RelayoutEnv extends SimEnv {
  readonly path: DataPath;
  readonly rings: ShadowRingSets;
  readonly nic: GuestNic;
  pumping: boolean;
}

/** What the call pump and a recovery need of an env. */
interface Pumped {
  readonly path: DataPath;
  readonly rings: ShadowRingSets;
  pumping: boolean;
}

/**
 * The shadow rings of `path`'s queues on `dev`: guest RAM at IOVA = GPA, the ring sets far above it; SVQ
 * from the start (x-svq=on): the fresh guest rings' positions are the SVQs' hand-overs.
 */
function shadowRingsFor(path: DataPath, dev: VdpaDevice, negotiated: bigint): ShadowRingSets {
  const tree = new IovaTree({ first: 0, last: 2 ** 48 - 1 });
  tree.insert('gpa', GUEST_RAM_GPA, { translatedAddr: GUEST_RAM_GPA, size: path.ram.size - 1, perm: VHOST_ACCESS_RW });
  const view = new AddressSpace('iova');
  right(view.addRegion(GUEST_RAM_GPA, path.ram.buffer, { offset: path.ram.offset, size: path.ram.size, name: 'guest-ram' }));
  const rings = new ShadowRingSets({
    name: 'mbt',
    dev,
    asid: path.asid,
    tree,
    view,
    iova: [2 ** 32, 2 ** 33],
    eventIdx: hasFeature(negotiated, 'EVENT_IDX'),
    guest: (qi) => {
      const q = path.queues.find((x) => x.qi === qi);
      return q === undefined ? undefined : { space: path.gpa, config: q.config };
    },
    callGuest: () => {},
    pollGuestWhileBusy: (qi) => qi % 2 === 1,
  });
  for (const q of path.queues) {
    rings.handovers.set(q.qi, { guestLayout: path.layout, guestSize: q.config.size, guestBase: decodeBase(path.layout, 0), inFlight: [], passthroughBase: undefined });
  }
  return rings;
}

/** Relay device calls to the SVQs (the device's call eventfds) until the env is disposed. */
function pump(env: Pumped): void {
  const loop = async () => {
    while (env.pumping) {
      let called = false;
      for (const qi of QUEUES) {
        const r = await env.path.dev.waitCall(qi, 1);
        if (!env.pumping) return;
        const svq = env.rings.svqs.get(qi);
        if (E.isRight(r) && r.right && svq?.state === 'running') {
          svq.handleDeviceCall();
          called = true;
        }
      }
      if (!called) await new Promise((r) => setImmediate(r));
    }
  };
  void loop();
}

/** A running device whose queue pair SVQ forwards on 64-entry shadow rings, 8 receive buffers posted. */
export async function bringUpShadowed(): Promise<RelayoutEnv> {
  const { sim, faulty } = simDevice({ maxQueuePairs: 1 });
  right(sim.setBackendFeatures(right(sim.getBackendFeatures())));
  const wanted = right(sim.getFeatures()) & ~(F.RING_PACKED | F.MQ | F.RSS | F.HASH_REPORT);
  // machines/device-lifecycle brings it up; the driver's setup before DRIVER_OK: the guest rings, the shadow rings mapped and pointed
  const up = right(
    await startDevice(sim, { wanted }, (negotiated): E.Either<{ readonly message: string }, { path: DataPath; rings: ShadowRingSets }> => {
      const path = createDataPath(faulty.device, { queues: QUEUES, size: GUEST_SIZE, negotiated });
      if (E.isLeft(path)) return path;
      const rings = shadowRingsFor(path.right, faulty.device, negotiated);
      const slot = rings.map(QUEUES, RELAYOUT_SIM_SIZES[0]);
      if (E.isLeft(slot)) return slot;
      const pointed = rings.point(QUEUES, slot.right);
      return E.isLeft(pointed) ? pointed : E.right({ path: path.right, rings });
    }),
  );
  up.actor.stop();
  const { path, rings } = up.setup;
  right(rings.start(QUEUES));
  const nic = new GuestNic(path, (qi) => {
    const svq = rings.svqs.get(qi);
    if (svq?.state === 'running') svq.handleGuestKick();
    return E.right(undefined);
  });
  const env: RelayoutEnv = { sim, faulty, path, rings, nic, pumping: true };
  pump(env);
  right(nic.postRx(0, 8));
  return env;
}

/** The event for `edge`; before a RESET the owner repairs what a failed relayout left (both harnesses). */
function relayoutStep(edge: ModelEdge, env: Pumped, view: { readonly snapshot: unknown }) {
  const size = (view.snapshot as RelayoutSnap).context.size;
  if (edge.trigger === 'RESET') recoverRelayout(env, size);
  return relayoutEvent(edge, size, RELAYOUT_SIM_SIZES);
}

/** What an owner does after a relayout left neither geometry (`failed`): SVQs back on the rings of `size` entries, resumed. */
export function recoverRelayout(env: Pumped, size: number): void {
  const { rings } = env;
  rings.drain(QUEUES);
  const keep = rings.sets.findIndex((s) => s?.size === size);
  for (let slot = 0; slot < rings.sets.length; slot++) if (slot !== keep) right(rings.unmap(slot));
  right(rings.point(QUEUES, keep));
  right(rings.start(QUEUES));
  // a RESUME of a device that is not suspended is harmless (vdpa_sim: resumes a running device)
  right(env.path.dev.resume());
}

/** Let the device, the call pump and the guest run until the transmit queue is empty (bounded). */
async function drainTraffic(env: RelayoutEnv): Promise<void> {
  const tx = env.path.queues[1]!;
  for (let i = 0; i < 50 && tx.driver.inFlight() > 0; i++) {
    env.sim.settle();
    await new Promise((r) => setImmediate(r));
    right(env.nic.reap());
  }
}

/** Effects that cannot fail on a device: an SVQ stop or start touches no device. */
const NO_DEVICE = 'touches no device (an SVQ stop / start): it cannot fail on any device';

export const relayoutSim = gatedHarness<typeof svqRelayoutMachine, RelayoutEnv>({
  machine: svqRelayoutMachine,
  env: () => bringUpShadowed(),
  input: () => ({ queues: [...QUEUES], size: RELAYOUT_SIM_SIZES[0] }),
  effects: (env) => svqRelayoutEffects(env.rings),
  // each weighting gives its own shortest paths: the rollback also reached from a failed pointing (new
  // rings mapped) and from a failed resume (SVQs forwarding on the new rings), not only from the suspend
  weights: RELAYOUT_WEIGHTS,
  impossible: (edge: ModelEdge) => (edge.type === 'error:drainShadow' || edge.type === 'error:startForwarding' ? `${edge.type.slice(6)} ${NO_DEVICE}` : undefined),
  infeasible: (path: ModelPath) => {
    // a rollback right after the suspend failed has nothing to undo (no resume), so it cannot fail
    for (let i = 1; i < path.steps.length; i++) {
      if (path.steps[i]!.edge.type === 'error:rollback' && path.steps[i - 1]!.edge.type === 'error:suspendDevice') return 'a rollback with nothing to undo cannot fail on a device';
    }
    return undefined;
  },
  dispose: (env) => {
    env.pumping = false;
    env.sim.close();
  },
  async complete(c, gates, env) {
    if (c.outcome === 'error') {
      const op = c.path.split('.').pop();
      if (op === 'suspendDevice') env.sim.setFaults([{ kind: 'suspend-fails', times: 1 }]);
      else if (op === 'resumeDevice' || op === 'rollback') env.sim.setFaults([{ kind: 'resume-fails', times: 1 }]);
      else if (op === 'mapShadowRings') env.sim.setFaults([{ kind: 'iotlb-map-fails', times: 1 }]);
      else if (op === 'pointToShadow') env.faulty.failNext('setVringAddr');
      else if (op === 'unmapShadowRings') env.faulty.failNext('iotlbInvalidate');
    }
    await gates.release(c.path);
  },
  event: relayoutStep,
  async invariants(view, env) {
    const s = view.snapshot as RelayoutSnap;
    const bad = relayoutInvariants(s);
    const { rings, nic, sim } = env;
    if (nic.posted - nic.reaped !== nic.inFlight()) bad.push(`ledger: posted ${nic.posted}, reaped ${nic.reaped}, in flight ${nic.inFlight()}`);
    if (!s.matches('shadow')) return bad;
    if (rings.size !== s.context.size) bad.push(`machine on ${s.context.size}-entry rings, the device on ${rings.size}`);
    const sets = rings.sets.filter((x) => x !== undefined).length;
    // a release that failed leaves the old set mapped (its error recorded); otherwise one set
    const leaked = s.context.error !== null && s.context.error.includes('releasing') ? 1 : 0;
    if (sets !== 1 + leaked) bad.push(`${sets} ring set(s) mapped in shadow (expected ${1 + leaked})`);
    if (sim.iotlbEntries(0).length !== 1 + sets) bad.push(`${sim.iotlbEntries(0).length} IOTLB entries (guest RAM + ${sets} ring set(s) expected)`);
    if (sim.isSuspended()) bad.push('device left suspended');
    for (const qi of QUEUES) {
      const svq = rings.svqs.get(qi);
      if (svq?.state !== 'running') {
        bad.push(`queue ${qi}: no running SVQ`);
        continue;
      }
      // forwarding restarted: nothing handed over waits while its shadow ring has room (before any new kick)
      const onRing = svq.inFlight() - svq.stashed();
      if (svq.stashed() > 0 && onRing < rings.size) bad.push(`queue ${qi}: ${svq.stashed()} chain(s) held back with ${rings.size - onRing} free shadow entries (forwarding not restarted)`);
    }
    // traffic flows on this geometry: 2 frames out, both looped back into posted receive buffers
    const rx0 = nic.rxBytes;
    const sent = nic.sendTx(1, 2);
    if (E.isLeft(sent)) return [...bad, `sending: ${sent.left.message}`];
    await drainTraffic(env);
    if (env.path.queues[1]!.driver.inFlight() !== 0) bad.push(`${env.path.queues[1]!.driver.inFlight()} frame(s) stuck on the transmit queue`);
    if (nic.rxBytes <= rx0) bad.push('nothing received');
    right(nic.postRx(0, 2));
    return bad;
  },
});

// ---------------------------------------------------------------------------------------------------
// the room: the same machine over any device, compared with the simulator (../compare.ts)

const RELAYOUT_DEVICE_WANT: bigint = maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'STATUS', 'MTU']);
/** Rings re-pointed after DRIVER_OK while suspended: SUSPEND, RESUME, ENABLE_AFTER_DRIVER_OK. */
const RELAYOUT_DEVICE_BACKEND: bigint = backendMask(['IOTLB_MSG_V2', 'IOTLB_BATCH', 'SUSPEND', 'RESUME', 'ENABLE_AFTER_DRIVER_OK']);
const RELAYOUT_FRAMES = 2;

/** The uAPI call each svq-relayout effect makes that its error edge makes fail, on any VdpaDevice. */
const RELAYOUT_DEVICE_FAULTS: Readonly<Record<string, DeviceOp>> = {
  suspendDevice: 'suspend',
  resumeDevice: 'resume',
  rollback: 'resume',
  mapShadowRings: 'iotlbUpdate',
  pointToShadow: 'setVringAddr',
  unmapShadowRings: 'iotlbInvalidate',
};
const relayoutDeviceFault = (op: string): DeviceOp | undefined => RELAYOUT_DEVICE_FAULTS[op];

interface RelayoutDeviceEnv {
  readonly o: Opened;
  readonly faulty: FaultyDevice;
  readonly path: DataPath;
  readonly rings: ShadowRingSets;
  readonly nic: GuestNic;
  readonly records: StepRecord[];
  pumping: boolean;
}

/**
 * machines/svq-relayout over any VdpaDevice: the device brought up through machines/device-lifecycle with
 * its queue pair on 64-entry shadow rings from the start; error edges made real by a one-shot failure of
 * the uAPI call the effect makes; each step records the device's status, the ring geometry and the frames
 * it looped back in shadow. (Long: one object literal, the harness's bring-up, effects, faults, events and
 * invariants, which share its env.)
 */
export function relayoutOnDevice(open: () => Opened, trace: Trace): Harness {
  return gatedHarness<typeof svqRelayoutMachine, RelayoutDeviceEnv>({
    machine: svqRelayoutMachine,
    weights: RELAYOUT_WEIGHTS,
    infeasible: relayoutSim.infeasible!,
    impossible: relayoutSim.impossible!,
    async env(p) {
      const o = open();
      const dev = o.dev;
      right(dev.setOwner());
      right(dev.setBackendFeatures(right(dev.getBackendFeatures()) & RELAYOUT_DEVICE_BACKEND));
      const faulty = faultyDevice(dev);
      let rings: ShadowRingSets | undefined;
      // machines/device-lifecycle; step 7: the data path, its queues on the first shadow rings
      const started = right(
        await startDevice(dev, { wanted: RELAYOUT_DEVICE_WANT & right(dev.getFeatures()) }, (negotiated) =>
          E.chain((path: DataPath) => {
            rings = shadowRingsFor(path, faulty.device, negotiated);
            const slot = rings.map(QUEUES, RELAYOUT_SIM_SIZES[0]);
            return E.isLeft(slot) ? slot : E.map(() => path)(rings.point(QUEUES, slot.right));
          })(createDataPath(faulty.device, { queues: QUEUES, size: GUEST_SIZE, negotiated })),
        ),
      );
      started.actor.stop();
      const path = started.setup;
      const r = rings!;
      right(r.start(QUEUES));
      const nic = new GuestNic(path, (qi) => {
        const svq = r.svqs.get(qi);
        if (svq?.state === 'running') svq.handleGuestKick();
        return E.right(undefined);
      });
      const env: RelayoutDeviceEnv = { o, faulty, path, rings: r, nic, records: tracePath(trace, p), pumping: true };
      pump(env);
      right(nic.postRx(0, 8));
      return env;
    },
    input: () => ({ queues: [...QUEUES], size: RELAYOUT_SIM_SIZES[0] }),
    effects: (env) => svqRelayoutEffects(env.rings),
    async complete(c, gates, env) {
      const op = relayoutDeviceFault(c.path.split('.').pop()!);
      if (c.outcome === 'error' && op !== undefined) env.faulty.failNext(op);
      await gates.release(c.path);
    },
    event: relayoutStep,
    async invariants(view, env) {
      const { faulty, rings, nic, records, o } = env;
      const s = view.snapshot as RelayoutSnap;
      const bad = relayoutInvariants(s);
      if (faulty.armed().length) bad.push(`fault armed and not hit: ${faulty.armed().join(', ')}`);
      if (nic.posted - nic.reaped !== nic.inFlight()) bad.push(`ledger: posted ${nic.posted}, reaped ${nic.reaped}, in flight ${nic.inFlight()}`);
      let traffic = '';
      if (s.matches('shadow')) {
        if (rings.size !== s.context.size) bad.push(`machine on ${s.context.size}-entry rings, the device on ${rings.size}`);
        const rxq = env.path.queues[0]!.driver;
        const tx = env.path.queues[1]!.driver;
        const rx0 = rxq.inFlight();
        const sent = nic.sendTx(1, RELAYOUT_FRAMES);
        if (E.isLeft(sent)) bad.push(`sending: ${sent.left.message}`);
        const deadline = performance.now() + o.waitMs;
        for (let i = 0; i < 1000; i++) {
          await o.kicked();
          right(nic.reap());
          if (tx.inFlight() === 0 && rx0 - rxq.inFlight() >= RELAYOUT_FRAMES) break;
          if (performance.now() > deadline && i >= 50) break;
        }
        const received = rx0 - rxq.inFlight();
        if (received !== RELAYOUT_FRAMES) bad.push(`${received}/${RELAYOUT_FRAMES} frame(s) received on ${rings.size}-entry rings`);
        right(nic.postRx(0, RELAYOUT_FRAMES));
        traffic = `; ${received} frames back`;
      }
      const st = statusOf(o.dev);
      records.push({
        step: view.index,
        value: JSON.stringify(s.value),
        context: JSON.stringify({ ...s.context, error: withoutDevicePath(s.context.error) }),
        deviceStatus: `${typeof st === 'number' ? formatStatus(st) : st}; ${rings.size}-entry shadow rings, ${rings.sets.filter((x) => x !== undefined).length} set(s); guest posted ${nic.posted} reaped ${nic.reaped}${traffic}`,
      });
      return bad;
    },
    async dispose(env) {
      env.pumping = false;
      // the pump may be inside a bounded wait for a call: let it see the stop before the fd goes
      await new Promise((r) => setTimeout(r, 30));
      env.o.dev.close();
    },
  });
}

export const relayoutRoom: DeviceRoom = {
  machine: svqRelayoutMachine,
  paths: (model) => generatePaths(model, { weights: RELAYOUT_WEIGHTS }).paths,
  unsupported(offer) {
    const lacking = featureNames(RELAYOUT_DEVICE_WANT & ~offer.features & maskOf(['VERSION_1', 'ACCESS_PLATFORM']));
    const suspend = backendMask(['SUSPEND', 'RESUME', 'ENABLE_AFTER_DRIVER_OK']);
    if (lacking.length) return `the device does not offer ${lacking.join(', ')}`;
    if ((offer.backend & suspend) !== suspend) return 'moving shadow rings under a running device needs VHOST_BACKEND_F_SUSPEND, _RESUME and _ENABLE_AFTER_DRIVER_OK';
    return undefined;
  },
  harnesses: (sides, trace) => ({ device: relayoutOnDevice(() => openedOf(sides.device()), trace.device), sim: relayoutOnDevice(() => openedOf(sides.sim()), trace.sim) }),
};
