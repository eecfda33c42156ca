/** Subcommand registry: one `register(program)` per module, in help order. */
import type { Command } from 'commander';
import { registerPlan } from './plan.js';

export type Register = (program: Command) => void;

export const registry: Register[] = [];
registry.push(registerPlan);
