/**
 * CLI fuzzing: random argument vectors for `shadowvq` — real subcommands with real and junk options,
 * option values of the wrong kind, missing values, unknown flags, files that are missing, directories,
 * invalid or hostile state files. Each vector runs in-process (the command registry on a fresh
 * commander program, stdout/stderr captured) or, for a few, as a child process (`tsx src/cli/main.ts`).
 * The outcome must be exit status 0, or 2 with a message on stderr — never a stack trace, never a
 * silent failure.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import fc from 'fast-check';
import { registry } from '../cli/commands.js';
import { encodeStateJson } from '../state/json.js';
import { resetNetState } from '../state/net-state.js';
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
}

let fixtures: CliFixtures | undefined;
export function cliFixtures(): CliFixtures {
  if (fixtures !== undefined) return fixtures;
  const dir = mkdtempSync(join(tmpdir(), 'shadowvq-fuzz-'));
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
  };
  return fixtures;
}


export function argvArb(): fc.Arbitrary<string[]> {
  const fx = cliFixtures();
  const files = [fx.valid, fx.invalid, fx.notJson, fx.dir, fx.missing, fx.deep, '', '-'];
  const junk = fc.oneof(fc.constantFrom('', '-', '--', '---x', '--=', '-x', '--help', '-h', '--version', 'help', '\u0000', 'über', '--json=1', '$(id)', '%s%n'), fc.string({ maxLength: 8 }));
  const num = fc.oneof(fc.constantFrom('0', '1', '-1', '8', '16', '64', '3', '1e3', '0x10', 'NaN', 'Infinity', '', ' 8', '9007199254740993', '65536', '32768'), fc.string({ maxLength: 4 }));
  const small = fc.constantFrom('1', '2', '7', '0', '-3', 'x', '');
  const features = fc.oneof(fc.constantFrom('CTRL_VQ', 'CTRL_VQ,CTRL_RX,MQ,RSS', 'MQ', '0x0', '0xffffffffffffffff', '0x', 'ctrl_vq', 'CTRL_VQ,,MQ', 'BOGUS', '0x1zz', ' '), fc.string({ maxLength: 10 }));
  const opt = (name: string, value: fc.Arbitrary<string>) => fc.tuple(fc.constant(name), value).map(([n, v]) => [n, v]);
  const flag = (name: string) => fc.constant([name]);
  const sub = {
    plan: [opt('--state', fc.constantFrom(...files)), opt('--features', features), flag('--json')],
    'ring-demo': [opt('--chains', small), opt('--size', num), opt('--seed', num), flag('--json')],
    demo: [opt('--chains', small), opt('--size', num), flag('--json')],
    diagrams: [opt('--format', fc.oneof(fc.constantFrom('mermaid', 'dot', 'svg', ''), fc.string({ maxLength: 5 }))), opt('--machine', fc.oneof(fc.constantFrom('migration', 'svq-switch', 'cvq-command', 'device-lifecycle', 'nope'), fc.string({ maxLength: 5 })))],
  } as const;
  // the demo's default is 20000 chains per layout (seconds): vectors start from a small --chains
  const prefix = (name: string): string[] => (name === 'ring-demo' || name === 'demo' ? ['--chains', '3'] : []);
  const forSub = (name: keyof typeof sub) =>
    fc
      .array(fc.oneof(...sub[name], junk.map((j) => [j])), { maxLength: 5 })
      .map((parts) => [name, ...prefix(name), ...parts.flat()]);
  return fc.oneof(
    forSub('plan'),
    forSub('ring-demo'),
    forSub('demo'),
    forSub('diagrams'),
    // mbt runs every machine's paths (seconds): only vectors it must refuse up front
    fc.tuple(fc.constantFrom('--device', '--simple-limit'), fc.constantFrom('bogus', '', '-1', 'x')).map(([o, v]) => ['mbt', o === '--device' ? o : '--device', o === '--device' ? v : 'nope', ...(o === '--simple-limit' ? [o, v] : [])]),
    fc.array(junk, { minLength: 0, maxLength: 4 }),
  );
}

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;

/** Judge one run: exit 0, or 2 with a message; no stack trace anywhere. */
export function judgeRun(argv: readonly string[], r: CliRun): Verdict {
  const v = new Violations();
  const shown = JSON.stringify(argv);
  v.expect(r.code === 0 || r.code === 2, () => `${shown}: exit status ${r.code} (stderr: ${r.stderr.slice(0, 300)})`);
  v.expect(r.code !== 2 || r.stderr.trim().length > 0, () => `${shown}: exit 2 without a message`);
  v.expect(!STACK.test(r.stderr) && !STACK.test(r.stdout), () => `${shown}: stack trace printed: ${r.stderr.slice(0, 300)}`);
  return v.verdict;
}

/**
 * Run argv in-process as `src/cli/main.ts` does: the registered subcommands on a fresh program with
 * `exitOverride`, commander's and the actions' output captured, exit status from `process.exitCode`.
 */
export async function runInProcess(argv: readonly string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const program = new Command('shadowvq')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void (stdout += s), writeErr: (s) => void (stderr += s) })
    .showHelpAfterError();
  for (const register of registry) register(program);
  const outWrite = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  const savedCode = process.exitCode;
  process.exitCode = undefined;
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
    await program.parseAsync(['node', 'shadowvq', ...argv]);
    code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    // main.ts: commander's own exits carry exitCode (help/version 0, usage errors 1 → 2); anything else
    // is an exception escaping a command, which main.ts turns into a bare exit 2: report it as such
    const ec = (e as { exitCode?: unknown; code?: unknown }).exitCode;
    const isCommander = typeof (e as { code?: unknown }).code === 'string' && String((e as { code: string }).code).startsWith('commander.');
    if (!isCommander) stderr += `\n[escaped] ${(e as Error)?.stack ?? String(e)}`;
    code = ec === 0 ? 0 : 2;
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
