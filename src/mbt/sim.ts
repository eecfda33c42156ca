/**
 * Simulated-device harnesses: the machines with their real effects (src/effects/) on a fresh
 * `SimVdpaDevice` per path. Each invocation is gated: the effect runs only when the path takes the
 * actor's done or error edge, so the real machine moves one model step at a time. Error edges are
 * made real by arming a fault just before the effect runs — the simulator's own fault plan where it
 * has one (suspend/resume refused, IOTLB map failure, CVQ NACK / wrong length / no answer), else a
 * one-shot failure of the uAPI call the effect makes (`FaultyDevice`). Guarded done edges are steered
 * the same way (a device that hides VERSION_1, one that refuses FEATURES_OK).
 */
import * as E from 'fp-ts/lib/Either.js';
import { createActor, waitFor, type SnapshotFrom } from 'xstate';
import { bind } from '../../machines/contract.js';
import { cvqCommandMachine, VIRTIO_NET_OK } from '../../machines/cvq-command.js';
import { deviceLifecycleMachine } from '../../machines/device-lifecycle.js';
import { migrationMachine } from '../../machines/migration.js';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import { CvqEngine } from '../cvq/engine.js';
import { setUpShadowCvq, startShadowCvq, type ShadowCvq } from '../cvq/shadow.js';
import { SimVdpaDevice, type SimDeviceOptions } from '../device/sim/device.js';
import type { ProfileName } from '../device/sim/profiles.js';
import { deviceError, type DeviceError, type VdpaDevice } from '../device/types.js';
import { cvqCommandEffects, runCvqCommands, toCvqCommand } from '../effects/cvq.js';
import { createDataPath, GuestNic, type DataPath } from '../effects/datapath.js';
import { lifecycleEffects, startDevice } from '../effects/lifecycle.js';
import { destinationEffects, sourceEffects, type DestinationSide, type SourceEffects, type SourceSide } from '../effects/migration.js';
import { SvqBackend, svqSwitchEffects } from '../effects/svq.js';
import { guestRingsOf, MigrationStream, probeOf } from '../migrate/world.js';
import { applyCommand } from '../state/apply.js';
import { decodeStateJson, encodeStateJson } from '../state/json.js';
import { STATUS, formatStatus, negotiate, toHex } from '../state/lifecycle.js';
import { makeMigrationRecord, type MigrationRecord } from '../state/migration-record.js';
import { DEFAULT_LIMITS, resetNetState, vlanFilterOf, type NetDeviceState } from '../state/net-state.js';
import { planRestore } from '../state/plan.js';
import { viewThrough } from '../state/view.js';
import { DirtyLog } from '../svq/dirty-log.js';
import { F } from '../virtio/features.js';
import { ETH_ALEN, NET_CONFIG, formatMac } from '../virtio/net.js';
import type { ModelEdge } from './model.js';
import type { ModelPath } from './paths.js';
import { gatedHarness, Infeasible, type Completion, type Harness, type StepView } from './runner.js';
import {
  AWAIT_ACKS,
  checkContextGuards,
  CVQ,
  CVQ_NEVER_ERRORS,
  cvqEnqueue,
  cvqInitialCommands,
  cvqInvariants,
  cvqScript,
  DEVICE,
  lifecycleInvariants,
  MIGRATION_WEIGHTS,
  migrationEvent,
  migrationImpossible,
  migrationInvariants,
  migrationMaxRounds,
  migrationMoves,
  migrationSignature,
  RUNNING_STATUS,
  SCRIPT_WANTED,
  SVQ,
  svqEvent,
  svqInvariants,
  vlanAdd,
  wantsMoreBatches,
  WRITE_BATCH,
} from './scripts.js';

type LifecycleSnap = SnapshotFrom<typeof deviceLifecycleMachine>;
type SvqSnap = SnapshotFrom<typeof svqSwitchMachine>;
type CvqSnap = SnapshotFrom<typeof cvqCommandMachine>;
type MigrationSnap = SnapshotFrom<typeof migrationMachine>;

// ---------------------------------------------------------------------------------------------------
// A device wrapper for faults the simulator has no rule for.

type DeviceOp = { [K in keyof VdpaDevice]: VdpaDevice[K] extends (...a: never[]) => unknown ? K : never }[keyof VdpaDevice];

export interface FaultyDevice {
  readonly device: VdpaDevice;
  /** The next call of `op` fails with a DeviceError of kind "fault" (and does nothing). */
  failNext(op: DeviceOp): void;
  /** The next GET_FEATURES hides `mask`. */
  hideFeaturesOnce(mask: bigint): void;
  /** The next SET_STATUS that sets FEATURES_OK has it cleared, as a device refusing the features. */
  refuseFeaturesOkOnce(): void;
  /** The next GET_CONFIG reads back with its first byte flipped (config space that does not show what was acked). */
  corruptConfigOnce(): void;
  /** Ops armed and not yet hit. */
  armed(): string[];
}

export function faultyDevice(inner: VdpaDevice): FaultyDevice {
  const failing = new Set<string>();
  let hide = 0n;
  let refuse = false;
  let corrupt = false;
  const device = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => unknown).bind(target);
      const name = String(prop);
      if (failing.has(name)) {
        return (...args: unknown[]) => {
          failing.delete(name);
          const err: DeviceError = deviceError('fault', name, `${name} failed (injected by the model-based test)`);
          return name === 'waitCall' ? Promise.resolve(E.left(err)) : (void args, E.left(err));
        };
      }
      if (name === 'getFeatures' && hide !== 0n) {
        return () => {
          const m = hide;
          hide = 0n;
          return E.map((f: bigint) => f & ~m)(fn() as E.Either<DeviceError, bigint>);
        };
      }
      if (name === 'getConfig' && corrupt) {
        return (offset: number, len: number) => {
          corrupt = false;
          return E.map((b: Uint8Array) => {
            const c = b.slice();
            c[0] = c[0]! ^ 0xff;
            return c;
          })(fn(offset, len) as E.Either<DeviceError, Uint8Array>);
        };
      }
      if (name === 'setStatus' && refuse) {
        return (status: number) => {
          if ((status & STATUS.FEATURES_OK) === 0) return fn(status);
          refuse = false;
          return fn(status & ~STATUS.FEATURES_OK);
        };
      }
      return fn;
    },
  });
  return {
    device,
    failNext: (op) => void failing.add(op),
    hideFeaturesOnce: (mask) => void (hide = mask),
    refuseFeaturesOkOnce: () => void (refuse = true),
    corruptConfigOnce: () => void (corrupt = true),
    armed: () => [...failing, ...(hide ? ['getFeatures(hide)'] : []), ...(refuse ? ['setStatus(refuse FEATURES_OK)'] : []), ...(corrupt ? ['getConfig(corrupt)'] : [])],
  };
}

// ---------------------------------------------------------------------------------------------------
// Simulated devices

export interface SimEnv {
  readonly sim: SimVdpaDevice;
  readonly faulty: FaultyDevice;
}

// ---------------------------------------------------------------------------------------------------
// device-lifecycle on the simulator

/** The uAPI call each lifecycle effect makes that its error edge makes fail (any VdpaDevice). */
export const LIFECYCLE_OPS: Readonly<Record<string, DeviceOp>> = {
  resetDevice: 'setStatus',
  writeStatus: 'setStatus',
  readStatus: 'getStatus',
  readFeatures: 'getFeatures',
  writeFeatures: 'setFeatures',
  suspendDevice: 'suspend',
  resumeDevice: 'resume',
};

const simDevice = (opts: SimDeviceOptions = {}): SimEnv => {
  const sim = new SimVdpaDevice({ profile: 'full', ...opts });
  const own = sim.setOwner();
  if (E.isLeft(own)) throw new Error(own.left.message);
  return { sim, faulty: faultyDevice(sim) };
};

function right<T>(e: E.Either<{ message: string }, T>): T {
  if (E.isLeft(e)) throw new Error(e.left.message);
  return e.right;
}

/** What a driver negotiated with `dev` wanting `wanted` (what an ATTACH takes over). */
export const negotiatedWith = (dev: VdpaDevice, wanted: bigint): bigint => right(negotiate(right(dev.getFeatures()), wanted));

/** Another driver instance brings `dev` up to DRIVER_OK with `negotiated` (what ATTACH then finds). */
function bringUpByHand(dev: VdpaDevice, negotiated: bigint): void {
  if ((right(dev.getStatus()) & STATUS.DRIVER_OK) !== 0) return;
  right(dev.setStatus(0));
  right(dev.setStatus(STATUS.ACKNOWLEDGE));
  right(dev.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER));
  right(dev.setFeatures(negotiated));
  right(dev.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK));
  right(dev.setStatus(RUNNING_STATUS));
}

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
// cvq-command on the simulator: a device at DRIVER_OK with the shadow CVQ alone in ASID 1 (as QEMU)

export interface CvqEnv extends SimEnv {
  readonly engine: CvqEngine;
  readonly negotiated: bigint;
}

/** Owner, features (split ring), the shadow CVQ in ASID 1, DRIVER_OK; the engine over it. */
export async function bringUpCvq(opts: SimDeviceOptions = {}, mask: bigint = ~F.RING_PACKED): Promise<CvqEnv> {
  const { sim, faulty } = simDevice(opts);
  // through machines/device-lifecycle (src/cvq/shadow.ts startShadowCvq)
  const started = right(await startShadowCvq(sim, right(sim.getFeatures()) & mask, { asid: 1 }));
  started.actor.stop();
  return { sim, faulty, negotiated: started.negotiated, engine: new CvqEngine(faulty.device, started.cvq) };
}

/** Why an all-answered-but-one ack list never reaches machines/cvq-command from a real engine. */
export const ENGINE_ANSWERS_ALL =
  'the CVQ engine answers awaitAcks only once every command of the batch is used; one left unanswered ends the wait with ETIMEDOUT (the ackTimedOut edge), never with an ack list holding a missing entry';

/** Why the engine never reports NEEDS_RESET to machines/cvq-command. */
export const ENGINE_IGNORES_NEEDS_RESET =
  'the CVQ engine\'s awaitAcks does not read the device status: a device that sets NEEDS_RESET with a batch in flight stops answering, and the wait ends with ETIMEDOUT (the ackTimedOut edge), never with a needs-reset error';

/** The device's answer to the next awaitAcks (it answers when it processes the kick, during writeBatch). */
export function armAcks(edge: ModelEdge, sim: SimVdpaDevice): void {
  if (edge.trigger !== AWAIT_ACKS && edge.kind !== 'after') return;
  if (edge.guard === 'wroteWrongLength') sim.setFaults([{ kind: 'wrong-used-len', len: 0, times: 1 }]);
  else if (edge.guard === 'ackedErr') sim.setFaults([{ kind: 'nack', times: 1 }]);
  else if (edge.kind === 'error' && edge.guard === 'ackTimedOut') sim.setFaults([{ kind: 'no-answer', times: 1 }]);
  else if (edge.kind === 'error' && edge.guard === 'deviceNeedsReset') sim.setFaults([{ kind: 'needs-reset', times: 1 }]);
  else if (edge.kind === 'error') sim.setFaults([{ kind: 'bad-used-id', times: 1 }]);
  else if (edge.kind === 'after') sim.setFaults([{ kind: 'no-answer', times: 1 }]);
}

export const cvqSim = gatedHarness<typeof cvqCommandMachine, CvqEnv>({
  machine: cvqCommandMachine,
  env: () => bringUpCvq(),
  // several batches need one command per batch: serial
  input: (path) => ({
    strategy: wantsMoreBatches(path) ? 'serial' : 'parallel',
    commands: Array.from({ length: cvqInitialCommands(path) }, (_, i) => vlanAdd(i + 1)),
    ackTimeoutMs: 25,
  }),
  effects: (env) => cvqCommandEffects(env.engine),
  dispose: (env) => env.sim.close(),
  infeasible: (path) => cvqScript.script.infeasible?.(path),
  impossible: (edge) =>
    edge.trigger !== AWAIT_ACKS ? undefined : edge.guard === 'unanswered' ? ENGINE_ANSWERS_ALL : edge.guard === 'deviceNeedsReset' ? ENGINE_IGNORES_NEEDS_RESET : undefined,
  ahead: (edge, env) => armAcks(edge, env.sim),
  async complete(c, gates, env) {
    if (c.path === WRITE_BATCH && c.outcome === 'error') env.faulty.failNext('kick');
    await gates.release(c.path);
  },
  event: (edge, _env, view) => (edge.trigger === 'ENQUEUE' ? cvqEnqueue(view.snapshot as CvqSnap) : { type: edge.trigger }),
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
// svq-switch on the simulator: one queue pair's data path with guest traffic through it

export interface SvqEnv extends SimEnv {
  readonly backend: SvqBackend;
  readonly nic: GuestNic;
}

const DATA_QUEUES = [0, 1] as const;

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

// ---------------------------------------------------------------------------------------------------
// migration on the simulator: a source device with SVQ-switchable data queues and a configured CVQ
// state, and a fresh destination device, both per path

/** The state the source's guest configured through its CVQ. */
export const SOURCE_STATE: NetDeviceState = {
  ...resetNetState('52:54:00:aa:bb:cc'),
  rxMode: { promisc: false, allmulti: true, alluni: false, nomulti: false, nouni: false, nobcast: false },
  macTable: { unicast: ['02:00:00:00:00:01', '02:00:00:00:00:02'], multicast: ['01:00:5e:00:00:01'], unicastOverflow: false, multicastOverflow: false },
  vlanFilter: vlanFilterOf([1, 100, 200, 4094]),
};

const SPLIT_SINGLE_PAIR = ~(F.RING_PACKED | F.MQ | F.RSS | F.HASH_REPORT);
const THRESHOLD_PAGES = 2;

/** The destination end of a path: any VdpaDevice (the simulator or the kernel's), and its fault wrapper. */
export interface DestinationEnv {
  readonly dev: VdpaDevice;
  readonly faulty: FaultyDevice;
}

export interface MigrationEnv extends SimEnv {
  readonly src: MigrationSourceEnv;
  readonly dst: DestinationEnv;
  /** The state the source's guest configured (what the record carries). */
  readonly state: NetDeviceState;
  readonly source: SourceEffects;
  readonly destination: ReturnType<typeof destinationEffects>;
  /** The end this path runs (its first event: MIGRATE or INCOMING). */
  readonly role: 'source' | 'destination';
  /** x-svq=on: the data queues were shadowed before the migration. */
  readonly xSvq: boolean;
  /** Frames the guest sends during the next precopy round. */
  traffic: number;
  /** What the next INCOMING event carries. */
  incoming: unknown;
  readonly record: MigrationRecord;
}

export type MigrationSourceEnv = SvqEnv & { readonly model: NetDeviceState; readonly negotiated: bigint; readonly dirty: DirtyLog };

export interface SourceOptions {
  /** The simulated device's profile (default full). */
  readonly profile?: ProfileName;
  /** What the guest configures through its CVQ (default SOURCE_STATE). */
  readonly state?: NetDeviceState;
}

/** The source: data path with a dirty log, the CVQ in ASID 1 configured with `state`, DRIVER_OK. */
export async function bringUpSource(o: SourceOptions = {}): Promise<MigrationSourceEnv> {
  const { sim, faulty } = simDevice({ maxQueuePairs: 1, ...(o.profile === undefined ? {} : { profile: o.profile }) });
  // through machines/device-lifecycle; step 7: the shadow CVQ in ASID 1 and the data path
  right(sim.setBackendFeatures(right(sim.getBackendFeatures())));
  const started = right(
    await startDevice(sim, { wanted: right(sim.getFeatures()) & SPLIT_SINGLE_PAIR }, (negotiated) =>
      E.chainW((cvq: ShadowCvq) => E.map((path: DataPath) => ({ cvq, path }))(createDataPath(faulty.device, { queues: DATA_QUEUES, size: 64, negotiated })))(setUpShadowCvq(sim, negotiated, { asid: 1 })),
    ),
  );
  started.actor.stop();
  const { negotiated } = started;
  const { cvq, path } = started.setup;
  // the guest configures its NIC; the model takes exactly what the device acked
  const plan = planRestore(o.state ?? SOURCE_STATE, negotiated);
  const out = await runCvqCommands(new CvqEngine(sim, cvq), plan.map(toCvqCommand), { strategy: 'parallel', ackTimeoutMs: 100 });
  let model = resetNetState(formatMac(right(sim.getConfig(NET_CONFIG.mac, ETH_ALEN))), negotiated);
  for (let i = 0; i < out.applied; i++) model = right(applyCommand(model, negotiated, DEFAULT_LIMITS, plan[i]!.cmd));
  const dirty = DirtyLog.forSpace(path.gpa);
  dirty.attach(path.gpa);
  const backend = new SvqBackend(path, { dirty });
  const nic = new GuestNic(path, (q) => backend.notify(q));
  right(nic.postRx(0, 16));
  return { sim, faulty, backend, nic, model, negotiated, dirty };
}

const bigintJson = (x: unknown): string => JSON.stringify(x, (_, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

function incomingRecord(src: { negotiated: bigint; sim: SimVdpaDevice }, state: NetDeviceState): MigrationRecord {
  return right(
    E.mapLeft((e: { message: string }) => e)(
      makeMigrationRecord(
        {
          device: JSON.parse(bigintJson(encodeStateJson(state))),
          offered: right(src.sim.getFeatures()),
          negotiated: src.negotiated,
          backend: right(src.sim.getBackendFeatures()),
          // where the source's device stands on the guest rings the destination takes over
          vrings: DATA_QUEUES.map((index) => ({ index, base: right(src.sim.getVringBase(index)) })),
          dirty: { pageSize: 4096, rounds: 3, pagesSent: 120, remaining: 1 },
        },
        decodeStateJson,
      ),
    ),
  );
}

/**
 * Both ends for src/effects/migration: the source's guest RAM (on the simulator) streams into host
 * memory of the destination `dst` (any VdpaDevice, reached through `dstDev`), where the destination
 * resumes the guest's rings. `copyAtRestore`: the destination copies the source's RAM itself when it
 * maps it (a path whose INCOMING record did not come from a source run: nothing streamed the pages).
 */
export function migrationSides(
  src: MigrationSourceEnv,
  dst: VdpaDevice,
  o: { readonly dstDev?: VdpaDevice; readonly srcDev?: VdpaDevice; readonly workload?: (round: number) => Promise<number>; readonly copyAtRestore?: boolean } = {},
): { readonly source: SourceSide; readonly destination: DestinationSide; readonly incoming: { readonly bytes: Uint8Array } } {
  const path = src.backend.path;
  const incoming = right(dst.allocHost(path.ram.size, 'incoming-ram'));
  const stream = new MigrationStream(path.ram, incoming, { bandwidth: 1250, rate: 0 });
  const workload = o.workload;
  const probe = probeOf(dst);
  return {
    source: {
      dev: o.srcDev ?? src.sim,
      backend: src.backend,
      dirty: src.dirty,
      negotiated: src.negotiated,
      dataQueues: DATA_QUEUES,
      deviceState: () => src.model,
      stream,
      ...(workload === undefined ? {} : { guest: { run: (round: number) => workload(round) } }),
    },
    destination: {
      dev: o.dstDev ?? dst,
      rings: guestRingsOf(path),
      guestRam: () => {
        if (o.copyAtRestore === true) stream.sendAll();
        return { hva: incoming.base, size: incoming.size };
      },
      ...(probe === undefined ? {} : { probe }),
    },
    incoming,
  };
}

const MIGRATION_SRC_OPS: Readonly<Record<string, DeviceOp>> = { drainInFlight: 'getVringBase', saveRecord: 'getBackendFeatures' };
const MIGRATION_DST_OPS: Readonly<Record<string, DeviceOp>> = {
  prepareDevice: 'setVringNum',
  enableDataQueues: 'setVringEnable',
  verifyAgainstRecord: 'getConfig',
  teardownDestination: 'iotlbInvalidate',
};

/** The destination's NACK of a VLAN_ADD comes from the simulator's fault plan. */
export const NACK_NEEDS_SIM = 'a refused restore needs the simulator to NACK a VLAN_ADD (the planner sends a real vdpa_sim_net only MAC_ADDR_SET, which it always acks)';

/** A path whose destination restore is refused (cvq-command done, not cvqRestored). */
export const refusesRestore = (path: ModelPath): boolean => path.steps.some(({ edge }) => edge.trigger === 'cvqCommand' && edge.kind === 'done' && edge.guard === null);

/** The migration's own effects that no device call can make fail (in-process bookkeeping), with why. */
const NO_DEVICE_CALL: Readonly<Record<string, string>> = {
  startDirtyLog: 'log_global_start attaches the dirty log to guest RAM in process: no device call that could fail',
  stopDirtyLog: 'log_global_stop detaches the dirty log in process: no device call that could fail',
  quiesceDestination: 'waiting for the device work a cancelled step left running settles every such promise: it cannot fail',
};

/** Edges of the composed migration no simulated run can take, with the reason (beyond the machine's dead candidates). */
export function migrationSimImpossible(edge: ModelEdge): string | undefined {
  if (edge.kind === 'error' && edge.actor === 'promise' && NO_DEVICE_CALL[edge.trigger] !== undefined) return NO_DEVICE_CALL[edge.trigger];
  if (edge.kind === 'error' && edge.trigger === 'cvqCommand') return CVQ_NEVER_ERRORS;
  return migrationImpossible(edge);
}

export interface MigrationSetup {
  /** The source: a simulator of this profile whose guest configured this state. */
  readonly source: (path: ModelPath) => SourceOptions;
  /** A fresh destination per path, owned (VHOST_SET_OWNER done). */
  readonly destination: (path: ModelPath) => VdpaDevice;
  /** The destination's CVQ ack timeout (a kernel device under TCG answers in ms, not µs). */
  readonly ackTimeoutMs: number;
  /** Paths this destination cannot take, with the reason. */
  readonly infeasible?: (path: ModelPath) => string | undefined;
  /** Called after every step's checks (the real-device comparison records the step). */
  readonly observe?: (path: ModelPath, view: StepView, env: MigrationEnv) => void;
}

/** x-svq=on: a path whose first migration finds the data queues shadowed already. */
const xSvqOn = (path: ModelPath): boolean => path.steps.find(({ edge }) => edge.trigger === 'startDirtyLog' && edge.kind === 'done')?.edge.guard === 'alreadyShadowed';

/** Switch the source's data queues to SVQ before the migration, through machines/svq-switch (x-svq=on). */
async function shadowFromStart(src: MigrationSourceEnv): Promise<void> {
  const a = createActor(bind(svqSwitchMachine, svqSwitchEffects(src.backend)), { input: { queues: [...DATA_QUEUES] } });
  a.start();
  a.send({ type: 'ENABLE', trigger: 'x-svq' });
  const s = await waitFor(a, (x) => x.matches('shadow') || x.matches('failed') || (x.matches('passthrough') && x.context.error !== null), { timeout: 5000 });
  a.stop();
  if (!s.matches('shadow')) throw new Error(`x-svq=on: ${s.context.error ?? JSON.stringify(s.value)}`);
}

/**
 * The REAL composed machines/migration — device-lifecycle, svq-switch and cvq-command running as its
 * invoked children — with src/effects/migration's effects on both ends: the source a simulator per path
 * (it carries the in-process guest), the destination whatever `setup.destination` opens. Every effect,
 * the children's included, is gated by its path; a child's snapshot edge is taken by moving the child
 * one effect at a time (src/mbt/scripts.ts `migrationMoves`), faults armed on the device for the ones
 * that must fail. The destination's faults are device-independent (one-shot uAPI failures, hidden
 * features, a corrupt config read) except the refused restore, which needs a simulated destination.
 */
export function migrationHarness(setup: MigrationSetup): Harness {
  const paths = new Map<MigrationEnv, ModelPath>();
  return gatedHarness<typeof migrationMachine, MigrationEnv>({
    machine: migrationMachine,
    async env(p) {
      const so = setup.source(p);
      const state = so.state ?? SOURCE_STATE;
      const src = await bringUpSource(so);
      const xSvq = xSvqOn(p);
      if (xSvq) await shadowFromStart(src);
      const dstDev = setup.destination(p);
      const dst: DestinationEnv = { dev: dstDev, faulty: faultyDevice(dstDev) };
      right(dstDev.setBackendFeatures(right(dstDev.getBackendFeatures())));
      const sides = migrationSides(src, dstDev, {
        srcDev: src.faulty.device,
        dstDev: dst.faulty.device,
        copyAtRestore: true,
        workload: async () => {
          if (env.traffic === 0) return 0;
          right(src.nic.postRx(0, env.traffic));
          right(src.nic.sendTx(1, env.traffic));
          await drainTraffic(src);
          return env.traffic;
        },
      });
      const env: MigrationEnv = {
        sim: src.sim,
        faulty: src.faulty,
        src,
        dst,
        state,
        xSvq,
        traffic: 0,
        incoming: undefined,
        record: incomingRecord(src, state),
        source: sourceEffects(sides.source),
        destination: destinationEffects(sides.destination),
        role: p.steps[0]?.edge.trigger === 'INCOMING' ? 'destination' : 'source',
      };
      env.incoming = env.record;
      paths.set(env, p);
      return env;
    },
    input: (path, env) => {
      const r = migrationMaxRounds(path);
      return {
        dirtyThresholdPages: THRESHOLD_PAGES,
        maxRounds: typeof r === 'number' ? r : 1,
        source: { offered: toHex(right(env.src.sim.getFeatures())), negotiated: toHex(env.src.negotiated), queues: [...DATA_QUEUES] },
        strategy: 'parallel',
        ackTimeoutMs: setup.ackTimeoutMs,
      };
    },
    infeasible: (path) => {
      const r = migrationMaxRounds(path);
      return typeof r === 'string' ? r : setup.infeasible?.(path);
    },
    impossible: migrationSimImpossible,
    weights: MIGRATION_WEIGHTS,
    signature: migrationSignature,
    // one end per path: the device-lifecycle child drives the source's device or the destination's
    effects: (env) => (env.role === 'source' ? env.source : env.destination.effects),
    moves: (edge, view, _env, gates) => migrationMoves(edge, view, gates),
    ahead(edge, env) {
      if (edge.type === 'error:loadRecord') env.incoming = { ...env.record, version: 2 };
    },
    async complete(c, gates, env, view) {
      const s = view.snapshot as MigrationSnap;
      checkContextGuards(c.edge, s.context);
      armMigration(c, s, env);
      await gates.release(c.path);
    },
    event(edge, env) {
      return migrationEvent(edge, env.incoming);
    },
    async invariants(view, env) {
      const bad = await migrationChecks(view, env);
      const p = paths.get(env);
      if (p !== undefined) setup.observe?.(p, view, env);
      return bad;
    },
    async dispose(env) {
      paths.delete(env);
      env.src.backend.stopPump();
      env.dst.dev.close();
      env.src.sim.close();
    },
  });
}

/** Arrange the devices so that one completion of the composed migration ends as it must. */
function armMigration(c: Completion, s: MigrationSnap, env: MigrationEnv): void {
  const p = c.path;
  const source = s.matches('source');
  if (p.startsWith(DEVICE)) {
    const lc = s.children.device?.getSnapshot() as LifecycleSnap | undefined;
    if (lc === undefined) throw new Error('no device-lifecycle child');
    // the destination does not offer a feature the record negotiated
    const hide = (env.src.negotiated & F.CTRL_VLAN) !== 0n ? F.CTRL_VLAN : F.CTRL_MAC_ADDR;
    armLifecycle(c, lc, source ? { faulty: env.src.faulty, sim: env.src.sim } : { faulty: env.dst.faulty, ...(env.dst.dev instanceof SimVdpaDevice ? { sim: env.dst.dev } : {}) }, { hide });
    return;
  }
  if (p.startsWith(SVQ)) {
    if (c.outcome === 'error') armSvqFault(p.slice(SVQ.length), env.src);
    return;
  }
  if (p.startsWith(CVQ)) {
    if (c.fault === 'malformed') throw new Infeasible(CVQ_NEVER_ERRORS);
    if (c.fault === 'nack' && p.endsWith('writeBatch')) {
      if (!(env.dst.dev instanceof SimVdpaDevice)) throw new Infeasible(NACK_NEEDS_SIM);
      env.dst.dev.setFaults([{ kind: 'nack', times: 1, match: { commands: ['VLAN_ADD'] } }]);
    }
    return;
  }
  if (p === 'startDirtyLog' && (c.guard === 'alreadyShadowed') !== (env.src.backend.mode === 'shadow')) {
    throw new Infeasible(`the data queues are ${env.src.backend.mode} here`);
  }
  if (p === 'syncDirtyLog') {
    env.traffic = c.guard === 'converged' ? 0 : 8;
    if (c.outcome === 'error') {
      if (env.src.backend.mode !== 'shadow') throw new Infeasible('a precopy round fails on a broken shadow virtqueue; the data queues are not shadowed here');
      env.src.sim.setFaults([{ kind: 'bad-used-id', queue: 0, times: 1 }]);
    }
    return;
  }
  if (c.outcome === 'done') {
    if (p === 'saveRecord' && c.guard === null) env.src.faulty.hideFeaturesOnce(F.VERSION_1);
    if (p === 'verifyAgainstRecord' && c.guard === null) env.dst.faulty.corruptConfigOnce();
    return;
  }
  if (p === 'loadRecord') return; // the INCOMING event carried a record of a newer version (ahead)
  if (p === 'recoverSvq') env.src.sim.setFaults([{ kind: 'resume-fails', times: 1 }]);
  else if (p === 'teardownDestination' && env.destination.state.ramMapped === undefined) throw new Infeasible('the restore mapped nothing yet: the teardown makes no device call that could fail');
  else if (MIGRATION_SRC_OPS[p] !== undefined) env.src.faulty.failNext(MIGRATION_SRC_OPS[p]);
  else if (MIGRATION_DST_OPS[p] !== undefined) env.dst.faulty.failNext(MIGRATION_DST_OPS[p]);
  else throw new Error(`no fault for ${p}`);
}

async function migrationChecks(view: StepView, env: MigrationEnv): Promise<string[]> {
  const s = view.snapshot as MigrationSnap;
  const c = s.context;
  const bad = migrationInvariants(s);
  const { nic, backend, sim } = env.src;
  if (nic.posted - nic.reaped !== nic.inFlight()) bad.push(`source ledger: posted ${nic.posted}, reaped ${nic.reaped}, in flight ${nic.inFlight()}`);
  if (s.matches({ source: 'completed' })) {
    if (!sim.isSuspended()) bad.push('completed with the source still running');
    if (bigintJson(c.record?.device) !== bigintJson(encodeStateJson(env.src.model))) bad.push('the record does not hold the source model');
  }
  if (s.matches({ source: 'cancelled' }) || s.matches('idle')) {
    // rolled back: running, SVQ as it was before the migration, the model untouched, and the guest's traffic still flows
    const mode = env.xSvq ? 'shadow' : 'passthrough';
    if (sim.isSuspended()) bad.push('source left suspended');
    if (backend.mode !== mode) bad.push(`source left in ${backend.mode} mode, not ${mode}`);
    if (bigintJson(sim.netState()) !== bigintJson(env.src.model)) bad.push('source device state changed');
    const rx0 = nic.rxBytes;
    right(nic.postRx(0, 2));
    right(nic.sendTx(1, 2));
    await drainTraffic(env.src);
    if (backend.path.queues[1]!.driver.inFlight() !== 0 || nic.rxBytes <= rx0) bad.push('the source does not forward traffic after the rollback');
  }
  if (s.matches({ destination: 'running' }) && c.record !== null) {
    // every device shows the restored MAC in config space (§5.1.4); a simulated one shows all its state
    const mac = env.dst.dev.getConfig(NET_CONFIG.mac, ETH_ALEN);
    if (E.isLeft(mac) || formatMac(mac.right) !== env.state.mac) bad.push(`destination MAC ${E.isLeft(mac) ? mac.left.message : formatMac(mac.right)} ≠ record ${env.state.mac}`);
    if (env.dst.dev instanceof SimVdpaDevice) {
      const expected = viewThrough(env.state, BigInt(c.record.features.negotiated));
      const seen = env.dst.dev.netState();
      if (bigintJson(seen) !== bigintJson(expected)) bad.push(`destination device state ≠ record: ${bigintJson(seen).slice(0, 120)} vs ${bigintJson(expected).slice(0, 120)}`);
    }
  }
  if (s.matches({ destination: 'aborted' }) && E.getOrElse(() => -1)(env.dst.dev.getStatus()) !== 0) bad.push('destination not reset after the rollback');
  return bad;
}

export const migrationSim = migrationHarness({
  source: () => ({}),
  destination: () => {
    const dst = simDevice({ maxQueuePairs: 1, mac: '52:54:00:00:00:99' });
    return dst.sim;
  },
  ackTimeoutMs: 100,
});

export const SIM_HARNESSES: readonly Harness[] = [lifecycleSim, cvqSim, svqSim, migrationSim];
