/**
 * machines/migration's effects, both ends, on vhost-vdpa devices — the one implementation the
 * controller (src/migrate), the model-based runner (src/mbt/sim.ts) and the tests provide.
 *
 * Source (QEMU's migration code for a vhost-vdpa NIC):
 *  - enableSvq: log_global_start → vhost_vdpa_net_log_global_enable: the dirty log is attached and the
 *    data queues switch to SVQ through machines/svq-switch (its own actor, kept for the rollback);
 *  - syncDirtyLog: ram_save_iterate: round 0 is the bulk stage (every page), later rounds send what the
 *    log caught, while the guest keeps running for the round's time on the wire; a shadow queue that
 *    broke during the round fails it;
 *  - suspendSource: vm_stop (the guest's last burst still in flight) + VHOST_VDPA_SUSPEND;
 *  - drainInFlight: SVQ stop: used entries the device wrote go to the guest, chains still in flight are
 *    un-popped (virtqueue_unpop) so the destination's device pops them again from the guest rings —
 *    split and packed alike;
 *  - saveRecord: the last dirty pages, guest RAM proven byte-identical at the destination, and the
 *    record (device state, features read from the device, the guest rings' bases). Assembled, not
 *    validated: the machine's recordValid guard is the one place that decides what a valid record is;
 *  - rollbackSource: SVQ off through the same svq-switch actor (every in-flight chain handed back to
 *    the guest rings while the device is still suspended), then RESUME.
 *
 * Destination (vhost_vdpa_net_cvq_load / vhost_dev_start):
 *  - loadRecord: io-ts and the state codec;
 *  - resetAndNegotiate: §3.1.1 up to FEATURES_OK with the record's features (the machine refuses a
 *    different result);
 *  - restoreCvq: shadow CVQ in its own ASID, guest RAM mapped (IOVA = GPA), every data queue on its
 *    guest ring at the recorded base (read back), DRIVER_OK, the restore plan through
 *    machines/cvq-command; only commands acked OK reach the model;
 *  - enableDataQueues: enabled last (VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK), each kicked once so the
 *    chains handed over in flight are taken up without the guest's help;
 *  - verifyAgainstRecord: the model — and the device's own state where it shows it — against the record
 *    as the negotiated features show it, and the MAC in config space;
 *  - rollbackDestination: once the cancelled step has stopped, reset, drop the shadow CVQ and the RAM
 *    mapping.
 *
 * Effects report what they did through `note` (progress and the controller's summary are built from
 * notes) and fail with typed error values (MigrateError, DeviceError, …), never with a bare throw.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createActor, toPromise, waitFor, type Actor, type InspectionEvent } from 'xstate';
import { VHOST_ACCESS_RW, type VdpaDevice } from '../device/types.js';
import { destroyShadowCvq } from '../cvq/shadow.js';
import { PAGE_SIZE } from '../memory/address-space.js';
import type { RingAddrs } from '../ring/types.js';
import { applyCommand } from '../state/apply.js';
import { decodeStateJson, encodeStateJson } from '../state/json.js';
import { STATUS, writeStatus } from '../state/lifecycle.js';
import { decodeMigrationRecord, MIGRATION_FORMAT, MIGRATION_RECORD_VERSION, type MigrationRecord } from '../state/migration-record.js';
import { resetNetState, type NetDeviceState } from '../state/net-state.js';
import { planRestore } from '../state/plan.js';
import { viewThrough } from '../state/view.js';
import type { DirtyLog } from '../svq/dirty-log.js';
import { cvqCommandMachine, type CvqCommandOutput, type CvqStrategy } from '../../machines/cvq-command.js';
import type { DirtyRound } from '../../machines/migration.js';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import { orReject, toActors, type Effect } from './common.js';
import { cvqCommandEffects, toCvqCommand } from './cvq.js';
import { GUEST_RAM_GPA } from './datapath.js';
import { lifecycleEffects } from './lifecycle.js';
import { svqSwitchEffects, type SvqBackend } from './svq.js';
import { ACK_TIMEOUT_MS, configMac, limitsOf, migrateError, negotiateDevice, setUpCvq, type Cvq } from './vdpa-net.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;
const bigHex = (_: string, v: unknown): unknown => (typeof v === 'bigint' ? hex(v) : v);

/** What the effects report as they go (progress and the summary are built from these). */
export type MigrationNote =
  | { readonly kind: 'svq-on'; readonly switched: boolean; readonly queues: readonly number[] }
  | { readonly kind: 'round'; readonly round: number; readonly pagesSent: number; readonly dirtyPages: number; readonly wireUs: number; readonly frames: number }
  | { readonly kind: 'suspended'; readonly burst: number }
  | { readonly kind: 'drained'; readonly inFlight: number; readonly bases: readonly number[]; readonly svqForwarded: number; readonly guestInFlight: number }
  | { readonly kind: 'saved'; readonly remainingPages: number; readonly recordBytes: number; readonly wireUs: number }
  | { readonly kind: 'rolled-back'; readonly end: 'source' | 'destination'; readonly svqOff: boolean }
  | { readonly kind: 'negotiated'; readonly features: bigint }
  | { readonly kind: 'cvq-progress'; readonly applied: number; readonly total: number; readonly roundTrips: number }
  | { readonly kind: 'cvq-done'; readonly output: CvqCommandOutput; readonly total: number; readonly simUs: number; readonly acksOk: number; readonly acksErr: number }
  | { readonly kind: 'queues-enabled'; readonly queues: readonly number[]; readonly simUs: number }
  | { readonly kind: 'verified'; readonly equal: boolean; readonly differences: readonly string[] };

export type Note = (n: MigrationNote) => void;

/** An inspect callback factory per machine name, for the machines the effects run themselves (svq-switch, cvq-command). */
export type Inspect = (machine: string) => ((e: InspectionEvent) => void) | undefined;
const inspectOpt = (i: Inspect | undefined, machine: string) => {
  const f = i?.(machine);
  return f === undefined ? {} : { inspect: f };
};

/** Reject with the typed error value an effect failed with, or a MigrateError naming `where`. */
const reject = (where: string, e: unknown): never => {
  throw typeof e === 'object' && e !== null && '_tag' in e ? e : migrateError(where, String(e));
};
/** Right → the value; Left → a MigrateError naming `where` (and `what`, prefixed to the message). */
const must = <T>(where: string, r: E.Either<{ readonly message: string }, T>, what = ''): T => {
  if (E.isLeft(r)) throw migrateError(where, `${what}${r.left.message}`);
  return r.right;
};

// ------------------------------------------------------------------------------------------ source

export interface SourceEffects {
  readonly [name: string]: Effect<never, unknown>;
  enableSvq: Effect<void, { switched: boolean }>;
  syncDirtyLog: Effect<{ round: number }, DirtyRound>;
  suspendSource: Effect<void, void>;
  drainInFlight: Effect<void, { inFlight: number }>;
  saveRecord: Effect<{ rounds: number; pagesSent: number; remaining: number }, { record: unknown }>;
  rollbackSource: Effect<{ svqEnabledByUs: boolean }, void>;
}

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

export interface SourceOptions {
  readonly note?: Note;
  readonly inspect?: Inspect;
}

/** The shadow queues' failures, if any (a precopy round that broke SVQ fails the migration). */
const svqFailures = (b: SvqBackend): string[] => [...b.shadows.values()].flatMap((s) => (s.svq.failure ? [s.svq.failure.message] : []));

export function sourceEffects(src: SourceSide, opts: SourceOptions = {}): { readonly effects: SourceEffects; dispose(): void } {
  const note: Note = opts.note ?? (() => {});
  const { dev, backend, stream } = src;
  const gpa = backend.path.gpa;
  const queues = src.dataQueues;
  const lc = lifecycleEffects(dev);
  // the svq-switch actor that switched SVQ on: rollback asks the same machine to switch it off
  let switcher: Actor<typeof svqSwitchMachine> | undefined;
  let drainedBases: number[] | undefined;
  // an enable still running when a CANCEL arrives: the rollback waits for it, then undoes it
  let enabling: Promise<unknown> | undefined;
  const settled = (a: Actor<typeof svqSwitchMachine>) => waitFor(a, (x) => x.matches('shadow') || x.matches('passthrough') || x.matches('failed'), { timeout: 30_000 });

  const effects: SourceEffects = {
    async enableSvq() {
      src.dirty.attach(gpa);
      if (backend.mode === 'shadow') {
        note({ kind: 'svq-on', switched: false, queues });
        return { switched: false };
      }
      const actor = createActor(svqSwitchMachine.provide({ actors: toActors(svqSwitchEffects(backend)) as never }), {
        input: { queues },
        ...inspectOpt(opts.inspect, 'svq-switch'),
      });
      actor.start();
      actor.send({ type: 'ENABLE', trigger: 'migration' });
      // `enabling` settles only once `switcher` is set: a rollback that waited for it sees the enable
      const enable = (async () => {
        const s = await settled(actor);
        if (!s.matches('shadow')) {
          actor.stop();
          src.dirty.detach(gpa);
          throw migrateError('setup', `switching the data queues to SVQ: ${s.context.error ?? JSON.stringify(s.value)}`);
        }
        switcher = actor;
      })();
      enabling = enable;
      try {
        await enable;
      } finally {
        enabling = undefined;
      }
      note({ kind: 'svq-on', switched: true, queues });
      return { switched: true };
    },

    async syncDirtyLog({ round }, signal) {
      let pagesSent: number;
      let us: number;
      if (round === 0) {
        src.dirty.collect();
        pagesSent = stream.pages;
        us = stream.sendAll();
      } else {
        const pages = src.dirty.collect();
        pagesSent = pages.length;
        us = stream.sendPages(pages);
      }
      // the guest keeps running while the round is on the wire
      const frames = src.guest === undefined ? 0 : await src.guest.run(round, us, signal);
      const broken = svqFailures(backend);
      if (broken.length) throw migrateError('precopy', `round ${round}: shadow virtqueue failed: ${broken.join('; ')}`);
      const dirtyPages = src.dirty.dirtyCount();
      note({ kind: 'round', round, pagesSent, dirtyPages, wireUs: us, frames });
      return { pagesSent, dirtyPages };
    },

    async suspendSource(_, signal) {
      // the guest runs up to vm_stop: its last burst is still in flight when the device is suspended
      const burst = src.guest?.burst?.() ?? 0;
      await lc.suspendDevice(undefined, signal).catch((e: unknown) => reject('stopAndCopy', e));
      note({ kind: 'suspended', burst });
    },

    async drainInFlight(_, signal) {
      const r = await svqSwitchEffects(backend).drainShadow({ queues }, signal);
      const broken = svqFailures(backend);
      if (broken.length) throw migrateError('stopAndCopy', `shadow virtqueue failed: ${broken.join('; ')}`);
      drainedBases = r.bases;
      let svqForwarded = 0;
      for (const s of backend.shadows.values()) svqForwarded += s.svq.stats().forwarded;
      note({ kind: 'drained', inFlight: r.handedBack, bases: r.bases, svqForwarded, guestInFlight: src.guest?.outstanding?.() ?? 0 });
      return { inFlight: r.handedBack };
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

    async rollbackSource(_, signal) {
      // migration_cancel / precopy failure: SVQ off if we switched it on (machines/svq-switch DISABLE,
      // which hands every in-flight chain back to the guest rings while the device is suspended), then
      // RESUME — resuming first would let the device run chains SVQ already handed back
      src.dirty.detach(gpa);
      if (enabling !== undefined) await enabling.catch(() => undefined);
      let svqOff = false;
      // not the machine's svqEnabledByUs: `switcher` is set by every enable that took effect, also one
      // that completed after a CANCEL had already taken the machine out of setup (its flag still false)
      if (switcher !== undefined) {
        const actor = switcher;
        switcher = undefined;
        actor.send({ type: 'DISABLE', trigger: 'precopy-failed' });
        const s = await settled(actor);
        actor.stop();
        if (!s.matches('passthrough')) {
          const r = backend.recover();
          if (E.isLeft(r)) throw migrateError('rollback', `switching SVQ off: ${s.context.error ?? ''}; recovery: ${r.left.message}`);
        }
        svqOff = true;
      }
      await lc.resumeDevice(undefined, signal).catch((e: unknown) => reject('rollback', e));
      note({ kind: 'rolled-back', end: 'source', svqOff });
    },
  };
  return {
    effects,
    dispose() {
      switcher?.stop();
      switcher = undefined;
    },
  };
}

// ------------------------------------------------------------------------------------------ destination

export interface DestinationEffects {
  readonly [name: string]: Effect<never, unknown>;
  loadRecord: Effect<{ record: unknown }, { record: MigrationRecord }>;
  resetAndNegotiate: Effect<{ record: MigrationRecord }, { negotiated: string }>;
  restoreCvq: Effect<{ record: MigrationRecord }, CvqCommandOutput>;
  enableDataQueues: Effect<{ record: MigrationRecord }, void>;
  verifyAgainstRecord: Effect<{ record: MigrationRecord }, { equal: boolean; differences: string[] }>;
  rollbackDestination: Effect<void, void>;
}

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

export interface DestinationOptions {
  readonly strategy: CvqStrategy;
  readonly ackTimeoutMs?: number;
  readonly note?: Note;
  readonly inspect?: Inspect;
}

/** What the destination built while restoring (tests and the controller read it). */
export interface DestinationState {
  negotiated: bigint;
  cvq: Cvq | undefined;
  /** The device state as the acked CVQ commands built it. */
  model: NetDeviceState | undefined;
  /** Guest RAM as mapped in the data ASID (IOVA = GPA). */
  ramMapped: { readonly hva: number; readonly size: number } | undefined;
}

/** Top-level fields where two states differ (as JSON). */
export function stateDifferences(a: NetDeviceState, b: NetDeviceState): string[] {
  const ja = encodeStateJson(a) as unknown as Record<string, unknown>;
  const jb = encodeStateJson(b) as unknown as Record<string, unknown>;
  return Object.keys(ja).filter((k) => JSON.stringify(ja[k]) !== JSON.stringify(jb[k]));
}

const recordState = (r: MigrationRecord): NetDeviceState => {
  const s = decodeStateJson(r.device);
  if (E.isLeft(s)) throw migrateError('loading', `device state: ${s.left.message}`);
  return s.right;
};

export function destinationEffects(dst: DestinationSide, opts: DestinationOptions): { readonly effects: DestinationEffects; readonly state: DestinationState } {
  const { dev, probe } = dst;
  const note: Note = opts.note ?? (() => {});
  const lc = lifecycleEffects(dev);
  const now = () => probe?.now() ?? performance.now() * 1000;
  const st: DestinationState = { negotiated: 0n, cvq: undefined, model: undefined, ramMapped: undefined };
  // device work in progress: a rollback waits for it to stop before it resets the device
  const inFlight = new Set<Promise<unknown>>();
  const track = <I, O>(f: Effect<I, O>): Effect<I, O> => (input, signal) => {
    const p = f(input, signal);
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  };

  const effects: DestinationEffects = {
    async loadRecord({ record }) {
      const r = decodeMigrationRecord(record, decodeStateJson);
      if (E.isLeft(r)) throw migrateError('loading', r.left.message);
      return { record: r.right };
    },

    resetAndNegotiate: track(async ({ record }, signal) => {
      const negotiated = await negotiateDevice(lc, BigInt(record.features.negotiated), signal).catch((e: unknown) => reject('negotiating', e));
      st.negotiated = negotiated;
      note({ kind: 'negotiated', features: negotiated });
      // a different feature set is the machine's to refuse (featuresMatchRecord)
      return { negotiated: hex(negotiated) };
    }),

    restoreCvq: track(async ({ record }, signal) => {
      const negotiated = BigInt(record.features.negotiated);
      const state = recordState(record);
      const cvq = setUpCvq(dev, negotiated);
      if (E.isLeft(cvq)) throw cvq.left;
      st.cvq = cvq.right;
      if (st.ramMapped === undefined) {
        const where = dst.guestRam();
        must('destination IOTLB', dev.iotlbUpdate(0, GUEST_RAM_GPA, where.size, where.hva, VHOST_ACCESS_RW));
        st.ramMapped = where;
      }
      // vhost_dev_start: every data queue on its guest ring at the recorded base, left disabled; the
      // device must report the base it was given (VHOST_GET_VRING_BASE before it runs)
      for (const v of record.vrings) {
        const ring = dst.rings.get(v.index);
        if (ring === undefined) throw migrateError('restoringCvq', `no guest ring known for queue ${v.index}`);
        const q = <T>(r: E.Either<{ readonly message: string }, T>): T => must('restoringCvq', r, `queue ${v.index}: `);
        q(dev.setVringNum(v.index, ring.size));
        q(dev.setVringAddr(v.index, ring.addrs));
        q(dev.setVringBase(v.index, v.base));
        const back = q(dev.getVringBase(v.index));
        if (back !== v.base) throw migrateError('restoringCvq', `queue ${v.index}: the device reports base ${back}, the record ${v.base}`);
      }
      // the model starts as the device's reset state: the MAC it was provisioned with, its limits
      const limits = must('restoringCvq', limitsOf(dev));
      let model = resetNetState(must('restoringCvq', configMac(dev, negotiated, state.mac)), negotiated);
      // DRIVER_OK in one synchronous read-check-write (§2.1.1 via the lifecycle reducer): nothing — not a
      // rollback's reset — can slip in between the read and the write
      if (signal.aborted) throw migrateError('restoringCvq', 'cancelled');
      const cur = must('restoringCvq', dev.getStatus());
      const next = STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK;
      must('restoringCvq', writeStatus(cur, next));
      must('restoringCvq', dev.setStatus(next));
      const plan = planRestore(state, negotiated);
      const commands = plan.map(toCvqCommand);
      const t0 = now();
      const acks0 = probe?.acks();
      const actor = createActor(cvqCommandMachine.provide({ actors: toActors(cvqCommandEffects(cvq.right.engine)) as never }), {
        input: { strategy: opts.strategy, commands, ackTimeoutMs: opts.ackTimeoutMs ?? ACK_TIMEOUT_MS },
        ...inspectOpt(opts.inspect, 'cvq-command'),
      });
      let last = -1;
      actor.subscribe((s) => {
        if (s.context.applied !== last) {
          last = s.context.applied;
          note({ kind: 'cvq-progress', applied: s.context.applied, total: commands.length, roundTrips: s.context.roundTrips });
        }
      });
      const done = new Promise<CvqCommandOutput>((resolve, rejectDone) => {
        void toPromise(actor).then(resolve, rejectDone);
        signal.addEventListener('abort', () => {
          actor.stop();
          rejectDone(migrateError('restoringCvq', 'cancelled'));
        });
      });
      actor.start();
      actor.send({ type: 'FLUSH' });
      const output = await done;
      // the model: exactly the commands acked OK (QEMU applies a command only on VIRTIO_NET_OK)
      for (let i = 0; i < output.applied; i++) {
        const r = applyCommand(model, negotiated, limits, plan[i]!.cmd);
        if (E.isLeft(r)) throw migrateError('restoringCvq', `the device acked ${plan[i]!.name} but the model refuses it: ${r.left.message}`);
        model = r.right;
      }
      st.model = model;
      const acks1 = probe?.acks();
      const acksOk = acks0 !== undefined && acks1 !== undefined ? acks1.ok - acks0.ok : output.applied;
      const acksErr = acks0 !== undefined && acks1 !== undefined ? acks1.err - acks0.err : output.ok ? 0 : 1;
      note({ kind: 'cvq-done', output, total: commands.length, simUs: now() - t0, acksOk, acksErr });
      return output;
    }),

    enableDataQueues: track(async ({ record }) => {
      // vhost_vdpa_net_data_load: the data queues, programmed before DRIVER_OK, are enabled only now
      // that the CVQ restore is acked (VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK)
      const t0 = now();
      const queues = record.vrings.map((v) => v.index);
      for (const qi of queues) must('enablingQueues', dev.setVringEnable(qi, true), `queue ${qi}: `);
      // a device processes a queue only on a kick (vdpa_sim_net never looks at a ring on enable): kick
      // each once, so the chains the source handed back in flight are taken up without the guest's help
      for (const qi of queues) must('enablingQueues', dev.kick(qi), `queue ${qi}: `);
      note({ kind: 'queues-enabled', queues, simUs: now() - t0 });
    }),

    async verifyAgainstRecord({ record }) {
      // what the guest can observe: the state through the negotiated features
      const negotiated = BigInt(record.features.negotiated);
      const want = viewThrough(recordState(record), negotiated);
      const differences: string[] = [];
      if (st.model === undefined) differences.push('no restored model');
      else differences.push(...stateDifferences(viewThrough(st.model, negotiated), want).map((k) => `model ${k}`));
      if (probe !== undefined) differences.push(...stateDifferences(viewThrough(probe.netState(), negotiated), want).map((k) => `device ${k}`));
      const mac = must('verifying', configMac(dev, negotiated, want.mac));
      if (mac !== want.mac) differences.push(`config-space MAC ${mac} ≠ ${want.mac}`);
      note({ kind: 'verified', equal: differences.length === 0, differences });
      return { equal: differences.length === 0, differences };
    },

    async rollbackDestination(_, signal) {
      // the source keeps the VM: once the cancelled step has stopped, reset the device, drop what the
      // restore set up (shadow CVQ, guest RAM mapping)
      await Promise.allSettled([...inFlight]);
      await lc.resetDevice({ timeoutMs: 1000 }, signal).catch((e: unknown) => reject('rollback', e));
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
      st.model = undefined;
      if (errs.length) throw migrateError('rollback', errs.join('; '));
      note({ kind: 'rolled-back', end: 'destination', svqOff: false });
    },
  };
  return { effects, state: st };
}
