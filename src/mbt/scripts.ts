/**
 * Scripted harnesses: each machine's actors are settled by the path itself (src/mbt/runner.ts),
 * with outputs chosen so that each guarded edge's guards come out as the model step says, and the
 * machine's own invariants checked after every step. They exercise every event, guard, action and
 * delay of the real definitions without a device.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { AnyMachineSnapshot, AnyStateMachine, SnapshotFrom } from 'xstate';
import { deviceLifecycleMachine } from '../../machines/device-lifecycle.js';
import { svqSwitchMachine, type SvqStep } from '../../machines/svq-switch.js';
import { svqRelayoutMachine, type RelayoutStep } from '../../machines/svq-relayout.js';
import { cvqCommandMachine, VIRTIO_NET_ERR, VIRTIO_NET_OK, type CvqAck, type CvqCommand } from '../../machines/cvq-command.js';
import { migrationMachine, shadowBroken, type MigrationContext, type MigrationInput } from '../../machines/migration.js';
import { STATUS, statusConsistent, validateAccepted, formatStatus, negotiate } from '../state/lifecycle.js';
import { decodeStateJson, encodeStateJson } from '../state/json.js';
import { decodeMigrationRecord, makeMigrationRecord, type MigrationRecord } from '../state/migration-record.js';
import { resetNetState, vlanFilterOf } from '../state/net-state.js';
import { F, maskOf } from '../virtio/features.js';
import { gatedHarness, Infeasible, stubEffects, type Completion, type Gates, type Harness, type ModelEvent, type StepView } from './runner.js';
import type { ModelPath } from './paths.js';
import type { ModelEdge } from './model.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;

type LifecycleSnap = SnapshotFrom<typeof deviceLifecycleMachine>;
type SvqSnap = SnapshotFrom<typeof svqSwitchMachine>;
type RelayoutSnap = SnapshotFrom<typeof svqRelayoutMachine>;
type CvqSnap = SnapshotFrom<typeof cvqCommandMachine>;
type MigrationSnap = SnapshotFrom<typeof migrationMachine>;

// ---------------------------------------------------------------------------------------------------
// Scripted harnesses: every effect (children's included) is settled by the path itself.

export interface Script<M extends AnyStateMachine> {
  readonly machine: M;
  input(path: ModelPath): unknown;
  /** The event to send for an "event" edge (default `{ type: edge.trigger }`). */
  event?(edge: ModelEdge, view: StepView): ModelEvent;
  /** The output that makes a done completion's guards come out as the step says. */
  output?(c: Completion, view: StepView, actorInput: unknown): unknown;
  /** The error an error completion fails with (default an Error naming the fault). */
  error?(c: Completion, view: StepView): unknown;
  /** The child moves behind a snapshot edge or an invoked machine's done / error edge. */
  moves?(edge: ModelEdge, view: StepView, gates: Gates): Iterable<Completion>;
  readonly weights?: readonly ((edge: ModelEdge) => number)[];
  signature?(snapshot: AnyMachineSnapshot): string;
  impossible?(edge: ModelEdge): string | undefined;
  invariants?(view: StepView): string[];
  infeasible?(path: ModelPath): string | undefined;
}

export interface ScriptedHarness extends Harness {
  /** The script, so a variant (another machine, another output) can be built from it. */
  readonly script: Script<AnyStateMachine>;
}

/** A harness whose effects are settled by the path itself, on a simulated clock. */
export function scriptedHarness<M extends AnyStateMachine>(script: Script<M>): ScriptedHarness {
  const h = gatedHarness<M, undefined>({
    machine: script.machine,
    env: () => undefined,
    input: (path) => script.input(path),
    effects: () => stubEffects(script.machine),
    async complete(c, gates, _env, view) {
      const how = c.outcome === 'done' ? { output: script.output?.(c, view, gates.inputOf(c.path)) } : { error: script.error?.(c, view) ?? new Error(`injected fault in ${c.path}`) };
      gates.settle(c.path, how);
    },
    ...(script.moves ? { moves: (edge: ModelEdge, view: StepView, _env: undefined, gates: Gates) => script.moves!(edge, view, gates) } : {}),
    ...(script.event ? { event: (edge: ModelEdge, _env: undefined, view: StepView) => script.event!(edge, view) } : {}),
    invariants: (view) => script.invariants?.(view) ?? [],
    ...(script.infeasible ? { infeasible: (p: ModelPath) => script.infeasible!(p) } : {}),
    ...(script.weights ? { weights: script.weights } : {}),
    ...(script.signature ? { signature: (x: AnyMachineSnapshot) => script.signature!(x) } : {}),
    ...(script.impossible ? { impossible: (e: ModelEdge) => script.impossible!(e) } : {}),
  });
  return { ...h, script };
}

// ---------------------------------------------------------------------------------------------------
// device-lifecycle

/** vdpa_sim_net's offer (reference §2: 0x308830028) plus what a fuller NIC offers. */
export const SCRIPT_OFFER = 0x308830028n | maskOf(['CTRL_RX', 'CTRL_VLAN', 'MQ', 'CTRL_RX_EXTRA']);
export const SCRIPT_WANTED = maskOf(['VERSION_1', 'ACCESS_PLATFORM', 'CTRL_VQ', 'CTRL_MAC_ADDR', 'MAC', 'CTRL_RX', 'CTRL_VLAN', 'STATUS', 'MTU']);

/** What the script's device negotiated with the driver (an ATTACH takes it over). */
export const SCRIPT_NEGOTIATED = E.getOrElse(() => F.VERSION_1)(negotiate(SCRIPT_OFFER, SCRIPT_WANTED));
/** A running device's status (§3.1.1 step 8). */
export const RUNNING_STATUS = STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK;

export function lifecycleInvariants(s: LifecycleSnap): string[] {
  const c = s.context;
  const bad: string[] = [];
  if (!statusConsistent(c.status)) bad.push(`inconsistent status ${formatStatus(c.status)}`);
  if (s.matches('reset') && c.status !== 0) bad.push(`reset with status ${formatStatus(c.status)}`);
  if (s.matches({ active: 'driverOk' }) && !s.matches({ active: { driverOk: 'write' } }) && (c.status & STATUS.DRIVER_OK) === 0) bad.push('driverOk without DRIVER_OK');
  if (s.matches({ active: 'featuresOk' }) || s.matches({ active: 'driverOk' })) {
    const v = validateAccepted(BigInt(c.offered), BigInt(c.negotiated));
    if (E.isLeft(v)) bad.push(`negotiated set invalid: ${v.left.message}`);
    if ((BigInt(c.negotiated) & ~BigInt(c.wanted)) !== 0n) bad.push('negotiated a feature the driver did not want');
  }
  if (s.matches('needsReset') && (c.status & STATUS.NEEDS_RESET) === 0) bad.push('needsReset without NEEDS_RESET');
  if (s.matches({ failed: 'givenUp' }) && c.error === null) bad.push('failed without a reason');
  return bad;
}

/** A device-lifecycle effect's scripted output, given the lifecycle's snapshot (its guards as the completion says; "ok": the path onward). */
export function lifecycleOutput(c: Completion, s: LifecycleSnap, actorInput: unknown, offer: bigint = SCRIPT_OFFER): unknown {
  const op = c.path.split('.').pop();
  switch (op) {
    case 'resetDevice':
      return { status: 0 };
    case 'writeStatus':
      return { status: (actorInput as { status: number }).status };
    case 'writeFeatures':
      return { features: (actorInput as { features: string }).features };
    case 'readFeatures':
      // a device without VERSION_1 cannot be driven by a modern driver; "other-features": an offer without CTRL_VLAN
      return { features: hex(c.guard !== 'negotiable' && c.guard !== 'ok' ? offer & ~F.VERSION_1 : c.fault === 'other-features' ? offer & ~F.CTRL_VLAN : offer) };
    case 'readStatus':
      if (s.matches('attaching')) return { status: c.guard === 'driverOkSet' || c.guard === 'ok' ? RUNNING_STATUS : 0 };
      return { status: c.guard === 'featuresAccepted' || c.guard === 'ok' ? s.context.status : s.context.status & ~STATUS.FEATURES_OK };
    default:
      return undefined;
  }
}

const lifecycleEvent = (edge: ModelEdge): ModelEvent =>
  edge.trigger === 'ATTACH' ? { type: 'ATTACH', offered: hex(SCRIPT_OFFER), negotiated: hex(SCRIPT_NEGOTIATED) } : { type: edge.trigger };

export const lifecycleScript = scriptedHarness({
  machine: deviceLifecycleMachine,
  input: () => ({ wanted: hex(SCRIPT_WANTED), resetTimeoutMs: 100 }),
  event: lifecycleEvent,
  output: (c, view, actorInput) => lifecycleOutput(c, view.snapshot as LifecycleSnap, actorInput),
  invariants: (view) => lifecycleInvariants(view.snapshot as LifecycleSnap),
});

// ---------------------------------------------------------------------------------------------------
// svq-switch

const ENABLE_STEPS: readonly SvqStep[] = ['suspended', 'bases-read', 'mapped', 'pointed'];
const DISABLE_STEPS: readonly SvqStep[] = ['suspended', 'drained', 'written-back', 'unmapped', 'pointed'];
const isPrefix = (p: readonly SvqStep[], of: readonly SvqStep[]) => p.length <= of.length && p.every((x, i) => of[i] === x);

export function svqInvariants(s: SvqSnap): string[] {
  const c = s.context;
  const bad: string[] = [];
  if (s.matches('passthrough') && (c.mode !== 'passthrough' || c.progress.length)) bad.push(`passthrough with mode ${c.mode}, progress [${c.progress}]`);
  if (s.matches('shadow') && (c.mode !== 'shadow' || c.progress.length)) bad.push(`shadow with mode ${c.mode}, progress [${c.progress}]`);
  if (s.matches('enabling') && (c.mode !== 'passthrough' || !isPrefix(c.progress, ENABLE_STEPS))) bad.push(`enabling with progress [${c.progress}]`);
  if (s.matches('disabling') && (c.mode !== 'shadow' || !isPrefix(c.progress, DISABLE_STEPS))) bad.push(`disabling with progress [${c.progress}]`);
  if ((s.matches({ enabling: 'rollingBack' }) || s.matches({ disabling: 'rollingBack' }) || s.matches('failed')) && c.error === null) bad.push('rolling back without an error');
  if (s.matches('shadow') && c.bases.length !== c.queues.length) bad.push(`shadow mode without a base per queue (${c.bases.length}/${c.queues.length})`);
  return bad;
}

export const svqEvent = (edge: ModelEdge): ModelEvent =>
  edge.trigger === 'ENABLE' ? { type: 'ENABLE', trigger: 'migration' } : edge.trigger === 'DISABLE' ? { type: 'DISABLE', trigger: 'precopy-failed' } : { type: edge.trigger };

/** An svq-switch effect's scripted output. */
export function svqOutput(c: Completion, actorInput: unknown): unknown {
  const queues = (actorInput as { queues?: number[] } | undefined)?.queues ?? [];
  const op = c.path.split('.').pop();
  if (op === 'readVringBases') return { bases: queues.map((q) => 0x100 + q) };
  if (op === 'drainShadow') return { handedBack: 2, bases: queues.map((q) => 0x140 + q) };
  return undefined;
}

export const svqScript = scriptedHarness({
  machine: svqSwitchMachine,
  input: () => ({ queues: [0, 1, 2] }),
  event: svqEvent,
  output: (c, _view, actorInput) => svqOutput(c, actorInput),
  invariants: (view) => svqInvariants(view.snapshot as SvqSnap),
});

// ---------------------------------------------------------------------------------------------------
// svq-relayout

const RELAYOUT_STEPS: readonly RelayoutStep[] = ['suspended', 'drained', 'mapped', 'pointed', 'forwarding'];
/** The two geometries a relayout alternates between (a scripted device's; the simulator's are its own). */
export const RELAYOUT_SIZES = [256, 128] as const;

export function relayoutInvariants(s: RelayoutSnap): string[] {
  const c = s.context;
  const bad: string[] = [];
  if (s.matches('shadow') && (c.progress.length > 0 || c.target !== null)) bad.push(`shadow with progress [${c.progress}], target ${c.target}`);
  if (s.matches('relayouting')) {
    const prefix = c.progress.length <= RELAYOUT_STEPS.length && c.progress.every((x, i) => RELAYOUT_STEPS[i] === x);
    if (!prefix) bad.push(`relayouting with progress [${c.progress}]`);
    if (c.target === null) bad.push('relayouting without a target geometry');
  }
  if ((s.matches({ relayouting: 'rollingBack' }) || s.matches('failed')) && c.error === null) bad.push('rolling back without an error');
  if (!Number.isInteger(c.size) || c.size <= 0) bad.push(`shadow rings of ${c.size} entries`);
  return bad;
}

/** RELAYOUT onto the geometry the machine is not on. */
export const relayoutEvent = (edge: ModelEdge, size: number, sizes: readonly [number, number] = RELAYOUT_SIZES): ModelEvent =>
  edge.trigger === 'RELAYOUT' ? { type: 'RELAYOUT', size: size === sizes[0] ? sizes[1] : sizes[0] } : { type: edge.trigger };

export const relayoutScript = scriptedHarness({
  machine: svqRelayoutMachine,
  input: () => ({ queues: [0, 1], size: RELAYOUT_SIZES[0] }),
  event: (edge, view) => relayoutEvent(edge, (view.snapshot as RelayoutSnap).context.size),
  output: (c) => (c.path.split('.').pop() === 'drainShadow' ? { handedOver: 3 } : undefined),
  invariants: (view) => relayoutInvariants(view.snapshot as RelayoutSnap),
});

// ---------------------------------------------------------------------------------------------------
// cvq-command

/** VIRTIO_NET_CTRL_VLAN_ADD (class 2, command 0) with its le16 vid (virtio 1.2 §5.1.6.5.3). */
export const vlanAdd = (vid: number): CvqCommand => ({ name: `VLAN_ADD vid=${vid}`, class: 2, cmd: 0, payload: (vid & 0xff).toString(16).padStart(2, '0') + (vid >> 8).toString(16).padStart(2, '0') });
const cmd = vlanAdd;
export const ENQUEUE_BATCH = 3;

/** The effect paths of the CVQ port's ops (relative to machines/cvq-command). */
export const WRITE_BATCH = 'cvqPort.writeBatch';
export const AWAIT_ACKS = 'cvqPort.awaitAcks';
export const EXCHANGE = 'cvqPort.exchange';
/** The guard of an all-OK ack that leaves commands for another batch (or exchange). */
const MORE = 'isReply&hasPending';
/** The FLUSH candidate that starts the serial strategy's exchanges. */
const SERIAL_FLUSH = 'hasPending&isSerial';

/** An edge answering with acks: a batch's (awaitAcks) or one serial command's (exchange). */
export const isAckEdge = (e: ModelEdge): boolean => e.trigger === AWAIT_ACKS || e.trigger === EXCHANGE;
/** Whether the FLUSH edge finds commands pending. */
const flushFindsPending = (e: ModelEdge): boolean => e.guard === 'hasPending' || e.guard === SERIAL_FLUSH;

/** Whether the next batch's ack of the path after step `from` wants more commands pending. */
const nextAckWantsMore = (path: ModelPath, from: number): boolean => {
  for (let i = from + 1; i < path.steps.length; i++) {
    const e = path.steps[i]!.edge;
    if (e.trigger === AWAIT_ACKS) return e.kind === 'done' && e.guard === MORE;
    if (e.trigger === WRITE_BATCH) return false;
  }
  return false;
};

/** Whether a path runs the serial strategy (its FLUSH starts the exchanges). */
export const isSerialPath = (path: ModelPath): boolean => path.steps.some((s) => s.edge.trigger === 'FLUSH' && s.edge.guard === SERIAL_FLUSH);
/** The strategy a path's input must name. */
export const cvqStrategyFor = (path: ModelPath): 'serial' | 'parallel' => (isSerialPath(path) ? 'serial' : 'parallel');

/** Whether a parallel path makes several batches (a device must then take one command per batch). */
export const wantsMoreBatches = (path: ModelPath): boolean => path.steps.some((s) => s.edge.trigger === AWAIT_ACKS && s.edge.guard === MORE);

/** Commands one ENQUEUE adds on this path: one per serial exchange, a batch otherwise. */
export const enqueueSize = (path: ModelPath): number => (isSerialPath(path) ? 1 : ENQUEUE_BATCH);

/**
 * Commands the input queues up front. Parallel: a batch when the path flushes with commands before any
 * ENQUEUE. Serial: as many as the path exchanges (one more than its all-OK-with-more acks), less what
 * its ENQUEUEs add — so a path that ends `done` has sent exactly its queue.
 */
export function cvqInitialCommands(path: ModelPath): number {
  let enqueues = 0;
  for (const { edge } of path.steps) {
    if (edge.type === 'ENQUEUE') enqueues++;
    else if (edge.trigger === 'FLUSH') {
      if (!flushFindsPending(edge)) return 0;
      if (edge.guard === SERIAL_FLUSH) return Math.max(0, 1 + path.steps.filter((s) => s.edge.trigger === EXCHANGE && s.edge.guard === MORE).length - enqueues);
      return enqueues > 0 ? 0 : ENQUEUE_BATCH;
    }
  }
  return 0;
}

/** Replay the command counts a path implies; a reason when they cannot satisfy its guards. */
function cvqInfeasible(path: ModelPath): string | undefined {
  let commands = cvqInitialCommands(path);
  let cursor = 0;
  for (let i = 0; i < path.steps.length; i++) {
    const e = path.steps[i]!.edge;
    if (e.type === 'ENQUEUE') commands += enqueueSize(path);
    else if (e.trigger === 'FLUSH') {
      if (flushFindsPending(e) !== commands > cursor) return 'FLUSH guard contradicts the queue';
      if (e.guard === SERIAL_FLUSH) cursor++;
    } else if (e.trigger === WRITE_BATCH && e.kind === 'done') cursor += nextAckWantsMore(path, i) ? 1 : commands - cursor;
    else if (isAckEdge(e) && e.kind === 'done' && e.guard === MORE) {
      if (cursor >= commands) return 'no command left for another batch';
      if (e.trigger === EXCHANGE) cursor++;
    } else if (e.trigger === EXCHANGE && e.kind === 'done' && e.guard === 'isReply' && cursor < commands)
      return `${commands - cursor} command(s) still queued after the last exchange: its ENQUEUEs queue more than it sends`;
  }
  return undefined;
}

export function cvqInvariants(s: CvqSnap): string[] {
  const c = s.context;
  const bad: string[] = [];
  if (c.applied > c.cursor - c.inFlight) bad.push(`applied ${c.applied} commands beyond the acked ones (cursor ${c.cursor}, in flight ${c.inFlight})`);
  if (c.cursor > c.commands.length) bad.push('cursor past the queue');
  const failedState = ['ackErr', 'wrongLength', 'timedOut', 'needsReset', 'deviceError'].some((v) => s.matches(v as 'ackErr'));
  if (failedState !== (c.failure !== null)) bad.push(`failure ${JSON.stringify(c.failure)} in ${JSON.stringify(s.value)}`);
  if (c.failure !== null) {
    if (c.commands[c.failure.index]?.name !== c.failure.command) bad.push(`failure names ${c.failure.command}, not command #${c.failure.index}`);
    if (!c.failure.message.includes(c.failure.command)) bad.push('failure message does not name the command');
    if (c.applied > c.failure.index) bad.push('a command at or after the failing one was applied');
  }
  if (s.matches('done') && c.applied !== c.commands.length) bad.push(`done with ${c.applied}/${c.commands.length} applied`);
  return bad;
}

/** A cvq-command port op's scripted output (`nack`: the batch's last command acked ERR). */
export function cvqOutput(c: Completion, view: StepView, actorInput: unknown): unknown {
  if (c.path.endsWith(WRITE_BATCH)) {
    // a malformed reply: the machine's own action fails on it (the machine errors as an actor)
    if (c.fault === 'malformed') return undefined;
    const { commands, first } = actorInput as { commands: readonly CvqCommand[]; first: number };
    const pending = commands.length - first;
    return { written: c.fault === undefined && nextAckWantsMore(view.path, view.index) ? Math.min(1, pending) : pending };
  }
  if (c.path.endsWith(AWAIT_ACKS) || c.path.endsWith(EXCHANGE)) {
    const count = c.path.endsWith(EXCHANGE) ? 1 : (actorInput as { count: number }).count;
    const acks: CvqAck[] = Array.from({ length: count }, () => ({ len: 1, ack: VIRTIO_NET_OK }));
    if (c.guard === 'wroteWrongLength') acks[count - 1] = { len: 2, ack: VIRTIO_NET_OK };
    if (c.guard === 'ackedErr' || c.fault === 'nack') acks[count - 1] = { len: 1, ack: VIRTIO_NET_ERR };
    if (c.guard === 'unanswered') acks[count - 1] = { len: -1, ack: 0 };
    return { acks };
  }
  return undefined;
}

export const cvqError = (c: Completion): unknown =>
  c.guard === 'ackTimedOut'
    ? { _tag: 'CvqError', kind: 'timeout', errno: 'ETIMEDOUT', message: 'ETIMEDOUT: 1 of 1 command(s) unanswered after 25 ms' }
    : c.guard === 'deviceNeedsReset'
      ? { _tag: 'CvqError', kind: 'needs-reset', errno: 'EIO', message: 'EIO: the device set NEEDS_RESET' }
      : new Error(`injected fault in ${c.path}`);

export const cvqEnqueue = (s: CvqSnap, path: ModelPath, make: (i: number) => CvqCommand = (i) => cmd(i + 1)): ModelEvent => {
  const n = s.context.commands.length;
  return { type: 'ENQUEUE', commands: Array.from({ length: enqueueSize(path) }, (_, i) => make(n + i)) };
};

export const cvqScript = scriptedHarness({
  machine: cvqCommandMachine,
  input: (path) => ({ strategy: cvqStrategyFor(path), commands: Array.from({ length: cvqInitialCommands(path) }, (_, i) => cmd(i + 1)), ackTimeoutMs: 25 }),
  event: (edge, view) => (edge.trigger === 'ENQUEUE' ? cvqEnqueue(view.snapshot as CvqSnap, view.path) : { type: edge.trigger }),
  output: cvqOutput,
  error: cvqError,
  invariants: (view) => cvqInvariants(view.snapshot as CvqSnap),
  infeasible: cvqInfeasible,
});

// ---------------------------------------------------------------------------------------------------
// migration

const THRESHOLD = 8;

const bigintJson = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_, v: unknown) => (typeof v === 'bigint' ? hex(v) : v)));

/** The device state the scripted record carries (a VLAN filter, so the restore plan has several commands). */
export const SCRIPT_STATE = { ...resetNetState('52:54:00:12:34:56', SCRIPT_NEGOTIATED), vlanFilter: vlanFilterOf([100, 200]) };

export const SCRIPT_RECORD: MigrationRecord = E.getOrElseW((e: { message: string }) => {
  throw new Error(e.message);
})(
  makeMigrationRecord(
    {
      device: bigintJson(encodeStateJson(SCRIPT_STATE)),
      offered: SCRIPT_OFFER,
      negotiated: SCRIPT_NEGOTIATED,
      backend: 0x17en,
      vrings: [
        { index: 0, base: 17 },
        { index: 1, base: 23 },
      ],
      dirty: { pageSize: 4096, rounds: 2, pagesSent: 300, remaining: 3 },
    },
    decodeStateJson,
  ),
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

export function migrationInvariants(s: MigrationSnap): string[] {
  const c = s.context;
  const bad: string[] = [];
  if (s.matches('source') && c.role !== 'source') bad.push(`source with role ${c.role}`);
  if (s.matches('destination') && c.role !== 'destination') bad.push(`destination with role ${c.role}`);
  if (c.round > c.maxRounds) bad.push(`round ${c.round} beyond the limit ${c.maxRounds}`);
  if (s.matches({ source: 'completed' }) && (c.record === null || E.isLeft(decodeMigrationRecord(c.record)))) bad.push('completed without a valid record');
  if (s.matches({ source: 'completed' }) && c.device !== 'suspended') bad.push(`completed with the device ${c.device}`);
  if (s.matches({ source: 'cancelled' }) && c.svqEnabledByUs) bad.push('rolled back with SVQ still switched on by us');
  if (s.matches({ source: 'cancelled' }) && c.device === 'suspended') bad.push('rolled back with the device still suspended');
  if (s.matches({ source: 'cancelled' }) && c.dataPathDown) bad.push('rolled back with the shadow data path dead (stopped or broken, not restarted)');
  if (c.dataPathDown && !s.matches({ source: { active: { stopAndCopy: 'saving' } } }) && !s.matches({ source: 'completed' }) && !s.matches({ source: 'rollingBack' }) && !s.matches('failed'))
    bad.push(`the data path down in ${JSON.stringify(s.value)}`);
  if (s.matches({ source: { active: 'precopy' } }) && c.svq !== 'shadow' && c.svqEnabledByUs) bad.push(`precopy with SVQ ${c.svq}`);
  if (s.matches({ destination: 'running' }) && (c.record === null || c.device !== 'running')) bad.push(`running with the device ${c.device}${c.record === null ? ', no record' : ''}`);
  if (s.matches({ destination: 'aborted' }) && c.device !== 'reset') bad.push(`aborted with the device ${c.device}`);
  if ((s.matches({ source: 'cancelled' }) || s.matches({ destination: 'aborted' }) || s.matches('failed')) && c.error === null) bad.push('rolled back without a reason');
  // the children as the machine tracks them are the children as they are
  const dev = s.children.device?.getSnapshot() as LifecycleSnap | undefined;
  const svq = s.children.svq?.getSnapshot() as SvqSnap | undefined;
  if (svq !== undefined && svq.status === 'active') {
    const mode = svq.matches('passthrough') ? 'passthrough' : svq.matches('shadow') ? 'shadow' : svq.matches('failed') ? 'failed' : 'switching';
    if (mode !== c.svq) bad.push(`svq-switch is ${mode}, the migration says ${c.svq}`);
  }
  if (dev !== undefined && dev.status === 'active' && dev.matches({ active: { driverOk: 'suspended' } }) !== (c.device === 'suspended')) bad.push(`device-lifecycle in ${JSON.stringify(dev.value)}, the migration says ${c.device}`);
  // the snapshot must survive persistence at every step
  const json = JSON.stringify(s.context);
  if (JSON.stringify(JSON.parse(json)) !== json) bad.push('context is not JSON round-trippable');
  return bad;
}

/** The migration's guards that read only its context (what its children showed): a step needing another value is infeasible there. */
export const MIGRATION_CONTEXT_GUARDS: Readonly<Record<string, (c: MigrationContext) => boolean>> = {
  svqOnByUs: (c) => c.svq === 'shadow' && c.svqEnabledByUs,
  svqSwitching: (c) => c.svq === 'switching',
  svqFailed: (c) => c.svq === 'failed',
  dataPathDown: (c) => c.dataPathDown,
  deviceSuspended: (c) => c.device === 'suspended',
};

/** Throw `Infeasible` when `edge`'s context-only guards do not come out as it needs in `c`. */
export function checkContextGuards(edge: ModelEdge, c: MigrationContext): void {
  const here = `svq ${c.svq}, device ${c.device}${c.svqEnabledByUs ? ', SVQ on by this migration' : ''}${c.dataPathDown ? ', the shadow data path down' : ''}`;
  for (const g of edge.notGuards) if (MIGRATION_CONTEXT_GUARDS[g]?.(c) === true) throw new Infeasible(`${g} holds here (${here})`);
  if (edge.guard !== null && MIGRATION_CONTEXT_GUARDS[edge.guard]?.(c) === false) throw new Infeasible(`${edge.guard} does not hold here (${here})`);
}

export const DEVICE = 'deviceLifecycle.';
export const SVQ = 'svqSwitch.';
export const CVQ = 'cvqCommand.';
const ENABLE_OPS = ['suspendDevice', 'readVringBases', 'mapShadowRings', 'pointToShadow', 'resumeDevice'] as const;
const DISABLE_OPS = ['suspendDevice', 'drainShadow', 'writeBackIndexes', 'unmapShadowRings', 'pointToGuest', 'resumeDevice'] as const;
const NEGOTIATE_OPS = ['resetDevice', 'writeStatus', 'writeStatus', 'readFeatures', 'writeFeatures', 'writeStatus', 'readStatus'] as const;

/** Edges of machines/migration no run can take (dead candidates of its definition), with the reason. */
export const SUSPENDING_NEVER_FAILS =
  'device-lifecycle leaves driverOk.suspending for suspended, or back to running when SUSPEND is refused: no event or effect of a migration fails it there, so this candidate is dead';
export const ENABLE_NEVER_SUSPENDED =
  'svq-switch is switching (enabling) only between setup and precopy, while the device runs (SUSPEND comes in stopAndCopy): an enable never ends with the device suspended, so this candidate is dead';
export function migrationImpossible(edge: ModelEdge): string | undefined {
  if (edge.source.endsWith('stopAndCopy.suspending') && edge.guard === 'deviceIs(failed)') return SUSPENDING_NEVER_FAILS;
  if (edge.source.endsWith('rollingBack.awaitingSvq') && edge.guard === 'svqOffDeviceSuspended') return ENABLE_NEVER_SUSPENDED;
  return undefined;
}

/** Why the sim cannot make machines/cvq-command fail as an actor. */
export const CVQ_NEVER_ERRORS = 'cvq-command never fails as an actor on a device: its port answers every failed writeBatch / awaitAcks with a reply the machine turns into its output';

/** Phases where the device-lifecycle child answers with one effect: the guard of it passing, of it failing. */
const ONE_EFFECT: Readonly<Record<string, { readonly effect: string; readonly ok: string; readonly fail: string }>> = {
  'source.attaching': { effect: 'readStatus', ok: 'deviceIs(running)', fail: 'attachRefused' },
  'source.active.stopAndCopy.suspending': { effect: 'suspendDevice', ok: 'deviceIs(suspended)', fail: 'suspendRefused' },
  'source.rollingBack.resuming': { effect: 'resumeDevice', ok: 'deviceIs(running)', fail: 'deviceIs(failed)' },
  'destination.active.startingDriver': { effect: 'writeStatus', ok: 'deviceIs(running)', fail: 'deviceIs(failed)' },
  'destination.rollingBack.resetting': { effect: 'resetDevice', ok: 'deviceIs(reset)', fail: 'deviceIs(failed)' },
};

/**
 * The children's effect completions that make the migration take `edge` (a child's snapshot, or the
 * invoked cvq-command's done / error): device-lifecycle, svq-switch and cvq-command moved one effect at a
 * time, each completion `ok` or failing (a named fault where the device must answer otherwise).
 * A guard over the child alone is the child's; one that also reads the migration's context is checked.
 * (Long: one case per kind of child edge of the composed migration.)
 */
export function* migrationMoves(edge: ModelEdge, view: StepView, gates: Gates): Generator<Completion> {
  const c = (view.snapshot as MigrationSnap).context;
  const mv = (path: string, outcome: 'done' | 'error' = 'done', fault?: string): Completion => ({ path, outcome, guard: outcome === 'done' ? 'ok' : null, edge, ...(fault === undefined ? {} : { fault }) });
  const pending = (prefix: string) => gates.pendingPaths().find((p) => p.startsWith(prefix));
  const local = edge.source.slice(`${migrationMachine.id}.`.length);
  const g = edge.guard;
  const auto = (): never => {
    throw new Infeasible(`the ${edge.trigger} child emits a snapshot no guard takes only when the event that entered ${local} reaches it`);
  };
  if (edge.kind !== 'snapshot') {
    if (edge.kind === 'error') {
      yield mv(`${CVQ}cvqPort.writeBatch`, 'done', 'malformed');
      return;
    }
    // the whole restore plan, batch by batch; a refused restore: the first batch's last command NACKed
    let nack = g === null;
    for (let i = 0; i < 10_000; i++) {
      const p = pending(CVQ);
      if (p === undefined) return;
      yield mv(p, 'done', nack ? 'nack' : undefined);
      if (p.endsWith('awaitAcks')) nack = false;
    }
    return;
  }
  if (g === null && edge.notGuards.length === 0) {
    // the source's / destination's own onSnapshot (or the restarting svq-switch's): any step of the child
    const p = pending(edge.trigger === 'svq' || edge.trigger === 'svqRestart' ? SVQ : DEVICE);
    if (p === undefined) throw new Infeasible(`the ${edge.trigger} child has no effect running in ${local}: nothing makes it emit a snapshot`);
    yield mv(p);
    return;
  }
  const one = ONE_EFFECT[local];
  if (one !== undefined) {
    if (g === one.ok) yield mv(`${DEVICE}${one.effect}`);
    else if (g === one.fail) yield mv(`${DEVICE}${one.effect}`, 'error');
    else if (migrationImpossible(edge) !== undefined) throw new Infeasible(migrationImpossible(edge)!);
    else auto();
    return;
  }
  switch (local) {
    case 'source.active.setup.switchingSvq':
      if (g === 'svqIs(shadow)') for (const op of ENABLE_OPS) yield mv(`${SVQ}${op}`);
      else if (g === 'svqEnableFailed' || g === 'svqIs(failed)') {
        yield* [mv(`${SVQ}suspendDevice`), mv(`${SVQ}readVringBases`), mv(`${SVQ}mapShadowRings`, 'error'), mv(`${SVQ}rollback`, g === 'svqEnableFailed' ? 'done' : 'error')];
      } else auto();
      return;
    case 'source.rollingBack.awaitingSvq': {
      const p = pending(SVQ);
      if (p === undefined) throw new Infeasible('the svq-switch child has no step running');
      const op = p.slice(SVQ.length);
      const at = ENABLE_OPS.indexOf(op as (typeof ENABLE_OPS)[number]);
      if (at < 0) throw new Infeasible(`the svq-switch child runs ${op}, not a step of its enable`);
      const fail = (rollback: 'done' | 'error') =>
        op === 'suspendDevice' ? [mv(p), mv(`${SVQ}readVringBases`, 'error'), mv(`${SVQ}rollback`, rollback)] : [mv(p, 'error'), mv(`${SVQ}rollback`, rollback)];
      if (g === 'svqIs(shadow)') for (const o of ENABLE_OPS.slice(at)) yield mv(`${SVQ}${o}`);
      else if (g === 'svqIs(failed)') yield* fail('error');
      else if (g === 'svqOffDeviceSuspended') throw new Infeasible(ENABLE_NEVER_SUSPENDED);
      else if (g === 'svqOffDeviceRunning') yield* fail('done');
      else if (op === 'resumeDevice') throw new Infeasible('the switch is at its last step: its next snapshot is a stable mode');
      else yield mv(p);
      return;
    }
    case 'source.rollingBack.restartingSvq.starting': {
      // x-svq=on's SVQ started again by a fresh svq-switch: its enable, from the step it is at
      const p = pending(SVQ);
      if (p === undefined) throw new Infeasible('the restarting svq-switch has no step running');
      const op = p.slice(SVQ.length);
      const at = ENABLE_OPS.indexOf(op as (typeof ENABLE_OPS)[number]);
      if (at < 0) throw new Infeasible(`the restarting svq-switch runs ${op}, not a step of its enable`);
      if (g === 'svqOnDeviceSuspended' || g === 'svqOnDeviceRunning') {
        if ((g === 'svqOnDeviceSuspended') !== (c.device === 'suspended')) throw new Infeasible(`${g} needs the device ${g === 'svqOnDeviceSuspended' ? '' : 'not '}suspended; it is ${c.device}`);
        for (const o of ENABLE_OPS.slice(at)) yield mv(`${SVQ}${o}`);
      } else if (g === 'svqEnableFailed' || g === 'svqIs(failed)') {
        const rollback = g === 'svqEnableFailed' ? 'done' : 'error';
        if (op === 'suspendDevice') yield* [mv(p), mv(`${SVQ}readVringBases`, 'error'), mv(`${SVQ}rollback`, rollback)];
        else yield* [mv(p, 'error'), mv(`${SVQ}rollback`, rollback)];
      } else auto();
      return;
    }
    case 'source.rollingBack.switchingSvqOff':
      if (g === 'svqOffDeviceSuspended' || g === 'svqOffDeviceRunning') {
        if ((g === 'svqOffDeviceSuspended') !== (c.device === 'suspended')) throw new Infeasible(`${g} needs the device ${g === 'svqOffDeviceSuspended' ? '' : 'not '}suspended; it is ${c.device}`);
        for (const op of DISABLE_OPS) yield mv(`${SVQ}${op}`);
      } else if (g === 'svqIs(shadow)' || g === 'svqIs(failed)') {
        yield* [mv(`${SVQ}suspendDevice`), mv(`${SVQ}drainShadow`, 'error'), mv(`${SVQ}rollback`, g === 'svqIs(shadow)' ? 'done' : 'error')];
      } else auto();
      return;
    case 'destination.active.negotiating':
      if (g === 'featuresMatchRecord' || g === 'deviceIs(accepted)') {
        for (const op of NEGOTIATE_OPS) yield mv(`${DEVICE}${op}`, 'done', op === 'readFeatures' && g !== 'featuresMatchRecord' ? 'other-features' : undefined);
      } else if (g === 'deviceIs(failed)') {
        for (const op of NEGOTIATE_OPS.slice(0, 4)) yield mv(`${DEVICE}${op}`);
        yield mv(`${DEVICE}writeFeatures`, 'error');
      } else auto();
      return;
    default:
      throw new Error(`no child moves for ${edgeKeyOf(edge)}`);
  }
}

const edgeKeyOf = (e: ModelEdge) => `${e.source} --${e.type}-->`;

/**
 * x-svq=on (the data queues shadowed before the migration) skips the switch: the shortest paths once as
 * they are (through it: rollbacks with SVQ left on), once taking it only where they must (through the
 * switch: rollbacks that switch SVQ off).
 */
export const MIGRATION_WEIGHTS: readonly ((edge: ModelEdge) => number)[] = [() => 1, (edge) => (edge.guard === 'alreadyShadowed' ? 8 : 1)];

/** What of the migration's context decides its rollback: the children as it last saw them. */
export const migrationSignature = (s: AnyMachineSnapshot): string => {
  const c = (s as MigrationSnap).context;
  return `${c.svq}${c.svqEnabledByUs ? ' by us' : ''}, device ${c.device}${c.dataPathDown ? ', data path down' : ''}`;
};

export const SCRIPT_SOURCE = { offered: hex(SCRIPT_OFFER), negotiated: hex(SCRIPT_NEGOTIATED), queues: [0, 1] };

export const migrationEvent = (edge: ModelEdge, record: unknown): ModelEvent =>
  edge.trigger === 'INCOMING'
    ? { type: 'INCOMING', record }
    : edge.trigger === 'CANCEL'
      ? { type: 'CANCEL', reason: 'operator' }
      : edge.trigger === 'ROLLBACK'
        ? { type: 'ROLLBACK', reason: 'the destination failed' }
        : { type: edge.trigger };

export const migrationScript = scriptedHarness({
  machine: migrationMachine,
  input: (path): MigrationInput => {
    const r = migrationMaxRounds(path);
    return { dirtyThresholdPages: THRESHOLD, maxRounds: typeof r === 'number' ? r : 1, source: SCRIPT_SOURCE, strategy: 'parallel', ackTimeoutMs: 25 };
  },
  infeasible: (path) => {
    const r = migrationMaxRounds(path);
    return typeof r === 'string' ? r : undefined;
  },
  event: (edge, view) => {
    checkContextGuards(edge, (view.snapshot as MigrationSnap).context);
    return migrationEvent(edge, SCRIPT_RECORD);
  },
  moves: migrationMoves,
  weights: MIGRATION_WEIGHTS,
  signature: migrationSignature,
  impossible: migrationImpossible,
  output(c, view, actorInput) {
    const s = view.snapshot as MigrationSnap;
    checkContextGuards(c.edge, s.context);
    if (c.path.startsWith(DEVICE)) {
      const dev = s.children.device?.getSnapshot() as LifecycleSnap | undefined;
      if (dev === undefined) throw new Error('no device child');
      return lifecycleOutput(c, dev, actorInput, s.matches('destination') ? BigInt(SCRIPT_RECORD.features.offered) : SCRIPT_OFFER);
    }
    if (c.path.startsWith(SVQ)) return svqOutput(c, actorInput);
    if (c.path.startsWith(CVQ)) return cvqOutput(c, view, actorInput);
    const ok = c.guard !== null;
    switch (c.path) {
      case 'startDirtyLog':
        return { shadowed: c.guard === 'alreadyShadowed' };
      case 'syncDirtyLog':
        return { pagesSent: 64, dirtyPages: c.guard === 'converged' ? THRESHOLD - 1 : THRESHOLD * 4 };
      case 'drainInFlight':
        return { inFlight: 0, svqStopped: c.guard === 'svqStopped' };
      case 'saveRecord':
        return { record: ok ? SCRIPT_RECORD : { ...SCRIPT_RECORD, version: 99 } };
      case 'loadRecord':
        return { record: SCRIPT_RECORD };
      case 'prepareDevice':
        return { mac: '52:54:00:00:00:99' };
      case 'verifyAgainstRecord':
        return ok ? { equal: true, differences: [] } : { equal: false, differences: ['mac 52:54:00:12:34:56 ≠ 00:00:00:00:00:00'] };
      default:
        return undefined;
    }
  },
  error(c, view) {
    checkContextGuards(c.edge, (view.snapshot as MigrationSnap).context);
    // the precopy round's error says whether a shadow virtqueue broke (the shadowBroken candidate)
    if (c.guard === 'shadowBroken') return shadowBroken(c.path, `injected fault in ${c.path}: shadow virtqueue failed`);
    return new Error(`injected fault in ${c.path}`);
  },
  invariants: (view) => migrationInvariants(view.snapshot as MigrationSnap),
});

export const SCRIPTED_HARNESSES: readonly Harness[] = [lifecycleScript, svqScript, relayoutScript, cvqScript, migrationScript];
