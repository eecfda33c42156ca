import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { exitStatus, runMigrateCli } from '../../src/cli/migrate.js';
import { demoState, migrate } from '../migrate/helpers.js';

async function cli(...args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'shadowvq', ...args], { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('shadowvq usage errors (in process): a message and exit status 2', () => {
  it.each([
    [['migrate', '--demo', '--strategy', 'fast'], /Allowed choices are serial, parallel, indirect/],
    [['migrate', '--demo', '--cancel-at', 'nowhere'], /Allowed choices are attaching, setup, precopy, stopAndCopy, loading/],
    [['migrate', '--demo', '--fault', 'nack'], /nack needs the commands/],
    [['migrate', '--demo', '--fault', 'nack:VLAN_FLY'], /unknown CVQ command "VLAN_FLY"/],
    [['migrate', '--demo', '--fault', 'delay-ack:soon'], /<us> must be a decimal integer in 0\.\.4294967295/],
    [['migrate', '--demo', '--features', 'CTRL_VQ,WARP'], /unknown feature name "WARP"/],
    [['migrate', '--demo', '--features', 'CTRL_VLAN,VERSION_1'], /inconsistent feature set/],
    [['migrate', '--demo', '--dest', 'tcp:host'], /expected sim, sim:<profile>, sim:vdpa_sim_net\+stale, vdpa:\/dev\/vhost-vdpa-N/],
    [['migrate', '--demo', '--dest', 'sim:nope'], /unknown profile "nope"/],
    [['migrate', '--demo', '--dest', 'vdpa:/tmp/x'], /vdpa:\/dev\/vhost-vdpa-N/],
    [['migrate', '--demo', '--source', 'vdpa:/dev/vhost-vdpa-0'], /the source is the embedded simulator/],
    [['migrate', '--demo', '--ram', 'lots'], /--ram must be a decimal integer in 4\.\.1024/],
    [['migrate', '--demo', '--ram', '2'], /--ram must be a decimal integer in 4\.\.1024/],
    [['migrate', '--demo', '--max-rounds', '0'], /--max-rounds must be a decimal integer/],
    [['migrate', '--state', '/nonexistent/state.json'], /cannot read state file \/nonexistent\/state.json/],
    [['migrate', '--demo', '--state', 'examples/state.json'], /--demo brings its own state/],
    [['migrate'], /give --state FILE/],
    [['migrate', '--demo', '--frobnicate'], /unknown option '--frobnicate'/],
    [['migrate-please'], /unknown command 'migrate-please'/],
  ])('%j', async (args, message) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.out).toBe('');
  });

  it('an invalid state file names every failing path', async () => {
    let err = '';
    const bad = JSON.stringify({ ...JSON.parse(readFileSync('examples/state.json', 'utf8')), queuePairs: 0, vlans: [4096] });
    await expect(
      runMigrateCli({ state: 'x.json', source: 'sim', dest: 'sim', strategy: 'parallel', fault: [], ram: 8, maxRounds: 12, threshold: 64 }, { stdout: () => {}, stderr: (s) => (err += s), tty: false, readFile: () => bad }),
    ).rejects.toThrow(/queuePairs: expected an integer in 1\.\.32768[\s\S]*vlans\[0\]/);
    expect(err).toBe('');
  });
});

describe('shadowvq help and version (in process)', () => {
  it('--version is package.json\'s; --help lists every command; migrate --help every option', async () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(await cli('--version')).toMatchObject({ code: 0, out: `${pkg.version}\n` });
    const h = await cli('--help');
    expect(h.code).toBe(0);
    for (const c of ['migrate', 'plan', 'mbt', 'diagrams', 'ring-demo']) expect(h.out).toContain(c);
    const m = await cli('migrate', '--help');
    expect(m.code).toBe(0);
    for (const opt of ['--demo', '--state', '--source', '--dest', '--strategy', '--features', '--json', '--events', '--fault', '--cancel-at']) expect(m.out).toContain(opt);
  });
});

describe('shadowvq migrate exit status', () => {
  it('0 for a clean completion or an asked-for rollback that left the source intact, else 1', async () => {
    const done = (await migrate()).summary;
    expect(exitStatus(done, false)).toBe(0);
    expect(exitStatus({ ...done, traffic: { ...done.traffic, lost: 1 } }, false)).toBe(1);
    expect(exitStatus({ ...done, verdict: { ...done.verdict, stateEqual: false } }, false)).toBe(1);
    const cancelled = (await migrate({ cancelAt: 'loading' })).summary;
    expect(exitStatus(cancelled, true)).toBe(0);
    expect(exitStatus(cancelled, false)).toBe(1);
    expect(exitStatus({ ...cancelled, verdict: { ...cancelled.verdict, sourceIntact: false } }, true)).toBe(1);
    void demoState;
  });
});

describe('shadowvq bad flags in a child process: exit 2, a message, no stack trace', () => {
  it.each([
    [['migrate', '--strategy', 'fast', '--demo'], /Allowed choices/],
    [['migrate', '--fault', 'bogus', '--demo'], /unknown fault "bogus"/],
    [['migrate'], /give --state FILE/],
  ])('%j', (args, message) => {
    const p = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 30_000 });
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(message);
    expect(p.stderr).not.toMatch(/\n\s+at /);
    expect(p.stdout).toBe('');
  });
});
