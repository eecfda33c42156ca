/**
 * A migration controller: machines/migration twice — one actor per end — wired to real effects
 * (src/effects/migration.ts, on the ends src/migrate/world.ts sets up), driven from MIGRATE to a verdict:
 *
 *   source:       MIGRATE → setup (SVQ on) → precopy rounds → stopAndCopy → completed (record)
 *   destination:  INCOMING(record) → loading → negotiating → restoringCvq → enablingQueues → verifying → running
 *
 * then the guest moves to the destination and keeps sending; every frame sent before, during and
 * after is checked on receipt. If the destination gives up after the source completed, the controller
 * resumes the source through the same rollback effect the source machine uses (its `completed` is
 * final: see the report's note on the machine).
 *
 * `wireMigration` is the embedding entry point: the pure machine provided with effects, any of which the
 * caller replaces. Effects are made idempotent per (actor, input) so a controller that persisted a
 * snapshot (`actor.getPersistedSnapshot()`) and restores it in a fresh actor re-invokes the phase it
 * was in without repeating a side effect that already happened.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { ChildProcess } from 'node:child_process';
import { createActor, type Actor, type InspectionEvent, type Snapshot, type SnapshotFrom, type StateValue } from 'xstate';
import { openDevice } from '../device/index.js';
import { hasCapability } from '../device/registry.js';
import type { VdpaDevice } from '../device/types.js';
import { encodeStateJson } from '../state/json.js';
import type { NetDeviceState } from '../state/net-state.js';
import { migrationMachine, type MigrationContext, type MigrationEvent, type MigrationInput } from '../../machines/migration.js';
import { startControllerProcess } from './remote.js';
import type { CvqCommandContext, CvqStrategy } from '../../machines/cvq-command.js';
import { bind, type ActorsOf } from '../../machines/contract.js';
import { destinationEffects, sourceEffects, type DeviceProbe, type MigrationEffects, type MigrationNote } from '../effects/migration.js';
import { ACK_TIMEOUT_MS } from '../effects/vdpa-net.js';
import type { SvqThreads } from '../effects/svq.js';
import { statePath, transitionInspector, type TransitionRecord } from './transitions.js';
import { bringUpSource, destinationSideOf, forceSvq, migrateError, MigrationStream, openDestination, runTraffic, sourceSideOf, type Destination, type MigrateError, type Source } from './world.js';

export type MigrationActorName = keyof MigrationEffects;
export type MigrationActor = Actor<typeof migrationMachine>;

/**
 * At-most-once effects: a second invocation of an effect with the same input (a restored snapshot
 * re-entering the step it was persisted in, in any machine of the tree) gets the first one's result
 * instead of running again. The effects may be nested (a child machine's under its src) and ports' ops
 * may answer synchronously. Invoking `resetAfter` (a dotted path) forgets everything once it settles:
 * the rollback that makes a source ready to MIGRATE again.
 *
 * The work gets its own abort signal, aborted when the invoking actor's is (a CANCEL stops the work) —
 * except for work in flight when `detached(fn)` runs: stopping an actor there (to persist and restore
 * it) leaves that work running, as a controller process that dies leaves the devices' work running,
 * and the restored actor's invocation adopts it.
 */
export interface IdempotentEffects<T> {
  readonly effects: T;
  detached<R>(fn: () => R): R;
}

/** Memo key of an input: JSON, with long arrays (a CVQ command list) by their length. */
const inputKey = (input: unknown): string => JSON.stringify(input ?? null, (_, v: unknown) => (Array.isArray(v) && v.length > 32 ? `#array(${v.length})` : v));

export function idempotent<T extends object>(effects: T, resetAfter?: string): IdempotentEffects<T> {
  interface Entry {
    readonly result: { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };
    readonly inner: AbortController;
    /** The invocation whose abort stops the work: the latest, until it is detached. */
    owner: AbortSignal | undefined;
  }
  const memo = new Map<string, Entry>();
  const adopt = (e: Entry, signal: AbortSignal) => {
    e.owner = signal;
    signal.addEventListener('abort', () => {
      if (e.owner === signal) e.inner.abort(signal.reason);
    });
  };
  const wrap = (path: string, fn: (input: unknown, signal: AbortSignal, site?: string) => unknown) => (input: unknown, signal: AbortSignal, site?: string): unknown => {
    // the invoking state tells apart two steps with the same input (a reset at START and one at RESET)
    const key = `${path}@${site ?? ''}:${inputKey(input)}`;
    let e = memo.get(key);
    if (e === undefined) {
      const inner = new AbortController();
      let result: Entry['result'];
      try {
        result = { ok: true, value: fn(input, inner.signal, site) };
      } catch (error) {
        result = { ok: false, error };
      }
      e = { result, inner, owner: undefined };
      memo.set(key, e);
      const v = result.ok ? result.value : undefined;
      if (path === resetAfter && v instanceof Promise) void v.finally(() => memo.clear()).catch(() => {});
    }
    adopt(e, signal);
    if (!e.result.ok) throw e.result.error;
    return e.result.value;
  };
  const walk = (node: object, prefix: string): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      const path = prefix === '' ? k : `${prefix}.${k}`;
      out[k] = typeof v === 'function' ? wrap(path, v as (input: unknown, signal: AbortSignal, site?: string) => unknown) : typeof v === 'object' && v !== null ? walk(v, path) : v;
    }
    return out;
  };
  return {
    effects: walk(effects, '') as T,
    detached<R>(f: () => R): R {
      // whatever is in flight now outlives the actor about to stop: its abort no longer reaches the work
      for (const e of memo.values()) e.owner = undefined;
      return f();
    },
  };
}

/**
 * machines/migration with `effects` bound (one end's, or both; its children's nested under their src),
 * each replaceable: `replace` maps actor names to any logic of the declared type and wins over `effects`.
 */
export function wireMigration(effects: Partial<MigrationEffects>, replace: Partial<ActorsOf<typeof migrationMachine>> = {}) {
  return bind(migrationMachine, effects, replace);
}

export type MigrationPhase =
  | 'attaching'
  | 'setup'
  | 'precopy'
  | 'stopAndCopy'
  | 'loading'
  | 'negotiating'
  | 'preparing'
  | 'startingDriver'
  | 'restoringCvq'
  | 'enablingQueues'
  | 'verifying';
export const SOURCE_PHASES: readonly MigrationPhase[] = ['attaching', 'setup', 'precopy', 'stopAndCopy'];
export const DESTINATION_PHASES: readonly MigrationPhase[] = ['loading', 'negotiating', 'preparing', 'startingDriver', 'restoringCvq', 'enablingQueues', 'verifying'];
export const MIGRATION_PHASES: readonly MigrationPhase[] = [...SOURCE_PHASES, ...DESTINATION_PHASES];

/**
 * What an operator — a supervisor, the CLI's `--cancel-at`, a test — may do to one end's controller
 * while it runs, given with each transition and snapshot (`RunOptions.onTransition` / `onSnapshot`).
 */
export interface EndControl {
  readonly end: 'source' | 'destination';
  /** Send the end's migration machine an event (`CANCEL`: QEMU's migrate_cancel). */
  send(event: MigrationEvent): void;
  /**
   * Restart the controller: its actor's persisted snapshot (children included) goes through JSON, the
   * actor stops, a fresh one resumes from the JSON (`onRestart` sees it); work in flight carries on and
   * the fresh actor adopts it. In a controller process: the process is killed and its supervisor
   * starts a fresh one from the last snapshot it persisted.
   */
  restart(): void;
}

export interface RunOptions {
  /** Devices, or specs for `openDevice` ("sim", "sim:vdpa_sim_net", "vdpa:/dev/vhost-vdpa-0"). */
  readonly source: VdpaDevice | string;
  readonly destination: VdpaDevice | string;
  /** The guest's device state (configured on the source through its CVQ before the migration). */
  readonly state: NetDeviceState;
  /** Features the guest driver wants. */
  readonly features: bigint;
  readonly strategy: CvqStrategy;
  readonly queueSize?: number;
  readonly ramBytes?: number;
  /** Link bytes per simulated µs (default 1250 = 10 Gb/s). */
  readonly bandwidth?: number;
  /** Guest frames per simulated µs during precopy (default 0.12 = 120 k frames/s). */
  readonly rate?: number;
  readonly dirtyThresholdPages?: number;
  readonly maxRounds?: number;
  /** Frames the guest sends before the migration starts, and after it lands. */
  readonly framesBefore?: number;
  readonly framesAfter?: number;
  /**
   * When the data queues go through SVQ: `migration` (default) switches them at setup and back after a
   * rollback; `always` is QEMU's x-svq=on — machines/svq-switch switches them before the migration
   * (trigger `x-svq`) and they stay shadowed whatever happens.
   */
  readonly svq?: 'migration' | 'always';
  /** Where SVQ forwarding runs (src/effects/svq.ts `SvqThreads`, docs/svq-workers.md); default auto. */
  readonly svqThreads?: SvqThreads;
  /** Each controller restart (`EndControl.restart`, a controller process restarted), with the snapshot it resumed from. */
  readonly onRestart?: (end: 'source' | 'destination', snapshotJson: string) => void;
  /**
   * Called once both ends are up (the guest, its rings, the devices), before anything migrates: where a
   * caller arms faults on the devices (./faults.ts `armFaults`). A Left ends the run with that error.
   */
  readonly onWorld?: (w: { readonly source: Source; readonly destination: Destination }) => E.Either<MigrateError, void> | void;
  /** Replace any migration actor (both ends) with logic of its declared type. */
  readonly replace?: Partial<ActorsOf<typeof migrationMachine>>;
  /**
   * Each transition of every machine of both ends' trees, with the control of the end it belongs to
   * (none for the x-svq switch before the migration). Runs inside the machine's step: act on a child's
   * transition after it (`queueMicrotask`).
   */
  readonly onTransition?: (t: TransitionRecord, control?: EndControl) => void;
  /** Each snapshot of an end's migration machine, before the controller acts on it. */
  readonly onSnapshot?: (snapshot: SnapshotFrom<typeof migrationMachine>, control: EndControl) => void;
  readonly onNote?: (n: MigrationNote) => void;
  /**
   * Run each end's machines in a supervised controller process (src/migrate/remote.ts): the effects
   * stay here; a controller process that dies is restarted from its last persisted snapshot.
   */
  readonly controllerProcess?: boolean;
  /** Each controller process started (`restart` 0 for the first). */
  readonly onControllerProcess?: (end: 'source' | 'destination', child: ChildProcess, restart: number) => void;
  /** Called with each end's actor once started (a controller may persist its snapshots). */
  readonly onActor?: (end: 'source' | 'destination', actor: MigrationActor) => void;
}

export interface PhaseRow {
  readonly end: 'source' | 'destination';
  readonly phase: string;
  readonly wallMs: number;
  /** Simulated µs (link time, device virtual clock); null where the model keeps no time. */
  readonly simUs: number | null;
}

export interface RoundRow {
  readonly round: number;
  readonly pagesSent: number;
  readonly dirtyPages: number;
  readonly wireUs: number;
  readonly frames: number;
}

export interface MigrationSummary {
  readonly outcome: 'completed' | 'rolled-back' | 'failed';
  readonly error: string | null;
  readonly source: { readonly device: string; readonly negotiated: string };
  readonly destination: { readonly device: string };
  readonly strategy: CvqStrategy;
  readonly phases: readonly PhaseRow[];
  readonly precopy: { readonly rounds: readonly RoundRow[]; readonly thresholdPages: number; readonly maxRounds: number; readonly svqSwitched: boolean };
  readonly stopAndCopy: { readonly remainingPages: number; readonly recordBytes: number; readonly inFlightHandedOver: number; readonly svqForwarded: number } | null;
  readonly cvq: { readonly commands: number; readonly applied: number; readonly roundTrips: number; readonly acksOk: number; readonly acksErr: number; readonly simUs: number } | null;
  readonly downtime: { readonly simUs: number; readonly wallMs: number } | null;
  readonly traffic: {
    readonly before: number;
    readonly during: number;
    readonly after: number;
    readonly sent: number;
    readonly received: number;
    readonly inFlightAtSuspend: number | null;
    readonly lost: number;
    readonly errors: readonly string[];
  };
  readonly verdict: {
    /** The destination's state equals the source's as the negotiated features show it (null: not reached). */
    readonly stateEqual: boolean | null;
    readonly differences: readonly string[];
    /** Guest RAM at the destination equals the source's byte for byte at switch-over. */
    readonly ramEqual: boolean | null;
    /** Rolled back: the source device holds its state, runs, and no buffer was lost. */
    readonly sourceIntact: boolean | null;
  };
  readonly transitions: number;
  readonly wallMs: number;
}

const text = (e: unknown): string => (typeof e === 'object' && e !== null && 'message' in e ? String((e as { message: unknown }).message) : String(e));

function open(d: VdpaDevice | string, sim: { readonly sharedMemory?: boolean } = {}): E.Either<MigrateError, VdpaDevice> {
  if (typeof d !== 'string') return E.right(d);
  const r = openDevice(d, d.startsWith('sim') ? sim : {});
  return E.isLeft(r) ? E.left(migrateError('open', r.left.message)) : E.right(r.right);
}


/** The whole job: bring up, traffic, both machines, switch-over or rollback, summary. */
export async function runMigration(o: RunOptions): Promise<E.Either<MigrateError, MigrationSummary>> {
  const t0 = performance.now();
  // SVQ workers share guest RAM and the shadow rings: a simulator source allocates them on SharedArrayBuffers
  const srcDev = open(o.source, o.svqThreads === 'per-queue-pair' ? { sharedMemory: true } : {});
  if (E.isLeft(srcDev)) return srcDev;
  const dstDev = open(o.destination);
  if (E.isLeft(dstDev)) return dstDev;
  const ramBytes = o.ramBytes ?? 64 << 20;
  const ctl = new AbortController();

  const src = await bringUpSource(srcDev.right, { wanted: o.features, state: o.state, strategy: o.strategy, queueSize: o.queueSize ?? 256, ramBytes, ...(o.svqThreads === undefined ? {} : { svqThreads: o.svqThreads }) }, ctl.signal);
  if (E.isLeft(src)) return src;
  const dst = openDestination(dstDev.right, ramBytes);
  if (E.isLeft(dst)) return dst;
  const ready = o.onWorld?.({ source: src.right, destination: dst.right });
  if (ready !== undefined && E.isLeft(ready)) return ready;
  try {
    return E.right(await drive(o, src.right, dst.right, t0));
  } catch (e) {
    return E.left(typeof e === 'object' && e !== null && (e as { _tag?: unknown })._tag === 'MigrateError' ? (e as MigrateError) : migrateError('controller', text(e)));
  } finally {
    // SVQ workers still forwarding (x-svq=on, rolled back) end with the run
    await src.right.backend.close();
  }
}

type Settled = SnapshotFrom<typeof migrationMachine>;
type End = 'source' | 'destination';

/**
 * One end's actor, from `event` until `settled`: machines/migration with its children, every machine's
 * transitions reported from the actor system's inspection, and the end's `EndControl` (send an event,
 * restart the controller from its persisted snapshot).
 */
interface EndRun {
  send(event: MigrationEvent): void;
  /** Resolves with the first snapshot `settled` accepts from now on. */
  until(settled: (s: Settled) => boolean): Promise<Settled>;
  stop(): void;
}

interface EndReport {
  readonly t0: number;
  readonly onTransition: (t: TransitionRecord) => void;
  /** The end's control, registered before its actor starts (its first transitions come with it). */
  readonly register: (control: EndControl) => void;
  readonly onCvq: (c: CvqCommandContext, status: string) => void;
  readonly onCvqInspect: (e: InspectionEvent) => void;
}

type Waiter = { readonly settled: (s: Settled) => boolean; readonly resolve: (s: Settled) => void; readonly reject: (e: unknown) => void };

/** The waiters of `until`, offered every snapshot. */
function settlements() {
  const waiters = new Set<Waiter>();
  return {
    offer(s: Settled) {
      for (const w of [...waiters]) {
        if (w.settled(s)) {
          waiters.delete(w);
          w.resolve(s);
        }
      }
    },
    fail(e: unknown) {
      for (const w of waiters) w.reject(e);
      waiters.clear();
    },
    until: (last: Settled | undefined, settled: (s: Settled) => boolean) =>
      new Promise<Settled>((resolve, reject) => {
        if (last !== undefined && settled(last)) resolve(last);
        else waiters.add({ settled, resolve, reject });
      }),
  };
}

function startEnd(o: RunOptions, end: End, fx: EndFx, input: MigrationInput, event: MigrationEvent, report: EndReport): EndRun {
  const machine = wireMigration(fx.effects, o.replace);
  const waiting = settlements();
  let current: MigrationActor;
  let sub: { unsubscribe(): void } | undefined;
  const control: EndControl = {
    end,
    send: (e) => current.send(e),
    restart() {
      const a = current;
      sub?.unsubscribe();
      const json = JSON.stringify(a.getPersistedSnapshot());
      fx.detached(() => a.stop());
      o.onRestart?.(end, json);
      launch(JSON.parse(json) as Snapshot<unknown>);
    },
  };
  report.register(control);
  const launch = (snapshot: Snapshot<unknown> | undefined): void => {
    const onT = transitionInspector(end, report.t0, report.onTransition);
    const inspect = (e: InspectionEvent) => {
      onT(e);
      if (end === 'destination') report.onCvqInspect(e);
    };
    const a = createActor(machine, snapshot === undefined ? { input, inspect } : { snapshot, input, inspect });
    current = a;
    sub = a.subscribe({
      next: (s) => {
        o.onSnapshot?.(s, control);
        // a restart from onSnapshot replaced the actor: the fresh one offers its own snapshots
        if (current === a) waiting.offer(s);
      },
      error: (e) => waiting.fail(e),
    });
    a.start();
    o.onActor?.(end, a);
    if (snapshot === undefined) a.send(event);
    else waiting.offer(a.getSnapshot());
  };
  launch(undefined);
  return { send: control.send, until: (settled) => waiting.until(current.getSnapshot(), settled), stop: () => current.stop() };
}

/**
 * One end's actor in a supervised controller process (./remote.ts): the same machine, its effects
 * served from here; a controller that dies is started again from its last persisted snapshot.
 */
function startRemoteEnd(o: RunOptions, end: End, fx: EndFx, input: MigrationInput, event: MigrationEvent, report: EndReport): EndRun {
  let last: Settled | undefined;
  let child: ChildProcess | undefined;
  const waiting = settlements();
  const control: EndControl = {
    end,
    send: (e) => proc.send(e),
    // the supervisor restarts a controller process that died, from the snapshot it persisted last
    restart: () => void child?.kill('SIGKILL'),
  };
  report.register(control);
  const proc = startControllerProcess({
    end,
    input,
    event,
    effects: fx.effects,
    onTransition: (r) => report.onTransition({ ...r, t: Math.round((performance.now() - report.t0) * 1000) / 1000 }),
    onCvq: report.onCvq,
    onSnapshot: (json) => {
      const p = JSON.parse(json) as { value: StateValue; context: MigrationContext };
      const s = migrationMachine.resolveState({ value: p.value, context: p.context });
      last = s;
      o.onSnapshot?.(s, control);
      waiting.offer(s);
    },
    onProcess: (c, n) => {
      child = c;
      if (n > 0) o.onRestart?.(end, '');
      o.onControllerProcess?.(end, c, n);
    },
  });
  proc.failed.catch((e: unknown) => waiting.fail(e));
  return { send: control.send, until: (settled) => waiting.until(last, settled), stop: () => proc.close() };
}

const sourceSettled = (s: Settled) => s.matches({ source: 'completed' }) || s.matches({ source: 'cancelled' }) || s.matches('failed');
const destinationSettled = (s: Settled) => s.matches({ destination: 'running' }) || s.matches({ destination: 'aborted' }) || s.matches({ destination: 'rejected' }) || s.matches('failed');

/**
 * The CVQ restore as machines/cvq-command shows it (through the inspector, or a controller process):
 * progress notes, and at its end the device's clock and ack counters over the restore.
 */
function cvqWatcher(probe: DeviceProbe | undefined, note: (n: MigrationNote) => void) {
  let start: { readonly us: number; readonly ok: number; readonly err: number } | undefined;
  let last: CvqCommandContext | undefined;
  let finished = false;
  const now = () => probe?.now() ?? performance.now() * 1000;
  const context = (c: CvqCommandContext, status: string) => {
    if (start === undefined) {
      const acks = probe?.acks();
      start = { us: now(), ok: acks?.ok ?? 0, err: acks?.err ?? 0 };
    }
    if (last === undefined || c.applied !== last.applied) note({ kind: 'cvq-progress', applied: c.applied, total: c.commands.length, roundTrips: c.roundTrips });
    last = c;
    if (status !== 'done' || finished) return;
    finished = true;
    const acks = probe?.acks();
    note({
      kind: 'cvq-done',
      ok: c.failure === null,
      applied: c.applied,
      total: c.commands.length,
      roundTrips: c.roundTrips,
      simUs: now() - start.us,
      acksOk: acks === undefined ? c.applied : acks.ok - start.ok,
      acksErr: acks === undefined ? (c.failure === null ? 0 : 1) : acks.err - start.err,
    });
  };
  const inspect = (e: InspectionEvent) => {
    if (e.type !== '@xstate.snapshot' || (e.actorRef as { logic?: { id?: unknown } }).logic?.id !== 'cvq-command') return;
    const snap = e.snapshot as { context?: CvqCommandContext; status?: string };
    if (snap.context !== undefined) context(snap.context, snap.status ?? 'active');
  };
  return { context, inspect };
}

interface EndsResult {
  readonly outcome: MigrationSummary['outcome'];
  readonly error: string | null;
  /** When the destination settled (wall ms), if it ran. */
  readonly dDoneAt: number | null;
}

/**
 * Both ends' machines, one after the other: the source from MIGRATE to completed (or rolled back),
 * then the destination from INCOMING(record); a destination that does not reach `running` makes the
 * source resume the VM (ROLLBACK).
 */
async function runEnds(o: RunOptions, src: Source, fx: { readonly source: EndFx; readonly destination: EndFx }, report: EndReport): Promise<EndsResult> {
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  const common = { dirtyThresholdPages: o.dirtyThresholdPages ?? 64, maxRounds: o.maxRounds ?? 12 };
  const run = (end: End, f: EndFx, input: MigrationInput, event: MigrationEvent) =>
    (o.controllerProcess === true ? startRemoteEnd : startEnd)(o, end, f, input, event, report);
  const source = run('source', fx.source, { ...common, source: { offered: hex(src.offered), negotiated: hex(src.negotiated), queues: src.dataQueues } }, { type: 'MIGRATE' });
  try {
    const sDone = await source.until(sourceSettled);
    if (!sDone.matches({ source: 'completed' })) return { outcome: sDone.matches('failed') ? 'failed' : 'rolled-back', error: sDone.context.error, dDoneAt: null };
    const destination = run('destination', fx.destination, { ...common, strategy: o.strategy, ackTimeoutMs: ACK_TIMEOUT_MS }, { type: 'INCOMING', record: sDone.context.record });
    const dDone = await destination.until(destinationSettled);
    destination.stop();
    const dDoneAt = performance.now();
    if (dDone.matches({ destination: 'running' })) return { outcome: 'completed', error: null, dDoneAt };
    // the VM stays on the source: the source machine resumes it (ROLLBACK)
    source.send({ type: 'ROLLBACK', ...(dDone.context.error === null ? {} : { reason: dDone.context.error }) });
    const back = await source.until((s) => s.matches({ source: 'cancelled' }) || s.matches('failed'));
    if (back.matches('failed')) return { outcome: 'failed', error: `${dDone.context.error ?? 'destination failed'}; resuming the source failed: ${back.context.error ?? ''}`, dDoneAt };
    return { outcome: dDone.matches('failed') ? 'failed' : 'rolled-back', error: dDone.context.error, dDoneAt };
  } finally {
    source.stop();
  }
}

type EndFx = IdempotentEffects<Partial<MigrationEffects>>;
/**
 * After the machines: the guest runs where the VM now lives — on the destination (a device that maps
 * this process's memory: the guest moves with its buffers), or again on the source, which must run as
 * before: same device state, not suspended, SVQ off, traffic flowing with nothing lost.
 */
async function afterwards(o: RunOptions, src: Source, dst: Destination, outcome: MigrationSummary['outcome']): Promise<boolean | null> {
  if (outcome === 'completed') {
    if (hasCapability(dst.dev, 'sharedHostMemory')) {
      const dev = dst.dev;
      src.guest.retarget((qi) => void dev.kick(qi));
      const after = await runTraffic(src.guest, o.framesAfter ?? 4000);
      if (E.isLeft(after)) src.guest.errors.push(after.left.message);
    }
    return null;
  }
  if (outcome !== 'rolled-back') return null;
  const after = await runTraffic(src.guest, o.framesAfter ?? 4000);
  if (E.isLeft(after)) src.guest.errors.push(after.left.message);
  const sdev = src.dev;
  const stateSame = !hasCapability(sdev, 'netState') || JSON.stringify(encodeStateJson(sdev.netState())) === JSON.stringify(encodeStateJson(src.model));
  const running = !hasCapability(sdev, 'suspendState') || !sdev.isSuspended();
  // SVQ as before the migration: off, or on with x-svq=on
  const svqAsBefore = src.backend.mode === (o.svq === 'always' ? 'shadow' : 'passthrough');
  return stateSame && running && E.isRight(after) && src.guest.outstanding() === 0 && svqAsBefore;
}

async function drive(o: RunOptions, src: Source, dst: Destination, t0: number): Promise<MigrationSummary> {
  const transitions: TransitionRecord[] = [];
  const controls = new Map<End, EndControl>();
  const onTransition = (r: TransitionRecord) => {
    transitions.push(r);
    o.onTransition?.(r, controls.get(r.end));
  };
  const notes: MigrationNote[] = [];
  const note = (n: MigrationNote) => {
    notes.push(n);
    o.onNote?.(n);
  };
  const stream = new MigrationStream(src.path.ram, dst.ram, { bandwidth: o.bandwidth ?? 1250, rate: o.rate ?? 0.12 });

  // traffic before the migration: the guest on the passthrough data path
  const before = await runTraffic(src.guest, o.framesBefore ?? 4000);
  if (E.isLeft(before)) throw before.left;
  const sentBefore = src.guest.stats.txPosted;

  if (o.svq === 'always') {
    const on = await forceSvq(src, { inspect: transitionInspector('source', t0, onTransition) });
    if (E.isLeft(on)) throw on.left;
  }
  const dstSide = destinationSideOf(dst, src);
  const fx = {
    source: idempotent(sourceEffects(sourceSideOf(src, stream, { rate: o.rate ?? 0.12 }), { note }), 'stopDirtyLog'),
    destination: idempotent(destinationEffects(dstSide, { note }).effects, 'teardownDestination'),
  };
  const cvq = cvqWatcher(dstSide.probe, note);
  const ends = await runEnds(o, src, fx, { t0, onTransition, register: (c) => controls.set(c.end, c), onCvq: cvq.context, onCvqInspect: cvq.inspect });
  const sentBeforeAfter = src.guest.stats.txPosted;
  const sourceIntact = await afterwards(o, src, dst, ends.outcome);
  return summarize(o, { src, dst, t0, transitions, notes, ends, sentBefore, sentBeforeAfter, sourceIntact });
}

/**
 * The summary, from the transitions, the effects' notes and the guest's counters. (Long because the
 * summary is one object literal, field by field as MigrationSummary documents it.)
 */
function summarize(
  o: RunOptions,
  r: {
    readonly src: Source;
    readonly dst: Destination;
    readonly t0: number;
    readonly transitions: readonly TransitionRecord[];
    readonly notes: readonly MigrationNote[];
    readonly ends: EndsResult;
    readonly sentBefore: number;
    readonly sentBeforeAfter: number;
    readonly sourceIntact: boolean | null;
  },
): MigrationSummary {
  const { src, dst, t0, transitions, notes, ends } = r;
  const g = src.guest;
  const rounds: RoundRow[] = notes.flatMap((n) => (n.kind === 'round' ? [{ round: n.round, pagesSent: n.pagesSent, dirtyPages: n.dirtyPages, wireUs: n.wireUs, frames: n.frames }] : []));
  const find = <K extends MigrationNote['kind']>(k: K) => notes.find((n): n is Extract<MigrationNote, { kind: K }> => n.kind === k);
  const saved = find('saved');
  const cvqDone = find('cvq-done');
  const enabled = find('queues-enabled');
  const drained = find('drained');
  const verified = find('verified');
  const simOf = (phase: string): number | null => {
    switch (phase) {
      case 'precopy':
        return rounds.reduce((a, x) => a + x.wireUs, 0);
      case 'stopAndCopy':
        return saved?.wireUs ?? null;
      case 'restoringCvq':
        return cvqDone?.simUs ?? null;
      case 'enablingQueues':
        return enabled?.simUs ?? null;
      case 'loading':
      case 'negotiating':
      case 'verifying':
        return 0;
      default:
        return null;
    }
  };
  const phases = phaseRows(transitions, simOf);
  const stopAt = transitions.find((t) => t.machine === 'migration' && t.to === 'stopAndCopy');
  const downtime =
    ends.outcome === 'completed' && stopAt !== undefined && ends.dDoneAt !== null
      ? {
          simUs: phases.filter((p) => p.phase === 'stopAndCopy' || (p.end === 'destination' && DESTINATION_PHASES.includes(p.phase as MigrationPhase))).reduce((a, p) => a + (p.simUs ?? 0), 0),
          wallMs: ends.dDoneAt - t0 - stopAt.t,
        }
      : null;
  return {
    outcome: ends.outcome,
    error: ends.error,
    source: { device: src.dev.name, negotiated: `0x${src.negotiated.toString(16)}` },
    destination: { device: dst.dev.name },
    strategy: o.strategy,
    phases,
    precopy: {
      rounds,
      thresholdPages: o.dirtyThresholdPages ?? 64,
      maxRounds: o.maxRounds ?? 12,
      svqSwitched: transitions.some((t) => t.end === 'source' && t.machine === 'svq-switch' && t.to === 'shadow'),
    },
    stopAndCopy:
      saved !== undefined && drained !== undefined
        ? { remainingPages: saved.remainingPages, recordBytes: saved.recordBytes, inFlightHandedOver: drained.inFlight, svqForwarded: drained.svqForwarded }
        : null,
    cvq:
      cvqDone !== undefined
        ? { commands: cvqDone.total, applied: cvqDone.applied, roundTrips: cvqDone.roundTrips, acksOk: cvqDone.acksOk, acksErr: cvqDone.acksErr, simUs: cvqDone.simUs }
        : null,
    downtime,
    traffic: {
      before: r.sentBefore,
      during: r.sentBeforeAfter - r.sentBefore,
      after: g.stats.txPosted - r.sentBeforeAfter,
      sent: g.stats.txPosted,
      received: g.stats.rxDone,
      inFlightAtSuspend: drained?.guestInFlight ?? null,
      lost: g.stats.txPosted - g.stats.rxDone,
      errors: [...g.errors],
    },
    verdict: {
      stateEqual: verified?.equal ?? null,
      differences: [...(verified?.differences ?? [])],
      ramEqual: saved !== undefined ? true : null,
      sourceIntact: r.sourceIntact,
    },
    transitions: transitions.length,
    wallMs: performance.now() - t0,
  };
}

/** Per end, each migration phase entered: wall ms until the next phase, simulated µs from the notes. */
function phaseRows(ts: readonly TransitionRecord[], simOf: (phase: string) => number | null): PhaseRow[] {
  const rows: PhaseRow[] = [];
  for (const end of ['source', 'destination'] as const) {
    const mine = ts.filter((t) => t.machine === 'migration' && t.end === end);
    let cur: { phase: string; t: number } | undefined;
    for (const t of mine) {
      if (cur !== undefined && t.to === cur.phase) continue; // another precopy round
      if (cur !== undefined && MIGRATION_PHASES.includes(cur.phase as MigrationPhase)) rows.push({ end, phase: cur.phase, wallMs: t.t - cur.t, simUs: simOf(cur.phase) });
      cur = { phase: t.to, t: t.t };
    }
  }
  return rows;
}

/** A persisted snapshot as JSON text, and back (what a controller stores between processes). */
export const persist = (actor: MigrationActor): string => JSON.stringify(actor.getPersistedSnapshot());
export const restoreSnapshot = (json: string): Snapshot<unknown> => JSON.parse(json) as Snapshot<unknown>;
export { statePath };
