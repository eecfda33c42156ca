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
import { createActor, fromPromise, SimulatedClock, type Actor, type AnyActorLogic, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';
import { SimVdpaDevice } from '../device/sim/device.js';
import type { SimDeviceOptions } from '../device/sim/device.js';
import type { ProfileName } from '../device/sim/profiles.js';
import { deviceError, type DeviceError, type VdpaDevice } from '../device/types.js';
import { deviceLifecycleMachine, type LifecycleContext } from '../../machines/device-lifecycle.js';
import { STATUS, formatStatus } from '../state/lifecycle.js';
import { F } from '../virtio/features.js';
import type { Effect, Effects } from '../effects/common.js';
import { lifecycleEffects } from '../effects/lifecycle.js';
import type { ModelEdge } from './model.js';
import type { ModelPath } from './paths.js';
import { delayMs, settle, type Harness, type StepView } from './runner.js';
import { cvqInitialCommands, cvqInvariants, cvqScript, ENQUEUE_BATCH, lifecycleInvariants, migrationInvariants, migrationMaxRounds, SCRIPT_WANTED, svqInvariants, vlanAdd } from './scripts.js';
import { cvqCommandMachine, VIRTIO_NET_OK, type CvqCommandContext } from '../../machines/cvq-command.js';
import { CvqEngine } from '../cvq/engine.js';
import { prepareShadowCvq, startShadowCvq } from '../cvq/shadow.js';
import { cvqCommandEffects } from '../effects/cvq.js';
import { createDataPath, GuestNic } from '../effects/datapath.js';
import { SvqBackend, svqSwitchEffects } from '../effects/svq.js';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import { migrationMachine, type MigrationContext } from '../../machines/migration.js';
import { destinationEffects, sourceEffects, type DestinationSide, type SourceSide } from '../effects/migration.js';
import { guestRingsOf, MigrationStream, probeOf } from '../migrate/world.js';
import { runCvqCommands, toCvqCommand } from '../effects/cvq.js';
import { applyCommand } from '../state/apply.js';
import { decodeStateJson, encodeStateJson } from '../state/json.js';
import { makeMigrationRecord, type MigrationRecord } from '../state/migration-record.js';
import { DEFAULT_LIMITS, resetNetState, vlanFilterOf, type NetDeviceState } from '../state/net-state.js';
import { planRestore } from '../state/plan.js';
import { viewThrough } from '../state/view.js';
import { DirtyLog } from '../svq/dirty-log.js';
import { ETH_ALEN, NET_CONFIG, formatMac } from '../virtio/net.js';

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
// Gated effects: an invocation waits until the runner releases it, then runs the real effect.

interface Gate {
  readonly input: unknown;
  release(): Promise<void>;
}

export class GatedEffects {
  private readonly gates = new Map<string, Gate>();

  actorsFor(machine: AnyStateMachine, effects: Effects): Record<string, AnyActorLogic> {
    const out: Record<string, AnyActorLogic> = {};
    for (const src of Object.keys(machine.implementations.actors)) {
      const fn = effects[src] as unknown as Effect<unknown, unknown> | undefined;
      out[src] = fromPromise<unknown, unknown>(
        ({ input, signal }) =>
          new Promise((resolve, reject) => {
            const gate: Gate = {
              input,
              release: async () => {
                if (fn === undefined) return reject(new Error(`no effect bound for ${src}`));
                try {
                  resolve(await fn(input, signal));
                } catch (e) {
                  reject(e);
                }
              },
            };
            this.gates.set(src, gate);
            signal.addEventListener('abort', () => {
              if (this.gates.get(src) === gate) this.gates.delete(src);
            });
          }),
      );
    }
    return out;
  }

  inputOf(src: string): unknown {
    return this.gates.get(src)?.input;
  }

  /** Run the pending invocation of `src`; false when none is waiting. */
  async release(src: string): Promise<boolean> {
    const g = this.gates.get(src);
    if (g === undefined) return false;
    this.gates.delete(src);
    await g.release();
    return true;
  }
}

// ---------------------------------------------------------------------------------------------------
// A harness over a binding.

export interface SimEnv {
  readonly sim: SimVdpaDevice;
  readonly faulty: FaultyDevice;
}

export interface SimBinding<TEnv extends SimEnv> {
  readonly machine: AnyStateMachine;
  env(path: ModelPath): TEnv | Promise<TEnv>;
  input(path: ModelPath, env: TEnv): unknown;
  effects(env: TEnv): Effects;
  /** Arrange the device one step before `edge` (its effect may run during the step before). */
  ahead?(edge: ModelEdge, env: TEnv, view: StepView): void;
  /** Arrange the device just before `edge`'s effect runs (error edges: arm the fault). */
  arrange(edge: ModelEdge, env: TEnv, view: StepView): void;
  /** The event to send for an event edge (may act on the device first, e.g. inject NEEDS_RESET). */
  event?(edge: ModelEdge, env: TEnv, view: StepView): EventObject;
  invariants(view: StepView, env: TEnv): string[] | Promise<string[]>;
  infeasible?(path: ModelPath): string | undefined;
  dispose?(env: TEnv): void;
}

export function simHarness<TEnv extends SimEnv>(b: SimBinding<TEnv>): Harness {
  return {
    machine: b.machine,
    ...(b.infeasible ? { infeasible: (p: ModelPath) => b.infeasible!(p) } : {}),
    async start(path) {
      const env = await b.env(path);
      const gates = new GatedEffects();
      const clock = new SimulatedClock();
      const machine = b.machine.provide({ actors: gates.actorsFor(b.machine, b.effects(env)) } as never);
      const actor = createActor(machine, { input: b.input(path, env) as never, clock }) as Actor<AnyStateMachine>;
      actor.start();
      return {
        actor,
        prepare(next, view) {
          b.ahead?.(next, env, view);
        },
        async perform(edge, view) {
          await settle();
          b.arrange(edge, env, view);
          if (edge.kind === 'event') actor.send(b.event?.(edge, env, view) ?? { type: edge.trigger });
          else if (edge.kind === 'done' || edge.kind === 'error') {
            if (!(await gates.release(edge.trigger))) throw new Error(`actor ${edge.trigger} is not running at step ${view.index}`);
          } else clock.increment(delayMs(b.machine, edge.trigger, view.snapshot));
          await settle();
        },
        invariants: (view) => b.invariants(view, env),
        dispose() {
          b.dispose?.(env);
          env.sim.close();
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// device-lifecycle on the simulator

/** The uAPI call each lifecycle effect makes first (the one an error edge makes fail). */
const LIFECYCLE_OPS: Readonly<Record<string, DeviceOp>> = {
  resetDevice: 'setStatus',
  writeStatus: 'setStatus',
  readStatus: 'getStatus',
  readFeatures: 'getFeatures',
  writeFeatures: 'setFeatures',
};

const simDevice = (opts: SimDeviceOptions = {}): SimEnv => {
  const sim = new SimVdpaDevice({ profile: 'full', ...opts });
  const own = sim.setOwner();
  if (E.isLeft(own)) throw new Error(own.left.message);
  return { sim, faulty: faultyDevice(sim) };
};

export const lifecycleSim = simHarness<SimEnv>({
  machine: deviceLifecycleMachine,
  env: () => simDevice(),
  input: () => ({ wanted: `0x${SCRIPT_WANTED.toString(16)}`, resetTimeoutMs: 100 }),
  effects: (env) => lifecycleEffects(env.faulty.device),
  ahead(edge, env) {
    // the device refuses at SET_STATUS(FEATURES_OK), the step before the re-read
    if (edge.trigger === 'readStatus' && edge.kind === 'done' && edge.guard === null) env.faulty.refuseFeaturesOkOnce();
  },
  arrange(edge, env) {
    if (edge.trigger === 'readFeatures' && edge.kind === 'done' && edge.guard === null) env.faulty.hideFeaturesOnce(F.VERSION_1);
    if (edge.kind !== 'error') return;
    if (edge.trigger === 'suspendDevice') env.sim.setFaults([{ kind: 'suspend-fails', times: 1 }]);
    else if (edge.trigger === 'resumeDevice') env.sim.setFaults([{ kind: 'resume-fails', times: 1 }]);
    else env.faulty.failNext(LIFECYCLE_OPS[edge.trigger]!);
  },
  event(edge, env) {
    if (edge.trigger === 'DEVICE_ERROR') env.sim.injectNeedsReset('model-based test');
    return { type: edge.trigger };
  },
  invariants(view, env) {
    const s = view.snapshot as AnyMachineSnapshot;
    const c = s.context as LifecycleContext;
    const bad = lifecycleInvariants(s);
    const dev = env.sim.getStatus();
    if (E.isLeft(dev)) return [...bad, `GET_STATUS failed: ${dev.left.message}`];
    // between SET_STATUS(FEATURES_OK) and its re-read the device may have refused it (§3.1.1 step 6)
    const refusedSoFar = s.matches({ active: { featuresOk: 'reread' } } as never) && dev.right === (c.status & ~STATUS.FEATURES_OK);
    if (dev.right !== c.status && !refusedSoFar) bad.push(`device status ${formatStatus(dev.right)} ≠ machine status ${formatStatus(c.status)}`);
    const suspended = env.sim.isSuspended();
    if (s.matches({ active: { driverOk: 'suspended' } } as never) && !suspended) bad.push('suspended, but the device runs');
    if ((s.matches({ active: { driverOk: 'running' } } as never) || s.matches('reset' as never)) && suspended) bad.push(`device suspended in ${JSON.stringify(s.value)}`);
    if (s.matches({ active: 'driverOk' } as never) && c.negotiated !== `0x${env.sim.negotiatedFeatures().toString(16)}`) {
      bad.push(`device runs with 0x${env.sim.negotiatedFeatures().toString(16)}, the machine negotiated ${c.negotiated}`);
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

function right<T>(e: E.Either<{ message: string }, T>): T {
  if (E.isLeft(e)) throw new Error(e.left.message);
  return e.right;
}

/** Owner, features (split ring), the shadow CVQ in ASID 1, DRIVER_OK; the engine over it. */
export function bringUpCvq(opts: SimDeviceOptions = {}, mask: bigint = ~F.RING_PACKED): CvqEnv {
  const { sim, faulty } = simDevice(opts);
  const negotiated = right(sim.getFeatures()) & mask;
  const cvq = right(startShadowCvq(sim, negotiated, { asid: 1 }));
  return { sim, faulty, negotiated, engine: new CvqEngine(faulty.device, cvq) };
}

const wantsMoreBatches = (path: ModelPath) => path.steps.some((s) => s.edge.trigger === 'awaitAcks' && s.edge.guard === 'hasPending');

export const cvqSim = simHarness<CvqEnv>({
  machine: cvqCommandMachine,
  env: () => bringUpCvq(),
  // several batches need one command per batch: serial
  input: (path) => ({
    strategy: wantsMoreBatches(path) ? 'serial' : 'parallel',
    commands: Array.from({ length: cvqInitialCommands(path) }, (_, i) => vlanAdd(i + 1)),
    ackTimeoutMs: 25,
  }),
  effects: (env) => cvqCommandEffects(env.engine),
  infeasible: (path) => cvqScript.infeasible!(path),
  // the device answers when it processes the kick, during writeBatch's step: arm the answer then
  ahead(edge, env) {
    if (edge.trigger !== 'awaitAcks') return;
    if (edge.guard === 'wroteWrongLength') env.sim.setFaults([{ kind: 'wrong-used-len', len: 0, times: 1 }]);
    else if (edge.guard === 'ackedErr') env.sim.setFaults([{ kind: 'nack', times: 1 }]);
    else if (edge.kind === 'error' && edge.guard === 'ackTimedOut') env.sim.setFaults([{ kind: 'no-answer', times: 1 }]);
    else if (edge.kind === 'error') env.sim.setFaults([{ kind: 'bad-used-id', times: 1 }]);
    else if (edge.kind === 'after') env.sim.setFaults([{ kind: 'no-answer', times: 1 }]);
  },
  arrange(edge, env) {
    if (edge.type === 'error:writeBatch') env.faulty.failNext('kick');
  },
  event(edge, _env, view) {
    if (edge.trigger !== 'ENQUEUE') return { type: edge.trigger };
    const n = (view.snapshot.context as CvqCommandContext).commands.length;
    return { type: 'ENQUEUE', commands: Array.from({ length: ENQUEUE_BATCH }, (_, i) => vlanAdd(n + i + 1)) };
  },
  invariants(view, env) {
    const s = view.snapshot as AnyMachineSnapshot;
    const c = s.context as CvqCommandContext;
    const bad = cvqInvariants(s);
    // never counted as applied unless the device acked it OK
    for (let i = 0; i < c.applied; i++) {
      const seen = env.sim.cvqLog[i];
      if (seen === undefined || seen.ack !== VIRTIO_NET_OK || seen.name !== 'VLAN_ADD') bad.push(`command #${i} counted as applied, device log: ${seen ? `${seen.name} ack ${seen.ack}` : 'nothing'}`);
    }
    if (s.matches('done' as never) && env.sim.cvqLog.length !== c.commands.length) bad.push(`done, but the device saw ${env.sim.cvqLog.length}/${c.commands.length} commands`);
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

export const svqSim = simHarness<SvqEnv>({
  machine: svqSwitchMachine,
  env: () => bringUpDataPath(),
  input: () => ({ queues: [...DATA_QUEUES] }),
  effects: (env) => svqSwitchEffects(env.backend),
  infeasible: svqInfeasible,
  dispose: (env) => env.backend.stopPump(),
  arrange(edge, env) {
    if (edge.kind !== 'error') return;
    if (edge.trigger === 'suspendDevice') env.sim.setFaults([{ kind: 'suspend-fails', times: 1 }]);
    else if (edge.trigger === 'resumeDevice' || edge.trigger === 'rollback') env.sim.setFaults([{ kind: 'resume-fails', times: 1 }]);
    else if (edge.trigger === 'mapShadowRings') env.sim.setFaults([{ kind: 'iotlb-map-fails', times: 1 }]);
    else env.faulty.failNext(SVQ_OPS[edge.trigger]!);
  },
  event(edge, env) {
    // the owner resets what a failed switch left behind before reusing the device
    if (edge.trigger === 'RESET') right(env.backend.recover());
    return edge.trigger === 'ENABLE' ? { type: 'ENABLE', trigger: 'migration' } : edge.trigger === 'DISABLE' ? { type: 'DISABLE', trigger: 'precopy-failed' } : { type: edge.trigger };
  },
  async invariants(view, env) {
    const s = view.snapshot as AnyMachineSnapshot;
    const bad = svqInvariants(s);
    const { backend: b, nic, sim } = env;
    // the ledger: every chain the guest made available is in flight or reaped, exactly once
    if (nic.posted - nic.reaped !== nic.inFlight()) bad.push(`ledger: posted ${nic.posted}, reaped ${nic.reaped}, in flight ${nic.inFlight()}`);
    const stable = s.matches('passthrough' as never) || s.matches('shadow' as never);
    if (!stable) return bad;
    const mode = s.matches('shadow' as never) ? 'shadow' : 'passthrough';
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
  readonly source: ReturnType<typeof sourceEffects>;
  readonly destination: ReturnType<typeof destinationEffects>;
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
  const negotiated = right(sim.getFeatures()) & SPLIT_SINGLE_PAIR;
  const cvq = right(prepareShadowCvq(sim, negotiated, { asid: 1 }));
  const path = right(createDataPath(faulty.device, { queues: DATA_QUEUES, size: 64, negotiated }));
  right(sim.setStatus(STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK));
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
  resetAndNegotiate: 'setFeatures',
  restoreCvq: 'getConfig',
  enableDataQueues: 'setVringEnable',
  verifyAgainstRecord: 'getConfig',
  rollbackDestination: 'setStatus',
};

/** The destination's NACK of a VLAN_ADD comes from the simulator's fault plan. */
export const NACK_NEEDS_SIM = 'a refused restore needs the simulator to NACK a VLAN_ADD (the planner sends a real vdpa_sim_net only MAC_ADDR_SET, which it always acks)';

/** A path whose destination restore is refused (restoreCvq done, not cvqRestored). */
export const refusesRestore = (path: ModelPath): boolean => path.steps.some(({ edge }) => edge.trigger === 'restoreCvq' && edge.kind === 'done' && edge.guard === null);

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

/**
 * machines/migration with src/effects/migration on both ends: the source a simulator per path (it
 * carries the in-process guest), the destination whatever `setup.destination` opens. The fault plan
 * for the destination is device-independent (one-shot uAPI failures, hidden features, a corrupt config
 * read) except the refused restore, which needs a simulated destination.
 */
export function migrationHarness(setup: MigrationSetup): Harness {
  const paths = new Map<MigrationEnv, ModelPath>();
  return simHarness<MigrationEnv>({
    machine: migrationMachine,
    async env(p) {
      const so = setup.source(p);
      const state = so.state ?? SOURCE_STATE;
      const src = await bringUpSource(so);
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
        traffic: 0,
        incoming: undefined,
        record: incomingRecord(src, state),
        source: sourceEffects(sides.source),
        destination: destinationEffects(sides.destination, { strategy: 'parallel', ackTimeoutMs: setup.ackTimeoutMs }),
      };
      env.incoming = env.record;
      paths.set(env, p);
      return env;
    },
    input: (path) => {
      const r = migrationMaxRounds(path);
      return { dirtyThresholdPages: THRESHOLD_PAGES, maxRounds: typeof r === 'number' ? r : 1 };
    },
    infeasible: (path) => {
      const r = migrationMaxRounds(path);
      return typeof r === 'string' ? r : setup.infeasible?.(path);
    },
    effects: (env) => ({ ...env.source.effects, ...env.destination.effects }),
    ahead(edge, env) {
      if (edge.type === 'error:loadRecord') env.incoming = { ...env.record, version: 2 };
    },
    arrange(edge, env) {
      const t = edge.trigger;
      if (t === 'syncDirtyLog') {
        env.traffic = edge.guard === 'converged' ? 0 : 8;
        if (edge.kind === 'error') env.src.sim.setFaults([{ kind: 'bad-used-id', queue: 0, times: 1 }]);
        return;
      }
      if (edge.kind === 'done') {
        if (t === 'saveRecord' && edge.guard === null) env.src.faulty.hideFeaturesOnce(F.VERSION_1);
        // the destination does not offer a feature the record negotiated
        if (t === 'resetAndNegotiate' && edge.guard === null) env.dst.faulty.hideFeaturesOnce((env.src.negotiated & F.CTRL_VLAN) !== 0n ? F.CTRL_VLAN : F.CTRL_MAC_ADDR);
        if (t === 'restoreCvq' && edge.guard === null) {
          if (!(env.dst.dev instanceof SimVdpaDevice)) throw new Error(NACK_NEEDS_SIM);
          env.dst.dev.setFaults([{ kind: 'nack', times: 1, match: { commands: ['VLAN_ADD'] } }]);
        }
        if (t === 'verifyAgainstRecord' && edge.guard === null) env.dst.faulty.corruptConfigOnce();
        return;
      }
      if (edge.kind !== 'error') return;
      if (t === 'enableSvq' || t === 'suspendSource') env.src.sim.setFaults([{ kind: 'suspend-fails', times: 1 }]);
      // every RESUME fails: the rollback switches SVQ off first (its own RESUME, retried by svq-switch's
      // rollback and the back-end's recovery) and then resumes the device
      else if (t === 'rollbackSource') env.src.sim.setFaults([{ kind: 'resume-fails' }]);
      else if (MIGRATION_SRC_OPS[t] !== undefined) env.src.faulty.failNext(MIGRATION_SRC_OPS[t]);
      else if (MIGRATION_DST_OPS[t] !== undefined) env.dst.faulty.failNext(MIGRATION_DST_OPS[t]);
    },
    event(edge, env) {
      if (edge.trigger === 'INCOMING') return { type: 'INCOMING', record: env.incoming };
      if (edge.trigger === 'CANCEL') return { type: 'CANCEL', reason: 'operator' };
      return { type: edge.trigger };
    },
    async invariants(view, env) {
      const bad = await migrationChecks(view, env);
      const p = paths.get(env);
      if (p !== undefined) setup.observe?.(p, view, env);
      return bad;
    },
    dispose(env) {
      paths.delete(env);
      env.src.backend.stopPump();
      env.source.dispose();
      env.dst.dev.close();
    },
  });
}

async function migrationChecks(view: StepView, env: MigrationEnv): Promise<string[]> {
  const s = view.snapshot as AnyMachineSnapshot;
  const c = s.context as MigrationContext;
  const bad = migrationInvariants(s);
  const { nic, backend, sim } = env.src;
  if (nic.posted - nic.reaped !== nic.inFlight()) bad.push(`source ledger: posted ${nic.posted}, reaped ${nic.reaped}, in flight ${nic.inFlight()}`);
  if (s.matches({ source: 'completed' } as never)) {
    if (!sim.isSuspended()) bad.push('completed with the source still running');
    if (bigintJson(c.record?.device) !== bigintJson(encodeStateJson(env.src.model))) bad.push('the record does not hold the source model');
  }
  if (s.matches({ source: 'cancelled' } as never) || s.matches('idle' as never)) {
    // rolled back: running, SVQ off again, the model untouched, and the guest's traffic still flows
    if (sim.isSuspended()) bad.push('source left suspended');
    if (backend.mode !== 'passthrough') bad.push(`source left in ${backend.mode} mode`);
    if (bigintJson(sim.netState()) !== bigintJson(env.src.model)) bad.push('source device state changed');
    const rx0 = nic.rxBytes;
    right(nic.postRx(0, 2));
    right(nic.sendTx(1, 2));
    await drainTraffic(env.src);
    if (backend.path.queues[1]!.driver.inFlight() !== 0 || nic.rxBytes <= rx0) bad.push('the source does not forward traffic after the rollback');
  }
  if (s.matches({ destination: 'running' } as never) && c.record !== null) {
    // every device shows the restored MAC in config space (§5.1.4); a simulated one shows all its state
    const mac = env.dst.dev.getConfig(NET_CONFIG.mac, ETH_ALEN);
    if (E.isLeft(mac) || formatMac(mac.right) !== env.state.mac) bad.push(`destination MAC ${E.isLeft(mac) ? mac.left.message : formatMac(mac.right)} ≠ record ${env.state.mac}`);
    if (env.dst.dev instanceof SimVdpaDevice) {
      const expected = viewThrough(env.state, env.destination.state.negotiated);
      const seen = env.dst.dev.netState();
      if (bigintJson(seen) !== bigintJson(expected)) bad.push(`destination device state ≠ record: ${bigintJson(seen).slice(0, 120)} vs ${bigintJson(expected).slice(0, 120)}`);
    }
  }
  if (s.matches({ destination: 'aborted' } as never) && E.getOrElse(() => -1)(env.dst.dev.getStatus()) !== 0) bad.push('destination not reset after the rollback');
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
