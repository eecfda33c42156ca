/**
 * machines/svq-relayout on the simulator: one queue pair forwarded by SVQ (no passthrough), guest
 * traffic through it, the shadow rings moved between 64 and 32 entries (32 < the guest's 64: the stash).
 * (Part of the simulated-device harnesses: see ../sim.ts.)
 */
import * as E from 'fp-ts/lib/Either.js';
import type { SnapshotFrom } from 'xstate';
import { svqRelayoutMachine } from '../../../machines/svq-relayout.js';
import { GUEST_RAM_GPA, createDataPath, GuestNic, type DataPath } from '../../effects/datapath.js';
import { ShadowRings, svqRelayoutEffects } from '../../effects/svq-relayout.js';
import { AddressSpace } from '../../memory/address-space.js';
import { decodeBase } from '../../ring/index.js';
import { VHOST_ACCESS_RW } from '../../device/types.js';
import { IovaTree } from '../../svq/iova-tree.js';
import { STATUS } from '../../state/lifecycle.js';
import { F, hasFeature } from '../../virtio/features.js';
import type { ModelEdge } from '../model.js';
import type { ModelPath } from '../paths.js';
import { gatedHarness } from '../runner.js';
import { relayoutEvent, relayoutInvariants } from '../scripts.js';
import { right, simDevice, type SimEnv } from './device.js';

type RelayoutSnap = SnapshotFrom<typeof svqRelayoutMachine>;

const QUEUES = [0, 1] as const;
const GUEST_SIZE = 64;
/** The two shadow geometries: the guest's size, and half of it. */
export const RELAYOUT_SIM_SIZES: readonly [number, number] = [GUEST_SIZE, GUEST_SIZE / 2];

export interface RelayoutEnv extends SimEnv {
  readonly path: DataPath;
  readonly rings: ShadowRings;
  readonly nic: GuestNic;
  pumping: boolean;
}

/** Relay device calls to the SVQs (the device's call eventfds) until the env is disposed. */
function pump(env: RelayoutEnv): void {
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
  const negotiated = right(sim.getFeatures()) & ~(F.RING_PACKED | F.MQ | F.RSS | F.HASH_REPORT);
  right(sim.setBackendFeatures(right(sim.getBackendFeatures())));
  right(sim.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER));
  right(sim.setFeatures(negotiated));
  right(sim.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK));
  const path = right(createDataPath(faulty.device, { queues: QUEUES, size: GUEST_SIZE, negotiated }));
  const tree = new IovaTree({ first: 0, last: 2 ** 48 - 1 });
  tree.insert('gpa', GUEST_RAM_GPA, { translatedAddr: GUEST_RAM_GPA, size: path.ram.size - 1, perm: VHOST_ACCESS_RW });
  const view = new AddressSpace('iova');
  right(view.addRegion(GUEST_RAM_GPA, path.ram.buffer, { offset: path.ram.offset, size: path.ram.size, name: 'guest-ram' }));
  const rings = new ShadowRings({
    name: 'mbt',
    dev: faulty.device,
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
  // SVQ from the start (x-svq=on): the guest rings' positions are the SVQs' hand-overs
  for (const q of path.queues) {
    rings.handovers.set(q.qi, { guestLayout: path.layout, guestSize: GUEST_SIZE, guestBase: decodeBase(path.layout, 0), inFlight: [], passthroughBase: undefined });
  }
  const slot = right(rings.map(QUEUES, RELAYOUT_SIM_SIZES[0]));
  right(rings.point(QUEUES, slot));
  right(sim.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK));
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

/** What an owner does after a relayout left neither geometry (`failed`): SVQs back on the rings of `size` entries, resumed. */
export function recoverRelayout(env: RelayoutEnv, size: number): void {
  const { rings } = env;
  rings.drain(QUEUES);
  const keep = rings.sets.findIndex((s) => s?.size === size);
  for (let slot = 0; slot < rings.sets.length; slot++) if (slot !== keep) right(rings.unmap(slot));
  right(rings.point(QUEUES, keep));
  right(rings.start(QUEUES));
  if (env.sim.isSuspended()) right(env.sim.resume());
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
const NO_DEVICE = 'touches no device (an SVQ stop / start): cannot fail on the simulator';

export const relayoutSim = gatedHarness<typeof svqRelayoutMachine, RelayoutEnv>({
  machine: svqRelayoutMachine,
  env: () => bringUpShadowed(),
  input: () => ({ queues: [...QUEUES], size: RELAYOUT_SIM_SIZES[0] }),
  effects: (env) => svqRelayoutEffects(env.rings),
  // each weighting gives its own shortest paths: the rollback also reached from a failed pointing (new
  // rings mapped) and from a failed resume (SVQs forwarding on the new rings), not only from the suspend
  weights: [
    () => 1,
    (e: ModelEdge) => (e.type === 'error:suspendDevice' || e.type === 'error:mapShadowRings' ? 100 : 1),
    (e: ModelEdge) => (e.type.startsWith('error:') && e.type !== 'error:resumeDevice' && e.type !== 'error:rollback' ? 100 : 1),
  ],
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
  event(edge, env, view) {
    const s = view.snapshot as RelayoutSnap;
    // the owner repairs what a failed relayout left before reusing the device
    if (edge.trigger === 'RESET') recoverRelayout(env, s.context.size);
    return relayoutEvent(edge, s.context.size, RELAYOUT_SIM_SIZES);
  },
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
