/**
 * machines/migration's actors bound to real devices: the source end over a `Source` (guest, data path,
 * SVQ back-end, dirty log), the destination end over a `Destination`, the stream between them.
 * Composed from src/effects — SVQ switching runs machines/svq-switch on `svqSwitchEffects`, the device
 * status and features go through `lifecycleEffects`, the CVQ restore runs machines/cvq-command on
 * `cvqCommandEffects` — so each step here is the migration-level glue QEMU's migration code is:
 * vhost_vdpa_net_log_global_enable (SVQ on at setup), ram_save_iterate (dirty rounds),
 * vm_stop + vhost_vdpa_suspend (stop-and-copy), vhost_vdpa_net_cvq_load (destination restore).
 *
 * Each effect reports what it did through `note` (the controller turns notes into progress and the
 * summary); a failing effect rejects with a typed error value naming the phase.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createActor, toPromise, waitFor, type InspectionEvent } from 'xstate';
import { SimVdpaDevice } from '../device/sim/device.js';
import { toActors, type Effect } from '../effects/common.js';
import { cvqCommandEffects, toCvqCommand } from '../effects/cvq.js';
import { svqSwitchEffects } from '../effects/svq.js';
import { applyCommand } from '../state/apply.js';
import { decodeStateJson, encodeStateJson } from '../state/json.js';
import { STATUS, writeStatus } from '../state/lifecycle.js';
import { decodeMigrationRecord, makeMigrationRecord, encodeMigrationRecord, type MigrationRecord } from '../state/migration-record.js';
import { resetNetState, type NetDeviceState } from '../state/net-state.js';
import { planRestore } from '../state/plan.js';
import { viewThrough } from '../state/view.js';
import { PAGE_SIZE } from '../memory/address-space.js';
import type { RingAddrs } from '../ring/index.js';
import { GUEST_RAM_GPA } from '../effects/datapath.js';
import { cvqCommandMachine, type CvqCommandOutput, type CvqStrategy } from '../../machines/cvq-command.js';
import type { DirtyRound } from '../../machines/migration.js';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import {
  ACK_TIMEOUT_MS,
  configMac,
  limitsOf,
  mapGuestRam,
  migrateError,
  negotiateDevice,
  runTraffic,
  setUpCvq,
  type Destination,
  type MigrationStream,
  type Source,
} from './world.js';

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

export interface SourceMigrationEffects {
  readonly [name: string]: Effect<never, unknown>;
  enableSvq: Effect<void, { switched: boolean }>;
  syncDirtyLog: Effect<{ round: number }, DirtyRound>;
  suspendSource: Effect<void, void>;
  drainInFlight: Effect<void, { inFlight: number }>;
  saveRecord: Effect<{ rounds: number; pagesSent: number; remaining: number }, { record: unknown }>;
  rollbackSource: Effect<{ svqEnabledByUs: boolean }, void>;
}

export interface DestinationMigrationEffects {
  readonly [name: string]: Effect<never, unknown>;
  loadRecord: Effect<{ record: unknown }, { record: MigrationRecord }>;
  resetAndNegotiate: Effect<{ record: MigrationRecord }, { negotiated: string }>;
  restoreCvq: Effect<{ record: MigrationRecord }, CvqCommandOutput>;
  enableDataQueues: Effect<{ record: MigrationRecord }, void>;
  verifyAgainstRecord: Effect<{ record: MigrationRecord }, { equal: boolean; differences: string[] }>;
  rollbackDestination: Effect<void, void>;
}

export interface SourceEffectOptions {
  /** Guest frames per simulated µs while a round is on the wire (the guest keeps running). */
  readonly rate: number;
  /** At most this many frames per round (bounds a demo's run time). */
  readonly maxFramesPerRound?: number;
  /** Frames the guest sends right before vm_stop, still in flight at suspend (default 256). */
  readonly inFlightAtStop?: number;
  /** Inspection for the machines the effects run themselves (svq-switch, cvq-command). */
  readonly inspect?: Inspect;
}

/** An inspect callback factory per machine name (see transitions.ts). */
export type Inspect = (machine: string) => ((e: InspectionEvent) => void) | undefined;
const inspectOpt = (i: Inspect | undefined, machine: string) => {
  const f = i?.(machine);
  return f === undefined ? {} : { inspect: f };
};

const reject = (where: string, e: unknown): never => {
  throw typeof e === 'object' && e !== null && '_tag' in e ? e : migrateError(where, String(e));
};

export function sourceMigrationEffects(src: Source, stream: MigrationStream, note: Note, opts: SourceEffectOptions): SourceMigrationEffects {
  const gpa = src.path.gpa;
  // the svq-switch actor that switched SVQ on: rollback asks the same machine to switch it off
  let switcher: ReturnType<typeof createActor<typeof svqSwitchMachine>> | undefined;
  let drainedBases: number[] | undefined;
  // an enable still running when a CANCEL arrives: the rollback waits for it, then undoes it
  let enabling: Promise<unknown> | undefined;
  const maxFrames = opts.maxFramesPerRound ?? 200_000;
  return {
    async enableSvq() {
      // QEMU: log_global_start → vhost_vdpa_net_log_global_enable switches the device to SVQ
      src.dirty.attach(gpa);
      if (src.backend.mode === 'shadow') {
        note({ kind: 'svq-on', switched: false, queues: src.dataQueues });
        return { switched: false };
      }
      const actor = createActor(svqSwitchMachine.provide({ actors: toActors(svqSwitchEffects(src.backend)) as never }), {
        input: { queues: src.dataQueues },
        ...inspectOpt(opts.inspect, 'svq-switch'),
      });
      actor.start();
      actor.send({ type: 'ENABLE', trigger: 'migration' });
      const settled = waitFor(actor, (x) => x.matches('shadow') || x.matches('passthrough') || x.matches('failed'), { timeout: 30_000 });
      enabling = settled;
      const s = await settled;
      enabling = undefined;
      if (!s.matches('shadow')) {
        actor.stop();
        src.dirty.detach(gpa);
        throw migrateError('setup', `switching the data queues to SVQ: ${s.context.error ?? JSON.stringify(s.value)}`);
      }
      switcher = actor;
      note({ kind: 'svq-on', switched: true, queues: src.dataQueues });
      return { switched: true };
    },

    async syncDirtyLog({ round }, signal) {
      // ram_save_iterate: the first round is the bulk stage (every page), then what the log caught
      let sent: number;
      let us: number;
      if (round === 0) {
        src.dirty.collect();
        sent = stream.pages;
        us = stream.sendAll();
      } else {
        const pages = src.dirty.collect();
        sent = pages.length;
        us = stream.sendPages(pages);
      }
      // the guest keeps running while the round is on the wire
      const frames = Math.min(maxFrames, Math.round(opts.rate * us));
      const t = await runTraffic(src.guest, frames, signal);
      if (E.isLeft(t)) throw migrateError('precopy', `round ${round}: ${t.left.message}`);
      const dirtyPages = src.dirty.dirtyCount();
      note({ kind: 'round', round, pagesSent: sent, dirtyPages, wireUs: us, frames: t.right });
      return { pagesSent: sent, dirtyPages };
    },

    async suspendSource(_, signal) {
      // the guest runs up to vm_stop: its last burst is still in flight when the device is suspended
      const burst = src.guest.send(opts.inFlightAtStop ?? 256);
      // vm_stop: the vCPUs stop (the guest sends nothing more), then VHOST_VDPA_SUSPEND
      await src.fx.suspendDevice(undefined, signal).catch((e: unknown) => reject('stopAndCopy', e));
      note({ kind: 'suspended', burst });
    },

    async drainInFlight(_, signal) {
      // SVQ stop: used entries the device wrote go to the guest; chains still in flight are un-popped so
      // the destination's device pops them again from the guest rings (virtqueue_unpop)
      const fx = svqSwitchEffects(src.backend);
      const r = await fx.drainShadow({ queues: src.dataQueues }, signal);
      drainedBases = r.bases;
      let svqForwarded = 0;
      for (const s of src.backend.shadows.values()) svqForwarded += s.svq.stats().forwarded;
      note({ kind: 'drained', inFlight: r.handedBack, bases: r.bases, svqForwarded, guestInFlight: src.guest.outstanding() });
      return { inFlight: r.handedBack };
    },

    async saveRecord({ rounds, pagesSent }) {
      // the last dirty pages (the drain wrote used entries too), then the device record
      const pages = src.dirty.collect();
      let us = stream.sendPages(pages);
      const diff = stream.firstDifference();
      if (diff >= 0) {
        throw migrateError('stopAndCopy', `guest page 0x${diff.toString(16)} differs between source and destination: a write escaped the dirty log`);
      }
      const bases = drainedBases ?? src.dataQueues.map((qi) => E.getOrElse(() => 0)(src.dev.getVringBase(qi)));
      const device = src.dev instanceof SimVdpaDevice ? src.dev.netState() : src.model;
      const record = makeMigrationRecord(
        {
          device: encodeStateJson(device),
          offered: src.offered,
          negotiated: src.negotiated,
          backend: src.backendFeatures,
          vrings: src.dataQueues.map((qi, i) => ({ index: qi, base: bases[i]! })),
          dirty: { pageSize: PAGE_SIZE, rounds, pagesSent: pagesSent + pages.length, remaining: pages.length },
        },
        decodeStateJson,
      );
      if (E.isLeft(record)) throw migrateError('stopAndCopy', record.left.message);
      const text = encodeMigrationRecord(record.right);
      us += stream.sendBytes(text.length);
      note({ kind: 'saved', remainingPages: pages.length, recordBytes: text.length, wireUs: us });
      return { record: JSON.parse(text) as unknown };
    },

    async rollbackSource(_, signal) {
      // migration_cancel / precopy failure: SVQ off if we switched it on (machines/svq-switch DISABLE,
      // which hands every in-flight chain back to the guest rings), the device resumed
      src.dirty.detach(gpa);
      if (enabling !== undefined) await enabling.catch(() => undefined);
      let svqOff = false;
      // not the machine's svqEnabledByUs: `switcher` is set by every enable that took effect, also one
      // that completed after a CANCEL had already taken the machine out of setup (its flag still false)
      if (switcher !== undefined) {
        const actor = switcher;
        switcher = undefined;
        actor.send({ type: 'DISABLE', trigger: 'precopy-failed' });
        const s = await waitFor(actor, (x) => x.matches('passthrough') || x.matches('shadow') || x.matches('failed'), { timeout: 30_000 });
        actor.stop();
        if (!s.matches('passthrough')) {
          const r = src.backend.recover();
          if (E.isLeft(r)) throw migrateError('rollback', `switching SVQ off: ${s.context.error ?? ''}; recovery: ${r.left.message}`);
        }
        svqOff = true;
      }
      await src.fx.resumeDevice(undefined, signal).catch((e: unknown) => reject('rollback', e));
      note({ kind: 'rolled-back', end: 'source', svqOff });
    },
  };
}

// ---------------------------------------------------------------------------------------------------

export interface DestinationEffectOptions {
  readonly strategy: CvqStrategy;
  /** The guest's rings (queue index → size and guest-physical addresses): the virtio transport state. */
  readonly rings: ReadonlyMap<number, { readonly size: number; readonly addrs: RingAddrs }>;
  /** Guest memory for the destination device (see `guestRamFor`). */
  readonly guestRam: () => { hva: number; size: number };
  readonly inspect?: Inspect;
}

const simNow = (d: Destination): number => (d.dev instanceof SimVdpaDevice ? d.dev.clock.now : performance.now() * 1000);

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

export function destinationMigrationEffects(dst: Destination, note: Note, opts: DestinationEffectOptions): DestinationMigrationEffects {
  const dev = dst.dev;
  // device work in progress: a rollback waits for it to stop before it resets the device
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  };
  const fx: DestinationMigrationEffects = {
    async loadRecord({ record }) {
      const r = decodeMigrationRecord(record, decodeStateJson);
      if (E.isLeft(r)) throw migrateError('loading', r.left.message);
      return { record: r.right };
    },

    async resetAndNegotiate({ record }, signal) {
      const negotiated = await negotiateDevice(dst.fx, BigInt(record.features.negotiated), signal).catch((e: unknown) => reject('negotiating', e));
      note({ kind: 'negotiated', features: negotiated });
      return { negotiated: `0x${negotiated.toString(16)}` };
    },

    async restoreCvq({ record }, signal) {
      // vhost_vdpa_net_cvq_load: shadow CVQ in its own ASID, DRIVER_OK with only the CVQ enabled, the
      // plan sent through machines/cvq-command, data queues left disabled until it is all acked
      const negotiated = BigInt(record.features.negotiated);
      const state = recordState(record);
      const cvq = setUpCvq(dev, negotiated);
      if (E.isLeft(cvq)) throw cvq.left;
      dst.cvq = cvq.right;
      const m = mapGuestRam(dst, opts.guestRam());
      if (E.isLeft(m)) throw m.left;
      // vhost_dev_start: every data queue on its guest ring at the recorded base, left disabled
      for (const v of record.vrings) {
        const ring = opts.rings.get(v.index);
        if (ring === undefined) throw migrateError('restoringCvq', `no guest ring known for queue ${v.index}`);
        for (const step of [() => dev.setVringNum(v.index, ring.size), () => dev.setVringAddr(v.index, ring.addrs), () => dev.setVringBase(v.index, v.base)]) {
          const r = step();
          if (E.isLeft(r)) throw migrateError('restoringCvq', `queue ${v.index}: ${r.left.message}`);
        }
      }
      // DRIVER_OK in one synchronous read-check-write (§2.1.1 via the lifecycle reducer): nothing — not a
      // rollback's reset — can slip in between the read and the write
      if (signal.aborted) throw migrateError('restoringCvq', 'cancelled');
      const cur = dev.getStatus();
      if (E.isLeft(cur)) throw migrateError('restoringCvq', cur.left.message);
      const next = STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK;
      const allowed = writeStatus(cur.right, next);
      if (E.isLeft(allowed)) throw migrateError('restoringCvq', allowed.left.message);
      const w = dev.setStatus(next);
      if (E.isLeft(w)) throw migrateError('restoringCvq', w.left.message);
      const plan = planRestore(state, negotiated);
      const commands = plan.map(toCvqCommand);
      const t0 = simNow(dst);
      const ok0 = dev instanceof SimVdpaDevice ? dev.stats.acksOk : 0;
      const err0 = dev instanceof SimVdpaDevice ? dev.stats.acksErr : 0;
      const actor = createActor(cvqCommandMachine.provide({ actors: toActors(cvqCommandEffects(cvq.right.engine)) as never }), {
        input: { strategy: opts.strategy, commands, ackTimeoutMs: ACK_TIMEOUT_MS },
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
      const limits = limitsOf(dev);
      let model = resetNetState(configMac(dev) ?? state.mac, negotiated);
      for (let i = 0; i < output.applied; i++) {
        const r = applyCommand(model, negotiated, limits, plan[i]!.cmd);
        if (E.isLeft(r)) throw migrateError('restoringCvq', `the device acked ${plan[i]!.name} but the model refuses it: ${r.left.message}`);
        model = r.right;
      }
      dst.model = model;
      const acksOk = dev instanceof SimVdpaDevice ? dev.stats.acksOk - ok0 : output.applied;
      const acksErr = dev instanceof SimVdpaDevice ? dev.stats.acksErr - err0 : output.ok ? 0 : 1;
      note({ kind: 'cvq-done', output, total: commands.length, simUs: simNow(dst) - t0, acksOk, acksErr });
      return output;
    },

    async enableDataQueues({ record }) {
      // vhost_vdpa_net_data_load: the data queues, programmed before DRIVER_OK, are enabled only now
      // that the CVQ restore is acked (VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK)
      const t0 = simNow(dst);
      const queues: number[] = [];
      for (const v of record.vrings) {
        const r = dev.setVringEnable(v.index, true);
        if (E.isLeft(r)) throw migrateError('enablingQueues', `queue ${v.index}: ${r.left.message}`);
        queues.push(v.index);
      }
      // a device processes a queue only on a kick (vdpa_sim_net never looks at a ring on enable): kick
      // each once, so the chains the source handed back in flight are taken up without the guest's help
      for (const qi of queues) {
        const k = dev.kick(qi);
        if (E.isLeft(k)) throw migrateError('enablingQueues', `queue ${qi}: ${k.left.message}`);
      }
      note({ kind: 'queues-enabled', queues, simUs: simNow(dst) - t0 });
    },

    async verifyAgainstRecord({ record }) {
      // what the guest can observe: the state through the negotiated features
      const negotiated = BigInt(record.features.negotiated);
      const want = viewThrough(recordState(record), negotiated);
      const seen = dev instanceof SimVdpaDevice ? dev.netState() : dst.model;
      if (seen === undefined) return { equal: false, differences: ['no restored state to compare'] };
      const differences = stateDifferences(viewThrough(seen, negotiated), want);
      const mac = configMac(dev);
      if (mac !== undefined && mac !== want.mac) differences.push(`config-space MAC ${mac} ≠ ${want.mac}`);
      note({ kind: 'verified', equal: differences.length === 0, differences });
      return { equal: differences.length === 0, differences };
    },

    async rollbackDestination(_, signal) {
      // the source keeps the VM: once the cancelled step has stopped, reset the device, drop the mapping
      await Promise.allSettled([...inFlight]);
      await dst.fx.resetDevice({ timeoutMs: 1000 }, signal).catch((e: unknown) => reject('rollback', e));
      if (dst.ramMapped !== undefined) {
        dev.iotlbInvalidate(0, GUEST_RAM_GPA, dst.ramMapped.size);
        dst.ramMapped = undefined;
      }
      note({ kind: 'rolled-back', end: 'destination', svqOff: false });
    },
  };
  return {
    ...fx,
    resetAndNegotiate: (i, sig) => track(fx.resetAndNegotiate(i, sig)),
    restoreCvq: (i, sig) => track(fx.restoreCvq(i, sig)),
    enableDataQueues: (i, sig) => track(fx.enableDataQueues(i, sig)),
  };
}

