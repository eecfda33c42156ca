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
import { createActor, type Actor, type AnyActorLogic, type Snapshot, type SnapshotFrom } from 'xstate';
import { openDevice } from '../device/index.js';
import { SimVdpaDevice } from '../device/sim/device.js';
import type { Fault } from '../device/sim/faults.js';
import type { VdpaDevice } from '../device/types.js';
import { toActors, type Effect, type Effects } from '../effects/common.js';
import { encodeStateJson } from '../state/json.js';
import type { NetDeviceState } from '../state/net-state.js';
import { migrationMachine, type MigrationEvent, type MigrationInput } from '../../machines/migration.js';
import type { CvqStrategy } from '../../machines/cvq-command.js';
import { destinationEffects, sourceEffects, type DestinationEffects, type MigrationNote, type SourceEffects } from '../effects/migration.js';
import { phaseOf, statePath, transitionInspector, type TransitionRecord } from './transitions.js';
import { bringUpSource, destinationSideOf, migrateError, MigrationStream, openDestination, runTraffic, sourceSideOf, type Destination, type MigrateError, type Source } from './world.js';

export type MigrationActorName = keyof SourceEffects | keyof DestinationEffects;
export type MigrationActor = Actor<typeof migrationMachine>;

/**
 * At-most-once effects: a second invocation of an actor with the same input (a restored snapshot
 * re-entering the phase it was persisted in) gets the first one's promise instead of running again.
 * Invoking `resetAfter` forgets everything once it settles (a rolled-back source may MIGRATE again).
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

export function idempotent<T extends Effects>(effects: T, resetAfter?: keyof T): IdempotentEffects<T> {
  interface Entry {
    readonly promise: Promise<unknown>;
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
  const out = {} as Record<string, Effect<unknown, unknown>>;
  for (const name of Object.keys(effects)) {
    const fn = effects[name] as unknown as Effect<unknown, unknown>;
    out[name] = (input, signal) => {
      const key = `${name}:${JSON.stringify(input ?? null)}`;
      let e = memo.get(key);
      if (e === undefined) {
        const inner = new AbortController();
        e = { promise: fn(input, inner.signal), inner, owner: undefined };
        memo.set(key, e);
        if (name === resetAfter) void e.promise.finally(() => memo.clear()).catch(() => {});
      }
      adopt(e, signal);
      return e.promise;
    };
  }
  return {
    effects: out as unknown as T,
    detached<R>(f: () => R): R {
      // whatever is in flight now outlives the actor about to stop: its abort no longer reaches the work
      for (const e of memo.values()) e.owner = undefined;
      return f();
    },
  };
}

/**
 * machines/migration provided with `effects` (one end's, or both), each replaceable: `replace` maps
 * actor names to any actor logic (`fromPromise`, a machine …) and wins over `effects`.
 */
export function wireMigration(effects: Partial<SourceEffects & DestinationEffects>, replace: Partial<Record<MigrationActorName, AnyActorLogic>> = {}) {
  return migrationMachine.provide({ actors: { ...toActors(effects as Effects), ...replace } as never });
}

export type MigrationPhase =
  | 'setup'
  | 'precopy'
  | 'stopAndCopy'
  | 'loading'
  | 'negotiating'
  | 'restoringCvq'
  | 'enablingQueues'
  | 'verifying';
export const SOURCE_PHASES: readonly MigrationPhase[] = ['setup', 'precopy', 'stopAndCopy'];
export const DESTINATION_PHASES: readonly MigrationPhase[] = ['loading', 'negotiating', 'restoringCvq', 'enablingQueues', 'verifying'];
export const MIGRATION_PHASES: readonly MigrationPhase[] = [...SOURCE_PHASES, ...DESTINATION_PHASES];

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
  /** Simulator faults: CVQ faults go to the destination, device faults (suspend, resume, IOTLB) to the source. */
  readonly faults?: readonly Fault[];
  /** Send CANCEL when this phase is entered. */
  readonly cancelAt?: MigrationPhase;
  /**
   * When this phase is entered (first time): stop the actor, persist its snapshot as JSON, resume a
   * fresh actor from it — a controller restart in the middle of the phase.
   */
  readonly restartAt?: MigrationPhase;
  readonly onRestart?: (end: 'source' | 'destination', snapshotJson: string) => void;
  /** Called once both ends are up (the guest, its rings, the devices), before anything migrates. */
  readonly onWorld?: (w: { readonly source: Source; readonly destination: Destination }) => void;
  /** Replace any migration actor (both ends). */
  readonly replace?: Partial<Record<MigrationActorName, AnyActorLogic>>;
  readonly onTransition?: (t: TransitionRecord) => void;
  readonly onNote?: (n: MigrationNote) => void;
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

function open(d: VdpaDevice | string, faults: readonly Fault[]): E.Either<MigrateError, VdpaDevice> {
  if (typeof d !== 'string') {
    if (faults.length > 0 && d instanceof SimVdpaDevice) d.setFaults(faults);
    return E.right(d);
  }
  const r = openDevice(d, faults.length > 0 ? { faults } : {});
  return E.isLeft(r) ? E.left(migrateError('open', r.left.message)) : E.right(r.right);
}

const CVQ_FAULTS = new Set(['nack', 'delay-ack', 'no-answer', 'wrong-used-len', 'bad-used-id', 'needs-reset']);

/** The whole job: bring up, traffic, both machines, switch-over or rollback, summary. */
export async function runMigration(o: RunOptions): Promise<E.Either<MigrateError, MigrationSummary>> {
  const t0 = performance.now();
  const faults = o.faults ?? [];
  const dstFaults = faults.filter((f) => CVQ_FAULTS.has(f.kind));
  const srcFaults = faults.filter((f) => !CVQ_FAULTS.has(f.kind));
  const srcDev = open(o.source, []);
  if (E.isLeft(srcDev)) return srcDev;
  const dstDev = open(o.destination, dstFaults);
  if (E.isLeft(dstDev)) return dstDev;
  const ramBytes = o.ramBytes ?? 64 << 20;
  const ctl = new AbortController();

  const src = await bringUpSource(srcDev.right, { wanted: o.features, state: o.state, strategy: o.strategy, queueSize: o.queueSize ?? 256, ramBytes }, ctl.signal);
  if (E.isLeft(src)) return src;
  if (srcFaults.length > 0 && srcDev.right instanceof SimVdpaDevice) srcDev.right.setFaults(srcFaults);
  const dst = openDestination(dstDev.right, ramBytes);
  if (E.isLeft(dst)) return dst;
  o.onWorld?.({ source: src.right, destination: dst.right });
  try {
    return E.right(await drive(o, src.right, dst.right, t0));
  } catch (e) {
    return E.left(typeof e === 'object' && e !== null && (e as { _tag?: unknown })._tag === 'MigrateError' ? (e as MigrateError) : migrateError('controller', text(e)));
  }
}

async function drive(o: RunOptions, src: Source, dst: Destination, t0: number): Promise<MigrationSummary> {
  const transitions: TransitionRecord[] = [];
  const onTransition = (r: TransitionRecord) => {
    transitions.push(r);
    o.onTransition?.(r);
  };
  const notes: MigrationNote[] = [];
  const note = (n: MigrationNote) => {
    notes.push(n);
    o.onNote?.(n);
  };
  const inspect = (end: 'source' | 'destination') => (machine: string) => transitionInspector(machine, end, t0, onTransition);
  const stream = new MigrationStream(src.path.ram, dst.ram, { bandwidth: o.bandwidth ?? 1250, rate: o.rate ?? 0.12 });

  // traffic before the migration: the guest on the passthrough data path
  const before = await runTraffic(src.guest, o.framesBefore ?? 4000);
  if (E.isLeft(before)) throw before.left;
  const sentBefore = src.guest.stats.txPosted;

  const source = sourceEffects(sourceSideOf(src, stream, { rate: o.rate ?? 0.12 }), { note, inspect: inspect('source') });
  const srcFx = idempotent(source.effects, 'rollbackSource');
  const dstFx = idempotent(destinationEffects(destinationSideOf(dst, src), { strategy: o.strategy, note, inspect: inspect('destination') }).effects, 'rollbackDestination');
  const input: MigrationInput = { dirtyThresholdPages: o.dirtyThresholdPages ?? 64, maxRounds: o.maxRounds ?? 12 };

  type Settled = SnapshotFrom<typeof migrationMachine>;
  /**
   * Run one end from `event` until `settled`. With `restartAt`, the first time that phase begins the
   * actor is stopped, its persisted snapshot goes through JSON, and a fresh actor resumes from it.
   */
  const runEnd = (end: 'source' | 'destination', fx: IdempotentEffects<Partial<SourceEffects & DestinationEffects>>, event: MigrationEvent, settled: (s: Settled) => boolean): Promise<Settled> =>
    new Promise((resolve, reject) => {
      const machine = wireMigration(fx.effects, o.replace);
      let restarted = false;
      const launch = (snapshot: Snapshot<unknown> | undefined): void => {
        let actor: MigrationActor | undefined;
        const onT = transitionInspector('migration', end, t0, (r) => {
          onTransition(r);
          const entered = (p: MigrationPhase | undefined) => p !== undefined && phaseOf(r.toState) === p && phaseOf(r.fromState) !== p;
          if (entered(o.cancelAt)) actor?.send({ type: 'CANCEL', reason: `--cancel-at ${o.cancelAt}` });
        });
        actor = createActor(machine, snapshot === undefined ? { input, inspect: onT } : { snapshot, input, inspect: onT });
        const a = actor;
        const sub = a.subscribe({
          next: (s) => {
            if (!restarted && o.restartAt !== undefined && phaseOf(statePath(s.value)) === o.restartAt) {
              // synchronously after the phase's entry: its effect has started and has not finished
              restarted = true;
              sub.unsubscribe();
              const json = JSON.stringify(a.getPersistedSnapshot());
              fx.detached(() => a.stop());
              o.onRestart?.(end, json);
              launch(JSON.parse(json) as Snapshot<unknown>);
              return;
            }
            if (settled(s)) {
              sub.unsubscribe();
              a.stop();
              resolve(s);
            }
          },
          error: reject,
        });
        a.start();
        o.onActor?.(end, a);
        if (snapshot === undefined) a.send(event);
      };
      launch(undefined);
    });

  // ---- source ----
  const sDone = await runEnd('source', srcFx, { type: 'MIGRATE' }, (s) => s.matches({ source: 'completed' }) || s.matches({ source: 'cancelled' }) || s.matches('failed'));
  const svqSwitched = sDone.context.svqEnabledByUs || notes.some((n) => n.kind === 'svq-on' && n.switched);
  let error = sDone.context.error;
  let outcome: MigrationSummary['outcome'] = sDone.matches('failed') ? 'failed' : sDone.matches({ source: 'cancelled' }) ? 'rolled-back' : 'completed';

  // ---- destination ----
  let stateEqual: boolean | null = null;
  let differences: string[] = [];
  let dDoneAt: number | null = null;
  if (outcome === 'completed') {
    const dDone = await runEnd(
      'destination',
      dstFx,
      { type: 'INCOMING', record: sDone.context.record },
      (s) => s.matches({ destination: 'running' }) || s.matches({ destination: 'aborted' }) || s.matches({ destination: 'rejected' }) || s.matches('failed'),
    );
    dDoneAt = performance.now();
    const verified = notes.find((n) => n.kind === 'verified');
    if (verified?.kind === 'verified') {
      stateEqual = verified.equal;
      differences = [...verified.differences];
    }
    if (!dDone.matches({ destination: 'running' })) {
      error = dDone.context.error;
      outcome = dDone.matches('failed') ? 'failed' : 'rolled-back';
      // the VM stays on the source: resume it as the source's own rollback does
      try {
        await srcFx.effects.rollbackSource({ svqEnabledByUs: sDone.context.svqEnabledByUs }, new AbortController().signal);
      } catch (e) {
        outcome = 'failed';
        error = `${error ?? 'destination failed'}; resuming the source failed: ${text(e)}`;
      }
    }
  }

  // the source's svq-switch actor has nothing left to do: a rollback above was its last use
  source.dispose();

  // ---- after: the guest runs where the VM now lives ----
  const inFlightNote = notes.find((n) => n.kind === 'drained');
  const inFlightAtSuspend = inFlightNote?.kind === 'drained' ? inFlightNote.guestInFlight : null;
  const sentBeforeAfter = src.guest.stats.txPosted;
  let sourceIntact: boolean | null = null;
  if (outcome === 'completed') {
    if (dst.dev instanceof SimVdpaDevice) {
      const dev = dst.dev;
      src.guest.retarget((qi) => void dev.kick(qi));
      const after = await runTraffic(src.guest, o.framesAfter ?? 4000);
      if (E.isLeft(after)) src.guest.errors.push(after.left.message);
    }
  } else if (outcome === 'rolled-back') {
    // the source must run as before: same device state, not suspended, traffic flowing with nothing lost
    const after = await runTraffic(src.guest, o.framesAfter ?? 4000);
    if (E.isLeft(after)) src.guest.errors.push(after.left.message);
    const stateSame = !(src.dev instanceof SimVdpaDevice) || JSON.stringify(encodeStateJson(src.dev.netState())) === JSON.stringify(encodeStateJson(src.model));
    const running = !(src.dev instanceof SimVdpaDevice) || !src.dev.isSuspended();
    sourceIntact = stateSame && running && E.isRight(after) && src.guest.outstanding() === 0 && src.backend.mode === 'passthrough';
  }

  const g = src.guest;
  const rounds: RoundRow[] = notes.flatMap((n) => (n.kind === 'round' ? [{ round: n.round, pagesSent: n.pagesSent, dirtyPages: n.dirtyPages, wireUs: n.wireUs, frames: n.frames }] : []));
  const saved = notes.find((n) => n.kind === 'saved');
  const cvqDone = notes.find((n) => n.kind === 'cvq-done');
  const enabled = notes.find((n) => n.kind === 'queues-enabled');
  const simOf = (phase: string): number | null => {
    switch (phase) {
      case 'precopy':
        return rounds.reduce((a, r) => a + r.wireUs, 0);
      case 'stopAndCopy':
        return saved?.kind === 'saved' ? saved.wireUs : null;
      case 'restoringCvq':
        return cvqDone?.kind === 'cvq-done' ? cvqDone.simUs : null;
      case 'enablingQueues':
        return enabled?.kind === 'queues-enabled' ? enabled.simUs : null;
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
    outcome === 'completed' && stopAt !== undefined && dDoneAt !== null
      ? {
          simUs: phases.filter((p) => p.phase === 'stopAndCopy' || (p.end === 'destination' && DESTINATION_PHASES.includes(p.phase as MigrationPhase))).reduce((a, p) => a + (p.simUs ?? 0), 0),
          wallMs: dDoneAt - t0 - stopAt.t,
        }
      : null;
  const drained = notes.find((n) => n.kind === 'drained');
  return {
    outcome,
    error,
    source: { device: src.dev.name, negotiated: `0x${src.negotiated.toString(16)}` },
    destination: { device: dst.dev.name },
    strategy: o.strategy,
    phases,
    precopy: { rounds, thresholdPages: o.dirtyThresholdPages ?? 64, maxRounds: o.maxRounds ?? 12, svqSwitched },
    stopAndCopy:
      saved?.kind === 'saved' && drained?.kind === 'drained'
        ? { remainingPages: saved.remainingPages, recordBytes: saved.recordBytes, inFlightHandedOver: drained.inFlight, svqForwarded: drained.svqForwarded }
        : null,
    cvq:
      cvqDone?.kind === 'cvq-done'
        ? { commands: cvqDone.total, applied: cvqDone.output.applied, roundTrips: cvqDone.output.roundTrips, acksOk: cvqDone.acksOk, acksErr: cvqDone.acksErr, simUs: cvqDone.simUs }
        : null,
    downtime,
    traffic: {
      before: sentBefore,
      during: sentBeforeAfter - sentBefore,
      after: g.stats.txPosted - sentBeforeAfter,
      sent: g.stats.txPosted,
      received: g.stats.rxDone,
      inFlightAtSuspend,
      lost: g.stats.txPosted - g.stats.rxDone,
      errors: [...g.errors],
    },
    verdict: { stateEqual, differences, ramEqual: saved !== undefined ? true : null, sourceIntact },
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
