/**
 * `shadowvq migrate --report FILE.html`: one self-contained HTML page (no script, no network: a CSP
 * forbids any fetch) for a migration — the migration machine's diagram (Graphviz via @viz-js/viz, from
 * the machine itself, src/diagrams) with the states and transitions this run took highlighted, the phase
 * timeline, dirty pages per precopy round, the downtime by its parts, the CVQ commands by class, the
 * traffic ledger and the verdict. Every section is a <section id=…> the headless-browser test looks for.
 */
import * as E from 'fp-ts/lib/Either.js';
import { migrationMachine } from '../../machines/migration.js';
import { renderSvg, toDot } from '../diagrams/index.js';
import type { MigrationSummary } from '../migrate/controller.js';
import { intactDetail, ms, num, us } from '../migrate/report.js';
import type { TransitionRecord } from '../migrate/transitions.js';
import type { RestoreCommand } from '../state/plan.js';
import { CLASSES } from '../cvq/classes/index.js';

export interface ReportInput {
  readonly summary: MigrationSummary;
  /** Every transition of the run (RunOptions.onTransition). */
  readonly transitions: readonly TransitionRecord[];
  /** The CVQ commands the restore sent (planRestore of the state through the negotiated features). */
  readonly plan: readonly RestoreCommand[];
  /** The command line, shown in the header. */
  readonly command?: string;
}

/** The sections, in page order (ids the browser test checks). */
export const REPORT_SECTIONS = ['verdict', 'diagram', 'timeline', 'rounds', 'downtime', 'cvq', 'traffic'] as const;

/** virtio 1.2 §5.1.6.5: control classes by number, from the CVQ class registry (the first module of a class names it: MQ, not RSS). */
const CLASS_NAMES: Record<number, string> = Object.fromEntries([...CLASSES].reverse().map((c) => [c.cls, c.name]));

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const TAKEN = '#d9480f';

/**
 * Whether the event of a recorded transition is the one an edge label names: an event by its type,
 * `done(…)` / `error(…)` by the invocation of the edge's own state (XState's `xstate.done.actor.<n>.<state id>`),
 * `after …` by a delayed event.
 */
function triggeredBy(event: string, trigger: string, edgeState: string): boolean {
  for (const [prefix, kind] of [['xstate.done.actor.', 'done('], ['xstate.error.actor.', 'error(']] as const) {
    if (event.startsWith(prefix)) return trigger.startsWith(kind) && event.slice(prefix.length).replace(/^\d+\./, '') === edgeState;
  }
  if (event.startsWith('xstate.after.')) return trigger.startsWith('after ');
  return trigger === event;
}

/**
 * The migration machine's DOT with this run's path drawn over it: every state entered, and every edge
 * whose source state was left and whose target entered by one recorded transition.
 */
export function highlightDot(dot: string, transitions: readonly TransitionRecord[]): string {
  const mine = transitions.filter((t) => t.machine === 'migration' && t.fromState !== t.toState);
  const id = migrationMachine.id;
  const visited = new Set<string>();
  for (const t of mine) {
    for (const p of [t.fromState, t.toState]) {
      const parts = p.split('.');
      for (let i = 1; i <= parts.length; i++) visited.add(`${id}.${parts.slice(0, i).join('.')}`);
    }
  }
  const stateOf = (node: string): string => node.replace(/::init$/, '');
  const within = (leaf: string, node: string): boolean => {
    const s = stateOf(node);
    if (s === id) return true; // the root (edges from "any state")
    const full = `${id}.${leaf}`;
    return full === s || full.startsWith(`${s}.`);
  };
  const lines = dot.split('\n').map((line) => {
    const m = /^(\s*)"([^"]+)" -> "([^"]+)" \[(.*)\];$/.exec(line);
    if (m === null) return line;
    const [, ind, from, to, attrs] = m;
    const trigger = (/label="((?:[^"\\]|\\.)*)"/.exec(attrs!)?.[1] ?? '').replace(/ \[.*$| \(re-enter\)$/, '');
    const taken = mine.some((t) => within(t.fromState, from!) && within(t.toState, to!) && !within(t.fromState, to!) && triggeredBy(t.event, trigger, stateOf(from!)));
    return taken ? `${ind}"${from}" -> "${to}" [${attrs}, color="${TAKEN}", fontcolor="${TAKEN}", penwidth=2.6, class="taken"];` : line;
  });
  // atomic states are nodes; compound ones are clusters (their border is left as drawn)
  const nodes = new Set(lines.flatMap((l) => /^\s*"([^"]+)" \[label=/.exec(l)?.[1] ?? []));
  const marks = [...visited].filter((v) => nodes.has(v)).map((v) => `  "${v}" [fillcolor="#ffe8cc", color="${TAKEN}", penwidth=2.2];`);
  const close = lines.lastIndexOf('}');
  return [...lines.slice(0, close), ...marks, ...lines.slice(close)].join('\n');
}

function bars(rows: readonly { label: string; value: number; text: string; color?: string }[], opts: { width?: number; marker?: { value: number; label: string } } = {}): string {
  const width = opts.width ?? 640;
  const labelW = 150;
  const textW = 170;
  const barW = width - labelW - textW;
  const h = 22;
  const max = Math.max(1, ...rows.map((r) => r.value), opts.marker?.value ?? 0);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${rows.length * h + 24}" role="img">`];
  rows.forEach((r, i) => {
    const w = Math.max(r.value > 0 ? 1 : 0, (r.value / max) * barW);
    out.push(
      `<text x="${labelW - 8}" y="${i * h + 15}" text-anchor="end">${esc(r.label)}</text>`,
      `<rect x="${labelW}" y="${i * h + 4}" width="${w.toFixed(1)}" height="${h - 8}" fill="${r.color ?? '#4c6ef5'}"/>`,
      `<text x="${labelW + w + 6}" y="${i * h + 15}">${esc(r.text)}</text>`,
    );
  });
  if (opts.marker !== undefined) {
    const x = labelW + (opts.marker.value / max) * barW;
    out.push(`<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="0" y2="${rows.length * h + 4}" stroke="${TAKEN}" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${x.toFixed(1)}" y="${rows.length * h + 18}" fill="${TAKEN}" text-anchor="middle">${esc(opts.marker.label)}</text>`);
  }
  out.push('</svg>');
  return out.join('');
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function timeline(s: MigrationSummary): string {
  const total = Math.max(1e-9, ...s.phases.map((p) => p.wallMs));
  const rows = s.phases.map((p) => ({ label: `${p.end === 'source' ? 'src' : 'dst'} ${p.phase}`, value: p.wallMs, text: `${ms(p.wallMs)} wall${p.simUs === null ? '' : ` · ${us(p.simUs)} sim`}`, color: p.end === 'source' ? '#4c6ef5' : '#2b8a3e' }));
  return rows.length === 0 ? '<p>No phase ran.</p>' : `${bars(rows)}<p class="note">Wall time per phase (bars, longest ${ms(total)}); simulated time is the link model's and the device's virtual clock.</p>`;
}

function rounds(s: MigrationSummary): string {
  const r = s.precopy.rounds;
  if (r.length === 0) return '<p>No precopy round ran.</p>';
  const chart = bars(
    r.map((x) => ({ label: `round ${x.round}`, value: x.dirtyPages, text: `${num(x.dirtyPages)} dirty · ${num(x.pagesSent)} sent` })),
    { marker: { value: s.precopy.thresholdPages, label: `threshold ${num(s.precopy.thresholdPages)}` } },
  );
  return chart + table(['round', 'pages sent', 'dirty pages left', 'wire time', 'guest frames'], r.map((x) => [String(x.round), num(x.pagesSent), num(x.dirtyPages), us(x.wireUs), num(x.frames)]));
}

function downtime(s: MigrationSummary): string {
  if (s.downtime === null) return `<p>No switch-over: the migration ${esc(s.outcome)}.</p>`;
  const parts = s.phases.filter((p) => (p.phase === 'stopAndCopy' || p.end === 'destination') && (p.simUs ?? 0) > 0);
  const total = s.downtime.simUs;
  const colors = ['#4c6ef5', '#f59f00', '#2b8a3e', '#ae3ec9', '#1098ad', '#e64980'];
  let x = 0;
  const segs = parts.map((p, i) => {
    const w = total === 0 ? 0 : (p.simUs! / total) * 600;
    const seg = `<rect x="${x.toFixed(1)}" y="0" width="${w.toFixed(1)}" height="26" fill="${colors[i % colors.length]}"><title>${esc(p.phase)} ${esc(us(p.simUs!))}</title></rect>`;
    x += w;
    return seg;
  });
  const legend = parts.map((p, i) => `<li><span class="sw" style="background:${colors[i % colors.length]}"></span>${esc(p.phase)}: ${esc(us(p.simUs!))} (${((p.simUs! / Math.max(total, 1e-9)) * 100).toFixed(1)} %)</li>`);
  return `<p><b>${esc(us(total))}</b> simulated (${esc(ms(s.downtime.wallMs))} wall), from stop-and-copy to the destination verified.</p><svg xmlns="http://www.w3.org/2000/svg" width="600" height="26" role="img">${segs.join('')}</svg><ul class="legend">${legend.join('')}</ul>`;
}

function cvq(s: MigrationSummary, plan: readonly RestoreCommand[]): string {
  const byClass = new Map<number, { n: number; bytes: number; names: Set<string> }>();
  for (const c of plan) {
    const e = byClass.get(c.class) ?? { n: 0, bytes: 0, names: new Set<string>() };
    e.n++;
    e.bytes += 2 + c.payload.length;
    e.names.add(c.name);
    byClass.set(c.class, e);
  }
  const rows = [...byClass.entries()].sort((a, b) => a[0] - b[0]);
  const head =
    s.cvq === null
      ? '<p>The CVQ restore did not run.</p>'
      : `<p>${num(s.cvq.applied)} of ${num(s.cvq.commands)} commands applied in ${num(s.cvq.roundTrips)} round trips (${esc(s.strategy)}), ${num(s.cvq.acksOk)} OK / ${num(s.cvq.acksErr)} ERR acks, ${esc(us(s.cvq.simUs))} simulated.</p>`;
  return (
    head +
    (rows.length === 0 ? '' : bars(rows.map(([k, e]) => ({ label: `${k} ${CLASS_NAMES[k] ?? '?'}`, value: e.n, text: `${num(e.n)} commands · ${num(e.bytes)} B`, color: '#1098ad' })))) +
    table(['class', 'name', 'commands', 'bytes (header + data)', 'kinds'], rows.map(([k, e]) => [String(k), CLASS_NAMES[k] ?? '?', num(e.n), num(e.bytes), [...e.names].join(', ')]))
  );
}

function traffic(s: MigrationSummary): string {
  const t = s.traffic;
  const rows: [string, string][] = [
    ['frames before the migration', num(t.before)],
    ['frames during precopy', num(t.during)],
    ['frames after the switch-over', num(t.after)],
    ['sent', num(t.sent)],
    ['received and byte-checked', num(t.received)],
    ['in flight at suspend', t.inFlightAtSuspend === null ? '—' : num(t.inFlightAtSuspend)],
    ['chains handed back at suspend', s.stopAndCopy === null ? '—' : num(s.stopAndCopy.inFlightHandedOver)],
    ['chains SVQ forwarded', s.stopAndCopy === null ? '—' : num(s.stopAndCopy.svqForwarded)],
    ['lost', num(t.lost)],
  ];
  const errs = t.errors.length === 0 ? '' : `<ul class="bad">${t.errors.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>`;
  return table(['', 'frames'], rows) + errs;
}

function verdict(s: MigrationSummary): { html: string; ok: boolean } {
  const clean = s.traffic.lost === 0 && s.traffic.errors.length === 0;
  if (s.outcome === 'completed') {
    const ok = s.verdict.stateEqual === true && clean;
    const diffs = s.verdict.differences.length === 0 ? '' : `<p>Differences: ${esc(s.verdict.differences.join(', '))}</p>`;
    return {
      ok,
      html: `<p class="badge ${ok ? 'ok' : 'bad'}">${ok ? 'COMPLETED' : 'COMPLETED WITH DIFFERENCES'}</p><ul><li>destination state ${s.verdict.stateEqual === true ? '==' : '!='} source state (through the negotiated features ${esc(s.source.negotiated)})</li><li>guest RAM ${s.verdict.ramEqual === true ? 'identical' : 'not compared'} at switch-over</li><li>${clean ? 'no frame lost' : `${num(s.traffic.lost)} frames LOST`}</li></ul>${diffs}`,
    };
  }
  const ok = s.outcome === 'rolled-back' && s.verdict.sourceIntact === true && clean;
  return {
    ok,
    html: `<p class="badge ${ok ? 'warn' : 'bad'}">${esc(s.outcome.toUpperCase())}</p><ul><li>${esc(s.error ?? 'no reason recorded')}</li><li>source intact: ${s.verdict.sourceIntact === null ? '—' : s.verdict.sourceIntact ? `yes (${intactDetail(s)})` : 'NO'}</li></ul>`,
  };
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d2433;margin:0;background:#f7f8fb}
header{background:#1d2433;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#c5cbe0;font-family:ui-monospace,monospace;font-size:12px}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(640px,1fr));gap:18px;padding:18px 28px}
section{background:#fff;border:1px solid #dde2ee;border-radius:8px;padding:14px 18px;overflow:auto}section h2{margin:0 0 10px;font-size:16px}
#diagram{grid-column:1/-1}#diagram svg{max-width:100%;height:auto}
table{border-collapse:collapse;margin-top:10px;font-size:13px}th,td{border-bottom:1px solid #e7eaf3;padding:3px 10px;text-align:right}th:first-child,td:first-child{text-align:left}
svg text{font:12px system-ui,Helvetica,Arial,sans-serif;fill:#1d2433}
.badge{display:inline-block;font-weight:700;padding:4px 12px;border-radius:4px;color:#fff;margin:0 0 6px}.ok{background:#2b8a3e}.warn{background:#e67700}.bad{background:#c92a2a}
ul.bad{background:none;color:#c92a2a}.legend{list-style:none;padding:0}.legend li{display:inline-block;margin-right:14px}.sw{display:inline-block;width:10px;height:10px;margin-right:5px}
.note{color:#5c667f;font-size:12px}`;

/** The report page, or the diagram renderer's error. */
export async function renderReport(r: ReportInput): Promise<E.Either<string, string>> {
  const s = r.summary;
  const svg = await renderSvg(migrationMachine.id, highlightDot(toDot(migrationMachine), r.transitions));
  if (E.isLeft(svg)) return E.left(`diagram: ${svg.left.message}`);
  const v = verdict(s);
  const section = (id: (typeof REPORT_SECTIONS)[number], title: string, body: string) => `<section id="${id}"><h2>${esc(title)}</h2>${body}</section>`;
  const taken = r.transitions.filter((t) => t.machine === 'migration' && t.from !== t.to).map((t) => `${t.end}: ${t.to}`);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>shadowvq migration: ${esc(s.outcome)} — ${esc(s.source.device)} → ${esc(s.destination.device)}</title>
<style>${CSS}</style></head>
<body>
<header><h1>shadowvq migration: ${esc(s.source.device)} → ${esc(s.destination.device)}</h1><p>${esc(r.command ?? 'shadowvq migrate')} · features ${esc(s.source.negotiated)} · CVQ ${esc(s.strategy)} · ${num(s.transitions)} transitions · ${esc(ms(s.wallMs))}</p></header>
<main>
${section('verdict', 'Verdict', v.html)}
${section('traffic', 'Traffic accounting', traffic(s))}
${section('diagram', 'The migration machine, path taken highlighted', `${svg.right.slice(svg.right.indexOf('<svg'))}<p class="note">Path: ${esc(taken.join(' → '))}</p>`)}
${section('timeline', 'Phase timeline', timeline(s))}
${section('rounds', 'Dirty pages per precopy round', rounds(s))}
${section('downtime', 'Downtime split', downtime(s))}
${section('cvq', 'CVQ commands by class', cvq(s, r.plan))}
</main>
</body></html>
`;
  return E.right(html);
}
