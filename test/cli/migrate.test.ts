import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MIGRATION_PHASES } from '../../src/migrate/controller.js';
import { runMigrateCli } from '../../src/cli/migrate.js';

interface Out {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `shadowvq …` in a child process (stderr is a pipe, not a terminal: one progress line per phase). */
function shadowvq(...args: string[]): Promise<Out> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const noStack = (o: Out) => expect(o.stderr + o.stdout).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('shadowvq migrate (CLI, child processes)', () => {
  it('--demo --json: one JSON object with the documented summary; a progress line per phase on stderr', async () => {
    const o = await shadowvq('migrate', '--demo', '--json', '--ram', '8');
    noStack(o);
    expect(o.code).toBe(0);
    const lines = o.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!) as Record<string, any>;
    expect(Object.keys(s).sort()).toEqual(
      ['cvq', 'destination', 'downtime', 'error', 'exitCode', 'faults', 'notes', 'outcome', 'phases', 'precopy', 'source', 'stopAndCopy', 'strategy', 'traffic', 'transitions', 'unfiredFaults', 'verdict', 'wallMs'].sort(),
    );
    expect(s.outcome).toBe('completed');
    expect(s.verdict).toEqual({ stateEqual: true, differences: [], ramEqual: true, sourceIntact: null });
    expect(s.traffic.lost).toBe(0);
    expect(s.traffic.sent).toBe(s.traffic.received);
    expect(s.traffic.inFlightAtSuspend).toBeGreaterThan(0);
    for (const p of s.phases) {
      expect(Object.keys(p).sort()).toEqual(['end', 'phase', 'simUs', 'wallMs']);
      expect(p.wallMs).toBeGreaterThanOrEqual(0);
    }
    for (const r of s.precopy.rounds) expect(Object.keys(r).sort()).toEqual(['dirtyPages', 'frames', 'pagesSent', 'round', 'wireUs']);
    expect(s.cvq.acksOk).toBe(s.cvq.commands);
    expect(s.downtime.simUs).toBeGreaterThan(0);
    for (const phase of [...MIGRATION_PHASES, 'running']) {
      expect(o.stderr).toMatch(new RegExp(`\\] (source|destination) +${phase}\\n`));
    }
  });

  it('--events: a JSON line per machine transition, in time order, then the summary on stderr', async () => {
    const o = await shadowvq('migrate', '--demo', '--events', '--ram', '8');
    noStack(o);
    expect(o.code).toBe(0);
    const events = o.stdout.trim().split('\n').map((l) => JSON.parse(l) as { machine: string; end: string; from: string; to: string; event: string; t: number; state: string });
    for (const e of events) expect(Object.keys(e).sort()).toEqual(['end', 'event', 'from', 'machine', 'state', 't', 'to']);
    expect(events.find((e) => e.machine === 'migration' && e.from === 'precopy' && e.to === 'stopAndCopy')).toMatchObject({ end: 'source', state: 'source.active.stopAndCopy.suspending' });
    expect(events.find((e) => e.machine === 'migration' && e.to === 'running')).toMatchObject({ end: 'destination', from: 'verifying' });
    // every machine of the tree, seen through the actor system's inspection: the children included
    expect(new Set(events.map((e) => e.machine))).toEqual(new Set(['migration', 'device-lifecycle', 'svq-switch', 'cvq-command']));
    // the children's transitions come from the same actors the migration invokes: ATTACH, ENABLE, START …
    expect(events.find((e) => e.machine === 'device-lifecycle' && e.end === 'source' && e.event === 'ATTACH')).toBeDefined();
    expect(events.find((e) => e.machine === 'device-lifecycle' && e.end === 'destination' && e.event === 'START')).toBeDefined();
    expect(events.find((e) => e.machine === 'svq-switch' && e.event === 'ENABLE')).toMatchObject({ end: 'source', to: 'suspending' });
    expect(events.find((e) => e.machine === 'cvq-command' && e.event === 'FLUSH')).toMatchObject({ end: 'destination' });
    for (let i = 1; i < events.length; i++) expect(events[i]!.t).toBeGreaterThanOrEqual(events[i - 1]!.t);
    expect(o.stderr).toContain('verdict: destination state == source state');
  });

  it('--fault and --cancel-at end rolled back with the source intact (exit 0: the failure was asked for)', async () => {
    const [nack, cancel] = await Promise.all([
      shadowvq('migrate', '--demo', '--json', '--ram', '8', '--fault', 'nack:VLAN_ADD'),
      shadowvq('migrate', '--demo', '--json', '--ram', '8', '--cancel-at', 'precopy'),
    ]);
    for (const o of [nack, cancel]) {
      noStack(o);
      expect(o.code).toBe(0);
      const s = JSON.parse(o.stdout) as Record<string, any>;
      expect(s.outcome).toBe('rolled-back');
      expect(s.verdict.sourceIntact).toBe(true);
      expect(s.traffic.lost).toBe(0);
    }
    expect(JSON.parse(nack.stdout).error).toMatch(/VLAN_ADD/);
    expect(JSON.parse(cancel.stdout).error).toBe('cancelled: --cancel-at precopy');
  });

  it('the text summary draws the rounds and the downtime (in process)', async () => {
    let stdout = '';
    let stderr = '';
    const code = await runMigrateCli(
      { demo: true, source: 'sim', dest: 'sim', strategy: 'indirect', fault: [], ram: 8, maxRounds: 12, threshold: 64 },
      { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), tty: false },
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/round +0 │█+/);
    expect(stdout).toMatch(/restoringCvq +│█+/);
    expect(stdout).toContain('none lost');
    expect(stdout).toContain('CVQ parallel-indirect');
    // one line per phase entered, and the two final states
    expect(stderr.split('\n').filter((l) => l !== '')).toHaveLength(MIGRATION_PHASES.length + 2);
  });
});

describe('shadowvq migrate progress on a terminal', () => {
  it('draws a precopy bar (dirty pages left) and a CVQ bar (commands acked)', async () => {
    const { PassThrough } = await import('node:stream');
    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
    let drawn = '';
    tty.on('data', (d: Buffer) => (drawn += d.toString()));
    const code = await runMigrateCli(
      { demo: true, source: 'sim', dest: 'sim', strategy: 'parallel', fault: [], ram: 8, maxRounds: 12, threshold: 64 },
      { stdout: () => {}, stderr: () => {}, tty: true, barStream: tty },
    );
    expect(code).toBe(0);
    expect(drawn).toMatch(/precopy +│[█░]+│ round \d+ · \d+ dirty pages left/);
    expect(drawn).toMatch(/CVQ restore +│█+│ 309\/309 acked · \d+ round trips/);
    expect(drawn).toContain('destination → running');
  });
});
