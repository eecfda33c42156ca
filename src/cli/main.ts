#!/usr/bin/env node
/**
 * The `shadowvq` command. Each subcommand lives in its own module under `src/cli/` and registers
 * itself in `commands.ts`; commander parses, and every usage error exits with status 2 and a message
 * (never a stack trace).
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registry } from './commands.js';

/** The package version (package.json next to src/). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
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

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (e) {
  const code = (e as { exitCode?: number }).exitCode;
  if (code === undefined) {
    // not a commander exit: an unexpected failure, reported without a stack trace
    process.stderr.write(`shadowvq: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  } else {
    // commander's help/version exits are 0; every usage error is 2
    process.exitCode = code === 0 ? 0 : 2;
  }
}
