/**
 * `shadowvq diagrams [--format mermaid|dot] [--machine ID]`: print a machine's diagram generated from
 * its definition (the files under diagrams/ come from `npm run diagrams`).
 */
import type { Command } from 'commander';
import { quoteText } from '../state/escape.js';
import { DIAGRAM_MACHINES, toDot, toMermaid } from '../diagrams/index.js';

export interface DiagramsCliOptions {
  readonly format?: string;
  readonly machine?: string;
}

export function runDiagramsCli(opts: DiagramsCliOptions): { code: 0 | 2; stdout: string; stderr: string } {
  const format = opts.format ?? 'mermaid';
  if (format !== 'mermaid' && format !== 'dot') return { code: 2, stdout: '', stderr: `shadowvq diagrams: --format: expected mermaid or dot, got ${quoteText(format, 40)}\n` };
  const ids = DIAGRAM_MACHINES.map((m) => m.id);
  const machines = opts.machine === undefined ? DIAGRAM_MACHINES : DIAGRAM_MACHINES.filter((m) => m.id === opts.machine);
  if (machines.length === 0) return { code: 2, stdout: '', stderr: `shadowvq diagrams: --machine: expected one of ${ids.join(', ')}, got ${quoteText(opts.machine ?? "", 40)}\n` };
  return { code: 0, stdout: machines.map((m) => (format === 'dot' ? toDot(m) : toMermaid(m))).join('\n'), stderr: '' };
}

export function registerDiagrams(program: Command): void {
  program
    .command('diagrams')
    .description('print the state diagrams generated from the machine definitions')
    .option('--format <format>', 'mermaid | dot', 'mermaid')
    .option('--machine <id>', `one machine: ${DIAGRAM_MACHINES.map((m) => m.id).join(', ')}`)
    .action((opts: DiagramsCliOptions) => {
      const out = runDiagramsCli(opts);
      process.stdout.write(out.stdout);
      process.stderr.write(out.stderr);
      process.exitCode = out.code;
    });
}
