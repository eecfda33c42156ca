/**
 * machines/migration's effects, both ends, on vhost-vdpa devices — the one implementation the
 * controller (src/migrate), the model-based runner (src/mbt) and the tests bind with `bind`.
 * Each end's effects are the machine's own leaf effects plus those of the child machines it runs
 * (device-lifecycle, svq-switch, cvq-command): `EffectsOf<typeof migrationMachine>`, nothing copied.
 *
 * Source (QEMU's migration code for a vhost-vdpa NIC):
 *  - deviceLifecycle: the device's status ioctls; its SUSPEND is vm_stop (the guest's last burst is
 *    still in flight) + VHOST_VDPA_SUSPEND;
 *  - svqSwitch: the data path's live switch (src/effects/svq.ts);
 *  - startDirtyLog / stopDirtyLog: log_global_start / _stop on guest RAM;
 *  - syncDirtyLog: ram_save_iterate: round 0 is the bulk stage (every page), later rounds send what the
 *    log caught, while the guest keeps running for the round's time on the wire; a shadow queue that
 *    broke during the round fails it with `ShadowBroken` (the machine rebuilds SVQ on rollback under x-svq=on);
 *  - drainInFlight: SVQ stop (`SvqBackend.drain`): used entries go to the guest, chains still in
 *    flight are un-popped so the destination's device pops them again from the guest rings;
 *  - saveRecord: the last dirty pages, guest RAM proven byte-identical at the destination, and the
 *    record (device state, features read from the device, the guest rings' bases). Assembled, not
 *    validated: the machine's recordValid guard decides what a valid record is;
 *  - recoverSvq: after a switch that ended in neither mode, or under x-svq=on a shadow data path the
 *    drain stopped or a failure broke, hand the queues back by hand (the machine then restarts SVQ).
 *
 * Destination (vhost_vdpa_net_cvq_load / vhost_dev_start):
 *  - deviceLifecycle: the device's status ioctls (START resets and negotiates, DRIVER_OK, RESET);
 *  - loadRecord: io-ts and the state codec;
 *  - prepareDevice: shadow CVQ in its own ASID, guest RAM mapped (IOVA = GPA), every data queue on its
 *    guest ring at the recorded base (read back), left disabled;
 *  - cvqCommand: the shadow CVQ's port (write a batch, wait for its acks);
 *  - enableDataQueues: enabled last (VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK), each kicked once so the
 *    chains handed over in flight are taken up without the guest's help;
 *  - verifyAgainstRecord: the model of the acked commands — and the device's own state where it shows
 *    it — against the record as the negotiated features show it, and the MAC in config space;
 *  - quiesceDestination / teardownDestination: a rollback waits for device work a cancelled step left
 *    running, and after the reset drops the shadow CVQ and the RAM mapping.
 *
 * Effects report what they did through `note` (progress and the controller's summary are built from
 * notes and the machines' transitions) and fail with typed error values (MigrateError, DeviceError …).
 */
import * as E from 'fp-ts/lib/Either.js';
import { VHOST_ACCESS_RW, type VdpaDevice } from '../device/types.js';
import { destroyShadowCvq } from '../cvq/shadow.js';
import { PAGE_SIZE } from '../memory/address-space.js';
import type { RingAddrs } from '../ring/types.js';
import { applyAll } from '../state/apply.js';
import { decodeStateJson, encodeStateJson } from '../state/json.js';
import { decodeMigrationRecord, MIGRATION_FORMAT, MIGRATION_RECORD_VERSION, type MigrationRecord } from '../state/migration-record.js';
import { resetNetState, type DeviceLimits, type NetDeviceState } from '../state/net-state.js';
import { planCommands } from '../state/plan.js';
import { viewThrough } from '../state/view.js';
import type { DirtyLog } from '../svq/dirty-log.js';
import type { EffectsOf } from '../../machines/contract.js';
import { shadowBroken, type migrationMachine } from '../../machines/migration.js';
import { errorText } from '../../machines/actors.js';
import { orReject } from './common.js';
import { cvqCommandEffects } from './cvq.js';
import { GUEST_RAM_GPA } from './datapath.js';
import { lifecycleEffects } from './lifecycle.js';
import { svqSwitchEffects, type SvqBackend } from './svq.js';
import { configMac, limitsOf, migrateError, setUpCvq, type Cvq } from './vdpa-net.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;
const bigHex = (_: string, v: unknown): unknown => (typeof v === 'bigint' ? hex(v) : v);

/** What the effects report as they go (progress and the summary are built from these). */
export type MigrationNote =
  | { readonly kind: 'round'; readonly round: number; readonly pagesSent: number; readonly dirtyPages: number; readonly wireUs: number; readonly frames: number }
  | { readonly kind: 'suspended'; readonly burst: number }
  | { readonly kind: 'drained'; readonly inFlight: number; readonly bases: readonly number[]; readonly svqForwarded: number; readonly guestInFlight: number }
  | { readonly kind: 'saved'; readonly remainingPages: number; readonly recordBytes: number; readonly wireUs: number }
  | { readonly kind: 'rolled-back'; readonly end: 'source' | 'destination'; readonly svqOff: boolean }
  | { readonly kind: 'prepared'; readonly commands: number }
  // from the controller, watching machines/cvq-command through the inspector
  | { readonly kind: 'cvq-progress'; readonly applied: number; readonly total: number; readonly roundTrips: number }
  | { readonly kind: 'cvq-done'; readonly ok: boolean; readonly applied: number; readonly total: number; readonly roundTrips: number; readonly simUs: number; readonly acksOk: number; readonly acksErr: number }
  | { readonly kind: 'queues-enabled'; readonly queues: readonly number[]; readonly simUs: number }
  | { readonly kind: 'verified'; readonly equal: boolean; readonly differences: readonly string[] };

export type Note = (n: MigrationNote) => void;

/** Every effect the migration machine and its children take. */
export type MigrationEffects = EffectsOf<typeof migrationMachine>;
export type SourceEffects = Pick<
  MigrationEffects,
  'deviceLifecycle' | 'svqSwitch' | 'startDirtyLog' | 'syncDirtyLog' | 'drainInFlight' | 'saveRecord' | 'stopDirtyLog' | 'recoverSvq'
>;
export type DestinationEffects = Pick<
  MigrationEffects,
  'deviceLifecycle' | 'cvqCommand' | 'loadRecord' | 'prepareDevice' | 'enableDataQueues' | 'verifyAgainstRecord' | 'quiesceDestination' | 'teardownDestination'
>;

/** Right → the value; Left → a MigrateError naming `where` (and `what`, prefixed to the message). */
const must = <T>(where: string, r: E.Either<{ readonly message: string }, T>, what = ''): T => {
  if (E.isLeft(r)) throw migrateError(where, `${what}${r.left.message}`);
  return r.right;
};

// ------------------------------------------------------------------------------------------ source

/** Guest pages on their way to the destination (src/migrate/world.ts `MigrationStream`). */
export interface PageStream {
  /** Pages of guest RAM. */
  readonly pages: number;
  /** The bulk stage: every page; returns the simulated µs on the wire. */
  sendAll(): number;
  /** Pages by guest-physical address; returns the µs on the wire. */
  sendPages(gpas: readonly number[]): number;
  /** Non-page data (the record); returns the µs on the wire. */
  sendBytes(n: number): number;
  /** First guest-physical page that differs between the guest's RAM and the copy, or -1. */
  firstDifference(): number;
}

/** The guest, running while the source migrates. */
export interface GuestWorkload {
  /** Run while round `round` is on the wire for `wireUs` simulated µs; resolves with the frames sent. */
  run(round: number, wireUs: number, signal: AbortSignal): Promise<number>;
  /** The last burst right before vm_stop, still in flight when the device is suspended: frames sent. */
  burst?(): number;
  /** Frames sent and not yet received. */
  outstanding?(): number;
}

export interface SourceSide {
  readonly dev: VdpaDevice;
  readonly backend: SvqBackend;
  readonly dirty: DirtyLog;
  readonly negotiated: bigint;
  /** Data queues of the active pairs: what SVQ shadows and the record carries. */
  readonly dataQueues: readonly number[];
  /** The device state the record carries (QEMU's model of what the guest's CVQ commands set). */
  readonly deviceState: () => NetDeviceState;
  readonly stream: PageStream;
  readonly guest?: GuestWorkload;
}


/** The shadow queues' failures, if any (a precopy round that broke SVQ fails the migration). */
const svqFailures = (b: SvqBackend): string[] => b.failures();

/** machines/migration's source effects. (Long: one object literal, one method per effect; each is one device operation.) */
export function sourceEffects(src: SourceSide, opts: { readonly note?: Note } = {}): SourceEffects {
  const note: Note = opts.note ?? (() => {});
  const { dev, backend, stream } = src;
  const gpa = backend.path.gpa;
  const queues = src.dataQueues;
  const lifecycle = lifecycleEffects(dev);
  let drainedBases: number[] | undefined;

  return {
    deviceLifecycle: {
      ...lifecycle,
      // vm_stop: the guest runs up to the stop, its last burst still in flight at VHOST_VDPA_SUSPEND
      async suspendDevice(input, signal) {
        const burst = src.guest?.burst?.() ?? 0;
        await lifecycle.suspendDevice(input, signal);
        note({ kind: 'suspended', burst });
      },
    },
    svqSwitch: svqSwitchEffects(backend),

    async startDirtyLog() {
      src.dirty.attach(gpa);
      drainedBases = undefined;
      return { shadowed: backend.mode === 'shadow' };
    },

    async syncDirtyLog({ round }, signal) {
      let pagesSent: number;
      let us: number;
      // the pages SVQ workers logged join the log first (log_sync); on the main thread they are in it
      const lost = backend.syncDirty();
      if (E.isLeft(lost)) throw shadowBroken('precopy', `round ${round}: ${lost.left.message}`);
      if (round === 0) {
        src.dirty.collect();
        pagesSent = stream.pages;
        us = stream.sendAll();
      } else {
        const pages = src.dirty.collect();
        pagesSent = pages.length;
        us = stream.sendPages(pages);
      }
      // the guest keeps running while the round is on the wire; a shadow queue that broke meanwhile is the
      // cause of whatever the guest saw (its frames stall): the round fails as ShadowBroken either way
      const ran = src.guest === undefined ? { frames: 0 } : await src.guest.run(round, us, signal).then((frames) => ({ frames }), (error: unknown) => ({ error }));
      // the pages SVQ workers logged during the round; a worker lost is a broken shadow data path too
      const synced = backend.syncDirty();
      const broken = [...svqFailures(backend), ...(E.isLeft(synced) ? [synced.left.message] : [])];
      if (broken.length) throw shadowBroken('precopy', `round ${round}: shadow virtqueue failed: ${broken.join('; ')}${'error' in ran ? ` (the guest: ${errorText(ran.error)})` : ''}`);
      if ('error' in ran) throw ran.error;
      const { frames } = ran;
      const dirtyPages = src.dirty.dirtyCount();
      note({ kind: 'round', round, pagesSent, dirtyPages, wireUs: us, frames });
      return { pagesSent, dirtyPages };
    },

    async drainInFlight() {
      // a failed SVQ stop has stopped the call relay and maybe some queues: the shadow data path is down
      const r = await backend.drain(queues).catch((e: unknown) => Promise.reject(shadowBroken('stopAndCopy', `SVQ stop: ${errorText(e)}`)));
      const broken = svqFailures(backend);
      if (broken.length) throw shadowBroken('stopAndCopy', `shadow virtqueue failed: ${broken.join('; ')}`);
      drainedBases = r.bases;
      let svqForwarded = 0;
      for (const s of backend.shadows.values()) svqForwarded += s.svq.stats().forwarded;
      note({ kind: 'drained', inFlight: r.handedBack, bases: r.bases, svqForwarded, guestInFlight: src.guest?.outstanding?.() ?? 0 });
      return { inFlight: r.handedBack, svqStopped: true };
    },

    async saveRecord({ rounds, pagesSent }) {
      // the last dirty pages (the drain wrote used entries too), then the device record
      const pages = src.dirty.collect();
      let us = stream.sendPages(pages);
      const diff = stream.firstDifference();
      if (diff >= 0) throw migrateError('stopAndCopy', `guest page 0x${diff.toString(16)} differs between source and destination: a write escaped the dirty log`);
      const offered = await orReject(dev.getFeatures());
      const backendFeatures = await orReject(dev.getBackendFeatures());
      const bases = drainedBases ?? queues.map((qi) => must('stopAndCopy', dev.getVringBase(qi)));
      const record = {
        format: MIGRATION_FORMAT,
        version: MIGRATION_RECORD_VERSION,
        device: JSON.parse(JSON.stringify(encodeStateJson(src.deviceState()), bigHex)) as unknown,
        features: { offered: hex(offered), negotiated: hex(src.negotiated), backend: hex(backendFeatures) },
        vrings: queues.map((qi, i) => ({ index: qi, base: bases[i]! })),
        dirty: { pageSize: PAGE_SIZE, rounds, pagesSent: pagesSent + pages.length, remaining: pages.length },
      };
      const text = `${JSON.stringify(record, null, 2)}\n`;
      us += stream.sendBytes(text.length);
      note({ kind: 'saved', remainingPages: pages.length, recordBytes: text.length, wireUs: us });
      return { record };
    },

    async stopDirtyLog() {
      src.dirty.detach(gpa);
      note({ kind: 'rolled-back', end: 'source', svqOff: backend.mode === 'passthrough' });
    },

    async recoverSvq() {
      // SVQ stop re-addresses the queues: only while suspended (VHOST_VDPA_SUSPEND; after a failed switch it is already)
      await orReject(dev.suspend());
      const r = backend.recover();
      if (E.isLeft(r)) throw migrateError('rollback', `switching SVQ off: ${r.left.message}`);
    },
  };
}

// ------------------------------------------------------------------------------------------ destination

/** What a device model exposes beyond the uAPI (the simulator): its clock, ack counters, own state. */
export interface DeviceProbe {
  /** Simulated µs. */
  now(): number;
  acks(): { readonly ok: number; readonly err: number };
  netState(): NetDeviceState;
}

export interface DestinationSide {
  readonly dev: VdpaDevice;
  /** The guest's rings (queue index → size and guest-physical addresses): the virtio transport state. */
  readonly rings: ReadonlyMap<number, { readonly size: number; readonly addrs: RingAddrs }>;
  /** Guest memory as the stream delivered it, for the device (host address and size). */
  readonly guestRam: () => { hva: number; size: number };
  readonly probe?: DeviceProbe;
}

/** What the destination built while restoring (tests and the controller read it). */
export interface DestinationState {
  cvq: Cvq | undefined;
  /** The device's reset state the restore starts from: provisioned MAC, config-space limits. */
  provisioned: { readonly mac: string; readonly limits: DeviceLimits } | undefined;
  /** Guest RAM as mapped in the data ASID (IOVA = GPA). */
  ramMapped: { readonly hva: number; readonly size: number } | undefined;
}

/** Top-level fields where two states differ (as JSON). */
export function stateDifferences(a: NetDeviceState, b: NetDeviceState): string[] {
  const ja: Readonly<Record<string, unknown>> = { ...encodeStateJson(a) };
  const jb: Readonly<Record<string, unknown>> = { ...encodeStateJson(b) };
  return Object.keys(ja).filter((k) => JSON.stringify(ja[k]) !== JSON.stringify(jb[k]));
}

const recordState = (r: MigrationRecord): NetDeviceState => {
  const s = decodeStateJson(r.device);
  if (E.isLeft(s)) throw migrateError('loading', `device state: ${s.left.message}`);
  return s.right;
};

/**
 * The model of a restore: the device's reset state with exactly the first `applied` commands of the
 * record's plan applied (QEMU applies a command to its model only on VIRTIO_NET_OK).
 */
export function restoredModel(record: MigrationRecord, provisioned: { readonly mac: string; readonly limits: DeviceLimits }, applied: number): E.Either<{ readonly message: string }, NetDeviceState> {
  const negotiated = BigInt(record.features.negotiated);
  const plan = planCommands(recordState(record), negotiated);
  const r = applyAll(resetNetState(provisioned.mac, negotiated), negotiated, provisioned.limits, plan.slice(0, applied));
  return E.isLeft(r) ? E.left({ message: `the device acked ${plan[r.left.index]?.kind ?? '?'} but the model refuses it: ${r.left.message}` }) : r;
}

/** machines/migration's destination effects. (Long: one object literal, one method per effect; each is one device operation.) */
export function destinationEffects(dst: DestinationSide, opts: { readonly note?: Note } = {}): { readonly effects: DestinationEffects; readonly state: DestinationState } {
  const { dev, probe } = dst;
  const note: Note = opts.note ?? (() => {});
  const now = () => probe?.now() ?? performance.now() * 1000;
  const st: DestinationState = { cvq: undefined, provisioned: undefined, ramMapped: undefined };
  // device work in progress: a rollback waits for it to stop before it resets the device
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  };
  // the CVQ port binds to the engine `prepareDevice` makes: its effects made once per engine, so their
  // decoded-command cache lives as long as the restore (not one per batch)
  let bound: { readonly engine: Cvq['engine']; readonly port: DestinationEffects['cvqCommand']['cvqPort'] } | undefined;
  const port = () => {
    if (st.cvq === undefined) throw migrateError('restoringCvq', 'the shadow CVQ is not set up');
    if (bound?.engine !== st.cvq.engine) bound = { engine: st.cvq.engine, port: cvqCommandEffects(st.cvq.engine).cvqPort };
    return bound.port;
  };
  const cvqPort: DestinationEffects['cvqCommand']['cvqPort'] = {
    writeBatch: (input, signal) => port().writeBatch(input, signal),
    awaitAcks: (input, signal) => track(Promise.resolve(port().awaitAcks(input, signal))),
    exchange: (input, signal) => track(Promise.resolve(port().exchange(input, signal))),
  };

  const effects: DestinationEffects = {
    deviceLifecycle: lifecycleEffects(dev),
    cvqCommand: { cvqPort },

    async loadRecord({ record }) {
      const r = decodeMigrationRecord(record, decodeStateJson);
      if (E.isLeft(r)) throw migrateError('loading', r.left.message);
      return { record: r.right };
    },

    prepareDevice: ({ record }, signal) =>
      track(
        (async () => {
          const negotiated = BigInt(record.features.negotiated);
          const state = recordState(record);
          if (st.cvq === undefined) st.cvq = must('preparing', setUpCvq(dev, negotiated));
          if (st.ramMapped === undefined) {
            const where = dst.guestRam();
            must('preparing', dev.iotlbUpdate(0, GUEST_RAM_GPA, where.size, where.hva, VHOST_ACCESS_RW), 'guest RAM: ');
            st.ramMapped = where;
          }
          // vhost_dev_start: every data queue on its guest ring at the recorded base, left disabled; the
          // device must report the base it was given (VHOST_GET_VRING_BASE before it runs)
          for (const v of record.vrings) {
            if (signal.aborted) throw migrateError('preparing', 'cancelled');
            const ring = dst.rings.get(v.index);
            if (ring === undefined) throw migrateError('preparing', `no guest ring known for queue ${v.index}`);
            const q = <T>(r: E.Either<{ readonly message: string }, T>): T => must('preparing', r, `queue ${v.index}: `);
            q(dev.setVringNum(v.index, ring.size));
            q(dev.setVringAddr(v.index, ring.addrs));
            q(dev.setVringBase(v.index, v.base));
            const back = q(dev.getVringBase(v.index));
            if (back !== v.base) throw migrateError('preparing', `queue ${v.index}: the device reports base ${back}, the record ${v.base}`);
          }
          // the restore starts from the device's reset state: the MAC it was provisioned with, its limits
          const mac = must('preparing', configMac(dev, negotiated, state.mac));
          st.provisioned = { mac, limits: must('preparing', limitsOf(dev)) };
          note({ kind: 'prepared', commands: planCommands(state, negotiated).length });
          return { mac };
        })(),
      ),

    enableDataQueues: ({ record }) =>
      track(
        (async () => {
          // vhost_vdpa_net_data_load: the data queues, programmed before DRIVER_OK, are enabled only now
          // that the CVQ restore is acked (VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK)
          const t0 = now();
          const queues = record.vrings.map((v) => v.index);
          for (const qi of queues) must('enablingQueues', dev.setVringEnable(qi, true), `queue ${qi}: `);
          // a device processes a queue only on a kick (vdpa_sim_net never looks at a ring on enable): kick
          // each once, so the chains the source handed back in flight are taken up without the guest's help
          for (const qi of queues) must('enablingQueues', dev.kick(qi), `queue ${qi}: `);
          note({ kind: 'queues-enabled', queues, simUs: now() - t0 });
        })(),
      ),

    async verifyAgainstRecord({ record, applied }) {
      // what the guest can observe: the state through the negotiated features
      const negotiated = BigInt(record.features.negotiated);
      const want = viewThrough(recordState(record), negotiated);
      const differences: string[] = [];
      if (st.provisioned === undefined) differences.push('no restored model');
      else {
        const model = restoredModel(record, st.provisioned, applied);
        if (E.isLeft(model)) differences.push(model.left.message);
        else differences.push(...stateDifferences(viewThrough(model.right, negotiated), want).map((k) => `model ${k}`));
      }
      if (probe !== undefined) differences.push(...stateDifferences(viewThrough(probe.netState(), negotiated), want).map((k) => `device ${k}`));
      const mac = must('verifying', configMac(dev, negotiated, want.mac));
      if (mac !== want.mac) differences.push(`config-space MAC ${mac} ≠ ${want.mac}`);
      note({ kind: 'verified', equal: differences.length === 0, differences });
      return { equal: differences.length === 0, differences };
    },

    async quiesceDestination() {
      await Promise.allSettled([...inFlight]);
    },

    async teardownDestination() {
      // the device is reset: drop what the restore set up (shadow CVQ, guest RAM mapping)
      const errs: string[] = [];
      if (st.cvq !== undefined) {
        const d = destroyShadowCvq(dev, st.cvq.shadow);
        if (E.isLeft(d)) errs.push(`shadow CVQ: ${d.left.message}`);
        st.cvq = undefined;
      }
      if (st.ramMapped !== undefined) {
        const u = dev.iotlbInvalidate(0, GUEST_RAM_GPA, st.ramMapped.size);
        if (E.isLeft(u)) errs.push(`guest RAM: ${u.left.message}`);
        st.ramMapped = undefined;
      }
      st.provisioned = undefined;
      if (errs.length) throw migrateError('rollback', errs.join('; '));
      note({ kind: 'rolled-back', end: 'destination', svqOff: false });
    },
  };
  return { effects, state: st };
}
