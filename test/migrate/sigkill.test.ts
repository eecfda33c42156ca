/**
 * A controller process killed with SIGKILL in every migration phase: each end's machines run in a
 * supervised controller process (src/migrate/remote.ts) that persists its snapshot after every step;
 * the test kills it the moment it enters the phase, a fresh process resumes from the file, and the
 * run ends exactly as the uninterrupted one: outcome, verdict, traffic accounting, both devices' state.
 */
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MIGRATION_PHASES, type RunOptions } from '../../src/migrate/controller.js';
import { encodeStateJson } from '../../src/state/json.js';
import { migrate, type Run } from './helpers.js';

const small: Partial<RunOptions> = { framesBefore: 300, framesAfter: 300, ramBytes: 4 << 20, maxRounds: 4 };

const observed = (run: Run) => ({
  outcome: run.summary.outcome,
  error: run.summary.error,
  verdict: run.summary.verdict,
  traffic: run.summary.traffic,
  cvq: run.summary.cvq === null ? null : { commands: run.summary.cvq.commands, applied: run.summary.cvq.applied },
  rounds: run.summary.precopy.rounds.map((r) => [r.pagesSent, r.dirtyPages, r.frames]),
  source: JSON.stringify(encodeStateJson(run.source.netState())),
  destination: JSON.stringify(encodeStateJson(run.destination.netState())),
});

describe('migrate: a controller process killed with SIGKILL resumes in a fresh process', async () => {
  const baseline = observed(await migrate(small));

  it.each(MIGRATION_PHASES)('killed on entering %s: a fresh process ends as the uninterrupted run', async (phase) => {
    const children = new Map<string, ChildProcess>();
    const killed: string[] = [];
    const restarts: string[] = [];
    const run = await migrate({
      ...small,
      controllerProcess: true,
      onControllerProcess: (end, child, n) => {
        children.set(end, child);
        if (n > 0) restarts.push(`${end}#${n}`);
      },
      onTransition: (t) => {
        if (t.machine !== 'migration' || t.to !== phase || t.from === phase || killed.length > 0) return;
        // the phase's step has started in the controller: kill it there, mid-step
        const child = children.get(t.end);
        if (child?.kill('SIGKILL')) killed.push(`${t.end} in ${phase}`);
      },
    });
    expect(killed).toHaveLength(1);
    expect(restarts).toHaveLength(1);
    expect(observed(run)).toEqual(baseline);
  });
});
