import { describe, expect, it } from 'vitest';
import { assign, createActor, getInitialSnapshot } from 'xstate';
import { bind } from '../../machines/contract.js';
import { runPath, stubEffects } from '../../src/mbt/runner.js';
import { svqSwitchMachine } from '../../machines/svq-switch.js';
import { cvqCommandMachine } from '../../machines/cvq-command.js';
import { migrationMachine } from '../../machines/migration.js';
import { checkModel, deriveModel, descendants } from '../../src/mbt/model.js';
import { generatePaths } from '../../src/mbt/paths.js';
import { mbtJson, planMbt, reportComplete, runMachine, runMbt } from '../../src/mbt/index.js';
import { cvqScript, lifecycleScript, migrationScript, RUNNING_STATUS, SCRIPTED_HARNESSES, scriptedHarness, svqScript, type ScriptedHarness } from '../../src/mbt/scripts.js';

import { MACHINES } from '../../machines/index.js';

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
    expect(m.edges.filter((e) => e.source === 'cvq-command.flushing.inFlight').map((e) => e.type)).toEqual([
      'done:cvqPort.awaitAcks[wroteWrongLength]',
      'done:cvqPort.awaitAcks[!wroteWrongLength,ackedErr]',
      'done:cvqPort.awaitAcks[!wroteWrongLength,!ackedErr,unanswered]',
      'done:cvqPort.awaitAcks[!wroteWrongLength,!ackedErr,!unanswered,isReply&hasPending]',
      'done:cvqPort.awaitAcks[!wroteWrongLength,!ackedErr,!unanswered,!(isReply&hasPending),isReply]',
      'error:cvqPort.awaitAcks[ackTimedOut]',
      'error:cvqPort.awaitAcks[!ackTimedOut,deviceNeedsReset]',
      'error:cvqPort.awaitAcks[!ackTimedOut,!deviceNeedsReset,isReply]',
      'ready:cvqPort',
    ]);
    // serial: the same judgement of one command's ack; more pending stays in the state (targetless)
    const exchanging = m.edges.filter((e) => e.source === 'cvq-command.exchanging');
    expect(exchanging.map((e) => e.type)).toEqual([
      'done:cvqPort.exchange[wroteWrongLength]',
      'done:cvqPort.exchange[!wroteWrongLength,ackedErr]',
      'done:cvqPort.exchange[!wroteWrongLength,!ackedErr,unanswered]',
      'done:cvqPort.exchange[!wroteWrongLength,!ackedErr,!unanswered,isReply&hasPending]',
      'done:cvqPort.exchange[!wroteWrongLength,!ackedErr,!unanswered,!(isReply&hasPending),isReply]',
      'error:cvqPort.exchange[ackTimedOut]',
      'error:cvqPort.exchange[!ackTimedOut,deviceNeedsReset]',
      'error:cvqPort.exchange[!ackTimedOut,!deviceNeedsReset,isReply]',
      'ready:cvqPort',
    ]);
    expect(exchanging.find((e) => e.guard === 'isReply&hasPending')?.targets).toEqual([]);
  });

  it('models the composed migration: child snapshots with their guards, the invoked cvq-command, and what a state shadows', () => {
    const m = deriveModel(migrationMachine);
    const at = (source: string) => m.edges.filter((e) => e.source === `migration.${source}`);
    expect(at('source.attaching').filter((e) => e.kind === 'snapshot').map((e) => [e.type, e.kind, e.trigger, e.actor, e.src])).toEqual([
      ['snapshot:device[deviceIs(running)]', 'snapshot', 'device', 'machine', 'deviceLifecycle'],
      ['snapshot:device[!deviceIs(running),attachRefused]', 'snapshot', 'device', 'machine', 'deviceLifecycle'],
      ['snapshot:device[!deviceIs(running),!attachRefused]', 'snapshot', 'device', 'machine', 'deviceLifecycle'],
    ]);
    expect(at('destination.active.restoringCvq').map((e) => e.type)).toEqual(['done:cvqCommand[cvqRestored]', 'done:cvqCommand[!cvqRestored]', 'error:cvqCommand']);
    expect(at('destination.active.restoringCvq').every((e) => e.actor === 'machine')).toBe(true);
    // the source's own onSnapshot never fires where a phase takes every device snapshot itself
    expect(m.blocked.has('migration.source.attaching|snapshot:device')).toBe(true);
    expect(m.blocked.has('migration.source.active.precopy.round|snapshot:device')).toBe(false);
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
  it('cover every state and transition of all five machines without a failure', async () => {
    const reports = await runMbt(SCRIPTED_HARNESSES);
    for (const r of reports) {
      expect(r.failureDetails).toEqual([]);
      expect(r.uncoveredStates).toEqual([]);
      expect(r.states.covered).toBe(r.states.total);
      expect(reportComplete(r)).toBe(true);
    }
    // scripted, only the migration's two dead candidates are left, each named with its reason
    expect(reports.flatMap((r) => r.uncoveredTransitions)).toEqual([
      'migration.source.active.stopAndCopy.suspending --snapshot:device[!deviceIs(suspended),!suspendRefused,deviceIs(failed)]-->',
      'migration.source.rollingBack.awaitingSvq --snapshot:svq[!svqIs(shadow),!svqIs(failed),svqOffDeviceSuspended]-->',
    ]);
    expect(reports.flatMap((r) => r.impossible.map((i) => i.reason)).every((x) => x.includes('dead'))).toBe(true);
    const json = mbtJson(reports);
    expect(json.machines.map((m) => m.id)).toEqual(['device-lifecycle', 'svq-switch', 'svq-relayout', 'cvq-command', 'migration']);
    expect(Object.keys(json.machines[0]!)).toEqual(['id', 'states', 'transitions', 'paths', 'failures', 'impossible', 'differences', 'infeasible']);
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
    const lying = scriptedHarness({ ...base, output: (c, view, input) => (c.path === 'writeStatus' ? { status: 0x20 } : base.output!(c, view, input)) });
    const r = await runMachine({ ...plan!, harness: lying });
    expect(r.failureDetails.some((f) => f.message.includes('inconsistent status'))).toBe(true);
  });
});

describe('the composed migration', () => {
  it('catches a child whose snapshot the parent misreads (a mutant svqIs)', async () => {
    const mutant = migrationMachine.provide({ guards: { svqIs: () => false } });
    const [plan] = planMbt([migrationScript]);
    const paths = plan!.paths.filter((p) => p.steps.some((s) => s.edge.kind === 'snapshot' && s.edge.trigger === 'svq')).slice(0, 12);
    const harness = scriptedHarness({ ...scriptOf(migrationScript), machine: mutant });
    const results = [];
    for (const p of paths) results.push(await runPath(plan!.model, harness, p));
    expect(results.some((r) => r.failure !== undefined)).toBe(true);
  });

  it('persists mid-precopy with its children and resumes where it was', async () => {
    const never = <T>() => new Promise<T>(() => {});
    let rounds = 0;
    // effects that answer at once; those the path never reaches stay stubs that fail loudly
    const stub = stubEffects(migrationMachine);
    const effects = (sync: () => Promise<{ pagesSent: number; dirtyPages: number }>) => ({
      ...stub,
      deviceLifecycle: { ...stub.deviceLifecycle, readStatus: async () => ({ status: RUNNING_STATUS }), suspendDevice: async () => undefined },
      svqSwitch: {
        ...stub.svqSwitch,
        suspendDevice: async () => undefined,
        readVringBases: async ({ queues }: { queues: readonly number[] }) => ({ bases: queues.map((q) => 0x100 + q) }),
        mapShadowRings: async () => undefined,
        pointToShadow: async () => undefined,
        resumeDevice: async () => undefined,
      },
      startDirtyLog: async () => ({ shadowed: false }),
      syncDirtyLog: sync,
      drainInFlight: () => never<{ inFlight: number; svqStopped: boolean }>(),
    });
    const input = { dirtyThresholdPages: 4, maxRounds: 5, source: { offered: '0x100000000', negotiated: '0x100000000', queues: [0, 1] } };
    const a = createActor(bind(migrationMachine, effects(() => never())), { input });
    a.start();
    a.send({ type: 'MIGRATE' });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(a.getSnapshot().value).toEqual({ source: { active: { precopy: 'round' } } });
    const persisted = JSON.parse(JSON.stringify(a.getPersistedSnapshot()));
    a.stop();
    const b = createActor(bind(migrationMachine, effects(async () => ({ pagesSent: 10, dirtyPages: rounds++ === 0 ? 100 : 1 }))), { snapshot: persisted, input });
    b.start();
    expect(b.getSnapshot().context).toMatchObject({ svqEnabledByUs: true, svq: 'shadow', device: 'running' });
    expect(b.getSnapshot().children.svq?.getSnapshot()).toMatchObject({ value: 'shadow' });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(b.getSnapshot().value).toEqual({ source: { active: { stopAndCopy: 'draining' } } });
    expect(b.getSnapshot().context).toMatchObject({ round: 2, pagesSent: 20, dirtyPages: 1, device: 'suspended' });
    b.stop();
  });
});

const scriptOf = (h: ScriptedHarness) => h.script;

