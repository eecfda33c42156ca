/** Subcommand registry: one `register(program)` per module, in help order. */
import type { Command } from 'commander';

export type Register = (program: Command) => void;

export const registry: Register[] = [];
