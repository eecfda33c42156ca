import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { childMachines, DIAGRAM_MACHINES, diagramFiles, diagramsReadme, edgeLabel, renderSvg, toDot, toMermaid } from '../../src/diagrams/index.js';
import { cvqCommandMachine } from '../../machines/cvq-command.js';
import { migrationMachine } from '../../machines/migration.js';
import { deriveModel } from '../../src/mbt/model.js';

describe('diagrams generated from the machine definitions', () => {
  it.each(DIAGRAM_MACHINES.map((m) => [m.id, m] as const))('%s: every state, actor and transition (with guards) appears', async (_, machine) => {
    const model = deriveModel(machine);
    const mmd = toMermaid(machine);
    const dot = toDot(machine);
    expect(mmd.split('\n')[3]).toBe('stateDiagram-v2');
    for (const id of model.states) {
      const key = id.split('.').pop()!;
      expect(mmd).toContain(`state "${key}" as ${id.slice(machine.id.length + 1).replace(/\./g, '_')}`);
      expect(dot).toContain(`"${id}`);
    }
    for (const e of model.edges) {
      const label = edgeLabel(e);
      expect(dot).toContain(label.replace(/"/g, '\\"'));
      expect(mmd).toContain(label);
    }
    for (const src of Object.keys(machine.implementations.actors)) expect(mmd).toContain(src);
    const svg = await renderSvg(machine.id, dot);
    expect(E.isRight(svg) && svg.right.startsWith('<?xml')).toBe(true);
    // deterministic: the same definition gives the same bytes
    expect(toMermaid(machine)).toBe(mmd);
    expect(await renderSvg(machine.id, toDot(machine))).toEqual(svg);
  });

  it('show which state invokes which machine, and list the children', async () => {
    const mmd = toMermaid(migrationMachine);
    expect(mmd).toContain('source : invoke deviceLifecycle ⇒ device-lifecycle as device, svqSwitch ⇒ svq-switch as svq');
    expect(mmd).toContain('destination_active_restoringCvq : invoke cvqCommand ⇒ cvq-command as cvq');
    expect(toDot(migrationMachine)).toContain('deviceLifecycle ⇒ device-lifecycle as device');
    expect(toMermaid(cvqCommandMachine)).toContain('flushing : invoke cvqPort (effect port)');
    expect(childMachines(migrationMachine).map((c) => c.machine.id)).toEqual(['device-lifecycle', 'svq-switch', 'cvq-command']);
    const readme = diagramsReadme(DIAGRAM_MACHINES);
    expect(readme).toContain('Invokes the machines [device-lifecycle](#device-lifecycle) (`deviceLifecycle`), [svq-switch](#svq-switch) (`svqSwitch`), [cvq-command](#cvq-command) (`cvqCommand`).');
    expect(readme).toContain('Invoked by [migration](#migration) (`svqSwitch`).');
  });

  it('a DOT syntax error is a typed error, not a throw', async () => {
    expect(await renderSvg('broken', 'digraph { a -> }')).toMatchObject({ left: { _tag: 'DiagramError', machine: 'broken' } });
  });

  it('the committed diagrams/ files are what the definitions generate (npm run diagrams)', async () => {
    const files = await diagramFiles();
    expect(E.isRight(files)).toBe(true);
    if (E.isLeft(files)) return;
    for (const f of files.right) expect(await readFile(new URL(`../../${f.path}`, import.meta.url), 'utf8'), f.path).toBe(f.content);
  });
});
