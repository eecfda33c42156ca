/**
 * The `shadowvq` program: commander with every subcommand of the registry (`commands.ts`), help,
 * `--version`, and every usage error as a CommanderError with exit status 2.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registry } from './commands.js';
import { sanitizeUsage } from './args.js';

/** The package version: the package.json above this module (src/cli/ from source, dist/src/cli/ built). */
export function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'shadowvq' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}

export function buildProgram(): Command {
  const program = new Command('shadowvq')
    .description('Shadow virtqueue (SVQ) and CVQ state restore for live migration of vDPA NICs: XState machines that run on an embedded simulated virtio-net device or a real /dev/vhost-vdpa-N.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help (also: shadowvq help <command>)')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false })
    .addHelpText(
      'after',
      '\nStart here:\n' +
        '  shadowvq migrate --demo                      watch a live migration on the simulator (npm start)\n' +
        '  shadowvq plan --state examples/state.json    the CVQ commands that restore a device state\n' +
        '  shadowvq mbt                                 model-based tests of the machines\n',
    );
  for (const register of registry) register(program);
  // subcommands exit through the program too (status 2 on usage errors)
  for (const c of program.commands) c.exitOverride().showHelpAfterError('(run with --help for usage)');
  return program;
}

export interface CliOutput {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

/**
 * Parse and run `argv` (node's form: [node, script, …args]); the exit status. Help and version are 0,
 * every usage error 2 (commander's own and the commands'), an unexpected failure 1 with its message —
 * never a stack trace.
 */
export async function runCli(argv: readonly string[], output?: CliOutput): Promise<number> {
  const program = buildProgram();
  // every usage error is printed cut and escaped (commander echoes raw arguments)
  let lastError = '';
  const outputError = (s: string, write: (s: string) => void): void => {
    lastError = sanitizeUsage(s);
    write(lastError);
  };
  for (const c of [program, ...program.commands]) {
    c.configureOutput(output !== undefined ? { writeOut: output.out, writeErr: output.err, outputError } : { outputError });
  }
  process.exitCode = undefined;
  try {
    await program.parseAsync([...argv]);
    // commands report their status through process.exitCode
    const code = process.exitCode;
    process.exitCode = undefined;
    return typeof code === 'number' ? code : 0;
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    // --json: a usage error is still one JSON object on stdout (unless the command already printed it)
    const dash = argv.indexOf('--');
    const json = argv.slice(2, dash < 0 ? undefined : dash).includes('--json');
    if (json && code !== undefined && code !== 0 && (e as { jsonPrinted?: boolean }).jsonPrinted !== true) {
      const text = lastError.replace(/\n?\(run with --help for usage\)\n?$/, '').replace(/^error: /, '').trim();
      (output?.out ?? ((s: string) => process.stdout.write(s)))(JSON.stringify({ outcome: 'refused', error: text, exitCode: 2 }) + '\n');
    }
    if (code === undefined) {
      (output?.err ?? ((s: string) => process.stderr.write(s)))(`shadowvq: ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
    return code === 0 ? 0 : 2;
  }
}
