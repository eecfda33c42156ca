#!/usr/bin/env node
/** The `shadowvq` command. */
import { Command } from 'commander';

const program = new Command('shadowvq').description('Shadow virtqueue and CVQ state restore for vDPA live migration');
program.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (e) {
  const code = (e as { exitCode?: number }).exitCode;
  process.exitCode = code === undefined || code === 0 ? (code ?? 1) : 2;
}
