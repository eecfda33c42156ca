/**
 * machines/migration's room: the composed machine with its children, both ends on the simulator, or
 * the destination end on any device (../compare.ts).
 */
import * as E from 'fp-ts/lib/Either.js';
import { createActor, waitFor } from 'xstate';
import { bind } from '../../../machines/contract.js';
import { migrationMachine } from '../../../machines/migration.js';
import { svqSwitchMachine } from '../../../machines/svq-switch.js';
import { CvqEngine } from '../../cvq/engine.js';
import { setUpShadowCvq, type ShadowCvq } from '../../cvq/shadow.js';
import { SimVdpaDevice } from '../../device/sim/device.js';
import type { ProfileName } from '../../device/sim/profiles.js';
import { type VdpaDevice } from '../../device/types.js';
import { runCvqCommands, toCvqCommand } from '../../effects/cvq.js';
import { createDataPath, GuestNic, type DataPath } from '../../effects/datapath.js';
import { startDevice } from '../../effects/lifecycle.js';
import { destinationEffects, sourceEffects, type DestinationSide, type SourceEffects, type SourceSide } from '../../effects/migration.js';
import { SvqBackend, svqSwitchEffects } from '../../effects/svq.js';
import { guestRingsOf, MigrationStream, probeOf } from '../../migrate/world.js';
import { applyCommand } from '../../state/apply.js';
import { decodeStateJson, encodeStateJson } from '../../state/json.js';
import { formatStatus, toHex } from '../../state/lifecycle.js';
import { makeMigrationRecord, type MigrationRecord } from '../../state/migration-record.js';
import { DEFAULT_LIMITS, resetNetState, vlanFilterOf, type NetDeviceState } from '../../state/net-state.js';
import { planRestore } from '../../state/plan.js';
import { viewThrough } from '../../state/view.js';
import { DirtyLog } from '../../svq/dirty-log.js';
import { F, featureNames, maskOf } from '../../virtio/features.js';
import { statusOf, tracePath, withoutDevicePath, type DeviceRoom, type Trace } from '../compare.js';
import { generatePaths } from '../paths.js';
import { ETH_ALEN, NET_CONFIG, formatMac } from '../../virtio/net.js';
import type { ModelEdge } from '../model.js';
import type { ModelPath } from '../paths.js';
import { gatedHarness, Infeasible, type Completion, type Harness, type StepView } from '../runner.js';
import { checkContextGuards, CVQ, CVQ_NEVER_ERRORS, DEVICE, MIGRATION_WEIGHTS, migrationEvent, migrationImpossible, migrationInvariants, migrationMaxRounds, migrationMoves, migrationSignature, SVQ } from '../scripts.js';
import { faultyDevice, right, simDevice, type DeviceOp, type FaultyDevice, type LifecycleSnap, type MigrationSnap, type SimEnv } from './device.js';
import { armLifecycle } from './lifecycle.js';
import { armSvqFault, DATA_QUEUES, drainTraffic, type SvqEnv } from './svq.js';

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

/** Why a precopy round on the simulator fails only through a broken shadow virtqueue. */
export const ROUND_FAILS_ON_SVQ_ONLY =
  'a precopy round fails only when a shadow virtqueue broke (ShadowBroken): the page stream and the guest run in process, and the round makes no device call of its own';

/** Why src/effects' drain always ends with the shadow data path down. */
export const DRAIN_STOPS_SVQ =
  "src/effects' drainInFlight is SVQ stop (SvqBackend.drain): it stops the call relay and every shadow queue, so its done says svqStopped and its failure is ShadowBroken";

/** Edges of the composed migration no simulated run can take, with the reason (beyond the machine's dead candidates). */
export function migrationSimImpossible(edge: ModelEdge): string | undefined {
  if (edge.kind === 'error' && edge.actor === 'promise' && NO_DEVICE_CALL[edge.trigger] !== undefined) return NO_DEVICE_CALL[edge.trigger];
  if (edge.kind === 'error' && edge.trigger === 'syncDirtyLog' && edge.guard !== 'shadowBroken') return ROUND_FAILS_ON_SVQ_ONLY;
  if (edge.trigger === 'drainInFlight' && ((edge.kind === 'done' && edge.guard !== 'svqStopped') || (edge.kind === 'error' && edge.guard !== 'shadowBroken'))) return DRAIN_STOPS_SVQ;
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
 * (Long: one gated harness literal: env, input, effects, moves, invariants of both ends.)
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
      if (c.guard !== 'shadowBroken') throw new Infeasible(ROUND_FAILS_ON_SVQ_ONLY);
      if (env.src.backend.mode !== 'shadow') throw new Infeasible('a precopy round fails on a broken shadow virtqueue; the data queues are not shadowed here');
      env.src.sim.setFaults([{ kind: 'bad-used-id', queue: 0, times: 1 }]);
    }
    return;
  }
  if (p === 'drainInFlight' && c.guard !== (c.outcome === 'done' ? 'svqStopped' : 'shadowBroken')) throw new Infeasible(DRAIN_STOPS_SVQ);
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

// ---------------------------------------------------------------------------------------------------
// migration with the destination end on any device. The source carries the in-process guest, so it is
// the simulated vdpa_sim_net profile on both sides of a comparison, its guest configuring what every
// vDPA NIC restores, the MAC; only the destination differs, each with the same device-independent faults.

/** The destination's CVQ ack wait: a kernel device answers in its work item (under TCG in ms). */
const MIGRATION_DEVICE_ACK_TIMEOUT_MS = 10_000;

/** A MAC per path (locally administered, from the path's description), so every restore changes it. */
export function migrationMac(path: ModelPath): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.description.length; i++) h = Math.imul(h ^ path.description.charCodeAt(i), 0x01000193) >>> 0;
  return formatMac(Uint8Array.of(0x02, 0x5e, 0x01, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff));
}

/**
 * machines/migration through `migrationHarness` with the destination `open` gives, recording what every
 * step left behind: the machine's state and context, the destination's status and the MAC in its
 * config space. `startMac`: set to the MAC the destination shows when opened (a real device keeps its
 * MAC across opens), so the simulated side can start from it.
 */
export function migrationOnDevice(open: () => VdpaDevice, trace: Trace, startMac?: { value: string }): Harness {
  return migrationHarness({
    source: (path) => ({ profile: 'vdpa_sim_net', state: resetNetState(migrationMac(path)) }),
    destination: (path) => {
      const dev = open();
      if (startMac !== undefined) startMac.value = formatMac(right(dev.getConfig(NET_CONFIG.mac, ETH_ALEN)));
      right(dev.setOwner());
      tracePath(trace, path);
      return dev;
    },
    ackTimeoutMs: MIGRATION_DEVICE_ACK_TIMEOUT_MS,
    infeasible: (path) => (refusesRestore(path) ? NACK_NEEDS_SIM : undefined),
    observe(path, view, env) {
      const s = view.snapshot as MigrationSnap;
      const st = statusOf(env.dst.dev);
      const mac = env.dst.dev.getConfig(NET_CONFIG.mac, ETH_ALEN);
      trace.get(path.description)?.push({
        step: view.index,
        value: JSON.stringify(s.value),
        context: JSON.stringify({ ...s.context, error: withoutDevicePath(s.context.error) }),
        deviceStatus: `${typeof st === 'number' ? formatStatus(st) : st}; mac ${E.isRight(mac) ? formatMac(mac.right) : mac.left.message}`,
      });
    },
  });
}

/** What the destination must offer: what the source's record negotiated (vdpa_sim_net's set) and a CVQ in its own address space. */
const MIGRATION_DEVICE_WANT: bigint = maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'CTRL_VQ', 'CTRL_MAC_ADDR']);

export const migrationRoom: DeviceRoom = {
  machine: migrationMachine,
  paths: (model) => generatePaths(model, { weights: MIGRATION_WEIGHTS }).paths,
  unsupported(offer) {
    const lacking = featureNames(MIGRATION_DEVICE_WANT & ~offer.features);
    if (lacking.length) return `the destination does not offer ${lacking.join(', ')}`;
    if (offer.groups < 2 || offer.asids < 2) return `the destination's shadow CVQ needs its own address space: ${offer.groups} virtqueue group(s), ${offer.asids} address space(s)`;
    return undefined;
  },
  harnesses(sides, trace) {
    const startMac = { value: '' };
    return { device: migrationOnDevice(sides.device, trace.device, startMac), sim: migrationOnDevice(() => sides.sim({ mac: startMac.value }), trace.sim) };
  },
};
