/**
 * Entry point of the in-guest suite (bundled into /app/suite.mjs by test/real/bundle.ts):
 *   node suite.mjs --device vdpa:/dev/vhost-vdpa-0 --mac 00:11:22:33:44:55 [--filter TEXT]
 * Prints one protocol line per test / metric and a final SVQ-END line; exit code 0 iff nothing failed.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { metricLine, type Suite } from '../framework.js';
import { encodeRecord } from '../protocol.js';
import { basics } from './basics.js';
import { cvq } from './cvq.js';
import { dataplane } from './dataplane.js';
import { kernelDriver } from './kernel-driver.js';
import { lifecycle } from './lifecycle.js';
import { mbt } from './mbt.js';
import { migration } from './migration.js';
import { svq } from './svq.js';
import { makeContext, parseMac, type GuestContext } from './context.js';

/** Every suite, in run order. Later sessions add the SVQ dataplane and the machines' model paths here. */
export const SUITES: readonly Suite<GuestContext>[] = [basics, lifecycle, cvq, dataplane, svq, migration, mbt, kernelDriver];

const emit = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

async function main(): Promise<number> {
  const program = new Command()
    .name('shadowvq-real-suite')
    .requiredOption('--device <spec>', 'device spec, vdpa:/dev/vhost-vdpa-N')
    .option('--mac <mac>', 'MAC address vdpa0 was created with', '00:11:22:33:44:55')
    .option('--filter <text>', 'run only tests whose name contains TEXT')
    .option('--filter-file <path>', 'read the filter text from a file')
    .option('--list', 'list test names and exit')
    .exitOverride();
  program.parse(process.argv);
  const opts = program.opts<{ device: string; mac: string; filter?: string; filterFile?: string; list?: boolean }>();
  const filter = opts.filterFile !== undefined ? readFileSync(opts.filterFile, 'utf8').trim() || undefined : opts.filter;
  if (opts.list) {
    for (const s of SUITES) for (const n of s.names()) emit(n);
    return 0;
  }
  const mac = parseMac(opts.mac);
  if (mac === undefined) {
    emit(encodeRecord({ kind: 'HARNESS-ERROR', body: `bad --mac ${opts.mac}` }));
    return 2;
  }
  const ctx = makeContext(opts.device, mac, emit, metricLine);
  const t0 = performance.now();
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const s of SUITES) {
    const r = await s.run(ctx, emit, filter);
    passed += r.passed;
    failed += r.failed;
    skipped += r.skipped;
  }
  emit(encodeRecord({ kind: 'END', body: { passed, failed, skipped, ms: Math.round(performance.now() - t0) } }));
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    emit(encodeRecord({ kind: 'HARNESS-ERROR', body: `suite crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`.replace(/\n/g, ' | ') }));
    process.exitCode = 2;
  },
);
