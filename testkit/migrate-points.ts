/**
 * The test switches of a migration run — faults, a CANCEL at a point, a controller restart at a point —
 * as hooks on the production run options (`onWorld`, `onTransition`, `onSnapshot` and the end's
 * `EndControl`), so the controller itself carries none.
 */
import type { EndControl, MigrationPhase, RunOptions } from '../src/migrate/controller.js';
import { armFaults } from '../src/migrate/faults.js';
import { entersPhase, entersPoint, phaseOf, statePath, staysIn, type StatePoint } from '../src/migrate/transitions.js';
import type { Fault } from '../src/device/sim/faults.js';
import type { TransitionRecord } from '../src/migrate/transitions.js';

export interface TestPoints {
  /** Armed once both ends are up: CVQ faults on the destination, the rest on the source (src/migrate/faults.ts). */
  readonly faults?: readonly Fault[];
  /** Send CANCEL when this phase begins — or this state of any machine of the tree (its nth entry). */
  readonly cancelAt?: MigrationPhase | StatePoint;
  /**
   * Restart the controller (persist, stop, resume from the JSON) when this phase begins (synchronously
   * after its entry: its effect started and not finished) — or right after the step that enters this
   * state of any machine of the tree, the nth time.
   */
  readonly restartAt?: MigrationPhase | StatePoint;
}

/** `o` with the test points as hooks (the caller's own hooks still run). */
export function withTestPoints(o: RunOptions, t: TestPoints): RunOptions {
  const { faults = [], cancelAt, restartAt } = t;
  let restarted = false;
  let cancelled = false;
  let entries = 0;
  let stepsInside = 0;
  let cancelEntries = 0;
  /** Whether `r` reaches the restart point: its nth entry, then `within` steps inside it. */
  const reaches = (p: StatePoint, r: TransitionRecord): boolean => {
    const nth = p.nth ?? 1;
    if (entersPoint(p, r)) {
      stepsInside = 0;
      return ++entries === nth && (p.within ?? 0) === 0;
    }
    return entries === nth && (p.within ?? 0) > 0 && staysIn(p, r) && ++stepsInside === p.within;
  };
  const later = (control: EndControl | undefined, f: (c: EndControl) => void) => {
    if (control !== undefined) queueMicrotask(() => f(control));
  };
  return {
    ...o,
    onWorld(w) {
      const armed = armFaults({ source: w.source.dev, destination: w.destination.dev }, faults);
      return armed._tag === 'Left' ? armed : o.onWorld?.(w);
    },
    onTransition(r, control) {
      o.onTransition?.(r, control);
      if (typeof restartAt === 'object' && !restarted && reaches(restartAt, r)) {
        // after the step that entered it (the transition is reported inside it): the state as it is then
        restarted = true;
        later(control, (c) => c.restart());
      }
      if (cancelAt === undefined || cancelled) return;
      const reason = `--cancel-at ${typeof cancelAt === 'string' ? cancelAt : `${cancelAt.machine}:${cancelAt.state}`}`;
      if (typeof cancelAt === 'string' ? entersPhase(cancelAt, r) : entersPoint(cancelAt, r) && ++cancelEntries === (cancelAt.nth ?? 1)) {
        cancelled = true;
        // a phase of the root: its next event; a child's state: after the child's step
        if (typeof cancelAt === 'string') control?.send({ type: 'CANCEL', reason });
        else later(control, (c) => c.send({ type: 'CANCEL', reason }));
      }
    },
    onSnapshot(s, control) {
      o.onSnapshot?.(s, control);
      if (typeof restartAt === 'string' && !restarted && phaseOf(statePath(s.value)) === restartAt) {
        restarted = true;
        control.restart();
      }
    },
  };
}
