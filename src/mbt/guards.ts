/**
 * Guard-outcome coverage. A guard sits on one candidate of a transition site (a state and the real
 * event it handles: `flushing.inFlight` on `awaitAcks.done`); XState tries the candidates in order.
 * Guard g of candidate i came out
 *  - true when candidate i was taken,
 *  - false when a later candidate of the same site was taken (g was tried first and failed).
 * Both are read from the transitions the real machine took. The model allows an outcome when the
 * candidate that shows it is enabled in some reachable state; a false outcome with no later candidate
 * drops the event, which no transition shows, so the model does not count it (it is listed with why).
 */
import type { MachineModel, ModelEdge } from './model.js';
import { graphOf } from './pairs.js';
import { edgeKey } from './runner.js';

export interface GuardOutcome {
  /** `<guard> @ <state> on <event>`. */
  readonly guard: string;
  readonly outcome: boolean;
  /** The candidates whose taking shows this outcome. */
  readonly shownBy: readonly ModelEdge[];
}

export interface GuardCoverage {
  readonly covered: number;
  readonly total: number;
  /** Outcomes the model allows that no run showed, with why (the harness's reason, or "not seen"). */
  readonly unseen: readonly { readonly guard: string; readonly outcome: boolean; readonly reason: string }[];
  /** Outcomes the model does not allow (not in total), with why. */
  readonly notModelled: readonly { readonly guard: string; readonly outcome: boolean; readonly reason: string }[];
}

const short = (m: MachineModel, id: string): string => id.slice(m.id.length + 1) || '(root)';

/** Every guard outcome of the machine, and whether the model allows it (else why not). */
export function guardOutcomes(m: MachineModel): { readonly allowed: GuardOutcome[]; readonly notModelled: { guard: string; outcome: boolean; reason: string }[] } {
  const enabled = new Set<string>();
  for (const node of graphOf(m).nodes.values()) for (const { edge } of node.out) enabled.add(edgeKey(edge));
  const sites = new Map<string, ModelEdge[]>();
  for (const e of m.edges) {
    const k = `${e.source}|${e.eventType}`;
    sites.set(k, [...(sites.get(k) ?? []), e]);
  }
  const allowed: GuardOutcome[] = [];
  const notModelled: { guard: string; outcome: boolean; reason: string }[] = [];
  for (const candidates of sites.values()) {
    candidates.forEach((c, i) => {
      if (c.guard === null) return;
      const guard = `${c.guard} @ ${short(m, c.source)} on ${c.trigger}${c.kind === 'event' ? '' : ` (${c.kind})`}`;
      if (enabled.has(edgeKey(c))) allowed.push({ guard, outcome: true, shownBy: [c] });
      else notModelled.push({ guard, outcome: true, reason: `model: ${c.type} is enabled in no reachable state` });
      const later = candidates.slice(i + 1);
      const shown = later.filter((x) => enabled.has(edgeKey(x)));
      if (shown.length) allowed.push({ guard, outcome: false, shownBy: shown });
      else
        notModelled.push({
          guard,
          outcome: false,
          reason: later.length ? `model: no later candidate (${later.map((x) => x.type).join(', ')}) is enabled in a reachable state` : `model: no later candidate: a false ${c.guard} drops the event, which no transition shows`,
        });
    });
  }
  return { allowed, notModelled };
}

/** Guard coverage from the transitions the machine took (edgeKey), with the harness's reasons for what it cannot show. */
export function guardCoverage(m: MachineModel, taken: ReadonlySet<string>, impossible: (e: ModelEdge) => string | undefined): GuardCoverage {
  const { allowed, notModelled } = guardOutcomes(m);
  const unseen: { guard: string; outcome: boolean; reason: string }[] = [];
  let covered = 0;
  for (const o of allowed) {
    if (o.shownBy.some((e) => taken.has(edgeKey(e)))) {
      covered++;
      continue;
    }
    const reasons = o.shownBy.map(impossible);
    const reason = reasons.every((r) => r !== undefined) ? `on this device: ${reasons[0]}` : 'not seen in any run';
    unseen.push({ guard: o.guard, outcome: o.outcome, reason });
  }
  return { covered, total: allowed.length, unseen, notModelled };
}
