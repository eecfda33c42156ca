import { describe, expect, it } from 'vitest';
import { assign, createActor, fromPromise, getInitialSnapshot } from 'xstate';
import type { DirtyRound } from '../../machines/migration.js';
import { deviceLifecycleMachine } from '../../machines/device-lifecycle.js';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import { cvqCommandMachine } from '../../machines/cvq-command.js';
import { migrationMachine } from '../../machines/migration.js';
import { checkModel, deriveModel, descendants } from '../../src/mbt/model.js';
import { generatePaths } from '../../src/mbt/paths.js';
import { mbtJson, planMbt, runMachine, runMbt } from '../../src/mbt/index.js';
import { cvqScript, lifecycleScript, SCRIPTED_HARNESSES, svqScript } from '../../src/mbt/scripts.js';
import { scriptedHarness, type ScriptedHarness } from '../../src/mbt/runner.js';

const MACHINES = [deviceLifecycleMachine, svqSwitchMachine, cvqCommandMachine, migrationMachine];

describe('effect-free models', () => {
  it.each(MACHINES.map((m) => [m.id, m] as const))('%s: the model has the machine\'s states and transitions, and no effects', (_, machine) => {
    const m = deriveModel(machine);
    expect(checkModel(m)).toEqual([]);
    expect(new Set(descendants(m.model.root).map((n) => n.id))).toEqual(new Set(descendants(machine.root).map((n) => n.id)));
    // one model event per transition candidate of the machine
    const candidates = [machine.root, ...descendants(machine.root)].reduce((n, s) => n + [...s.transitions.values()].reduce((k, ts) => k + ts.length, 0), 0);
    expect(m.edges.length).toBe(candidates);
    for (const n of descendants(m.model.root)) {
      expect(n.invoke).toEqual([]);
      expect(n.after).toEqual([]);
      expect(n.always ?? []).toEqual([]);
    }
    expect(new Set([...descendants(m.model.root), m.model.root].flatMap((n) => [...n.transitions.keys()]))).toEqual(new Set(m.eventTypes));
  });

  it('names guarded candidates after their guards and the guards before them', () => {
    const m = deriveModel(cvqCommandMachine);
    expect(m.edges.filter((e) => e.source === 'cvq-command.inFlight').map((e) => e.type)).toEqual([
      'done:awaitAcks[wroteWrongLength]',
      'done:awaitAcks[!wroteWrongLength,ackedErr]',
      'done:awaitAcks[!wroteWrongLength,!ackedErr,hasPending]',
      'done:awaitAcks[!wroteWrongLength,!ackedErr,!hasPending]',
      'error:awaitAcks[ackTimedOut]',
      'error:awaitAcks[!ackTimedOut]',
      'after:ackTimeout',
    ]);
  });

  it('paths: a shortest path per reachable state, every transition taken by some path', () => {
    for (const machine of MACHINES) {
      const m = deriveModel(machine);
      const set = generatePaths(m);
      const shortest = set.paths.filter((p) => p.kind === 'shortest');
      const reached = new Set(shortest.map((p) => JSON.stringify(p.steps.at(-1)?.value ?? getInitialSnapshot(m.model).value)));
      expect(reached.size).toBe(shortest.length);
      const taken = new Set(set.paths.flatMap((p) => p.steps.map((s) => `${s.edge.source} ${s.edge.type}`)));
      expect(taken).toEqual(new Set(m.edges.map((e) => `${e.source} ${e.type}`)));
    }
  });
});


describe('model-based paths on the real machines with scripted actors', () => {
  it('cover every state and transition of all four machines without a failure', async () => {
    const reports = await runMbt(SCRIPTED_HARNESSES);
    for (const r of reports) {
      expect(r.failureDetails).toEqual([]);
      expect(r.uncoveredStates).toEqual([]);
      expect(r.uncoveredTransitions).toEqual([]);
      expect(r.states.covered).toBe(r.states.total);
      expect(r.transitions.covered).toBe(r.transitions.total);
    }
    const json = mbtJson(reports);
    expect(json.machines.map((m) => m.id)).toEqual(['device-lifecycle', 'svq-switch', 'cvq-command', 'migration']);
    expect(Object.keys(json.machines[0]!)).toEqual(['id', 'states', 'transitions', 'paths', 'failures']);
  });

  // mutants: the same model paths must catch a machine whose behaviour changed
  it('catch a guard that no longer fires (ERR acks taken as OK)', async () => {
    const mutant = cvqCommandMachine.provide({ guards: { ackedErr: () => false } });
    const [plan] = planMbt([cvqScript]);
    const r = await runMachine({ ...plan!, harness: scriptedHarness({ ...scriptOf(cvqScript), machine: mutant }) });
    expect(r.failures).toBeGreaterThan(0);
    expect(r.failureDetails.some((f) => f.message.includes('the model says "ackErr"'))).toBe(true);
  });

  it('catch an action that breaks an invariant (rollback steps not recorded)', async () => {
    const mutant = svqSwitchMachine.provide({ actions: { markStep: assign({ progress: ({ context }) => [...context.progress, 'mapped' as const] }) } });
    const [plan] = planMbt([svqScript]);
    const r = await runMachine({ ...plan!, harness: scriptedHarness({ ...scriptOf(svqScript), machine: mutant }) });
    expect(r.failureDetails.some((f) => f.message.includes('invariant'))).toBe(true);
  });

  it('catch a status write the device reports differently', async () => {
    const [plan] = planMbt([lifecycleScript]);
    const base = scriptOf(lifecycleScript);
    const lying = scriptedHarness({ ...base, output: (edge, view, input) => (edge.trigger === 'writeStatus' ? { status: 0x20 } : base.output!(edge, view, input)) });
    const r = await runMachine({ ...plan!, harness: lying });
    expect(r.failureDetails.some((f) => f.message.includes('inconsistent status'))).toBe(true);
  });
});

describe('migration snapshots', () => {
  it('persist mid-precopy and restore to continue where they were', async () => {
    const pending = <O, I>() => fromPromise<O, I>(() => new Promise<O>(() => {}));
    const machine = migrationMachine.provide({
      actors: { enableSvq: fromPromise<{ switched: boolean }, void>(async () => ({ switched: true })), syncDirtyLog: pending<DirtyRound, { round: number }>() },
    });
    const a = createActor(machine, { input: { dirtyThresholdPages: 4, maxRounds: 5 } });
    a.start();
    a.send({ type: 'MIGRATE' });
    await new Promise((r) => setImmediate(r));
    expect(a.getSnapshot().value).toEqual({ source: { active: { precopy: 'round' } } });
    const persisted = JSON.parse(JSON.stringify(a.getPersistedSnapshot()));
    a.stop();
    let rounds = 0;
    const resumed = migrationMachine.provide({
      actors: {
        syncDirtyLog: fromPromise<DirtyRound, { round: number }>(async () => ({ pagesSent: 10, dirtyPages: rounds++ === 0 ? 100 : 1 })),
        suspendSource: fromPromise<void, void>(async () => undefined),
        drainInFlight: pending<{ inFlight: number }, void>(),
      },
    });
    const b = createActor(resumed, { snapshot: persisted, input: { dirtyThresholdPages: 4, maxRounds: 5 } });
    b.start();
    expect(b.getSnapshot().context.svqEnabledByUs).toBe(true);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(b.getSnapshot().value).toEqual({ source: { active: { stopAndCopy: 'draining' } } });
    expect(b.getSnapshot().context).toMatchObject({ round: 2, pagesSent: 20, dirtyPages: 1 });
    b.stop();
  });
});

const scriptOf = (h: ScriptedHarness) => h.script;
