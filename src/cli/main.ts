#!/usr/bin/env node
/**
 * The `shadowvq` command. Each subcommand lives in its own module under `src/cli/` and registers
 * itself in `commands.ts`; commander parses (program.ts), and every usage error exits with status 2
 * and a message (never a stack trace).
 */
import { runCli } from './program.js';

process.exitCode = await runCli(process.argv);
