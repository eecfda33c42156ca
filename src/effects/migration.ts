/**
 * machines/migration's effects, both ends, on vhost-vdpa devices.
 *
 * Source: SVQ is switched on through machines/svq-switch (its own actor, kept for the rollback); each
 * precopy round reads and clears the dirty log SVQ fills (pages the device wrote through SVQ) while
 * the guest keeps running (`workload`); stop-and-copy suspends, forwards what the device already used,
 * and assembles the record from the device model, the negotiated features and the guest rings'
 * positions. The machine validates the record (one place decides what a valid record is).
 *
 * Destination: the record is decoded with io-ts and the state codec; machines/device-lifecycle takes
 * the device to FEATURES_OK with the record's features; the shadow CVQ (own ASID) and the data rings
 * are set up, DRIVER_OK; the restore plan goes through machines/cvq-command; only commands acked OK
 * reach the destination's model; the data queues are enabled last (QEMU's order); verification
 * compares the model with the record as seen through the negotiated features, the MAC in config space
 * and every vring base.
 */
import * as E from 'fp-ts/lib/Either.js';
import { createActor, waitFor, type Actor } from 'xstate';
import type { DeviceError, VdpaDevice } from '../device/types.js';
import { deviceError } from '../device/types.js';
import { CvqEngine, type CvqStrategy } from '../cvq/engine.js';
import { createShadowCvq, destroyShadowCvq, programShadowCvq, type ShadowCvq } from '../cvq/shadow.js';
import { applyCommand } from '../state/apply.js';
import { decodeStateJson, encodeStateJson } from '../state/json.js';
import { decodeMigrationRecord, MIGRATION_FORMAT, MIGRATION_RECORD_VERSION, type MigrationRecord } from '../state/migration-record.js';
import { resetNetState, type DeviceLimits, type NetDeviceState } from '../state/net-state.js';
import { planRestore } from '../state/plan.js';
import { viewThrough } from '../state/view.js';
import type { DirtyLog } from '../svq/dirty-log.js';
import { hasFeature } from '../virtio/features.js';
import { ETH_ALEN, NET_CONFIG, formatMac } from '../virtio/net.js';
import { deviceLifecycleMachine } from '../../machines/device-lifecycle.js';
import type { CvqCommandOutput } from '../../machines/cvq-command.js';
import type { DirtyRound } from '../../machines/migration.js';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import { orReject, toActors, type Effect } from './common.js';
import { runCvqCommands, toCvqCommand } from './cvq.js';
import { createDataPath, type DataPath } from './datapath.js';
import { lifecycleEffects } from './lifecycle.js';
import { svqSwitchEffects, type SvqBackend } from './svq.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;
const big = (_: string, v: unknown): unknown => (typeof v === 'bigint' ? hex(v) : v);

// ------------------------------------------------------------------------------------------ source

export interface SourceSide {
  readonly dev: VdpaDevice;
  readonly backend: SvqBackend;
  readonly dirty: DirtyLog;
  readonly negotiated: bigint;
  /** The source's device model (what its CVQ traffic was acked into). */
  readonly model: () => NetDeviceState;
  /** The guest keeps running during a precopy round (tests: traffic through the data path). */
  readonly workload?: (round: number) => Promise<void> | void;
}

export interface SourceEffects {
  readonly [name: string]: Effect<never, unknown>;
  enableSvq: Effect<void, { switched: boolean }>;
  syncDirtyLog: Effect<{ round: number }, DirtyRound>;
  suspendSource: Effect<void, void>;
  drainInFlight: Effect<void, { inFlight: number }>;
  saveRecord: Effect<{ rounds: number; pagesSent: number; remaining: number }, { record: unknown }>;
  rollbackSource: Effect<{ svqEnabledByUs: boolean }, void>;
}

/** The shadow queues' failures, if any (a precopy round that broke SVQ fails the migration). */
const svqFailures = (b: SvqBackend): string[] => [...b.shadows.values()].flatMap((s) => (s.svq.failure ? [s.svq.failure.message] : []));

export function sourceEffects(src: SourceSide): { readonly effects: SourceEffects; readonly svqActor: Actor<typeof svqSwitchMachine> } {
  const { dev, backend } = src;
  const queues = backend.path.queues.map((q) => q.qi);
  const svqActor = createActor(svqSwitchMachine.provide({ actors: toActors(svqSwitchEffects(backend)) as never }), { input: { queues } });
  svqActor.start();
  const switchTo = async (mode: 'shadow' | 'passthrough', event: { type: 'ENABLE' | 'DISABLE'; trigger: 'migration' | 'precopy-failed' }) => {
    svqActor.send(event);
    const s = await waitFor(svqActor, (x) => x.matches('passthrough') || x.matches('shadow') || x.matches('failed'));
    if (!s.matches(mode)) throw deviceError('state', `svq ${event.type.toLowerCase()}`, s.context.error ?? `SVQ switch ended in ${JSON.stringify(s.value)}`);
  };
  const effects: SourceEffects = {
    async enableSvq() {
      if (backend.mode === 'shadow') return { switched: false };
      await switchTo('shadow', { type: 'ENABLE', trigger: 'migration' });
      return { switched: true };
    },
    async syncDirtyLog({ round }) {
      const pagesSent = src.dirty.collect().length;
      await src.workload?.(round);
      const broken = svqFailures(backend);
      if (broken.length) throw deviceError('state', 'precopy', `shadow virtqueue failed: ${broken.join('; ')}`);
      return { pagesSent, dirtyPages: src.dirty.dirtyCount() };
    },
    suspendSource: async () => orReject(dev.suspend()),
    async drainInFlight() {
      let inFlight = 0;
      for (const [qi, s] of backend.shadows) {
        // the device is suspended: what it used is forwarded, the rest stays with the guest ring position
        await orReject(dev.getVringBase(qi));
        if (s.svq.state === 'running') s.svq.handleDeviceCall();
        inFlight += s.svq.inFlight();
      }
      const broken = svqFailures(backend);
      if (broken.length) throw deviceError('state', 'stop-and-copy', broken.join('; '));
      return { inFlight };
    },
    async saveRecord({ rounds, pagesSent, remaining }) {
      const offered = await orReject(dev.getFeatures());
      const backendFeatures = await orReject(dev.getBackendFeatures());
      const vrings: { index: number; base: number }[] = [];
      for (const q of backend.path.queues) {
        const s = backend.shadows.get(q.qi);
        if (s === undefined) {
          vrings.push({ index: q.qi, base: await orReject(dev.getVringBase(q.qi)) });
          continue;
        }
        // the destination re-reads the chains still in flight: the guest ring position before them
        const b = s.svq.guestRing.base();
        if (q.config.layout !== 'split' && s.svq.inFlight() > 0) throw deviceError('unsupported', 'stop-and-copy', `packed queue ${q.qi} with chains in flight`);
        vrings.push({ index: q.qi, base: q.config.layout === 'split' ? (b.availIdx - s.svq.inFlight()) & 0xffff : b.availIdx });
      }
      // assembled, not validated: the machine's recordValid guard decides
      const record = {
        format: MIGRATION_FORMAT,
        version: MIGRATION_RECORD_VERSION,
        device: JSON.parse(JSON.stringify(encodeStateJson(src.model()), big)) as unknown,
        features: { offered: hex(offered), negotiated: hex(src.negotiated), backend: hex(backendFeatures) },
        vrings,
        dirty: { pageSize: 4096, rounds, pagesSent, remaining },
      };
      return { record };
    },
    async rollbackSource({ svqEnabledByUs }) {
      await orReject(dev.resume());
      if (svqEnabledByUs && backend.mode === 'shadow') await switchTo('passthrough', { type: 'DISABLE', trigger: 'precopy-failed' });
    },
  };
  return { effects, svqActor };
}

// ------------------------------------------------------------------------------------------ destination

export interface DestinationOptions {
  readonly strategy: CvqStrategy;
  readonly ackTimeoutMs: number;
  readonly limits: DeviceLimits;
  /** Data ring size. */
  readonly queueSize: number;
}

/** What the destination built while restoring (tests and the CLI read it). */
export interface DestinationState {
  negotiated: bigint;
  cvq: ShadowCvq | undefined;
  engine: CvqEngine | undefined;
  path: DataPath | undefined;
  model: NetDeviceState | undefined;
  lifecycle: Actor<typeof deviceLifecycleMachine> | undefined;
}

export interface DestinationEffects {
  readonly [name: string]: Effect<never, unknown>;
  loadRecord: Effect<{ record: unknown }, { record: MigrationRecord }>;
  resetAndNegotiate: Effect<{ record: MigrationRecord }, { negotiated: string }>;
  restoreCvq: Effect<{ record: MigrationRecord }, CvqCommandOutput>;
  enableDataQueues: Effect<{ record: MigrationRecord }, void>;
  verifyAgainstRecord: Effect<{ record: MigrationRecord }, { equal: boolean; differences: string[] }>;
  rollbackDestination: Effect<void, void>;
}

const recordState = (r: MigrationRecord): NetDeviceState => {
  const s = decodeStateJson(r.device);
  if (E.isLeft(s)) throw { _tag: 'MigrationRecordError', paths: ['device'], message: s.left.message };
  return s.right;
};

/** The control virtqueue's index (virtio 1.2 §5.1.2): after the data queues, 2 without MQ. */
const cvqIndexOf = (dev: VdpaDevice, negotiated: bigint): E.Either<DeviceError, number> =>
  hasFeature(negotiated, 'MQ') ? E.map((n: number) => n - 1)(dev.getVqsCount()) : E.right(2);

export function destinationEffects(dev: VdpaDevice, opts: DestinationOptions): { readonly effects: DestinationEffects; readonly state: DestinationState } {
  const st: DestinationState = { negotiated: 0n, cvq: undefined, engine: undefined, path: undefined, model: undefined, lifecycle: undefined };
  const dataQueues = (r: MigrationRecord, cvq: number) => r.vrings.filter((v) => v.index !== cvq);
  const effects: DestinationEffects = {
    async loadRecord({ record }) {
      const r = decodeMigrationRecord(record, decodeStateJson);
      if (E.isLeft(r)) throw r.left;
      return { record: r.right };
    },
    async resetAndNegotiate({ record }) {
      st.lifecycle?.stop();
      const want = record.features.negotiated;
      const lc = createActor(deviceLifecycleMachine.provide({ actors: toActors(lifecycleEffects(dev)) as never }), { input: { wanted: want, required: '0x100000000' } });
      st.lifecycle = lc;
      lc.start();
      lc.send({ type: 'RESET' });
      await waitFor(lc, (s) => s.matches('reset') || s.matches('failed'));
      lc.send({ type: 'START' });
      const s = await waitFor(lc, (x) => x.matches({ active: { featuresOk: 'accepted' } }) || x.matches({ failed: 'givenUp' }) || x.matches('needsReset'));
      if (!s.matches({ active: { featuresOk: 'accepted' } })) throw deviceError('state', 'negotiation', s.context.error ?? 'device lifecycle failed');
      const negotiated = BigInt(s.context.negotiated);
      st.negotiated = negotiated;
      if (negotiated !== BigInt(want)) return { negotiated: hex(negotiated) }; // the machine refuses it
      await orReject(dev.setBackendFeatures(await orReject(dev.getBackendFeatures())));
      const qi = await orReject(cvqIndexOf(dev, negotiated));
      const asNum = await orReject(dev.getAsNum());
      const asid = asNum > 1 ? 1 : 0;
      if (asid !== 0) await orReject(dev.setGroupAsid(await orReject(dev.getVringGroup(qi)), asid));
      const cvq = createShadowCvq(dev, { qi, negotiated, asid });
      if (E.isLeft(cvq)) throw cvq.left;
      await orReject(programShadowCvq(dev, cvq.right));
      st.cvq = cvq.right;
      st.engine = new CvqEngine(dev, cvq.right);
      const path = createDataPath(dev, { queues: dataQueues(record, qi).map((v) => v.index), size: opts.queueSize, negotiated, enable: false });
      if (E.isLeft(path)) throw path.left;
      st.path = path.right;
      // vring state before DRIVER_OK (QEMU vhost_dev_start); the queues are enabled after the CVQ load
      for (const v of dataQueues(record, qi)) await orReject(dev.setVringBase(v.index, v.base));
      lc.send({ type: 'DRIVER_OK' });
      const run = await waitFor(lc, (x) => x.matches({ active: { driverOk: 'running' } }) || x.matches({ failed: 'givenUp' }));
      if (!run.matches({ active: { driverOk: 'running' } })) throw deviceError('state', 'DRIVER_OK', run.context.error ?? 'device lifecycle failed');
      return { negotiated: hex(negotiated) };
    },
    async restoreCvq({ record }) {
      if (st.engine === undefined) throw deviceError('state', 'restore', 'no shadow CVQ: negotiation did not finish');
      // the model starts as the device's reset state, with the MAC it was provisioned with (config space)
      const mac = hasFeature(st.negotiated, 'MAC') ? formatMac(await orReject(dev.getConfig(NET_CONFIG.mac, ETH_ALEN))) : '00:00:00:00:00:00';
      let model = resetNetState(mac, st.negotiated);
      const plan = planRestore(recordState(record), st.negotiated);
      const out = await runCvqCommands(st.engine, plan.map(toCvqCommand), { strategy: opts.strategy, ackTimeoutMs: opts.ackTimeoutMs });
      for (let i = 0; i < out.applied; i++) {
        const r = applyCommand(model, st.negotiated, opts.limits, plan[i]!.cmd);
        if (E.isLeft(r)) throw { _tag: 'RestoreModelError', message: `device acked ${plan[i]!.name} but the model refuses it: ${r.left.message}` };
        model = r.right;
      }
      st.model = model;
      return out;
    },
    async enableDataQueues({ record }) {
      const qi = st.cvq?.qi ?? -1;
      for (const v of dataQueues(record, qi)) await orReject(dev.setVringEnable(v.index, true));
      // chains the source left in flight are already on the guest rings: tell the device (QEMU kicks
      // every queue once the device runs; a device like vdpa_sim otherwise waits for the guest's next kick)
      for (const v of dataQueues(record, qi)) await orReject(dev.kick(v.index));
    },
    async verifyAgainstRecord({ record }) {
      const differences: string[] = [];
      const expected = viewThrough(recordState(record), st.negotiated);
      const model = st.model;
      if (model === undefined) differences.push('no restored model');
      else {
        for (const k of Object.keys(expected) as (keyof NetDeviceState)[]) {
          const a = JSON.stringify(model[k], big);
          const b = JSON.stringify(expected[k], big);
          if (a !== b) differences.push(`${k}: restored ${a.slice(0, 80)} ≠ record ${b.slice(0, 80)}`);
        }
      }
      if (hasFeature(st.negotiated, 'MAC')) {
        const seen = formatMac(await orReject(dev.getConfig(NET_CONFIG.mac, ETH_ALEN)));
        if (seen !== expected.mac) differences.push(`config space MAC ${seen} ≠ record ${expected.mac}`);
      }
      for (const v of dataQueues(record, st.cvq?.qi ?? -1)) {
        const b = await orReject(dev.getVringBase(v.index));
        if (b !== v.base) differences.push(`vring ${v.index} base ${b} ≠ record ${v.base}`);
      }
      return { equal: differences.length === 0, differences };
    },
    async rollbackDestination() {
      st.lifecycle?.stop();
      st.lifecycle = undefined;
      await orReject(dev.setStatus(0));
      if (st.cvq !== undefined) await orReject(destroyShadowCvq(dev, st.cvq));
      st.cvq = undefined;
      st.engine = undefined;
      st.model = undefined;
    },
  };
  return { effects, state: st };
}
