/**
 * CLI fuzzing: random argument vectors for `shadowvq` — real subcommands with real and junk options,
 * option values of the wrong kind, missing values, unknown flags, files that are missing, directories,
 * invalid or hostile state files, and (issue 17) endless and oversized inputs: /dev/zero, a FIFO, a
 * 3 GB sparse file, a file just past the 4 MiB limit, a flood of bad entries, keys carrying ANSI escapes
 * and control characters, numbers no double holds, counts past their maxima, fault specs with extra or
 * too-wide fields. Each vector runs in-process (`runCli`, stdout/stderr captured) or, for a few, as a
 * child process (`tsx src/cli/main.ts`). The outcome must be exit status 0, or 2 with a message on
 * stderr — never a stack trace, never a silent failure, never a report longer than 64 KiB, never a raw
 * control character echoed, never "got null".
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { runCli } from '../../src/cli/program.js';
import { encodeStateJson } from '../../src/state/json.js';
import { resetNetState } from '../../src/state/net-state.js';
import { Violations, type AnyFuzzTarget, type Verdict } from './target.js';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Files the vectors point at (made once per process). */
export interface CliFixtures {
  readonly valid: string;
  readonly invalid: string;
  readonly deep: string;
  readonly notJson: string;
  readonly dir: string;
  readonly missing: string;
  /** A 3 GB sparse file, a file 10 bytes past the 4 MiB limit, /dev/zero, a FIFO nobody writes. */
  readonly huge: string;
  readonly over: string;
  readonly zero: string;
  readonly fifo: string;
  /** 200 000 bad VLANs; keys with ANSI escapes and control characters; numbers no double holds. */
  readonly flood: string;
  readonly ansi: string;
  readonly inexact: string;
}

let fixtures: CliFixtures | undefined;
export function cliFixtures(): CliFixtures {
  if (fixtures !== undefined) return fixtures;
  const dir = mkdtempSync(join(tmpdir(), 'shadowvq-fuzz-'));
  const valid = encodeStateJson({ ...resetNetState('52:54:00:12:34:56'), coalescing: { tx: { maxPackets: 0, maxUsecs: 0 }, rx: { maxPackets: 1, maxUsecs: 1 } } }) as unknown as Record<string, unknown>;
  const f = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  fixtures = {
    valid: f('valid.json', JSON.stringify(encodeStateJson(resetNetState('52:54:00:12:34:56')))),
    invalid: f('invalid.json', '{"mac": 5, "queuePairs": -1, "__proto__": {"polluted": true}}'),
    deep: f('deep.json', `{"mac":${'['.repeat(6000)}${']'.repeat(6000)}}`),
    notJson: f('not.json', '{"mac": '),
    dir,
    missing: join(dir, 'does-not-exist.json'),
    huge: f('huge.json', ''),
    over: f('over.json', `{${' '.repeat((4 << 20) + 8)}}`),
    zero: '/dev/zero',
    fifo: join(dir, 'fifo'),
    flood: f('flood.json', JSON.stringify({ ...valid, vlans: Array.from({ length: 200_000 }, () => 5000) })),
    ansi: f('ansi.json', JSON.stringify({ ...valid, '\u001b[31mred\u001b[0m\r\u009b2J\u0007': 1, ['\u202e'.repeat(3) + 'x'.repeat(100_000)]: 2 })),
    inexact: f('inexact.json', JSON.stringify(valid).replace('"queuePairs":1', '"queuePairs":1e400').replace('"maxPackets":0', '"maxPackets":9007199254740993')),
  };
  truncateSync(fixtures.huge, 3 * 2 ** 30);
  spawnSync('mkfifo', [fixtures.fifo]);
  return fixtures;
}


export function argvArb(): fc.Arbitrary<string[]> {
  const fx = cliFixtures();
  const files = [fx.valid, fx.invalid, fx.notJson, fx.dir, fx.missing, fx.deep, '', '-', fx.huge, fx.over, fx.zero, fx.fifo, fx.flood, fx.ansi, fx.inexact];
  // files a migration must refuse before it starts (a valid one would run it: seconds)
  const badFiles = files.filter((x) => x !== fx.valid);
  const junk = fc.oneof(fc.constantFrom('', '-', '--', '---x', '--=', '-x', '--help', '-h', '--version', 'help', '\u0000', 'über', '--json=1', '$(id)', '%s%n', '\u001b[31m', '\r\u009b2J', '\u202e', 'x'.repeat(5000)), fc.string({ maxLength: 8 }));
  const num = fc.oneof(fc.constantFrom('0', '1', '-1', '8', '16', '64', '3', '1e3', '0x10', 'NaN', 'Infinity', '', ' 8', '9007199254740993', '65536', '32768', '1e400', '4294967296', '\u001b[31m8'), fc.string({ maxLength: 4 }));
  // counts past their maxima must be refused (a valid huge --chains would run for minutes)
  const small = fc.constantFrom('1', '2', '7', '0', '-3', 'x', '', '1e9', '9007199254740991', '10000001', '0x7', '1e400', '2.5');
  const badFault = fc.oneof(
    fc.constantFrom('delay-ack:5:VLAN_ADD:junk', 'iotlb-map-fails:1:2:3', 'wrong-used-len:4294967296', 'bad-used-id:99999999999', 'nack:VLAN_ADD@0', 'nack:VLAN_ADD@65536', 'delay-ack:0x10', 'suspend-fails:1', 'nack:', 'needs-reset:VLAN_ADD:x', 'no-answer:\u001b[31m', 'nack:VLAN_ADD,,MQ_RSS_CONFIG'),
    fc.string({ maxLength: 12 }).map((x) => `zz${x}`),
  );
  const features = fc.oneof(fc.constantFrom('CTRL_VQ', 'CTRL_VQ,CTRL_RX,MQ,RSS', 'MQ', '0x0', '0xffffffffffffffff', '0x', 'ctrl_vq', 'CTRL_VQ,,MQ', 'BOGUS', '0x1zz', ' '), fc.string({ maxLength: 10 }));
  const opt = (name: string, value: fc.Arbitrary<string>) => fc.tuple(fc.constant(name), value).map(([n, v]) => [n, v]);
  const flag = (name: string) => fc.constant([name]);
  const sub = {
    plan: [opt('--state', fc.constantFrom(...files)), opt('--features', features), flag('--json')],
    'ring-demo': [opt('--chains', small), opt('--size', num), opt('--seed', num), flag('--json')],
    demo: [opt('--chains', small), opt('--size', num), flag('--json')],
    // every migrate vector carries a part it must refuse up front (a fault spec or a state file)
    migrate: [opt('--state', fc.constantFrom(...badFiles)), opt('--ram', num), opt('--max-rounds', num), opt('--threshold', num), opt('--features', features), opt('--source', junk), opt('--dest', junk), flag('--json'), flag('--demo')],
    diagrams: [opt('--format', fc.oneof(fc.constantFrom('mermaid', 'dot', 'svg', '', '\u001b[2J'), fc.string({ maxLength: 5 }))), opt('--machine', fc.oneof(fc.constantFrom('migration', 'svq-switch', 'cvq-command', 'device-lifecycle', 'nope', '\u009b31m'), fc.string({ maxLength: 5 })))],
  } as const;
  // the demo's default is 20000 chains per layout (seconds): vectors start from a small --chains
  const prefix = (name: string): string[] => (name === 'ring-demo' || name === 'demo' ? ['--chains', '3'] : []);
  const forSub = (name: keyof typeof sub) =>
    fc
      .array(fc.oneof(...sub[name], junk.map((j) => [j])), { maxLength: 5 })
      .map((parts) => [name, ...prefix(name), ...parts.flat()]);
  const migrate = fc.tuple(forSub('migrate'), badFault, fc.boolean()).map(([v, spec, viaState]) => (viaState ? [...v, '--state', fx.invalid] : [...v, '--fault', spec]));
  return fc.oneof(
    forSub('plan'),
    migrate,
    forSub('ring-demo'),
    forSub('demo'),
    forSub('diagrams'),
    // mbt runs every machine's paths (seconds): only vectors it must refuse up front
    fc.tuple(fc.constantFrom('--device', '--simple-limit'), fc.constantFrom('bogus', '', '-1', 'x')).map(([o, v]) => ['mbt', o === '--device' ? o : '--device', o === '--device' ? v : 'nope', ...(o === '--simple-limit' ? [o, v] : [])]),
    fc.array(junk, { minLength: 0, maxLength: 4 }),
  );
}

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;
/** Raw control characters a report must never carry (ESC, CR, BEL, C1, bidi overrides); tab and newline are fine. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const MAX_REPORT = 64 << 10;

/** Judge one run: exit 0, or 2 with a message; no stack trace anywhere; bounded, escaped reports. */
export function judgeRun(argv: readonly string[], r: CliRun): Verdict {
  const v = new Violations();
  const shown = JSON.stringify(argv).slice(0, 300);
  v.expect(r.stderr.length <= MAX_REPORT, () => `${shown}: ${r.stderr.length} bytes on stderr (a report must be bounded)`);
  v.expect(!RAW_CONTROL.test(r.stderr), () => `${shown}: a raw control character on stderr: ${JSON.stringify(r.stderr.slice(0, 300))}`);
  v.expect(!/got null\b/.test(r.stderr), () => `${shown}: "got null" (a number no double holds) on stderr`);
  v.expect(r.code === 0 || r.code === 2, () => `${shown}: exit status ${r.code} (stderr: ${r.stderr.slice(0, 300)})`);
  v.expect(r.code !== 2 || r.stderr.trim().length > 0, () => `${shown}: exit 2 without a message`);
  v.expect(!STACK.test(r.stderr) && !STACK.test(r.stdout), () => `${shown}: stack trace printed: ${r.stderr.slice(0, 300)}`);
  return v.verdict;
}

/**
 * Run argv in-process as `src/cli/main.ts` does (`runCli`: the registered subcommands, every usage error
 * exit 2, cut and escaped), commander's and the actions' output captured, exit status returned.
 */
export async function runInProcess(argv: readonly string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const outWrite = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  const savedCode = process.exitCode;
  process.stdout.write = ((s: string | Uint8Array) => {
    stdout += typeof s === 'string' ? s : Buffer.from(s).toString();
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    stderr += typeof s === 'string' ? s : Buffer.from(s).toString();
    return true;
  }) as typeof process.stderr.write;
  let code: number;
  try {
    code = await runCli(['node', 'shadowvq', ...argv], { out: (s) => void (stdout += s), err: (s) => void (stderr += s) });
  } catch (e) {
    stderr += `\n[escaped] ${(e as Error)?.stack ?? String(e)}`;
    code = 1;
  } finally {
    process.stdout.write = outWrite;
    process.stderr.write = errWrite;
    process.exitCode = savedCode;
  }
  return { code, stdout, stderr };
}

/** Run argv as a child process: `tsx src/cli/main.ts …`. */
export function runChild(argv: readonly string[], timeoutMs = 60_000): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...argv], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? -1 : 128), stdout, stderr: signal === null ? stderr : `${stderr}\n[killed by ${signal} after ${timeoutMs} ms]` });
    });
  });
}

export const cliTargets = (): AnyFuzzTarget[] => [
  { kind: 'cli argv (in-process)', arbitrary: argvArb(), check: async (argv: string[]) => judgeRun(argv, await runInProcess(argv)), weight: 0.2 },
  // exec(2) cannot carry NUL bytes: the shell never passes one
  { kind: 'cli argv (child process)', arbitrary: argvArb().map((a) => a.map((x) => x.replaceAll('\u0000', ''))), check: async (argv: string[]) => judgeRun(argv, await runChild(argv)), weight: 0.01 },
];
