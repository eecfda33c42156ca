/**
 * machines/cvq-command's room: its harness on the simulator (a shadow CVQ in its own ASID, acks steered
 * per edge by the simulator's fault plan), and on any device (../compare.ts).
 */
import * as E from 'fp-ts/lib/Either.js';
import { cvqCommandMachine, VIRTIO_NET_OK, type CvqCommand } from '../../../machines/cvq-command.js';
import { CvqEngine, cvqOut } from '../../cvq/engine.js';
import { setUpShadowCvq, startShadowCvq } from '../../cvq/shadow.js';
import { SimVdpaDevice, type SimDeviceOptions } from '../../device/sim/device.js';
import { backendMask, type VdpaDevice } from '../../device/types.js';
import { cvqCommandEffects, runCvqCommands, toCvqCommand } from '../../effects/cvq.js';
import { startDevice } from '../../effects/lifecycle.js';
import type { RestoreCommand } from '../../state/plan.js';
import type { NetCtrlCommand } from '../../virtio/cvq.js';
import { F, featureNames, maskOf } from '../../virtio/features.js';
import { ETH_ALEN, NET_CONFIG, formatMac } from '../../virtio/net.js';
import { tracePath, type DeviceRoom, type StepRecord, type Trace } from '../compare.js';
import type { ModelEdge } from '../model.js';
import { generatePaths, type ModelPath } from '../paths.js';
import { gatedHarness, type Harness } from '../runner.js';
import { cvqEnqueue, cvqInitialCommands, cvqInvariants, cvqScript, cvqStrategyFor, enqueueSize, EXCHANGE, isAckEdge, isSerialPath, vlanAdd, wantsMoreBatches, WRITE_BATCH } from '../scripts.js';
import { faultyDevice, right, simDevice, type CvqSnap, type FaultyDevice, type SimEnv } from './device.js';
import { DEVICE_BACKEND } from './lifecycle.js';

// ---------------------------------------------------------------------------------------------------
// cvq-command on the simulator: a device at DRIVER_OK with the shadow CVQ alone in ASID 1 (as QEMU)

export interface CvqEnv extends SimEnv {
  readonly engine: CvqEngine;
  readonly negotiated: bigint;
}

/**
 * Owner, features (split ring), the shadow CVQ in ASID 1, DRIVER_OK; the engine over it. `ringSize` 2
 * holds one two-descriptor command: a parallel flush then takes a batch per command.
 */
export async function bringUpCvq(opts: SimDeviceOptions = {}, mask: bigint = ~F.RING_PACKED, ringSize?: number): Promise<CvqEnv> {
  const { sim, faulty } = simDevice(opts);
  // through machines/device-lifecycle (src/cvq/shadow.ts startShadowCvq)
  const started = right(await startShadowCvq(sim, right(sim.getFeatures()) & mask, { asid: 1, ...(ringSize === undefined ? {} : { size: ringSize }) }));
  started.actor.stop();
  return { sim, faulty, negotiated: started.negotiated, engine: new CvqEngine(faulty.device, started.cvq) };
}

/** Why an all-answered-but-one ack list never reaches machines/cvq-command from a real engine. */
export const ENGINE_ANSWERS_ALL =
  'the CVQ engine answers awaitAcks only once every command of the batch is used; one left unanswered ends the wait with ETIMEDOUT (the ackTimedOut edge), never with an ack list holding a missing entry';

/** Why the engine never reports NEEDS_RESET to machines/cvq-command. */
export const ENGINE_IGNORES_NEEDS_RESET =
  'the CVQ engine\'s awaitAcks does not read the device status: a device that sets NEEDS_RESET with a batch in flight stops answering, and the wait ends with ETIMEDOUT (the ackTimedOut edge), never with a needs-reset error';

/** The device's answer to the next acks (it answers when it processes the kick, during the write). */
export function armAcks(edge: ModelEdge, sim: SimVdpaDevice): void {
  if (!isAckEdge(edge) && edge.kind !== 'after') return;
  if (edge.guard === 'wroteWrongLength') sim.setFaults([{ kind: 'wrong-used-len', len: 0, times: 1 }]);
  else if (edge.guard === 'ackedErr') sim.setFaults([{ kind: 'nack', times: 1 }]);
  else if (edge.kind === 'error' && edge.guard === 'ackTimedOut') sim.setFaults([{ kind: 'no-answer', times: 1 }]);
  else if (edge.kind === 'error' && edge.guard === 'deviceNeedsReset') sim.setFaults([{ kind: 'needs-reset', times: 1 }]);
  else if (edge.kind === 'error') sim.setFaults([{ kind: 'bad-used-id', times: 1 }]);
  else if (edge.kind === 'after') sim.setFaults([{ kind: 'no-answer', times: 1 }]);
}

export const cvqSim = gatedHarness<typeof cvqCommandMachine, CvqEnv>({
  machine: cvqCommandMachine,
  // several parallel batches need one command per batch: a two-entry ring
  env: (path) => bringUpCvq({}, ~F.RING_PACKED, wantsMoreBatches(path) ? 2 : undefined),
  input: (path) => ({
    strategy: cvqStrategyFor(path),
    commands: Array.from({ length: cvqInitialCommands(path) }, (_, i) => vlanAdd(i + 1)),
    ackTimeoutMs: 25,
  }),
  effects: (env) => cvqCommandEffects(env.engine),
  dispose: (env) => env.sim.close(),
  infeasible: (path) => cvqScript.script.infeasible?.(path),
  impossible: (edge) =>
    !isAckEdge(edge) ? undefined : edge.guard === 'unanswered' ? ENGINE_ANSWERS_ALL : edge.guard === 'deviceNeedsReset' ? ENGINE_IGNORES_NEEDS_RESET : undefined,
  // the device answers a batch during writeBatch: its acks are armed a step ahead (two, across a port
  // restore); a serial exchange is answered in its own step, so it is armed as it runs (complete)
  ahead(edge, env, view) {
    const after = view.path.steps[view.index + 1]?.edge;
    const target = edge.kind === 'ready' && after !== undefined && isAckEdge(after) ? after : edge;
    if (target.trigger !== EXCHANGE) armAcks(target, env.sim);
  },
  async complete(c, gates, env) {
    if (c.path === EXCHANGE) armAcks(c.edge, env.sim);
    if (c.path === WRITE_BATCH && c.outcome === 'error') env.faulty.failNext('kick');
    await gates.release(c.path);
  },
  event: (edge, _env, view) => (edge.trigger === 'ENQUEUE' ? cvqEnqueue(view.snapshot as CvqSnap, view.path) : { type: edge.trigger }),
  invariants(view, env) {
    const s = view.snapshot as CvqSnap;
    const c = s.context;
    const bad = cvqInvariants(s);
    // never counted as applied unless the device acked it OK
    for (let i = 0; i < c.applied; i++) {
      const seen = env.sim.cvqLog[i];
      if (seen === undefined || seen.ack !== VIRTIO_NET_OK || seen.name !== 'VLAN_ADD') bad.push(`command #${i} counted as applied, device log: ${seen ? `${seen.name} ack ${seen.ack}` : 'nothing'}`);
    }
    if (s.matches('done') && env.sim.cvqLog.length !== c.commands.length) bad.push(`done, but the device saw ${env.sim.cvqLog.length}/${c.commands.length} commands`);
    return bad;
  },
});

// ---------------------------------------------------------------------------------------------------
// cvq-command on any device: the shadow CVQ alone in ASID 1, the engine, src/effects/cvq.ts

/** What the device harness negotiates: a MAC-only CVQ (every vDPA NIC with a CVQ has MAC_ADDR_SET). */
export const CVQ_DEVICE_WANT: bigint = maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'STATUS', 'MTU', 'CTRL_VQ', 'CTRL_MAC_ADDR']);
/** The machine's own ack timeout; the simulated clock drives its `after` delay, so only the effects' wait uses it. */
const CVQ_DEVICE_ACK_TIMEOUT_MS = 10_000;

/** Edges no device can be made to take on demand (only the simulator's fault plan takes them). */
export function cvqDeviceInfeasible(path: ModelPath): string | undefined {
  for (const { edge } of path.steps) {
    if (edge.guard === 'wroteWrongLength') return 'a device cannot be made to write a used length other than the ack byte on demand';
    if (isAckEdge(edge) && (edge.guard === 'unanswered' || edge.kind === 'error')) return 'a device cannot be made to leave a chain unanswered, break the ring rules or set NEEDS_RESET on demand';
    if (edge.kind === 'after') return 'a device cannot be made to miss the ack timeout on demand';
  }
  return cvqScript.script.infeasible?.(path);
}

/**
 * Index of the command that must be refused for the path's `ackedErr` edge (the last one of that batch),
 * replaying the cursor as the real effects move it: serial one command per batch, parallel all pending.
 */
export function refusedIndex(path: ModelPath, serial: boolean): number {
  let commands = cvqInitialCommands(path);
  let cursor = 0;
  for (const { edge } of path.steps) {
    if (edge.type === 'ENQUEUE') commands += enqueueSize(path);
    else if (edge.trigger === 'FLUSH' && serial) cursor++;
    else if (edge.trigger === WRITE_BATCH && edge.kind === 'done') cursor = wantsMoreBatches(path) ? cursor + 1 : commands;
    else if (isAckEdge(edge) && edge.guard === 'ackedErr') return cursor - 1;
    else if (edge.trigger === EXCHANGE && edge.kind === 'done') cursor++;
  }
  return -1;
}

/** A command in the planner's form, whatever the negotiated features. */
function restoreCommand(cmd: NetCtrlCommand): RestoreCommand {
  const o = cvqOut(cmd);
  return { class: o.class, command: o.command, name: cmd.kind, payload: o.payload, cmd };
}

/**
 * The path's commands: MAC_ADDR_SET (the one command every vDPA NIC's CVQ applies, vdpa_sim_net's only
 * one); the command `ackedErr` needs refused is a MAC_TABLE_SET without CTRL_RX negotiated (same class,
 * so not hidden by vdpa_sim_net's stale ack even when batched).
 */
const deviceCommand = (refused: number) => (i: number): CvqCommand =>
  toCvqCommand(
    i === refused
      ? restoreCommand({ kind: 'MAC_TABLE_SET', unicast: [], multicast: [] })
      : restoreCommand({ kind: 'MAC_ADDR_SET', mac: `02:5e:00:00:01:${(i & 0xff).toString(16).padStart(2, '0')}` }),
  );

interface CvqDeviceEnv {
  readonly dev: VdpaDevice;
  readonly faulty: FaultyDevice;
  readonly engine: CvqEngine;
  readonly serial: boolean;
  readonly command: (i: number) => CvqCommand;
  readonly records: StepRecord[];
}

/**
 * machines/cvq-command over any VdpaDevice at DRIVER_OK with the shadow CVQ alone in ASID 1. Records
 * each step's machine state and context and the MAC the device shows whenever no batch is in flight (a
 * real device answers a kick asynchronously, the simulator during it: the MAC mid-batch is a race, not
 * a state). `startMac`: set to the MAC the device shows when opened (a real device keeps its MAC across
 * opens), so the simulated side can start from it.
 */
export function cvqOnDevice(open: () => VdpaDevice, trace: Trace, startMac?: { value: string }): Harness {
  return gatedHarness<typeof cvqCommandMachine, CvqDeviceEnv>({
    machine: cvqCommandMachine,
    infeasible: cvqDeviceInfeasible,
    async env(path) {
      const dev = open();
      if (startMac !== undefined) startMac.value = formatMac(right(dev.getConfig(NET_CONFIG.mac, ETH_ALEN)));
      right(dev.setOwner());
      // not IOTLB_PERSIST: a reset clears what the path mapped, whatever the device does on close
      right(dev.setBackendFeatures(right(dev.getBackendFeatures()) & DEVICE_BACKEND));
      // QEMU's CVQ-only start through machines/device-lifecycle: the shadow CVQ alone in ASID 1, DRIVER_OK
      // several parallel batches need one command per batch: a two-entry ring holds one two-descriptor chain
      const size = wantsMoreBatches(path) ? { size: 2 } : {};
      const started = right(await startDevice(dev, { wanted: CVQ_DEVICE_WANT & right(dev.getFeatures()) }, (negotiated) => setUpShadowCvq(dev, negotiated, { asid: 1, ...size })));
      started.actor.stop();
      const faulty = faultyDevice(dev);
      const serial = isSerialPath(path);
      return { dev, faulty, engine: new CvqEngine(faulty.device, started.setup), serial, command: deviceCommand(refusedIndex(path, serial)), records: tracePath(trace, path) };
    },
    input: (path, env) => ({ strategy: cvqStrategyFor(path), commands: Array.from({ length: cvqInitialCommands(path) }, (_, i) => env.command(i)), ackTimeoutMs: CVQ_DEVICE_ACK_TIMEOUT_MS }),
    effects: (env) => cvqCommandEffects(env.engine),
    async complete(c, gates, env) {
      if (c.path === WRITE_BATCH && c.outcome === 'error') env.faulty.failNext('kick');
      await gates.release(c.path);
    },
    event: (edge, env, view) => (edge.trigger === 'ENQUEUE' ? cvqEnqueue(view.snapshot as CvqSnap, view.path, env.command) : { type: edge.trigger }),
    invariants(view, env) {
      const s = view.snapshot as CvqSnap;
      const mac = env.dev.getConfig(NET_CONFIG.mac, ETH_ALEN);
      env.records.push({
        step: view.index,
        value: JSON.stringify(s.value),
        context: JSON.stringify(s.context),
        deviceStatus: s.context.inFlight > 0 ? 'batch in flight' : E.isRight(mac) ? formatMac(mac.right) : mac.left.message,
      });
      return cvqInvariants(s);
    },
    dispose(env) {
      env.dev.close();
    },
  });
}

export const cvqRoom: DeviceRoom = {
  machine: cvqCommandMachine,
  paths: (model) => generatePaths(model).paths,
  unsupported: (offer) =>
    (offer.features & CVQ_DEVICE_WANT) !== CVQ_DEVICE_WANT
      ? `the device does not offer ${featureNames(CVQ_DEVICE_WANT & ~offer.features).join(', ')}`
      : offer.groups < 2 || offer.asids < 2 || (offer.backend & backendMask(['IOTLB_ASID'])) === 0n
        ? `the shadow CVQ needs its own address space: the device has ${offer.groups} virtqueue group(s), ${offer.asids} address space(s)${(offer.backend & backendMask(['IOTLB_ASID'])) === 0n ? ', no VHOST_BACKEND_F_IOTLB_ASID' : ''}`
        : undefined,
  harnesses(sides, trace) {
    // each path starts both devices from the MAC the device under test shows then, so the read-back compares
    const startMac = { value: '' };
    return { device: cvqOnDevice(sides.device, trace.device, startMac), sim: cvqOnDevice(() => sides.sim({ mac: startMac.value }), trace.sim) };
  },
};

/**
 * Give an (unowned, reset) device back the MAC it had before a run: own it, bring it up with the shadow
 * CVQ alone in ASID 1 (machines/device-lifecycle), send one MAC_ADDR_SET (machines/cvq-command), reset
 * it. A kernel device keeps MAC_ADDR_SET across resets and opens, so the conformance run ends here.
 */
export async function setMacThroughCvq(dev: VdpaDevice, mac: string): Promise<E.Either<string, void>> {
  try {
    const own = dev.setOwner();
    if (E.isLeft(own)) return E.left(own.left.message);
    const backend = dev.setBackendFeatures(right(dev.getBackendFeatures()) & DEVICE_BACKEND);
    if (E.isLeft(backend)) return E.left(backend.left.message);
    const started = await startDevice(dev, { wanted: CVQ_DEVICE_WANT & right(dev.getFeatures()) }, (negotiated) => setUpShadowCvq(dev, negotiated, { asid: 1 }));
    if (E.isLeft(started)) return E.left(started.left.message);
    started.right.actor.stop();
    const out = await runCvqCommands(new CvqEngine(dev, started.right.setup), [toCvqCommand(restoreCommand({ kind: 'MAC_ADDR_SET', mac }))], { strategy: 'serial', ackTimeoutMs: CVQ_DEVICE_ACK_TIMEOUT_MS });
    return out.ok ? E.right(undefined) : E.left(`MAC_ADDR_SET ${mac}: ${out.failure?.message ?? 'not applied'}`);
  } catch (e) {
    return E.left(e instanceof Error ? e.message : String(e));
  } finally {
    dev.setStatus(0);
  }
}
