#!/usr/bin/env node
/**
 * The `shadowvq` command. Each subcommand lives in its own module under `src/cli/` and registers
 * itself here; commander parses, and every usage error exits with status 2 and a message.
 */
import { Command } from 'commander';
import { registry } from './commands.js';

export function buildProgram(): Command {
  const program = new Command('shadowvq')
    .description('Shadow virtqueue and CVQ state restore for vDPA live migration, as XState machines')
    .exitOverride()
    .showHelpAfterError();
  for (const register of registry) register(program);
  return program;
}

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (e) {
  const code = (e as { exitCode?: number }).exitCode;
  // commander's help/version exits are 0; every usage error is 2
  process.exitCode = code === 0 ? 0 : 2;
}
