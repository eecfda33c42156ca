/**
 * `npm run test:real`: the real-device suite.
 *
 *   1. host checks (no device needed): uAPI numbers vs the headers, typed errors, host memory
 *   2. guest build (scripts/vm/build-guest.sh, cached): Debian 6.12 kernel, vdpa_sim modules, base cpio
 *   3. bundle the in-guest suite with esbuild (koffi external), app cpio appended to the base cpio
 *   4. boot QEMU (TCG); the suite runs against /dev/vhost-vdpa-0 and reports on the serial console
 *   5. print per-test results, metrics, phase timings and `N passed, N failed`; exit 1 on any failure
 *      or harness error
 *
 * Without root or without the guest's packages it skips locally with the reason; with CI=true a
 * harness that cannot run is a failure. Env: SHADOWVQ_VM_CACHE (default /var/cache/shadowvq-vm),
 * SHADOWVQ_VM_TIMEOUT (s, default 900), KVER. Args: --filter TEXT, --host-only.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync, appendFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { metricLine } from './framework.js';
import { host } from './host-checks.js';
import { parseRecord, type MetricRecord, type TestRecord } from './protocol.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CACHE = process.env.SHADOWVQ_VM_CACHE ?? '/var/cache/shadowvq-vm';
const TIMEOUT_S = Number(process.env.SHADOWVQ_VM_TIMEOUT ?? 900);
const CI = process.env.CI === 'true' || process.env.CI === '1';
const MAC = '00:11:22:33:44:55';

const args = process.argv.slice(2);
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const filter = argValue('--filter');
const hostOnly = args.includes('--host-only');

const T0 = performance.now();
const phases: { name: string; ms: number }[] = [];
const stamp = (): string => `[${((performance.now() - T0) / 1000).toFixed(1).padStart(6)}s]`;
const say = (s: string): void => console.log(`${stamp()} ${s}`);

async function phase<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
  say(`▶ ${name}`);
  const t = performance.now();
  try {
    return await fn();
  } finally {
    const ms = performance.now() - t;
    phases.push({ name, ms });
    say(`  ${name}: ${(ms / 1000).toFixed(2)} s`);
  }
}

class HarnessError extends Error {}

const results: TestRecord[] = [];
const metrics: MetricRecord[] = [];

function report(r: TestRecord): void {
  results.push(r);
  const mark = r.status === 'pass' ? 'PASS' : r.status === 'skip' ? 'SKIP' : 'FAIL';
  console.log(`  ${mark} ${r.name} (${r.ms.toFixed(1)} ms)${r.detail !== undefined ? `\n       ${r.detail.split('\n').join('\n       ')}` : ''}`);
}

/** Why the guest cannot run here, or undefined. */
function cannotRun(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `needs linux/x64 (this is ${process.platform}/${process.arch})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'needs root (the guest build installs Debian packages with apt-get)';
  if (!existsSync('/usr/bin/apt-get') && !existsSync(join(CACHE, 'current-kver'))) return 'needs apt-get (Debian) to build the guest';
  return undefined;
}

function runBuildScript(): Promise<{ kernel: string; baseCpio: string; kver: string }> {
  return new Promise((resolveP, reject) => {
    const child = spawn('bash', [join(ROOT, 'scripts/vm/build-guest.sh')], {
      env: { ...process.env, SHADOWVQ_VM_CACHE: CACHE },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let lastPhase = performance.now();
    const tail: string[] = [];
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    createInterface({ input: child.stderr }).on('line', (l) => {
      if (l.startsWith('phase: ')) {
        say(`    ${l.slice(7)} (+${((performance.now() - lastPhase) / 1000).toFixed(1)} s)`);
        lastPhase = performance.now();
      } else {
        tail.push(l);
        if (tail.length > 30) tail.shift();
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /KERNEL=(\S+) BASE_CPIO=(\S+) KVER=(\S+)/.exec(out);
      if (code !== 0 || m === null) {
        reject(new HarnessError(`build-guest.sh exited ${code}\n${tail.join('\n')}`));
        return;
      }
      resolveP({ kernel: m[1]!, baseCpio: m[2]!, kver: m[3]! });
    });
  });
}

/** esbuild the guest entry into one ESM file; koffi stays external (native addon). */
async function bundle(outFile: string): Promise<void> {
  const esbuild = (await import('esbuild')) as typeof import('esbuild');
  await esbuild.build({
    entryPoints: [join(ROOT, 'test/real/guest/main.ts')],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['koffi'],
    // CommonJS dependencies (commander, fp-ts/lib) call require() for node builtins
    banner: { js: "import { createRequire as __svqCreateRequire } from 'node:module'; const require = __svqCreateRequire(import.meta.url);" },
    logLevel: 'warning',
    sourcemap: 'inline',
  });
}

/** Stage /app (bundle + koffi) and append it as a second newc archive to the cached base cpio. */
function buildInitrd(baseCpio: string, runDir: string, suite: string): string {
  const stage = join(runDir, 'app-root');
  rmSync(stage, { recursive: true, force: true });
  const app = join(stage, 'app');
  mkdirSync(join(app, 'node_modules/@koromix/koffi-linux-x64'), { recursive: true });
  copyFileSync(suite, join(app, 'suite.mjs'));
  writeFileSync(join(app, 'package.json'), '{ "type": "module", "private": true }\n');
  writeFileSync(join(app, 'mac'), `${MAC}\n`);
  writeFileSync(join(app, 'filter'), filter ?? '');
  const nm = join(ROOT, 'node_modules');
  cpSync(join(nm, 'koffi'), join(app, 'node_modules/koffi'), {
    recursive: true,
    filter: (src) => !/\/koffi\/(vendor|doc)(\/|$)|\.(cc|hh|inc)$|\/abi$/.test(src),
  });
  const native = join(nm, '@koromix/koffi-linux-x64');
  for (const f of ['package.json', 'index.js', 'linux_x64']) cpSync(join(native, f), join(app, 'node_modules/@koromix/koffi-linux-x64', f), { recursive: true });
  const cpio = spawnSync('sh', ['-c', 'find . -print0 | cpio --null -o -H newc --quiet'], { cwd: stage, maxBuffer: 256 << 20 });
  if (cpio.status !== 0) throw new HarnessError(`cpio failed: ${cpio.stderr.toString()}`);
  const initrd = join(runDir, 'initrd.cpio');
  copyFileSync(baseCpio, initrd);
  appendFileSync(initrd, cpio.stdout);
  return initrd;
}

interface GuestOutcome {
  ended: boolean;
  harnessErrors: string[];
  bootMs: number | undefined;
  suiteMs: number | undefined;
}

function boot(kernel: string, initrd: string, logFile: string): Promise<GuestOutcome> {
  return new Promise((resolveP, reject) => {
    const qargs = [
      '-accel', 'tcg', '-cpu', 'max', '-smp', '2', '-m', '1024',
      '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none',
      '-serial', 'stdio', '-no-reboot',
      '-kernel', kernel, '-initrd', initrd,
      '-append', 'console=ttyS0 quiet loglevel=3 panic=-1 no_timer_check',
    ];
    const t = performance.now();
    const child = spawn('qemu-system-x86_64', qargs, { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(logFile);
    const outcome: GuestOutcome = { ended: false, harnessErrors: [], bootMs: undefined, suiteMs: undefined };
    const timer = setTimeout(() => {
      outcome.harnessErrors.push(`guest timed out after ${TIMEOUT_S} s`);
      child.kill('SIGKILL');
    }, TIMEOUT_S * 1000);
    child.stderr.on('data', (d: Buffer) => log.write(d));
    createInterface({ input: child.stdout }).on('line', (raw) => {
      log.write(`${raw}\n`);
      const line = raw.replace(/\r$/, '');
      if (line.includes('SVQ-GUEST modules+vdpa0 ready')) {
        outcome.bootMs = performance.now() - t;
        say(`  guest up, vdpa0 created (${(outcome.bootMs / 1000).toFixed(1)} s after QEMU start)`);
      }
      if (line.startsWith('SVQ-DMESG ')) return;
      const rec = parseRecord(line);
      if (rec === undefined) return;
      switch (rec.kind) {
        case 'TEST':
          report(rec.body);
          break;
        case 'METRIC':
          metrics.push(rec.body);
          say(`  metric ${rec.body.name} = ${rec.body.value} ${rec.body.unit}${rec.body.note !== undefined ? ` (${rec.body.note})` : ''}`);
          break;
        case 'END':
          outcome.ended = true;
          outcome.suiteMs = rec.body.ms;
          break;
        case 'HARNESS-ERROR':
          outcome.harnessErrors.push(rec.body);
          say(`  guest harness error: ${rec.body}`);
          break;
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new HarnessError(`qemu-system-x86_64: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      log.end();
      if (code !== 0 && outcome.harnessErrors.length === 0 && !outcome.ended) outcome.harnessErrors.push(`qemu exited ${code}`);
      resolveP(outcome);
    });
  });
}

function finish(harnessErrors: string[]): never {
  const passed = results.filter((r) => r.status === 'pass').length;
  const failed = results.filter((r) => r.status === 'fail').length;
  const skipped = results.filter((r) => r.status === 'skip').length;
  console.log('');
  console.log('phases:');
  for (const p of phases) console.log(`  ${p.name.padEnd(34)} ${(p.ms / 1000).toFixed(2).padStart(8)} s`);
  console.log(`  ${'total'.padEnd(34)} ${((performance.now() - T0) / 1000).toFixed(2).padStart(8)} s`);
  if (metrics.length > 0) {
    console.log('metrics:');
    for (const m of metrics) console.log(`  ${metricLine(m).slice('SVQ-METRIC '.length)}`);
  }
  for (const f of results.filter((r) => r.status === 'fail')) console.log(`failed: ${f.name}`);
  for (const e of harnessErrors) console.log(`harness error: ${e}`);
  if (skipped > 0) console.log(`${skipped} skipped`);
  console.log(`${passed} passed, ${failed + harnessErrors.length} failed`);
  process.exit(failed > 0 || harnessErrors.length > 0 ? 1 : 0);
}

const runHostChecks = (): Promise<void> =>
  phase('host checks', async () => {
    await host.run(null, (line) => {
      const rec = parseRecord(line);
      if (rec?.kind === 'TEST') report(rec.body);
    }, filter);
  });

async function main(): Promise<never> {
  const why = hostOnly ? 'only host checks asked for (--host-only)' : cannotRun();
  if (why !== undefined) {
    await runHostChecks();
    if (hostOnly) finish([]);
    if (CI) finish([`real-device harness cannot run in CI: ${why}`]);
    console.log(`SKIP real-device guest: ${why}`);
    finish([]);
  }

  // one directory per run: two runs at once (two checkouts on one host) must not share a bundle or initrd
  mkdirSync(CACHE, { recursive: true });
  const runDir = mkdtempSync(join(CACHE, 'run-'));
  try {
    // the guest build installs the toolchain the host checks compile their header probe with
    const g = await phase('guest build (kernel, modules, base cpio)', () => runBuildScript());
    say(`  kernel ${g.kver}`);
    await runHostChecks();
    const hostCount = results.length;
    const suite = join(runDir, 'suite.mjs');
    await phase('bundle in-guest suite (esbuild)', () => bundle(suite));
    const initrd = await phase('initramfs (base + app)', () => buildInitrd(g.baseCpio, runDir, suite));
    const logFile = join(runDir, 'guest.log');
    const out = await phase('boot QEMU TCG + run suite', () => boot(g.kernel, initrd, logFile));
    if (out.bootMs !== undefined) metrics.push({ name: 'guest boot to vdpa0 ready', value: Math.round(out.bootMs), unit: 'ms' });
    if (out.suiteMs !== undefined) metrics.push({ name: 'in-guest suite', value: out.suiteMs, unit: 'ms' });
    const errors = [...out.harnessErrors];
    if (!out.ended) errors.push(`guest suite did not finish (see ${logFile})`);
    if (results.length === hostCount) errors.push(`no guest test reported (see ${logFile})`);
    if (errors.length > 0) {
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n') : '';
      console.log(`--- guest log tail (${logFile}) ---\n${tail}`);
    }
    // a clean run leaves nothing behind (an initrd carries node: ~100 MB); a failed one keeps its log
    if (errors.length === 0 && !results.some((r) => r.status === 'fail')) rmSync(runDir, { recursive: true, force: true });
    else console.log(`run directory kept: ${runDir}`);
    finish(errors);
  } catch (e) {
    finish([e instanceof Error ? e.message : String(e)]);
  }
}

void main();
