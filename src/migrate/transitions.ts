/**
 * Machine transitions as a stream of plain records (what `shadowvq migrate --events` prints as JSON
 * lines): one per macrostep of a root actor, with the state before and after, the event that caused
 * it and the time since the run began. Built on XState's inspection API, so it sees every actor the
 * controller starts (migration, svq-switch, cvq-command) without the machines knowing.
 */
import type { InspectionEvent, StateValue } from 'xstate';

export interface TransitionRecord {
  readonly machine: string;
  /** Which end of the migration the actor belongs to. */
  readonly end: 'source' | 'destination';
  /** Phase names (the innermost meaningful state: "precopy", "stopAndCopy", "restoringCvq" …). */
  readonly from: string;
  readonly to: string;
  /** Full dotted state paths. */
  readonly fromState: string;
  readonly toState: string;
  readonly event: string;
  /** Wall-clock ms since the run began. */
  readonly t: number;
}

/** Dotted path of the (first) active leaf of a state value. */
export function statePath(v: StateValue): string {
  if (typeof v === 'string') return v;
  const keys = Object.keys(v);
  if (keys.length === 0) return '';
  const k = keys[0]!;
  const inner = statePath(v[k] as StateValue);
  return inner === '' ? k : `${k}.${inner}`;
}

/** States that only group others: the phase is the state below them. */
const GROUPS = new Set(['source', 'destination', 'active', 'enabling', 'disabling', 'negotiation', 'featuresOk', 'driverOk']);

/**
 * The phase of a state path: the first segment that is not a grouping state
 * ("source.active.precopy.round" → "precopy", "destination.rollingBack" → "rollingBack").
 */
export function phaseOf(path: string): string {
  const parts = path.split('.');
  for (const p of parts) if (!GROUPS.has(p)) return p;
  return parts[parts.length - 1] ?? path;
}

/** The machine id of a machine actor (its logic's `id`), or undefined for other actors. */
const machineIdOf = (ref: unknown): string | undefined => {
  const logic = (ref as { logic?: { id?: unknown; root?: unknown } }).logic;
  return logic !== undefined && typeof logic.id === 'string' && logic.root !== undefined ? logic.id : undefined;
};

/**
 * An inspect callback for `createActor(…, { inspect })` that reports each transition (microstep) of
 * every machine actor in the system — the root (machines/migration) and the children it invokes
 * (device-lifecycle, svq-switch, cvq-command) — each named by its machine id, in causal order.
 * `t0` is the run's start (performance.now()).
 */
export function transitionInspector(end: 'source' | 'destination', t0: number, emit: (r: TransitionRecord) => void): (e: InspectionEvent) => void {
  const prev = new Map<string, string>();
  return (e) => {
    const snap = (e as { snapshot?: { value?: StateValue } }).snapshot;
    if (snap?.value === undefined) return;
    const machine = machineIdOf(e.actorRef);
    if (machine === undefined) return;
    const id = e.actorRef.sessionId;
    const next = statePath(snap.value);
    // the initial (or restored) state: where the first transition starts from
    if (e.type === '@xstate.snapshot') {
      if (e.event.type === 'xstate.init' || !prev.has(id)) prev.set(id, next);
      return;
    }
    // microsteps, not snapshots: a transition is reported before the actors its entry starts report theirs
    if (e.type !== '@xstate.microstep') return;
    const from = prev.get(id) ?? next;
    emit({ machine, end, from: phaseOf(from), to: phaseOf(next), fromState: from, toState: next, event: e.event.type, t: Math.round((performance.now() - t0) * 1000) / 1000 });
    prev.set(id, next);
  };
}

/** A state of one machine of the tree (dotted path within that machine, e.g. `flushing.inFlight`). */
export interface StatePoint {
  readonly machine: string;
  readonly state: string;
  readonly end?: 'source' | 'destination';
  /** The nth time it is entered (default 1). */
  readonly nth?: number;
  /**
   * Then this many more steps inside it (transitions that stay in it: the serial CVQ restore's
   * exchanges are one targetless step each) — a point in the middle of a state's work.
   */
  readonly within?: number;
}

/** Whether transition `r` enters `p`'s state (from outside it). */
export function entersPoint(p: StatePoint, r: TransitionRecord): boolean {
  if (r.machine !== p.machine || (p.end !== undefined && p.end !== r.end)) return false;
  const inside = (x: string) => x === p.state || x.startsWith(`${p.state}.`);
  return inside(r.toState) && !inside(r.fromState);
}

/** Whether transition `r` is a step inside `p`'s state (from and to it). */
export function staysIn(p: StatePoint, r: TransitionRecord): boolean {
  if (r.machine !== p.machine || (p.end !== undefined && p.end !== r.end)) return false;
  const inside = (x: string) => x === p.state || x.startsWith(`${p.state}.`);
  return inside(r.toState) && inside(r.fromState);
}

/** Whether transition `r` of machines/migration begins `phase` (see `phaseOf`). */
export const entersPhase = (phase: string, r: TransitionRecord): boolean => r.machine === 'migration' && phaseOf(r.toState) === phase && phaseOf(r.fromState) !== phase;
