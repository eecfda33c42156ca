/**
 * Persisted in every state: for every state of every machine of the migration's tree — the migration
 * itself and the children it invokes (device-lifecycle on both ends, svq-switch, cvq-command) — taken
 * from the machine definitions, a run is restarted there: the root actor is stopped, its persisted
 * snapshot (children included) goes through JSON, and a fresh actor resumes from it. The resumed run
 * must end exactly as the same scenario does uninterrupted: outcome, error, verdict, traffic accounting,
 * both devices' state.
 *
 * A state is reached by the first scenario (the demo, a serial restore, faults, cancels) whose
 * uninterrupted run enters it; states no scenario of a migration can enter are listed with the reason.
 */
import { describe, expect, it } from 'vitest';
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { cvqCommandMachine } from '../../machines/cvq-command.js';
import { deviceLifecycleMachine } from '../../machines/device-lifecycle.js';
import { migrationMachine } from '../../machines/migration.js';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import { parseFault } from '../../src/device/sim/faults.js';
import { MIGRATION_PHASES, type RunOptions } from '../../src/migrate/controller.js';
import type { StatePoint as RestartPoint } from '../../src/migrate/transitions.js';
import type { TestPoints } from '../../testkit/migrate-points.js';
import type { TransitionRecord } from '../../src/migrate/transitions.js';
import { encodeStateJson } from '../../src/state/json.js';
import { migrate, type Run } from './helpers.js';

/** Every state of a machine as a dotted path (compound states too: a restart inside them counts). */
function statePaths(m: AnyStateMachine): string[] {
  const out: string[] = [];
  const walk = (n: AnyStateNode, prefix: string) => {
    for (const [k, c] of Object.entries(n.states) as [string, AnyStateNode][]) {
      const p = prefix === '' ? k : `${prefix}.${k}`;
      out.push(p);
      walk(c, p);
    }
  };
  walk(m.root, '');
  return out;
}

const fault = (spec: string) => {
  const f = parseFault(spec);
  if (f._tag === 'Left') throw new Error(f.left.message);
  return f.right;
};

interface Scenario {
  readonly name: string;
  readonly options: Partial<RunOptions> & TestPoints;
}

const small: Partial<RunOptions> & TestPoints = { framesBefore: 300, framesAfter: 300, ramBytes: 4 << 20, maxRounds: 4 };
const SCENARIOS: readonly Scenario[] = [
  { name: 'demo', options: small },
  // many round trips: a restore restarted with some commands acked and the next batch in flight
  { name: 'serial restore', options: { ...small, strategy: 'serial' } },
  { name: 'nack:VLAN_ADD', options: { ...small, faults: [fault('nack:VLAN_ADD')] } },
  { name: 'no-answer:GUEST_OFFLOADS_SET', options: { ...small, faults: [fault('no-answer:GUEST_OFFLOADS_SET')] } },
  { name: 'suspend-fails', options: { ...small, faults: [fault('suspend-fails')] } },
  { name: 'iotlb-map-fails', options: { ...small, faults: [fault('iotlb-map-fails')] } },
  { name: 'resume-fails', options: { ...small, faults: [fault('resume-fails')] } },
  { name: 'wrong-used-len:0:VLAN_ADD', options: { ...small, faults: [fault('wrong-used-len:0:VLAN_ADD')] } },
  { name: 'wrong-used-len:3:MQ_RSS_CONFIG', options: { ...small, faults: [fault('wrong-used-len:3:MQ_RSS_CONFIG')] } },
  { name: 'bad-used-id:VLAN_ADD', options: { ...small, faults: [fault('bad-used-id:VLAN_ADD')] } },
  { name: 'needs-reset:VLAN_ADD', options: { ...small, faults: [fault('needs-reset:VLAN_ADD')] } },
  // x-svq=on, the destination fails after the source's drain: the source rebuilds its stopped SVQs
  { name: 'x-svq, nack:VLAN_ADD', options: { ...small, svq: 'always', faults: [fault('nack:VLAN_ADD')] } },
  // a CANCEL that overtakes the switch to SVQ: the rollback waits for it, then undoes it
  { name: 'cancel mid-switch', options: { ...small, cancelAt: { machine: 'svq-switch', state: 'enabling.mapping' } } },
  ...MIGRATION_PHASES.map((p) => ({ name: `cancel at ${p}`, options: { ...small, cancelAt: p } })),
];

/** States a migration cannot enter, and why (a restart there has nothing to resume). */
const UNREACHABLE: Readonly<Record<string, string>> = {
  'migration idle': 'the initial state, left by the first event: a snapshot there is a fresh actor',
  'cvq-command queued': 'the initial state, left by the FLUSH its parent sends on entry',
  'migration destination.rejected': 'a record the source made is always valid (test/machines and the fuzzers feed broken ones)',
  'device-lifecycle needsReset': 'entered on DEVICE_ERROR, which no migration step sends',
  'device-lifecycle failed': 'the lifecycle fails only on a status ioctl error; no simulator fault makes one',
  'device-lifecycle failed.reporting': 'as device-lifecycle failed',
  'device-lifecycle failed.givenUp': 'as device-lifecycle failed',
  'svq-switch disabling.rollingBack': 'a failing disable step needs a fault that spares the enable (resume-fails fails the enable first)',
};

const MACHINES: readonly AnyStateMachine[] = [migrationMachine, deviceLifecycleMachine, svqSwitchMachine, cvqCommandMachine];

/** What must not change when a run is restarted: everything the guest and the operator can observe. */
function observed(run: Run) {
  const s = run.summary;
  return {
    outcome: s.outcome,
    error: s.error,
    verdict: s.verdict,
    traffic: s.traffic,
    cvq: s.cvq === null ? null : { commands: s.cvq.commands, applied: s.cvq.applied, acksOk: s.cvq.acksOk, acksErr: s.cvq.acksErr },
    rounds: s.precopy.rounds.map((r) => [r.pagesSent, r.dirtyPages, r.frames]),
    source: JSON.stringify(encodeStateJson(run.source.netState())),
    destination: JSON.stringify(encodeStateJson(run.destination.netState())),
    sourceSuspended: run.source.isSuspended(),
  };
}

describe('migrate: persisted in every state of every machine, resumed by a fresh actor', async () => {
  // uninterrupted runs, and which (end, machine, state) each enters
  const baseline = new Map<string, { readonly run: Run; readonly visited: ReadonlySet<string> }>();
  for (const sc of SCENARIOS) {
    const ts: TransitionRecord[] = [];
    const run = await migrate({ ...sc.options, onTransition: (t) => ts.push(t) });
    const visited = new Set<string>();
    for (const t of ts) {
      const parts = t.toState.split('.');
      for (let i = 1; i <= parts.length; i++) visited.add(`${t.end} ${t.machine} ${parts.slice(0, i).join('.')}`);
    }
    baseline.set(sc.name, { run, visited });
  }

  const cases: { readonly label: string; readonly scenario: Scenario; readonly point: RestartPoint }[] = [];
  const missing: string[] = [];
  for (const m of MACHINES) {
    for (const state of statePaths(m)) {
      let found = false;
      for (const end of ['source', 'destination'] as const) {
        const sc = SCENARIOS.find((x) => baseline.get(x.name)!.visited.has(`${end} ${m.id} ${state}`));
        if (sc === undefined) continue;
        found = true;
        // mid-restore: a serial restore with its first command acked and the second in flight (the
        // exchanges are steps inside `exchanging`); a batch after the first otherwise
        const serial = m.id === 'cvq-command' && state === 'exchanging';
        const point: RestartPoint = serial ? { machine: m.id, state, end, nth: 1, within: 1 } : { machine: m.id, state, end, nth: 1 };
        cases.push({ label: `${end} ${m.id} ${state} (${sc.name})`, scenario: sc, point });
      }
      if (!found) missing.push(`${m.id} ${state}`);
    }
  }

  it('every state is reached by some scenario, or named with the reason it cannot be', () => {
    expect(missing.sort()).toEqual(Object.keys(UNREACHABLE).sort());
    expect(cases.length).toBeGreaterThan(60);
  });

  it.each(cases.map((c) => [c.label, c] as const))('restarted in %s: same end as uninterrupted', async (_, c) => {
    const restarts: { end: string; json: string }[] = [];
    const run = await migrate({ ...c.scenario.options, restartAt: c.point, onRestart: (end, json) => restarts.push({ end, json }) });
    expect(restarts).toHaveLength(1);
    // the snapshot holds the children: the one restarted in is among them (or is the root)
    const snap = JSON.parse(restarts[0]!.json) as { children: Record<string, unknown> };
    if (c.point.machine !== 'migration') expect(Object.keys(snap.children).length).toBeGreaterThan(0);
    if (c.point.within !== undefined) {
      // persisted mid-restore: the first command acked, the second on the wire
      const cvq = (snap.children as Record<string, { snapshot?: { context?: { applied: number; inFlight: number; cursor: number } } }>)['cvq']?.snapshot?.context;
      expect(cvq).toMatchObject({ applied: 1, inFlight: 1, cursor: 2 });
    }
    expect(observed(run)).toEqual(observed(baseline.get(c.scenario.name)!.run));
  });
});
