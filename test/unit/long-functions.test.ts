/**
 * Rooms a reader can hold in their head (issue 16): no function in src/ or machines/ runs over 60
 * lines unless the comment right above it says why, as "(Long: …)" or "(Long because …)".
 *
 * Functions are found as declarations (`function f(`, `export async function f(`), methods
 * (`  name(…) {`) and arrow constants (`const f = (…) => {`), each ending at the first closing brace
 * at its own indentation — the code style `npm run format` keeps.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MAX_LINES = 60;

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });

const START = /^(?:export )?(?:async )?function\*? ?(\w+)|^ {2}(?:async )?(\w+)\(.*\).*\{$|^(?:export )?const (\w+) = (?:async )?\(.*=> \{$/;

/** Every function over `MAX_LINES` lines: file:line name (lines), and whether a reason precedes it. */
export function longFunctions(source: string): { readonly line: number; readonly name: string; readonly lines: number; readonly reason: boolean }[] {
  const lines = source.split('\n');
  const out: { line: number; name: string; lines: number; reason: boolean }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = START.exec(lines[i]!);
    if (m === null) continue;
    const indent = lines[i]!.length - lines[i]!.trimStart().length;
    let j = i + 1;
    while (j < lines.length && !(lines[j]!.startsWith(`${' '.repeat(indent)}}`) && lines[j]!.length - lines[j]!.trimStart().length === indent)) j++;
    const n = j - i + 1;
    if (n > MAX_LINES) out.push({ line: i + 1, name: m[1] ?? m[2] ?? m[3] ?? '?', lines: n, reason: /\(Long[ :]/.test(lines.slice(Math.max(0, i - 6), i).join('\n')) });
    if (n > 2) i = j;
  }
  return out;
}

describe('rooms', () => {
  it('finds a long function and its reason (the check itself)', () => {
    const body = Array.from({ length: 70 }, (_, k) => `  const x${k} = ${k};`).join('\n');
    expect(longFunctions(`function f() {\n${body}\n}\n`)).toEqual([{ line: 1, name: 'f', lines: 72, reason: false }]);
    expect(longFunctions(`/** (Long: a table.) */\nexport function g() {\n${body}\n}\n`)).toMatchObject([{ name: 'g', reason: true }]);
    expect(longFunctions(`function h() {\n  return 1;\n}\n`)).toEqual([]);
  });

  it(`no function in src/ or machines/ is over ${MAX_LINES} lines without its reason`, () => {
    const bad = [...files(join(ROOT, 'src')), ...files(join(ROOT, 'machines'))].flatMap((p) =>
      longFunctions(readFileSync(p, 'utf8'))
        .filter((f) => !f.reason)
        .map((f) => `${relative(ROOT, p)}:${f.line} ${f.name} (${f.lines} lines)`),
    );
    expect(bad).toEqual([]);
  });
});
