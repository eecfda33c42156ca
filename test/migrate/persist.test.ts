import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeStateJson } from '../../src/state/json.js';
import { viewThrough } from '../../src/state/view.js';
import { MIGRATION_PHASES, type MigrationPhase } from '../../src/migrate/controller.js';
import { phaseOf, statePath } from '../../src/migrate/transitions.js';
import { demoState, expectCompleted, migrate } from './helpers.js';

describe('migrate: a controller restarted in the middle of any phase resumes from the persisted snapshot', () => {
  it.each(MIGRATION_PHASES)('killed in %s: snapshot → JSON → fresh actor → completed', async (phase) => {
    const restarts: { end: string; json: string }[] = [];
    const run = await migrate({ restartAt: phase, onRestart: (end, json) => restarts.push({ end, json }) });
    expect(restarts).toHaveLength(1);
    const snap = JSON.parse(restarts[0]!.json) as { status: string; value: never; context: { role: string } };
    // the snapshot was taken inside the phase, with its effect still in flight
    expect(snap.status).toBe('active');
    expect(phaseOf(statePath(snap.value))).toBe(phase);
    expect(snap.context.role).toBe(restarts[0]!.end);
    expectCompleted(run);
  });

  it('a destination snapshot resumes in another process on a fresh device (loading, negotiating)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shadowvq-resume-'));
    for (const phase of ['loading', 'negotiating'] as MigrationPhase[]) {
      let handoff: string | undefined;
      const run = await migrate({
        restartAt: phase,
        onRestart: (end, json) => {
          if (end === 'destination') handoff = json;
        },
      });
      expectCompleted(run);
      expect(handoff).toBeDefined();
      const rings = run.world.source.path.queues.map((q) => [q.qi, { size: q.config.size, addrs: q.config.addrs }]);
      const file = join(dir, `${phase}.json`);
      writeFileSync(file, JSON.stringify({ snapshot: JSON.parse(handoff!), rings, ramBytes: 8 << 20 }));
      const child = spawnSync(process.execPath, ['--import', 'tsx', 'test/migrate/fixtures/resume-destination.ts', file], { encoding: 'utf8', timeout: 60_000 });
      expect(child.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(child.status).toBe(0);
      const out = JSON.parse(child.stdout) as { resumedAt: string; state: string; error: string | null; verified: boolean; device: unknown };
      expect(phaseOf(out.resumedAt)).toBe(phase);
      expect(out).toMatchObject({ state: 'destination.running', error: null, verified: true });
      // the restarted process's device holds the source's state
      const negotiated = BigInt(run.summary.source.negotiated);
      expect(out.device).toEqual(JSON.parse(JSON.stringify(encodeStateJson(viewThrough(demoState(), negotiated)))));
    }
  });
});
