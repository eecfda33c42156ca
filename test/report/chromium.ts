/**
 * Headless Chromium (Debian's `chromium`) for the report tests: a clean, offline, throw-away profile
 * per run, and the console lines it logged (a page with no script logs none; a CSP violation logs one).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
export const inCi = process.env.CI === 'true' || process.env.CI === '1';

/** Run Chromium headless with `args`, its profile under `dir`. */
export function chromium(dir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const profile = mkdtempSync(join(dir, 'profile-'));
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--enable-logging=stderr', '--v=0'];
  return new Promise((resolve) =>
    execFile(CHROMIUM!, [...flags, ...args], { timeout: 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    ),
  );
}

export const consoleLines = (stderr: string): string[] => stderr.split('\n').filter((l) => /:CONSOLE[:(]/.test(l));
