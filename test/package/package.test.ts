/**
 * The npm package as a user gets it: `npm pack` (which builds dist/ through `prepare`), the tarball
 * installed into an empty project, and there, under plain `node` with no TypeScript loader, the public
 * API imported and a migration run on the simulator through the machines, the declarations type-checked
 * by a consumer, and the `shadowvq` bin run (--version, plan, migrate --demo --json).
 *
 * The install is offline: the empty project gets a lockfile derived from ours (the tarball plus our
 * runtime dependencies at their locked versions and integrity), and `npm ci --offline` takes them from
 * the npm cache that `npm ci` filled. If the cache lacks them, it installs the tarball from the registry.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  bin: Record<string, string>;
  exports: Record<string, unknown>;
};

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], cwd: string, timeout = 240_000): Promise<Run> {
  return new Promise((resolve) => {
    // no tsx anywhere: a clean environment without NODE_OPTIONS loaders
    const env = { ...process.env, NODE_OPTIONS: '' };
    execFile(cmd, [...args], { cwd, timeout, env, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let dir = '';
let app = '';
let tarball = '';
let installedBy = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shadowvq-pack-'));
  app = join(dir, 'app');
  const pack = await run(npm, ['pack', '--json', '--pack-destination', dir], ROOT);
  expect(pack.code, pack.stderr).toBe(0);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, info!.filename);
  const files = info!.files.map((f) => f.path);
  // what the package ships: the compiled JS with its declarations and maps, the sources the maps name, no tests
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/index.js.map', 'dist/src/index.d.ts.map', 'dist/src/cli/main.js', 'dist/machines/migration.js', 'src/index.ts', 'src/cli/bin.mjs', 'package.json', 'README.md']) {
    expect(files, f).toContain(f);
  }
  expect(files.filter((f) => f.startsWith('test/') || f.endsWith('.tsbuildinfo'))).toEqual([]);

  // an empty project whose lockfile is the tarball plus our locked runtime dependencies
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; link?: boolean; bin?: unknown; engines?: unknown }> };
  const spec = `file:../${info!.filename}`;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { shadowvq: spec } },
    'node_modules/shadowvq': { version: pkg.version, resolved: spec, license: 'MIT', dependencies: pkg.dependencies, bin: pkg.bin, engines: lock.packages['']!.engines },
  };
  for (const [k, v] of Object.entries(lock.packages)) if (k.startsWith('node_modules/') && v.dev !== true && v.link !== true) packages[k] = v;
  const { mkdirSync } = await import('node:fs');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { shadowvq: spec } }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }, null, 2));
  const offline = await run(npm, ['ci', '--offline', '--no-audit', '--no-fund'], app);
  if (offline.code === 0) installedBy = 'npm ci --offline (npm cache)';
  else {
    rmSync(join(app, 'package-lock.json'));
    const online = await run(npm, ['install', '--no-audit', '--no-fund', tarball], app);
    expect(online.code, `offline: ${offline.stderr}\nonline: ${online.stderr}`).toBe(0);
    installedBy = 'npm install (registry)';
  }
}, 400_000);

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe(`the packed package, installed into an empty project`, () => {
  it('is the package: dist/ behind exports, types and bin; tsx is not a runtime dependency', () => {
    expect(installedBy).not.toBe('');
    expect(pkg.exports['.']).toEqual({ types: './dist/src/index.d.ts', default: './dist/src/index.js' });
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    expect(Object.keys(pkg.devDependencies)).toContain('tsx');
    expect(existsSync(join(app, 'node_modules/tsx'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/shadowvq/dist/src/index.js'))).toBe(true);
  });

  it('plain node imports the public API and runs a migration on the simulator through the machines', async () => {
    writeFileSync(
      join(app, 'migrate.mjs'),
      `import { migrationMachine, runMigration, decodeStateJson, demoStateJson, FULL_PROFILE_FEATURES, planRestore } from 'shadowvq';
const state = decodeStateJson(demoStateJson());
if (state._tag !== 'Right') throw new Error('demo state');
const seen = [];
const r = await runMigration({
  source: 'sim', destination: 'sim', state: state.right, features: FULL_PROFILE_FEATURES,
  strategy: 'parallel', ramBytes: 8 << 20,
  onTransition: (t) => { if (t.machine === 'migration' && t.from !== t.to) seen.push(t.end + ':' + t.to); },
});
if (r._tag !== 'Right') throw new Error(r.left.message);
console.log(JSON.stringify({ machine: migrationMachine.id, plan: planRestore(state.right, FULL_PROFILE_FEATURES).length > 0, outcome: r.right.outcome,
  stateEqual: r.right.verdict.stateEqual, lost: r.right.traffic.lost, destination: r.right.destination.device, error: r.right.error, seen }));
`,
    );
    const o = await run(process.execPath, ['migrate.mjs'], app);
    expect(o.code, o.stderr).toBe(0);
    const r = JSON.parse(o.stdout) as Record<string, unknown>;
    expect(r).toMatchObject({ machine: 'migration', plan: true, outcome: 'completed', stateEqual: true, lost: 0 });
    expect(r.seen).toEqual([
      'source:attaching',
      'source:setup',
      'source:precopy',
      'source:stopAndCopy',
      'source:completed',
      'destination:loading',
      'destination:negotiating',
      'destination:preparing',
      'destination:startingDriver',
      'destination:restoringCvq',
      'destination:enablingQueues',
      'destination:verifying',
      'destination:running',
    ]);
  }, 120_000);

  it("a TypeScript consumer type-checks against the package's declarations", async () => {
    writeFileSync(
      join(app, 'consumer.ts'),
      `import { runMigration, migrationMachine, type MigrationSummary, type RunOptions } from 'shadowvq';
export const id: string = migrationMachine.id;
export const go = (o: RunOptions): Promise<unknown> => runMigration(o);
export const outcome = (s: MigrationSummary): 'completed' | 'rolled-back' | 'failed' => s.outcome;
// @ts-expect-error: strategy is a closed union
export const bad: RunOptions['strategy'] = 'sideways';
`,
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: [] }, files: ['consumer.ts'] }),
    );
    const o = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
    expect(o.code, o.stdout + o.stderr).toBe(0);
  }, 120_000);

  it('the shadowvq bin: --version, plan, migrate --demo --json', async () => {
    const bin = join(app, 'node_modules/.bin/shadowvq');
    const v = await run(bin, ['--version'], app);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe(pkg.version);

    const p = await run(bin, ['plan', '--state', join(app, 'node_modules/shadowvq/examples/state.json')], app);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^1 1 MAC_ADDR_SET +[0-9a-f]{12}$/m);

    const m = await run(bin, ['migrate', '--demo', '--json', '--ram', '8'], app);
    expect(m.code, m.stderr).toBe(0);
    const s = JSON.parse(m.stdout) as { outcome: string; verdict: { stateEqual: boolean }; traffic: { lost: number } };
    expect(s.outcome).toBe('completed');
    expect(s.verdict.stateEqual).toBe(true);
    expect(s.traffic.lost).toBe(0);
    // the installed CLI never loads a TypeScript loader
    expect(readFileSync(join(app, 'node_modules/shadowvq/src/cli/bin.mjs'), 'utf8')).not.toMatch(/tsx/);
  }, 120_000);
});
