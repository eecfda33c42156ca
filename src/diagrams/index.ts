/**
 * Diagrams generated from the machine definitions themselves (walking `machine.root`, its state
 * nodes and their transitions through src/mbt/model.ts's `edgesOf`), never drawn by hand:
 *  - Mermaid `stateDiagram-v2` with nested states, guards and actor names on the edges, and on each
 *    state what it invokes (`invoke src ⇒ child-machine as id` for a child machine);
 *  - Graphviz DOT with a cluster per compound state, rendered to SVG offline with @viz-js/viz.
 * Output is deterministic (definition order, no timestamps) so `--check` can compare bytes.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import * as E from 'fp-ts/lib/Either.js';
import { instance } from '@viz-js/viz';
import { actorKind, descendants, edgesOf, negate, type ModelEdge } from '../mbt/model.js';
import { MACHINES } from '../../machines/index.js';

/** Every machine (machines/index.ts registers each once). */
export const DIAGRAM_MACHINES: readonly AnyStateMachine[] = MACHINES;

/** Edge label: trigger (event, `done(actor)`, `error(actor)`, `after delay`) and guard conditions. */
export function edgeLabel(e: ModelEdge): string {
  const trigger = e.kind === 'event' ? e.trigger : e.kind === 'after' ? `after ${e.trigger}` : `${e.kind}(${e.trigger})`;
  const conds = [...e.notGuards.map(negate), ...(e.guard === null ? [] : [e.guard])];
  return conds.length ? `${trigger} [${conds.join(' && ')}]` : trigger;
}

/** What a state invokes: `S` (an effect), `S (effect port)`, `S ⇒ child-machine` (a machine, and its id). */
const invokes = (n: AnyStateNode): string[] =>
  n.invoke.map((i) => {
    const src = typeof i.src === 'string' ? i.src : i.id;
    const kind = actorKind(n.machine, src);
    if (kind === 'machine') return `${src} ⇒ ${childOf(n.machine, src)?.id ?? src} as ${i.id}`;
    return kind === 'port' ? `${src} (effect port)` : src;
  });

/** The child machine a machine declares under `src`. */
const childOf = (m: AnyStateMachine, src: string): AnyStateMachine | undefined =>
  actorKind(m, src) === 'machine' ? ((m.implementations.actors as Readonly<Record<string, AnyStateMachine>>)[src] ?? undefined) : undefined;

/** The machines `m` invokes (declared in its `setup({ actors })`), by src. */
export const childMachines = (m: AnyStateMachine): { readonly src: string; readonly machine: AnyStateMachine }[] =>
  Object.keys(m.implementations.actors).flatMap((src) => {
    const c = childOf(m, src);
    return c === undefined ? [] : [{ src, machine: c }];
  });
const initialChild = (n: AnyStateNode): AnyStateNode | undefined => (n.type === 'compound' ? (n.initial?.target?.[0] as AnyStateNode | undefined) : undefined);
const children = (n: AnyStateNode): AnyStateNode[] => Object.values(n.states) as AnyStateNode[];

// ------------------------------------------------------------------------------------------ Mermaid

/** Mermaid ids must be unique in the whole diagram: the state path with `_`. */
const mid = (machine: AnyStateMachine, n: AnyStateNode): string => n.id.slice(machine.id.length + 1).replace(/[^A-Za-z0-9]/g, '_');
const mtext = (s: string) => s.replace(/[:;#]/g, ' ').replace(/\s+/g, ' ').trim();

export function toMermaid(machine: AnyStateMachine): string {
  const lines: string[] = ['---', `title: ${machine.id}`, '---', 'stateDiagram-v2'];
  const edges: string[] = [];
  const notes: string[] = [];
  const block = (parent: AnyStateNode, indent: string) => {
    const init = initialChild(parent);
    if (init !== undefined) lines.push(`${indent}[*] --> ${mid(machine, init)}`);
    for (const c of children(parent)) {
      const id = mid(machine, c);
      const inv = invokes(c);
      lines.push(`${indent}state "${c.key}" as ${id}`);
      if (inv.length) lines.push(`${indent}${id} : invoke ${inv.join(', ')}`);
      if (children(c).length) {
        lines.push(`${indent}state ${id} {`);
        block(c, `${indent}  `);
        lines.push(`${indent}}`);
      }
      if (c.type === 'final') lines.push(`${indent}${id} --> [*]`);
    }
  };
  block(machine.root, '  ');
  const byId = new Map([machine.root, ...descendants(machine.root)].map((n) => [n.id, n]));
  for (const n of [machine.root, ...descendants(machine.root)]) {
    for (const e of edgesOf(n)) {
      const label = mtext(edgeLabel(e));
      if (n === machine.root) {
        for (const t of e.targets) notes.push(`  note right of ${mid(machine, byId.get(t)!)} : ${label} from any state`);
        continue;
      }
      const targets = e.targets.length ? e.targets : [n.id];
      for (const t of targets) edges.push(`  ${mid(machine, n)} --> ${mid(machine, byId.get(t)!)} : ${label}${e.reenter ? ' (re-enter)' : ''}`);
    }
  }
  return `${[...lines, ...edges, ...notes].join('\n')}\n`;
}

// ------------------------------------------------------------------------------------------ DOT

const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function toDot(machine: AnyStateMachine): string {
  const out: string[] = [
    `digraph ${q(machine.id)} {`,
    '  compound=true; rankdir=TB; newrank=true;',
    `  label=${q(machine.id)}; labelloc=t; fontname="Helvetica"; fontsize=16;`,
    '  node [fontname="Helvetica", fontsize=11, shape=box, style="rounded,filled", fillcolor="#f4f6fb", color="#44526e"];',
    '  edge [fontname="Helvetica", fontsize=9, color="#44526e"];',
  ];
  /** The node an edge attaches to for state n (compound: its initial point, clipped at the cluster). */
  const anchor = (n: AnyStateNode) => (children(n).length ? `${n.id}::init` : n.id);
  const cluster = (n: AnyStateNode) => `cluster_${n.id}`;
  const emit = (parent: AnyStateNode, indent: string) => {
    const init = initialChild(parent);
    if (init !== undefined || parent === machine.root) {
      out.push(`${indent}${q(`${parent.id}::init`)} [label="", shape=point, width=0.12, style=filled, fillcolor="#44526e"];`);
      if (init !== undefined) {
        const lhead = children(init).length ? `, lhead=${q(cluster(init))}` : '';
        out.push(`${indent}${q(`${parent.id}::init`)} -> ${q(anchor(init))} [arrowsize=0.6${lhead}];`);
      }
    }
    for (const c of children(parent)) {
      const inv = invokes(c);
      if (children(c).length) {
        out.push(`${indent}subgraph ${q(cluster(c))} {`);
        out.push(`${indent}  label=${q(inv.length ? `${c.key}\ninvoke ${inv.join(', ')}` : c.key)}; style="rounded"; color="#8a96b0";`);
        emit(c, `${indent}  `);
        out.push(`${indent}}`);
      } else {
        const label = inv.length ? `${c.key}\n⟨${inv.join(', ')}⟩` : c.key;
        const final = c.type === 'final' ? ', peripheries=2' : '';
        out.push(`${indent}${q(c.id)} [label=${q(label)}${final}];`);
      }
    }
  };
  emit(machine.root, '  ');
  const byId = new Map([machine.root, ...descendants(machine.root)].map((n) => [n.id, n]));
  for (const n of [machine.root, ...descendants(machine.root)]) {
    for (const e of edgesOf(n)) {
      const targets = e.targets.length ? e.targets : [n.id];
      for (const tId of targets) {
        const t = byId.get(tId)!;
        const attrs = [`label=${q(edgeLabel(e) + (e.reenter ? ' (re-enter)' : ''))}`];
        if (e.kind === 'error' || e.kind === 'after') attrs.push('color="#b0413e"', 'fontcolor="#b0413e"');
        if (n === machine.root) attrs.push('style=dashed', `taillabel="any state"`);
        if (n !== machine.root && children(n).length) attrs.push(`ltail=${q(cluster(n))}`);
        if (children(t).length && t !== n) attrs.push(`lhead=${q(cluster(t))}`);
        const from = n === machine.root ? `${machine.root.id}::init` : anchor(n);
        out.push(`  ${q(from)} -> ${q(anchor(t))} [${attrs.join(', ')}];`);
      }
    }
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

export interface DiagramError {
  readonly _tag: 'DiagramError';
  readonly machine: string;
  readonly message: string;
}

/** Render DOT to SVG with Graphviz compiled to WebAssembly (@viz-js/viz): no external binary. */
export async function renderSvg(id: string, dot: string): Promise<E.Either<DiagramError, string>> {
  const viz = await instance();
  const r = viz.render(dot, { format: 'svg', engine: 'dot' });
  if (r.status === 'failure') return E.left({ _tag: 'DiagramError', machine: id, message: r.errors.map((x) => x.message).join('; ') });
  return E.right(r.output);
}

export interface DiagramFile {
  readonly path: string;
  readonly content: string;
}

/** diagrams/README.md: every machine's SVG and its Mermaid source, with the legend of the labels. */
export function diagramsReadme(machines: readonly AnyStateMachine[]): string {
  const parts = [
    '# State diagrams',
    '',
    'Generated by `npm run diagrams` from the machine definitions in `machines/` (never edited by hand;',
    'CI fails when they are stale). Edge labels: an event (`START`), an effect finishing (`done(actor)`,',
    '`done(port.op)` for an effect port\'s reply) or failing (`error(…)`), a restored port asking again',
    '(`ready(port)`), a child machine\'s new snapshot (`snapshot(id)`), a delay (`after name`), then the guards',
    'that must hold in `[…]` (`!g`: guard `g` of an earlier candidate was false). Dashed edges leave from any',
    'state. A state that runs a child machine says `invoke src ⇒ child-machine as id`: the child has its own',
    'diagram below.',
    '',
  ];
  const parents = (c: AnyStateMachine) => machines.flatMap((p) => childMachines(p).filter((x) => x.machine.id === c.id).map((x) => `[${p.id}](#${p.id}) (\`${x.src}\`)`));
  for (const m of machines) {
    const states = descendants(m.root).length;
    const edges = [m.root, ...descendants(m.root)].reduce((n, x) => n + edgesOf(x).length, 0);
    const kids = childMachines(m).map((x) => `[${x.machine.id}](#${x.machine.id}) (\`${x.src}\`)`);
    const up = parents(m);
    parts.push(`## ${m.id}`, '', `${states} states, ${edges} transitions.`);
    if (kids.length) parts.push(`Invokes the machines ${kids.join(', ')}.`);
    if (up.length) parts.push(`Invoked by ${up.join(', ')}.`);
    parts.push('', `![${m.id}](${m.id}.svg)`, '', '```mermaid', toMermaid(m).trimEnd(), '```', '');
  }
  return parts.join('\n');
}

/** Every file `npm run diagrams` writes, relative to the repository root. */
export async function diagramFiles(machines: readonly AnyStateMachine[] = DIAGRAM_MACHINES): Promise<E.Either<DiagramError, DiagramFile[]>> {
  const files: DiagramFile[] = [];
  for (const m of machines) {
    files.push({ path: `diagrams/${m.id}.mmd`, content: toMermaid(m) });
    const svg = await renderSvg(m.id, toDot(m));
    if (E.isLeft(svg)) return svg;
    files.push({ path: `diagrams/${m.id}.svg`, content: svg.right });
  }
  files.push({ path: 'diagrams/README.md', content: diagramsReadme(machines) });
  return E.right(files);
}
