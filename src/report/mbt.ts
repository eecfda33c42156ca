/**
 * `shadowvq mbt --report FILE.html`: the conformance report, one self-contained page (no script, no
 * network: a CSP forbids any fetch). It shows
 *  - per machine: states, transitions, transition pairs, guard outcomes, paths, failures;
 *  - the state diagrams of every machine (Graphviz via @viz-js/viz from the machines themselves, src/diagrams) with
 *    what the runs took coloured (green), what this device cannot take marked (grey, dotted) and what
 *    no run took marked (red, dashed);
 *  - the CVQ classes (sent, acked OK, acked ERR, applied as read back), SUSPEND / RESUME and vring-base
 *    semantics observed, the known quirks detected by name (src/mbt/coverage-conformance.ts);
 *  - the differences from the reference device (when the run compared with one), the failures (a
 *    failing random walk with its path file), and every infeasible pair and unseen guard outcome with why.
 * Every section is a <section id=…>; the headless-browser test (test/report/mbt.test.ts) looks for them.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { AnyStateMachine } from 'xstate';
import { renderSvg, toDot } from '../diagrams/index.js';
import type { MachineReport } from '../mbt/index.js';
import type { CoverageReport } from '../mbt/coverage.js';
import type { Conformance } from '../mbt/coverage-conformance.js';
import { descendants, edgesOf } from '../mbt/model.js';
import { edgeKey } from '../mbt/runner.js';
import type { WalkReport } from '../mbt/walks.js';

export interface MbtReportMachine {
  readonly machine: AnyStateMachine;
  readonly report: Pick<MachineReport, 'id' | 'states' | 'transitions' | 'paths' | 'failures' | 'failureDetails' | 'impossible'>;
  readonly coverage: CoverageReport;
  /** Differences from the reference device, as text (empty when the run compared with none). */
  readonly differences: readonly string[];
  readonly walks?: WalkReport;
  /** The path file a failing walk was written to. */
  readonly walkFile?: string;
}

export interface MbtReportInput {
  readonly device: string;
  readonly machines: readonly MbtReportMachine[];
  readonly conformance: Conformance | null;
  readonly command?: string;
}

/** The sections, in page order (ids the browser test checks). */
export const MBT_REPORT_SECTIONS = ['summary', 'diagrams', 'cvq', 'suspend', 'quirks', 'differences', 'failures', 'infeasible'] as const;

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const COVERED = '#2b8a3e';
export const UNCOVERED = '#c92a2a';
export const IMPOSSIBLE = '#868e96';

type Mark = 'covered' | 'impossible' | 'uncovered';

/**
 * A machine's DOT (src/diagrams `toDot`) with each transition and state marked: taken by a run, impossible
 * on this device (the harness's reason), or never taken. Edge lines are matched to the machine's
 * transitions in the order `toDot` writes them (every state, every candidate, every target).
 */
export function coverageDot(m: MbtReportMachine): E.Either<string, string> {
  const { machine, report, coverage } = m;
  const impossible = new Set(report.impossible.map((i) => i.edge));
  const edgeMark = (k: string): Mark => (coverage.transitionsTaken.has(k) ? 'covered' : impossible.has(k) ? 'impossible' : 'uncovered');
  const stateMark = (id: string): Mark => (coverage.statesEntered.has(id) ? 'covered' : impossible.has(id) ? 'impossible' : 'uncovered');
  const order: string[] = [];
  for (const n of [machine.root, ...descendants(machine.root)]) for (const e of edgesOf(n)) for (const _ of e.targets.length ? e.targets : [n.id]) order.push(edgeKey(e));
  const lines = toDot(machine).split('\n');
  let i = 0;
  const style = (mk: Mark) =>
    mk === 'covered' ? `color="${COVERED}", fontcolor="${COVERED}", penwidth=2.2` : mk === 'impossible' ? `color="${IMPOSSIBLE}", fontcolor="${IMPOSSIBLE}", style=dotted` : `color="${UNCOVERED}", fontcolor="${UNCOVERED}", style=dashed, penwidth=1.6`;
  const fill = (mk: Mark) => (mk === 'covered' ? '#d3f9d8' : mk === 'impossible' ? '#f1f3f5' : '#ffe3e3');
  const out: string[] = [];
  const marks: string[] = [];
  const color = (mk: Mark) => (mk === 'covered' ? COVERED : mk === 'impossible' ? IMPOSSIBLE : UNCOVERED);
  for (const line of lines) {
    const edge = /^(\s*"[^"]+" -> "[^"]+" \[)(label=.*)\];$/.exec(line);
    if (edge !== null) {
      const k = order[i++];
      if (k === undefined) return E.left(`${machine.id}: the diagram has more edges than the machine has transitions`);
      const mk = edgeMark(k);
      // the diagram's own colours (error edges red) give way to the coverage marks, which come last
      out.push(`${edge[1]}${edge[2]}, ${style(mk)}, class="${mk}"];`);
      continue;
    }
    out.push(line);
    // a state: an atomic one is a node, a compound one a cluster (labels may span lines: marked at the end)
    const node = /^\s*"([^"]+)" \[label=/.exec(line);
    if (node !== null && !node[1]!.endsWith('::init')) {
      const mk = stateMark(node[1]!);
      marks.push(`  "${node[1]}" [fillcolor="${fill(mk)}", color="${color(mk)}", class="${mk}"${mk === 'impossible' ? ', style="rounded,filled,dashed"' : ''}];`);
    }
    const cluster = /^\s*subgraph "cluster_([^"]+)" \{$/.exec(line);
    if (cluster !== null) marks.push(`  subgraph "cluster_${cluster[1]}" { color="${color(stateMark(cluster[1]!))}"; penwidth=1.6; class="${stateMark(cluster[1]!)}"; }`);
  }
  const close = out.lastIndexOf('}');
  out.splice(close, 0, ...marks);
  if (i !== order.length) return E.left(`${machine.id}: the diagram has ${i} edges, the machine ${order.length} transitions`);
  return E.right(out.join('\n'));
}

function table(head: readonly string[], rows: readonly (readonly string[])[], cls?: (row: number) => string): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r, i) => `<tr${cls ? ` class="${cls(i)}"` : ''}>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

const frac = (c: { covered: number; total: number }) => `${c.covered}/${c.total}`;

function summary(r: MbtReportInput): { html: string; ok: boolean } {
  const rows = r.machines.map(({ report: x, coverage: c, differences, walks }) => [
    x.id,
    frac(x.states),
    frac(x.transitions),
    c.transitionPairs.total === 0 ? 'not measured' : `${c.transitionPairs.covered}/${c.transitionPairs.total} (${c.transitionPairs.infeasible} infeasible)`,
    c.transitionPairs.total === 0 ? 'not measured' : frac(c.guards),
    String(x.paths),
    String(x.failures),
    String(differences.length),
    walks === undefined ? '—' : `${walks.walks}${walks.failure ? ' (1 failing)' : ''}`,
  ]);
  const ok = r.machines.every((m) => m.report.failures === 0 && m.differences.length === 0 && m.walks?.failure === undefined && m.coverage.transitionPairs.uncovered.length === 0);
  const badge = `<p class="badge ${ok ? 'ok' : 'bad'}">${ok ? 'CONFORMS' : 'DOES NOT CONFORM'}</p>`;
  const legend = `<p class="note">Pairs: consecutive transitions t1 → t2 where t2 leaves t1's target; covered + infeasible = total when nothing is left untried. Guards: each guard outcome (true, false) the model allows, seen on a run.</p>`;
  return { ok, html: badge + table(['machine', 'states', 'transitions', 'transition pairs', 'guard outcomes', 'paths', 'failures', 'differences', 'random walks'], rows) + legend };
}

function cvq(c: Conformance | null): string {
  if (c === null) return '<p>No device: the scripted harness settles every effect itself.</p>';
  const rows = c.cvqClasses.map((x) => [String(x.cls), x.name, x.command, x.negotiated ? 'yes' : 'no', String(x.sent), String(x.ackedOk), String(x.ackedErr), x.applied]);
  const liar = (i: number) => {
    const x = c.cvqClasses[i]!;
    return x.ackedOk > 0 && x.applied === 'not applied' ? 'bad' : x.negotiated && x.ackedOk === 0 ? 'bad' : '';
  };
  return `<p>Negotiated features ${esc(c.negotiated)}. One command per class, alone in its batch, through machines/cvq-command; read back from config space (MAC) or the device's state where it shows it.</p>${table(['class', 'name', 'command', 'negotiated', 'sent', 'acked OK', 'acked ERR', 'applied (read back)'], rows, liar)}${c.errors.length ? `<ul class="bad">${c.errors.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>` : ''}`;
}

function suspend(c: Conformance | null): string {
  if (c === null) return '<p>No device.</p>';
  const rows = [...c.suspendResume, ...c.vringBase].map((o) => [o.what, o.result, o.detail]);
  return table(['observed', '', 'detail'], rows, (i) => ([...c.suspendResume, ...c.vringBase][i]!.result === 'no' ? 'warn' : ''));
}

function quirks(c: Conformance | null): string {
  if (c === null) return '<p>No device.</p>';
  return table(['quirk', 'detected', 'evidence'], c.quirks.map((q) => [q.name, q.detected ? 'DETECTED' : 'no', q.evidence]), (i) => (c.quirks[i]!.detected ? 'bad' : ''));
}

function differences(r: MbtReportInput): string {
  const all = r.machines.flatMap((m) => m.differences.map((d) => [m.report.id, d]));
  return all.length === 0 ? '<p>No difference from the reference (or no reference compared).</p>' : table(['machine', 'difference'], all);
}

function failures(r: MbtReportInput): string {
  const rows = r.machines.flatMap((m) => m.report.failureDetails.map((f) => [m.report.id, f.path, String(f.step), f.message]));
  const walks = r.machines.flatMap((m) => (m.walks?.failure ? [[m.report.id, m.walks.failure.path.description, String(m.walks.failure.failure.step), `${m.walks.failure.failure.message} (random walk, shrunk ${m.walks.failure.shrinks}×${m.walkFile ? `; replay: shadowvq mbt --replay ${m.walkFile}` : ''})`]] : []));
  const all = [...rows, ...walks];
  return all.length === 0 ? '<p>No failure.</p>' : table(['machine', 'path', 'step', 'what failed'], all);
}

function infeasible(r: MbtReportInput): string {
  return r.machines
    .map(({ report: x, coverage: c }) => {
      const imp = x.impossible.map((i) => `<li><code>${esc(i.edge)}</code>: ${esc(i.reason)}</li>`).join('');
      const pairs = c.transitionPairs.infeasiblePairs.map((p) => `<li><code>${esc(p.pair)}</code>: ${esc(p.reason)}</li>`).join('');
      const unc = c.transitionPairs.uncovered.map((p) => `<li class="bad"><code>${esc(p)}</code>: not covered</li>`).join('');
      const guards = [...c.guards.unseen, ...c.guards.notModelled].map((g) => `<li><code>${esc(g.guard)} = ${g.outcome}</code>: ${esc(g.reason)}</li>`).join('');
      return `<details><summary>${esc(x.id)}: ${x.impossible.length} impossible here, ${c.transitionPairs.infeasible} infeasible pairs, ${c.transitionPairs.uncovered.length} uncovered pairs, ${c.guards.unseen.length + c.guards.notModelled.length} guard outcomes not seen</summary><h3>Impossible on this device</h3><ul>${imp || '<li>none</li>'}</ul><h3>Uncovered pairs</h3><ul>${unc || '<li>none</li>'}</ul><h3>Guard outcomes not seen</h3><ul>${guards || '<li>none</li>'}</ul><h3>Infeasible pairs</h3><ul>${pairs || '<li>none</li>'}</ul></details>`;
    })
    .join('');
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d2433;margin:0;background:#f7f8fb}
header{background:#1d2433;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#c5cbe0;font-family:ui-monospace,monospace;font-size:12px}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(640px,1fr));gap:18px;padding:18px 28px}
section{background:#fff;border:1px solid #dde2ee;border-radius:8px;padding:14px 18px;overflow:auto}section h2{margin:0 0 10px;font-size:16px}
#summary,#diagrams,#infeasible{grid-column:1/-1}
.diagrams{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:12px}figure{margin:0;border:1px solid #e7eaf3;border-radius:6px;padding:6px;overflow:auto}figure svg{max-width:100%;height:auto}figcaption{font-weight:600;margin-bottom:4px}
table{border-collapse:collapse;margin-top:10px;font-size:13px}th,td{border-bottom:1px solid #e7eaf3;padding:3px 10px;text-align:left}
tr.bad td{color:#c92a2a}tr.warn td{color:#e67700}
.badge{display:inline-block;font-weight:700;padding:4px 12px;border-radius:4px;color:#fff;margin:0 0 6px}.ok{background:#2b8a3e}.bad{background:#c92a2a}
ul.bad,li.bad{background:none;color:#c92a2a}.legend{list-style:none;padding:0}.legend li{display:inline-block;margin-right:14px}.sw{display:inline-block;width:10px;height:10px;margin-right:5px}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}code{font-size:12px}h3{font-size:13px;margin:8px 0 2px}
.note{color:#5c667f;font-size:12px}`;

/** The report page, or the diagram renderer's error. */
export async function renderMbtReport(r: MbtReportInput): Promise<E.Either<string, string>> {
  const figures: string[] = [];
  for (const m of r.machines) {
    const dot = coverageDot(m);
    if (E.isLeft(dot)) return dot;
    const svg = await renderSvg(m.machine.id, dot.right);
    if (E.isLeft(svg)) return E.left(`diagram: ${svg.left.message}`);
    figures.push(`<figure id="diagram-${esc(m.machine.id)}"><figcaption>${esc(m.machine.id)}</figcaption>${svg.right.slice(svg.right.indexOf('<svg'))}</figure>`);
  }
  const s = summary(r);
  const section = (id: (typeof MBT_REPORT_SECTIONS)[number], title: string, body: string) => `<section id="${id}"><h2>${esc(title)}</h2>${body}</section>`;
  const legend = `<ul class="legend"><li><span class="sw" style="background:${COVERED}"></span>taken by a run</li><li><span class="sw" style="background:${IMPOSSIBLE}"></span>impossible on this device (dotted)</li><li><span class="sw" style="background:${UNCOVERED}"></span>never taken (dashed)</li></ul>`;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>shadowvq conformance: ${esc(r.device)} — ${s.ok ? 'conforms' : 'does not conform'}</title>
<style>${CSS}</style></head>
<body>
<header><h1>shadowvq conformance report: ${esc(r.device)}</h1><p>${esc(r.command ?? 'shadowvq mbt')}</p></header>
<main>
${section('summary', 'Model-based coverage on this device', s.html)}
${section('diagrams', 'The machines, coverage on this device', legend + `<div class="diagrams">${figures.join('')}</div>`)}
${section('cvq', 'CVQ classes', cvq(r.conformance))}
${section('suspend', 'SUSPEND / RESUME and vring bases', suspend(r.conformance))}
${section('quirks', 'Known quirks', quirks(r.conformance))}
${section('differences', 'Differences from the reference device', differences(r))}
${section('failures', 'Failures', failures(r))}
${section('infeasible', 'What no run took, and why', infeasible(r))}
</main>
</body></html>
`;
  return E.right(html);
}
