/**
 * Scripted harnesses: each machine's actors are settled by the path itself (src/mbt/runner.ts),
 * with outputs chosen so that each guarded edge's guards come out as the model step says, and the
 * machine's own invariants checked after every step. They exercise every event, guard, action and
 * delay of the real definitions without a device.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { AnyMachineSnapshot } from 'xstate';
import { deviceLifecycleMachine, type LifecycleContext } from '../../machines/device-lifecycle.js';
import { svqSwitchMachine, type SvqStep, type SvqSwitchContext } from '../../machines/svq-switch.js';
import { cvqCommandMachine, VIRTIO_NET_ERR, VIRTIO_NET_OK, type CvqAck, type CvqCommand, type CvqCommandContext } from '../../machines/cvq-command.js';
import { migrationMachine, type MigrationContext } from '../../machines/migration.js';
import { STATUS, statusConsistent, validateAccepted, formatStatus } from '../state/lifecycle.js';
import { decodeMigrationRecord, makeMigrationRecord, type MigrationRecord } from '../state/migration-record.js';
import { F, maskOf } from '../virtio/features.js';
import { scriptedHarness, type Harness } from './runner.js';
import type { ModelPath } from './paths.js';
import type { ModelEdge } from './model.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;
const inState = (s: AnyMachineSnapshot, v: string) => s.matches(v as never);

// ---------------------------------------------------------------------------------------------------
// device-lifecycle

/** vdpa_sim_net's offer (reference §2: 0x308830028) plus what a fuller NIC offers. */
export const SCRIPT_OFFER = 0x308830028n | maskOf(['CTRL_RX', 'CTRL_VLAN', 'MQ', 'CTRL_RX_EXTRA']);
export const SCRIPT_WANTED = maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'CTRL_VQ', 'CTRL_MAC_ADDR', 'MAC', 'CTRL_RX', 'CTRL_VLAN', 'STATUS', 'MTU']);

export function lifecycleInvariants(s: AnyMachineSnapshot): string[] {
  const c = s.context as LifecycleContext;
  const bad: string[] = [];
  if (!statusConsistent(c.status)) bad.push(`inconsistent status ${formatStatus(c.status)}`);
  if (inState(s, 'reset') && c.status !== 0) bad.push(`reset with status ${formatStatus(c.status)}`);
  if (inState(s, { active: 'driverOk' } as never) && !inState(s, { active: { driverOk: 'write' } } as never) && (c.status & STATUS.DRIVER_OK) === 0) {
    bad.push('driverOk without DRIVER_OK');
  }
  if (inState(s, { active: 'featuresOk' } as never) || inState(s, { active: 'driverOk' } as never)) {
    const v = validateAccepted(BigInt(c.offered), BigInt(c.negotiated));
    if (E.isLeft(v)) bad.push(`negotiated set invalid: ${v.left.message}`);
    if ((BigInt(c.negotiated) & ~BigInt(c.wanted)) !== 0n) bad.push('negotiated a feature the driver did not want');
  }
  if (inState(s, 'needsReset') && (c.status & STATUS.NEEDS_RESET) === 0) bad.push('needsReset without NEEDS_RESET');
  if (inState(s, { failed: 'givenUp' } as never) && c.error === null) bad.push('failed without a reason');
  return bad;
}

export const lifecycleScript = scriptedHarness({
  machine: deviceLifecycleMachine,
  input: () => ({ wanted: hex(SCRIPT_WANTED), resetTimeoutMs: 100 }),
  output(edge, view, actorInput) {
    const c = view.snapshot.context as LifecycleContext;
    switch (edge.trigger) {
      case 'resetDevice':
        return { status: 0 };
      case 'writeStatus':
        return { status: (actorInput as { status: number }).status };
      case 'writeFeatures':
        return { features: (actorInput as { features: string }).features };
      case 'readFeatures':
        // a device without VERSION_1 cannot be driven by a modern driver
        return { features: hex(edge.guard === 'negotiable' ? SCRIPT_OFFER : SCRIPT_OFFER & ~F.VERSION_1) };
      case 'readStatus':
        return { status: edge.guard === 'featuresAccepted' ? c.status : c.status & ~STATUS.FEATURES_OK };
      default:
        return undefined;
    }
  },
  invariants: (view) => lifecycleInvariants(view.snapshot),
});

// ---------------------------------------------------------------------------------------------------
// svq-switch

const ENABLE_STEPS: readonly SvqStep[] = ['suspended', 'bases-read', 'mapped', 'pointed'];
const DISABLE_STEPS: readonly SvqStep[] = ['suspended', 'drained', 'written-back', 'unmapped', 'pointed'];
const isPrefix = (p: readonly SvqStep[], of: readonly SvqStep[]) => p.length <= of.length && p.every((x, i) => of[i] === x);

export function svqInvariants(s: AnyMachineSnapshot): string[] {
  const c = s.context as SvqSwitchContext;
  const bad: string[] = [];
  if (inState(s, 'passthrough') && (c.mode !== 'passthrough' || c.progress.length)) bad.push(`passthrough with mode ${c.mode}, progress [${c.progress}]`);
  if (inState(s, 'shadow') && (c.mode !== 'shadow' || c.progress.length)) bad.push(`shadow with mode ${c.mode}, progress [${c.progress}]`);
  if (inState(s, 'enabling') && (c.mode !== 'passthrough' || !isPrefix(c.progress, ENABLE_STEPS))) bad.push(`enabling with progress [${c.progress}]`);
  if (inState(s, 'disabling') && (c.mode !== 'shadow' || !isPrefix(c.progress, DISABLE_STEPS))) bad.push(`disabling with progress [${c.progress}]`);
  if ((inState(s, { enabling: 'rollingBack' } as never) || inState(s, { disabling: 'rollingBack' } as never) || inState(s, 'failed')) && c.error === null) {
    bad.push('rolling back without an error');
  }
  if (inState(s, 'shadow') && c.bases.length !== c.queues.length) bad.push(`shadow mode without a base per queue (${c.bases.length}/${c.queues.length})`);
  return bad;
}

export const svqScript = scriptedHarness({
  machine: svqSwitchMachine,
  input: () => ({ queues: [0, 1, 2] }),
  event: (edge) => (edge.trigger === 'ENABLE' ? { type: 'ENABLE', trigger: 'migration' } : edge.trigger === 'DISABLE' ? { type: 'DISABLE', trigger: 'precopy-failed' } : { type: edge.trigger }),
  output(edge, _view, actorInput) {
    const queues = (actorInput as { queues?: number[] } | undefined)?.queues ?? [];
    if (edge.trigger === 'readVringBases') return { bases: queues.map((q) => 0x100 + q) };
    if (edge.trigger === 'drainShadow') return { handedBack: 2, bases: queues.map((q) => 0x140 + q) };
    return undefined;
  },
  invariants: (view) => svqInvariants(view.snapshot),
});

// ---------------------------------------------------------------------------------------------------
// cvq-command

/** VIRTIO_NET_CTRL_VLAN_ADD (class 2, command 0) with its le16 vid (virtio 1.2 §5.1.6.5.3). */
export const vlanAdd = (vid: number): CvqCommand => ({ name: `VLAN_ADD vid=${vid}`, class: 2, cmd: 0, payload: (vid & 0xff).toString(16).padStart(2, '0') + (vid >> 8).toString(16).padStart(2, '0') });
const cmd = vlanAdd;
export const ENQUEUE_BATCH = 3;

/** Whether the next awaitAcks of the path after step `from` wants more commands pending. */
const nextAckWantsMore = (path: ModelPath, from: number): boolean => {
  for (let i = from + 1; i < path.steps.length; i++) {
    const e = path.steps[i]!.edge;
    if (e.trigger === 'awaitAcks') return e.kind === 'done' && e.guard === 'hasPending';
    if (e.trigger === 'writeBatch') return false;
  }
  return false;
};

/** Commands the input queues up front: a batch when the path flushes with commands before any ENQUEUE. */
export function cvqInitialCommands(path: ModelPath): number {
  for (const { edge } of path.steps) {
    if (edge.type === 'ENQUEUE') return 0;
    if (edge.trigger === 'FLUSH') return edge.guard === 'hasPending' ? ENQUEUE_BATCH : 0;
  }
  return 0;
}

/** Replay the command counts a path implies; a reason when they cannot satisfy its guards. */
function cvqInfeasible(path: ModelPath): string | undefined {
  let commands = cvqInitialCommands(path);
  let cursor = 0;
  for (let i = 0; i < path.steps.length; i++) {
    const e = path.steps[i]!.edge;
    if (e.type === 'ENQUEUE') commands += ENQUEUE_BATCH;
    else if (e.trigger === 'FLUSH' && (e.guard === 'hasPending') !== commands > cursor) return 'FLUSH guard contradicts the queue';
    else if (e.type === 'done:writeBatch') cursor += nextAckWantsMore(path, i) ? 1 : commands - cursor;
    else if (e.trigger === 'awaitAcks' && e.kind === 'done' && e.guard === 'hasPending' && cursor >= commands) return 'no command left for another batch';
  }
  return undefined;
}

export function cvqInvariants(s: AnyMachineSnapshot): string[] {
  const c = s.context as CvqCommandContext;
  const bad: string[] = [];
  if (c.applied > c.cursor - c.inFlight) bad.push(`applied ${c.applied} commands beyond the acked ones (cursor ${c.cursor}, in flight ${c.inFlight})`);
  if (c.cursor > c.commands.length) bad.push('cursor past the queue');
  const failedState = ['ackErr', 'wrongLength', 'timedOut', 'deviceError'].some((v) => inState(s, v));
  if (failedState !== (c.failure !== null)) bad.push(`failure ${JSON.stringify(c.failure)} in ${JSON.stringify(s.value)}`);
  if (c.failure !== null) {
    if (c.commands[c.failure.index]?.name !== c.failure.command) bad.push(`failure names ${c.failure.command}, not command #${c.failure.index}`);
    if (!c.failure.message.includes(c.failure.command)) bad.push('failure message does not name the command');
    if (c.applied > c.failure.index) bad.push('a command at or after the failing one was applied');
  }
  if (inState(s, 'done') && c.applied !== c.commands.length) bad.push(`done with ${c.applied}/${c.commands.length} applied`);
  return bad;
}

export const cvqScript = scriptedHarness({
  machine: cvqCommandMachine,
  input: (path) => ({ strategy: 'parallel' as const, commands: Array.from({ length: cvqInitialCommands(path) }, (_, i) => cmd(i + 1)), ackTimeoutMs: 25 }),
  event: (edge, view) => {
    if (edge.trigger !== 'ENQUEUE') return { type: edge.trigger };
    const n = (view.snapshot.context as CvqCommandContext).commands.length;
    return { type: 'ENQUEUE', commands: Array.from({ length: ENQUEUE_BATCH }, (_, i) => cmd(n + i + 1)) };
  },
  output(edge, view, actorInput) {
    if (edge.trigger === 'writeBatch') {
      const { commands, first } = actorInput as { commands: readonly CvqCommand[]; first: number };
      const pending = commands.length - first;
      return { written: nextAckWantsMore(view.path, view.index) ? Math.min(1, pending) : pending };
    }
    if (edge.trigger === 'awaitAcks') {
      const { count } = actorInput as { count: number };
      const acks: CvqAck[] = Array.from({ length: count }, () => ({ len: 1, ack: VIRTIO_NET_OK }));
      if (edge.guard === 'wroteWrongLength') acks[count - 1] = { len: 2, ack: VIRTIO_NET_OK };
      if (edge.guard === 'ackedErr') acks[count - 1] = { len: 1, ack: VIRTIO_NET_ERR };
      return { acks };
    }
    return undefined;
  },
  error: (edge) =>
    edge.guard === 'ackTimedOut'
      ? { _tag: 'CvqError', kind: 'timeout', errno: 'ETIMEDOUT', message: 'ETIMEDOUT: 1 of 1 command(s) unanswered after 25 ms' }
      : new Error(`injected fault in ${edge.trigger}`),
  invariants: (view) => cvqInvariants(view.snapshot),
  infeasible: cvqInfeasible,
});

// ---------------------------------------------------------------------------------------------------
// migration

const THRESHOLD = 8;

export const SCRIPT_RECORD: MigrationRecord = E.getOrElseW((e: { message: string }) => {
  throw new Error(e.message);
})(
  makeMigrationRecord({
    device: { mac: '52:54:00:12:34:56' },
    offered: SCRIPT_OFFER,
    negotiated: SCRIPT_OFFER & SCRIPT_WANTED,
    backend: 0x17en,
    vrings: [
      { index: 0, base: 17 },
      { index: 1, base: 23 },
      { index: 2, base: 4 },
    ],
    dirty: { pageSize: 4096, rounds: 2, pagesSent: 300, remaining: 3 },
  }),
);

/**
 * maxRounds a path needs: every source session ending by the round limit after k unconverged rounds
 * needs maxRounds = k + 1; the others need more than their unconverged rounds.
 */
export function migrationMaxRounds(path: ModelPath): number | string {
  const sessions: { k: number; limit: boolean }[] = [];
  let cur: { k: number; limit: boolean } | undefined;
  for (const { edge } of path.steps) {
    if (edge.type === 'MIGRATE') sessions.push((cur = { k: 0, limit: false }));
    else if (edge.trigger === 'syncDirtyLog' && edge.kind === 'done' && cur) {
      if (edge.guard === 'roundLimitReached') cur.limit = true;
      else if (edge.guard === null) cur.k++;
    }
  }
  const limits = [...new Set(sessions.filter((s) => s.limit).map((s) => s.k))];
  if (limits.length > 1) return 'sessions hit the round limit after different round counts';
  if (limits.length === 0) return Math.max(0, ...sessions.map((s) => s.k)) + 2;
  const max = limits[0]! + 1;
  return sessions.every((s) => s.limit || s.k < max) ? max : 'a session ran more unconverged rounds than the limit allows';
}

export function migrationInvariants(s: AnyMachineSnapshot): string[] {
  const c = s.context as MigrationContext;
  const bad: string[] = [];
  if (inState(s, 'source') && c.role !== 'source') bad.push(`source with role ${c.role}`);
  if (inState(s, 'destination') && c.role !== 'destination') bad.push(`destination with role ${c.role}`);
  if (c.round > c.maxRounds) bad.push(`round ${c.round} beyond the limit ${c.maxRounds}`);
  if (inState(s, { source: 'completed' } as never) && (c.record === null || E.isLeft(decodeMigrationRecord(c.record)))) bad.push('completed without a valid record');
  if (inState(s, { source: 'cancelled' } as never) && c.svqEnabledByUs) bad.push('rolled back with SVQ still switched on by us');
  if (inState(s, { destination: 'running' } as never) && c.record === null) bad.push('running without a record');
  if ((inState(s, { source: 'cancelled' } as never) || inState(s, { destination: 'aborted' } as never) || inState(s, 'failed')) && c.error === null) {
    bad.push('rolled back without a reason');
  }
  // the snapshot must survive persistence at every step
  const json = JSON.stringify(s.context);
  if (JSON.stringify(JSON.parse(json)) !== json) bad.push('context is not JSON round-trippable');
  return bad;
}

export const migrationScript = scriptedHarness({
  machine: migrationMachine,
  input: (path) => {
    const r = migrationMaxRounds(path);
    return { dirtyThresholdPages: THRESHOLD, maxRounds: typeof r === 'number' ? r : 1 };
  },
  infeasible: (path) => {
    const r = migrationMaxRounds(path);
    return typeof r === 'string' ? r : undefined;
  },
  event: (edge) => (edge.trigger === 'INCOMING' ? { type: 'INCOMING', record: SCRIPT_RECORD } : edge.trigger === 'CANCEL' ? { type: 'CANCEL', reason: 'operator' } : { type: edge.trigger }),
  output(edge: ModelEdge, view) {
    const c = view.snapshot.context as MigrationContext;
    const ok = edge.guard !== null;
    switch (edge.trigger) {
      case 'enableSvq':
        return { switched: true };
      case 'syncDirtyLog':
        return { pagesSent: 64, dirtyPages: edge.guard === 'converged' ? THRESHOLD - 1 : THRESHOLD * 4 };
      case 'drainInFlight':
        return { inFlight: 0 };
      case 'saveRecord':
        return { record: ok ? SCRIPT_RECORD : { ...SCRIPT_RECORD, version: 99 } };
      case 'loadRecord':
        return { record: SCRIPT_RECORD };
      case 'resetAndNegotiate':
        return { negotiated: ok ? c.record!.features.negotiated : hex(F.VERSION_1) };
      case 'restoreCvq':
        return ok
          ? { ok: true, applied: 3, roundTrips: 1, failure: null }
          : { ok: false, applied: 1, roundTrips: 1, failure: { kind: 'ack-err', errno: 'EIO', index: 1, command: 'MQ_VQ_PAIRS_SET', message: 'EIO: device acked MQ_VQ_PAIRS_SET with VIRTIO_NET_ERR (1)' } };
      case 'verifyAgainstRecord':
        return ok ? { equal: true, differences: [] } : { equal: false, differences: ['mac 52:54:00:12:34:56 ≠ 00:00:00:00:00:00'] };
      default:
        return undefined;
    }
  },
  invariants: (view) => migrationInvariants(view.snapshot),
});

export const SCRIPTED_HARNESSES: readonly Harness[] = [lifecycleScript, svqScript, cvqScript, migrationScript];
