/** The migration report as a file (`shadowvq migrate --report FILE.html`). */
import { writeFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import type { MigrationSummary } from '../migrate/controller.js';
import type { TransitionRecord } from '../migrate/transitions.js';
import type { NetDeviceState } from '../state/net-state.js';
import { planRestore } from '../state/plan.js';
import { renderReport } from './html.js';

export { renderReport, highlightDot, REPORT_SECTIONS, type ReportInput } from './html.js';

/** Render and write the report; the error as text (exit status 1 for the caller). */
export async function writeReport(path: string, r: { summary: MigrationSummary; transitions: readonly TransitionRecord[]; state: NetDeviceState; command?: string }): Promise<E.Either<string, void>> {
  // the commands the restore sent: the state through the features the source negotiated
  const plan = planRestore(r.state, BigInt(r.summary.source.negotiated));
  const html = await renderReport({ summary: r.summary, transitions: r.transitions, plan, ...(r.command === undefined ? {} : { command: r.command }) });
  if (E.isLeft(html)) return html;
  try {
    writeFileSync(path, html.right);
    return E.right(undefined);
  } catch (e) {
    return E.left(`cannot write ${path}: ${(e as Error).message}`);
  }
}
