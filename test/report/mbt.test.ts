/**
 * `shadowvq mbt --report FILE.html` (src/report/mbt.ts): one self-contained page with every section, the
 * a diagram per machine with coverage marked, the CVQ class table, SUSPEND/RESUME and vring bases, the quirks by
 * name; `--json` carries the same facts; in headless Chromium the page loads with no console message and
 * shows a diagram per machine. Without Chromium the browser check is skipped locally with the reason; in CI it fails.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MACHINES } from '../../machines/index.js';
import { runMbtCli } from '../../src/cli/mbt.js';
import { runCoverage } from '../../src/mbt/coverage.js';
import { planMbt } from '../../src/mbt/index.js';
import { DEVICE_ROOMS } from '../../src/mbt/device.js';
import { svqScript } from '../../src/mbt/scripts.js';
import { coverageDot, MBT_REPORT_SECTIONS } from '../../src/report/mbt.js';
import { CHROMIUM, chromium, consoleLines, inCi } from './chromium.js';

if (CHROMIUM === undefined && !inCi) console.warn('test/report/mbt: browser check SKIPPED — chromium is not installed; run .ci/run or: apt-get install chromium');

const dir = mkdtempSync(join(tmpdir(), 'shadowvq-mbt-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let html = '';
let json: { machines: { id: string; transitionPairs: { covered: number; infeasible: number; total: number } }[]; conformance: { cvqClasses: { name: string; ackedOk: number }[]; quirks: { name: string }[] } };
const path = join(dir, 'mbt.html');
beforeAll(async () => {
  const out = await runMbtCli({ device: 'sim', report: path, json: true, progress: false });
  expect([0, 1]).toContain(out.code);
  expect(out.stderr).toContain(`report written to ${path}`);
  html = readFileSync(path, 'utf8');
  json = JSON.parse(out.stdout) as typeof json;
}, 240_000);

describe('mbt --report', () => {
  it('one self-contained page: every section, a diagram per machine, no script, no reference outside itself', () => {
    for (const id of MBT_REPORT_SECTIONS) expect(html).toContain(`<section id="${id}">`);
    for (const m of MACHINES) expect(html).toMatch(new RegExp(`<figure id="diagram-${m.id}"><figcaption>${m.id}</figcaption><svg`));
    expect(html).not.toMatch(/<script|<link|<iframe|\bsrc=|url\(|@import/i);
    expect(html).not.toMatch(/(?:href|xlink:href)="(?:https?:|\/\/)/);
    expect(html).toContain(`default-src 'none'`);
  });

  it('carries the same facts as --json: pairs per machine, the CVQ classes, the quirk by name', () => {
    for (const m of json.machines) expect(html).toContain(`<td>${m.id}</td><td>`);
    for (const m of json.machines) expect(html).toContain(`<td>${m.transitionPairs.covered}/${m.transitionPairs.total} (${m.transitionPairs.infeasible} infeasible)</td>`);
    expect(json.conformance.cvqClasses.map((c) => c.name)).toEqual(['MAC', 'MQ', 'GUEST_OFFLOADS', 'RX', 'VLAN', 'NOTF_COAL']);
    expect(html).toMatch(/<td>1<\/td><td>MAC<\/td><td>MAC_ADDR_SET<\/td><td>yes<\/td><td>1<\/td><td>1<\/td><td>0<\/td><td>applied<\/td>/);
    expect(html).toContain('<td>stale CVQ ack (vdpa_sim_net)</td><td>no</td>');
    expect(html).toContain('GET_VRING_BASE of the CVQ while suspended');
  });

  it('marks each transition and state: taken, impossible here, or never taken', async () => {
    // every edge of every diagram is marked one way; sim takes most, names a few impossible
    const marked = (cls: string) => (html.match(new RegExp(`<g id="edge\\d+" class="edge ${cls}">`, 'g')) ?? []).length;
    expect(marked('covered')).toBeGreaterThan(150);
    expect(marked('impossible')).toBeGreaterThan(0);
    // a machine nothing ran on: every transition is marked never taken
    const [plan] = planMbt([svqScript]);
    const { report, coverage } = await runCoverage(plan!);
    const none = coverageDot({ machine: plan!.model.machine, report, coverage: { ...coverage, transitionsTaken: new Set(), statesEntered: new Set() }, differences: [] });
    expect(E.isRight(none) && (none.right.match(/class="uncovered"/g) ?? []).length).toBe(plan!.model.edges.length + plan!.model.states.length);
    const all = coverageDot({ machine: plan!.model.machine, report, coverage, differences: [] });
    expect(E.isRight(all) && all.right.includes('class="uncovered"')).toBe(false);
  });
});

describe('mbt --report on a device run (--device sim:<profile>, compared step by step)', () => {
  it('the device run coverage, its differences, and the probes on that device: the stale ack detected by name', async () => {
    const p = join(dir, 'device.html');
    const rooms = DEVICE_ROOMS.filter((r) => r.machine.id === 'cvq-command');
    const out = await runMbtCli({ device: 'sim:vdpa_sim_net+stale', report: p, progress: false }, { rooms });
    expect(out.stderr).toContain(`report written to ${p}`);
    const page = readFileSync(p, 'utf8');
    for (const id of MBT_REPORT_SECTIONS) expect(page).toContain(`<section id="${id}">`);
    expect(page).toContain('<figure id="diagram-cvq-command">');
    expect(page).toContain('<td>stale CVQ ack (vdpa_sim_net)</td><td>DETECTED</td>');
    expect(page).toMatch(/<td>cvq-command<\/td><td>\d+\/\d+<\/td><td>\d+\/\d+<\/td><td>not measured<\/td>/);
    expect((await runMbtCli({ device: 'sim:full', walks: '3', progress: false })).code).toBe(2);
  }, 240_000);
});

describe.skipIf(CHROMIUM === undefined && !inCi)('the mbt report in headless Chromium', () => {
  it('loads with no console message and shows the a diagram per machine', async () => {
    expect(CHROMIUM, 'CI needs chromium for the report check').toBeDefined();
    const o = await chromium(dir, ['--dump-dom', `file://${path}`]);
    expect(o.code, o.stderr).toBe(0);
    expect(consoleLines(o.stderr)).toEqual([]);
    for (const id of MBT_REPORT_SECTIONS) expect(o.stdout).toMatch(new RegExp(`<section id="${id}"><h2>[^<]+</h2>`));
    expect(o.stdout.match(/<figure id="diagram-[a-z-]+"><figcaption>[a-z-]+<\/figcaption><svg[^>]*>/g)).toHaveLength(MACHINES.length);
  }, 240_000);
});
