/** Subcommand registry: one `register(program)` per module, in help order. */
import type { Command } from 'commander';
import { registerMigrate } from './migrate.js';
import { registerPlan } from './plan.js';
import { registerRingDemo } from './ring-demo.js';
import { registerMbt } from './mbt.js';
import { registerDiagrams } from './diagrams.js';
import { registerServe } from './serve.js';

export type Register = (program: Command) => void;

export const registry: Register[] = [];
registry.push(registerMigrate);
registry.push(registerPlan);
registry.push(registerRingDemo);
registry.push(registerMbt);
registry.push(registerDiagrams);
registry.push(registerServe);
