/**
 * `shadowvq migrate --report FILE.html`: the page is written, holds every section with this run's
 * numbers, draws the path the machine took over its diagram, and — in headless Chromium (Debian's
 * `chromium`) — loads with no console message at all (the page has no script, and its CSP turns any
 * network reference into a console error) and shows every section. Without Chromium the browser check
 * is skipped locally with the reason printed; in CI (CI=true) it fails.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrateCli, type MigrateCliOptions } from '../../src/cli/migrate.js';
import { highlightDot, REPORT_SECTIONS } from '../../src/report/index.js';
import { toDot } from '../../src/diagrams/index.js';
import { migrationMachine } from '../../machines/migration.js';
import type { TransitionRecord } from '../../src/migrate/transitions.js';
import { CHROMIUM, chromium as chromiumIn, consoleLines, inCi } from './chromium.js';
if (CHROMIUM === undefined && !inCi) console.warn('test/report: browser check SKIPPED — chromium is not installed; run .ci/run or: apt-get install chromium');

const dir = mkdtempSync(join(tmpdir(), 'shadowvq-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base: MigrateCliOptions = { demo: true, source: 'sim', dest: 'sim', strategy: 'parallel', fault: [], ram: 8, maxRounds: 12, threshold: 64 };

async function report(name: string, o: Partial<MigrateCliOptions>): Promise<{ code: number; html: string; path: string }> {
  const path = join(dir, name);
  const code = await runMigrateCli({ ...base, ...o, report: path }, { stdout: () => {}, stderr: () => {}, tty: false });
  return { code, html: readFileSync(path, 'utf8'), path };
}

/** Headless Chromium with the flags of a clean, offline, throw-away profile (test/report/chromium.ts). */
const chromium = (args: string[]) => chromiumIn(dir, args);

let done: { code: number; html: string; path: string };
let cancelled: { code: number; html: string; path: string };
beforeAll(async () => {
  done = await report('done.html', {});
  cancelled = await report('cancelled.html', { cancelAt: 'precopy' });
}, 120_000);

describe('migrate --report', () => {
  it('one self-contained page: every section, no script, no reference outside itself', () => {
    expect(done.code).toBe(0);
    for (const id of REPORT_SECTIONS) expect(done.html).toContain(`<section id="${id}">`);
    expect(done.html).not.toMatch(/<script|<link|<iframe|\bsrc=|url\(|@import/i);
    expect(done.html).not.toMatch(/(?:href|xlink:href)="(?:https?:|\/\/)/);
    expect(done.html).toContain(`default-src 'none'`);
    expect(done.html).toContain('COMPLETED');
  });

  it("carries this run's numbers: rounds, CVQ classes, traffic, downtime", () => {
    expect(done.html).toMatch(/<p class="note">Path: source: attaching → source: setup → source: precopy → [^<]*destination: verifying → destination: running<\/p>/);
    // the demo state has 300 VLANs: one VLAN_ADD each
    expect(done.html).toMatch(/<td>2<\/td><td>VLAN<\/td><td>300<\/td>/);
    // class 4 is MQ (VQ_PAIRS_SET and RSS_CONFIG both)
    expect(done.html).toMatch(/<td>4<\/td><td>MQ<\/td><td>2<\/td><td>[\d ]+<\/td><td>MQ_VQ_PAIRS_SET, MQ_RSS_CONFIG<\/td>/);
    expect(done.html).toMatch(/<td>lost<\/td><td>0<\/td>/);
    expect(done.html).toMatch(/<td>0<\/td><td>2 048<\/td>/); // round 0 sends all of the 8 MiB: 2 048 pages
    expect(done.html).toMatch(/simulated \(\d+(\.\d+)? ms wall\), from stop-and-copy/);
  });

  it('a cancelled run: verdict ROLLED-BACK with the source intact, no switch-over, no CVQ restore', () => {
    expect(cancelled.code).toBe(0);
    expect(cancelled.html).toContain('ROLLED-BACK');
    expect(cancelled.html).toContain('source intact: yes');
    expect(cancelled.html).toContain('No switch-over');
    expect(cancelled.html).toContain('The CVQ restore did not run.');
    for (const id of REPORT_SECTIONS) expect(cancelled.html).toContain(`<section id="${id}">`);
  });

  it('the diagram highlights exactly the transitions taken: the cancelled path has the rollback, the completed path has not', () => {
    const taken = (html: string) => (html.match(/class="edge taken"/g) ?? []).length;
    expect(taken(done.html)).toBeGreaterThan(8);
    const rec = (fromState: string, toState: string, event: string): TransitionRecord => ({ machine: 'migration', end: 'source', from: fromState, to: toState, fromState, toState, event, t: 0 });
    const edges = (ts: TransitionRecord[]) =>
      highlightDot(toDot(migrationMachine), ts)
        .split('\n')
        .filter((l) => l.includes('class="taken"'))
        .map((l) => l.trim().replace(/ \[.*/, ''));
    // a CANCEL in setup leaves by the CANCEL edge of `active`; the setup effect failing leaves by error(startDirtyLog)
    const cancelInSetup = [
      rec('idle', 'source.attaching', 'MIGRATE'),
      rec('source.attaching', 'source.active.setup.startingLog', 'xstate.snapshot.device'),
      rec('source.active.setup.startingLog', 'source.rollingBack.stoppingLog', 'CANCEL'),
    ];
    expect(edges(cancelInSetup)).toEqual(['"migration.idle" -> "migration.source::init"', '"migration.source.active::init" -> "migration.source.rollingBack::init"']);
    expect(edges([rec('source.active.setup.startingLog', 'source.rollingBack.stoppingLog', 'xstate.error.actor.0.migration.source.active.setup.startingLog')])).toEqual([
      '"migration.source.active.setup.startingLog" -> "migration.source.rollingBack::init"',
    ]);
    const dot = highlightDot(toDot(migrationMachine), cancelInSetup);
    // states entered are filled; states never entered are not
    expect(dot).toContain('"migration.source.rollingBack.stoppingLog" [fillcolor="#ffe8cc"');
    expect(dot).not.toContain('"migration.source.cancelled" [fillcolor="#ffe8cc"');
  });
});

describe.skipIf(CHROMIUM === undefined && !inCi)('the report in headless Chromium', () => {
  it('loads with no console message and shows every section', async () => {
    expect(CHROMIUM, 'CI needs chromium for the report check').toBeDefined();
    for (const r of [done, cancelled]) {
      const o = await chromium(['--dump-dom', `file://${r.path}`]);
      expect(o.code, o.stderr).toBe(0);
      expect(consoleLines(o.stderr)).toEqual([]);
      for (const id of REPORT_SECTIONS) expect(o.stdout).toMatch(new RegExp(`<section id="${id}"><h2>[^<]+</h2>`));
      expect(o.stdout).toMatch(/<svg[^>]*>[\s\S]*class="edge taken"/);
    }
  }, 240_000);

  it('the check sees a console error when there is one (a network reference the CSP blocks)', async () => {
    const bad = join(dir, 'bad.html');
    writeFileSync(bad, done.html.replace('<main>', '<main><img src="http://127.0.0.1:9/x.png">'));
    const o = await chromium(['--dump-dom', `file://${bad}`]);
    expect(consoleLines(o.stderr).join('\n')).toMatch(/Content Security Policy/);
  }, 120_000);

  it('renders to a screenshot', async () => {
    const png = join(dir, 'report.png');
    const o = await chromium(['--hide-scrollbars', '--window-size=1400,2600', `--screenshot=${png}`, `file://${done.path}`]);
    expect(o.code, o.stderr).toBe(0);
    const b = readFileSync(png);
    expect(b.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(b.length).toBeGreaterThan(50_000);
  }, 120_000);
});
