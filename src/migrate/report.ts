/**
 * The migration summary for people: a phase table (wall and simulated time), the dirty pages of each
 * precopy round drawn as bars, the downtime drawn by its parts, the traffic ledger and the verdict.
 * Plain text, fixed-width, no colour codes, so it reads the same in a terminal, a CI log and the README.
 */
import type { MigrationSummary, PhaseRow } from './controller.js';

/** Thousands separated by thin spaces: 16 384. */
export const num = (n: number): string => Math.round(n).toLocaleString('en-US').replace(/,/g, ' ');

/** µs as a readable duration. */
/** What "source intact" means for this run: the data path it runs on again, and any frames a broken device dropped. */
export function intactDetail(s: MigrationSummary): string {
  const lost = s.traffic.lost > 0 ? `${s.traffic.lost} frame(s) dropped by the device at the failure, none after` : 'nothing lost';
  return `state unchanged, traffic flowing, ${lost}`;
}

export function us(v: number): string {
  if (v === 0) return "0 µs";
  if (v < 1) return `${v.toFixed(2)} µs`;
  if (v < 1000) return `${v.toFixed(1)} µs`;
  if (v < 1_000_000) return `${(v / 1000).toFixed(2)} ms`;
  return `${(v / 1_000_000).toFixed(2)} s`;
}
export const ms = (v: number): string => (v < 1 ? `${(v * 1000).toFixed(0)} µs` : v < 1000 ? `${v.toFixed(1)} ms` : `${(v / 1000).toFixed(2)} s`);

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A horizontal bar of `value / max` × `width` cells, in eighths of a cell. */
export function bar(value: number, max: number, width: number): string {
  if (max <= 0 || value <= 0) return '';
  const cells = Math.max(1 / 8, (value / max) * width);
  const full = Math.floor(cells);
  const rest = Math.round((cells - full) * 8);
  return '█'.repeat(full) + (rest === 8 ? '█' : EIGHTHS[rest]!);
}

function pad(cols: readonly string[], widths: readonly number[], right: readonly boolean[]): string {
  return cols.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
}

function table(head: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [pad(head, widths, right), pad(widths.map((w) => '─'.repeat(w)), widths, right), ...rows.map((r) => pad(r, widths, right))];
}

function phaseDetail(s: MigrationSummary, p: PhaseRow): string {
  switch (p.phase) {
    case 'setup':
      if (s.precopy.svqSwitched) return 'data queues switched to SVQ, dirty log on';
      // not switched: either the queues already shadowed, or the switch failed and the run ended here
      return s.outcome !== 'completed' && s.precopy.rounds.length === 0 && s.phases[s.phases.length - 1] === p ? 'switching to SVQ failed (see outcome)' : 'SVQ already on';
    case 'precopy': {
      const r = s.precopy.rounds;
      const last = r[r.length - 1];
      return `${r.length} round(s), ${num(r.reduce((a, x) => a + x.pagesSent, 0))} pages sent, ${last === undefined ? '?' : num(last.dirtyPages)} dirty left (threshold ${s.precopy.thresholdPages})`;
    }
    case 'stopAndCopy':
      return s.stopAndCopy === null
        ? ''
        : `suspended; ${num(s.stopAndCopy.remainingPages)} pages + ${num(s.stopAndCopy.recordBytes)}-byte record; ${num(s.stopAndCopy.inFlightHandedOver)} chains handed back`;
    case 'negotiating':
      return `features ${s.source.negotiated}`;
    case 'restoringCvq':
      return s.cvq === null ? '' : `${num(s.cvq.commands)} commands, ${num(s.cvq.roundTrips)} round trips, ${num(s.cvq.acksOk)} OK / ${num(s.cvq.acksErr)} ERR`;
    case 'verifying':
      return s.verdict.stateEqual === null ? '' : s.verdict.stateEqual ? 'state equal' : `differs: ${s.verdict.differences.join(', ')}`;
    default:
      return '';
  }
}

export function formatSummary(s: MigrationSummary): string {
  const out: string[] = [];
  out.push(`shadowvq migrate: ${s.source.device} → ${s.destination.device}, features ${s.source.negotiated}, CVQ ${s.strategy}`);
  out.push('');
  out.push(
    ...table(
      ['phase', 'end', 'wall', 'simulated', 'what happened'],
      s.phases.map((p) => [p.phase, p.end, ms(p.wallMs), p.simUs === null ? '—' : us(p.simUs), phaseDetail(s, p)]),
      [false, false, true, true, false],
    ),
  );

  const rounds = s.precopy.rounds;
  if (rounds.length > 0) {
    out.push('');
    out.push('dirty pages left after each precopy round (what the next round sends)');
    const max = Math.max(...rounds.map((r) => r.dirtyPages), s.precopy.thresholdPages);
    const w = num(max).length;
    for (const r of rounds) {
      out.push(`  round ${String(r.round).padStart(2)} │${bar(r.dirtyPages, max, 40).padEnd(41)} ${num(r.dirtyPages).padStart(w)}   (${num(r.pagesSent)} sent in ${us(r.wireUs)}, ${num(r.frames)} frames meanwhile)`);
    }
    const th = Math.max(1, Math.round((s.precopy.thresholdPages / max) * 40));
    out.push(`  threshold│${' '.repeat(th - 1)}┆ ${num(s.precopy.thresholdPages)}`);
  }

  if (s.downtime !== null) {
    out.push('');
    const parts = s.phases.filter((p) => p.phase === 'stopAndCopy' || p.end === 'destination').filter((p) => (p.simUs ?? 0) > 0);
    const total = s.downtime.simUs;
    out.push(`downtime ${us(total)} simulated (${ms(s.downtime.wallMs)} wall): stop-and-copy through verify`);
    for (const p of parts) out.push(`  ${p.phase.padEnd(14)} │${bar(p.simUs!, total, 40).padEnd(41)} ${us(p.simUs!)}`);
  }

  const t = s.traffic;
  out.push('');
  out.push(
    `traffic: ${num(t.before)} frames before, ${num(t.during)} during precopy, ${num(t.after)} after; ${num(t.sent)} sent, ${num(t.received)} received and byte-checked` +
      (t.inFlightAtSuspend === null ? '' : `, ${num(t.inFlightAtSuspend)} in flight at suspend`) +
      (t.lost === 0 && t.errors.length === 0 ? ' — none lost' : ` — ${num(t.lost)} LOST`),
  );
  if (s.stopAndCopy !== null) out.push(`SVQ forwarded ${num(s.stopAndCopy.svqForwarded)} guest chains on the source while shadowing`);
  for (const e of t.errors) out.push(`  traffic error: ${e}`);

  out.push('');
  if (s.outcome === 'completed') {
    out.push(`verdict: destination state ${s.verdict.stateEqual === true ? '==' : '!='} source state (through the negotiated features)${s.verdict.ramEqual === true ? '; guest RAM identical at switch-over' : ''}`);
  } else {
    out.push(`outcome: ${s.outcome.toUpperCase()} — ${s.error ?? 'no reason recorded'}`);
    if (s.verdict.sourceIntact !== null) out.push(`source intact: ${s.verdict.sourceIntact ? `yes (${intactDetail(s)})` : 'NO'}`);
  }
  return out.join('\n') + '\n';
}

/** `--json`: the summary with stable keys (numbers rounded to 0.001). */
export function summaryJson(s: MigrationSummary): string {
  return JSON.stringify(s, (_, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v));
}
