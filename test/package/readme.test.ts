/**
 * Nothing in the README goes stale unchecked: its size, every relative link and anchor, every command in a
 * ```sh block marked `<!-- checked: commands -->` (npm scripts exist; each `shadowvq …` line runs, its
 * flags known to `--help`, exit status 0), the output block marked `<!-- checked: output of … -->` against
 * a fresh run of that command (times masked: they are the clock's), and the library snippet run as is.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
const dir = mkdtempSync(join(tmpdir(), 'shadowvq-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fenced blocks that follow a `<!-- checked: KIND -->` marker. */
function checked(kind: string): string[] {
  const re = /<!-- checked: ([^>]+?) -->\n```(\w+)\n([\s\S]*?)```/g;
  return [...README.matchAll(re)].filter((m) => m[1]!.startsWith(kind)).map((m) => m[3]!);
}

function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, timeout: 240_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    ),
  );
}

/** A shell line's words (the README's commands use no quoting). */
const words = (line: string): string[] => line.replace(/\s+#.*$/, '').trim().split(/\s+/).filter((w) => w !== '');

/** GitHub's heading anchors. */
const slug = (h: string): string => h.trim().toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');

describe('README.md', () => {
  it('is at most 15 KB', () => {
    expect(Buffer.byteLength(README)).toBeLessThanOrEqual(15 * 1024);
  });

  it('links only to files that exist, and to headings that exist', () => {
    const targets = [...README.matchAll(/\]\(([^)\s]+)\)|src="([^"]+)"/g)].map((m) => m[1] ?? m[2]!).filter((t) => !/^(https?:|mailto:)/.test(t));
    expect(targets.length).toBeGreaterThan(10);
    for (const t of targets) {
      const [file, anchor] = t.split('#') as [string, string | undefined];
      const path = join(ROOT, file === '' ? 'README.md' : file);
      expect(existsSync(path), t).toBe(true);
      if (anchor !== undefined) {
        const headings = [...readFileSync(path, 'utf8').matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]!));
        expect(headings, t).toContain(anchor);
      }
    }
    // docs/ links back into the tree resolve too
    for (const doc of ['docs/cli.md', 'docs/library.md', 'docs/qmp.md', 'docs/real-device.md']) {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      for (const m of text.matchAll(/\]\((\.\.?\/[^)#\s]+|[a-z][\w.-]*\.(?:md|png|ts|json))(?:#[^)]*)?\)/g)) expect(existsSync(join(ROOT, dirname(doc), m[1]!)), `${doc}: ${m[1]}`).toBe(true);
    }
  });

  it('the commands it shows run: npm scripts exist, every shadowvq line exits 0 with flags its --help lists', async () => {
    const blocks = checked('commands');
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const lines = blocks.flatMap((b) => b.split('\n')).flatMap((l) => l.replace(/\s+#.*$/, '').split('&&')).map((l) => l.trim()).filter((l) => l !== '');
    let shadowvq = 0;
    for (const line of lines) {
      const w = words(line);
      if (w[0] === 'npm') {
        if (w[1] === 'ci') expect(existsSync(join(ROOT, 'package-lock.json'))).toBe(true);
        else if (w[1] === 'run') expect(pkg.scripts, line).toHaveProperty(w[2]!);
        else expect(pkg.scripts, line).toHaveProperty(w[1]!);
        continue;
      }
      expect(w[0], `unexpected command in the README: ${line}`).toBe('shadowvq');
      shadowvq++;
      const help = await cli([w[1]!, '--help']);
      expect(help.code, line).toBe(0);
      for (const flag of w.filter((x) => x.startsWith('--'))) expect(help.stdout, `${line}: ${flag}`).toContain(flag);
      const o = await cli(w.slice(1));
      expect(o.code, `${line}\n${o.stderr}`).toBe(0);
      const report = w[w.indexOf('--report') + 1];
      if (w.includes('--report')) expect(readFileSync(report!, 'utf8')).toMatch(/^<!doctype html>/);
    }
    expect(shadowvq).toBeGreaterThanOrEqual(3);
    // npm start is the demo whose output the README shows
    expect(pkg.scripts.start).toMatch(/ migrate --demo$/);
  }, 400_000);

  it('the output it shows is what the command prints today (times masked)', async () => {
    const [block] = checked('output of');
    const cmd = /<!-- checked: output of shadowvq ([^>]+?) -->/.exec(README)![1]!;
    const o = await cli(words(cmd));
    expect(o.code, o.stderr).toBe(0);
    const mask = (s: string) =>
      s
        .split('\n')
        .map((l) => l.replace(/\d[\d.]*\s(?:µs|ms|s)\b/g, 'T').replace(/[─│█▏▎▍▌▋▊▉]+/g, '').replace(/\s+/g, ' ').trim())
        .filter((l) => l !== '');
    expect(mask(o.stderr + o.stdout)).toEqual(mask(block!));
  }, 240_000);

  it('the library snippet runs as shown', async () => {
    const [snippet] = checked('library');
    expect(snippet!.split('\n').filter((l) => l.trim() !== '').length).toBeLessThanOrEqual(10);
    const file = join(dir, 'snippet.mts');
    writeFileSync(file, snippet!.replace(`from 'shadowvq'`, `from '${join(ROOT, 'src/index.ts')}'`));
    const o = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, timeout: 240_000 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : 1, stdout, stderr })),
    );
    expect(o.code, o.stderr).toBe(0);
    const lines = o.stdout.trim().split('\n');
    expect(lines[0]).toBe('source attaching');
    expect(lines).toContain('destination running');
    expect(lines[lines.length - 1]).toMatch(/^completed true \d+(\.\d+)?$/);
  }, 240_000);
});
