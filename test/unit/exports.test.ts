/**
 * One meaning per name, and pure machine definitions (issue 11):
 *
 *  1. Values: every module under src/ and machines/ is imported (except src/cli/main.ts, the CLI entry
 *     point, and src/migrate/controller-process.ts, which run when imported); an exported name bound to two different values
 *     (by identity) in two modules fails. A re-export of the same value is one meaning.
 *  2. Types (erased at run time, so read from the source): every `export interface|type|class|enum|
 *     function|const|let|var Name` and every local `export { a as Name }` declares Name in its file; a
 *     name declared in two files fails. `export … from` re-exports declare nothing (they point at the
 *     one declaration). Run by hand with `npx vitest run test/unit/exports.test.ts`.
 *  3. machines/ imports only machines/, src/state and src/virtio (and packages); what those import in
 *     turn stays within them and the pure CVQ classes (src/cvq/classes): a machine definition pulls
 *     in no effect, device, ring or engine code.
 *
 * KNOWN lists the names still declared twice whose owners are renaming them; it must only shrink (a
 * name fixed and left in the list fails too).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// entry points run when imported: the CLI, and the migration controller's child process
const ENTRY_POINTS = new Set(['src/cli/main.ts', 'src/migrate/controller-process.ts']);

/** Declared twice, owners named: they rename them (remove the entry with the fix). */
const KNOWN: Readonly<Record<string, string>> = {
  // src/mbt (the mbt helper) repeats the source bring-up of src/migrate/world.ts
  SourceOptions: 'src/mbt/sim.ts, src/migrate/world.ts',
  bringUpSource: 'src/mbt/sim.ts, src/migrate/world.ts',
  // feature masks as 0x… text (src/state/lifecycle.ts) vs bytes as hex (src/virtio/net.ts): the lead's machines use the former
  fromHex: 'src/state/lifecycle.ts, src/virtio/net.ts',
  toHex: 'src/state/lifecycle.ts, src/virtio/net.ts',
  // the lead's machines/actors.ts vs src/migrate/transitions.ts
  phaseOf: 'machines/actors.ts, src/migrate/transitions.ts',
  // the device registry (lead): index.ts's openDevice wraps registry.ts's
  openDevice: 'src/device/index.ts, src/device/registry.ts',
  // the CVQ classes: per-class CommandRefused<K> vs the reducer's CommandRefused
  CommandRefused: 'src/cvq/classes/types.ts, src/state/apply.ts',
  // the VDUSE back end (vduse helper) declares its own ioctl tables and the virtio-net device id
  SIZEOF: 'src/device/vduse/uapi.ts, src/device/vhost-vdpa/uapi.ts',
  IOCTL: 'src/device/vduse/uapi.ts, src/device/vhost-vdpa/uapi.ts',
  VIRTIO_ID_NET: 'src/device/sim/options.ts, src/device/vduse/uapi.ts',
};

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(ROOT, dir))) {
    const rel = `${dir}/${e}`;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...files(rel));
    else if (e.endsWith('.ts') && !e.endsWith('.d.ts')) out.push(rel);
  }
  return out.sort();
}

const MODULES = [...files('src'), ...files('machines')].filter((f) => !ENTRY_POINTS.has(f));

/** Names a file declares and exports (not re-exports). */
export function declaredExports(source: string): string[] {
  const names = new Set<string>();
  const decl = /^export\s+(?:declare\s+)?(?:default\s+)?(?:abstract\s+)?(?:async\s+)?(?:interface|type|class|enum|function\*?|const|let|var)\s+([A-Za-z_$][\w$]*)/gm;
  for (const m of source.matchAll(decl)) names.add(m[1]!);
  // bindings imported into the file: exporting one again re-exports its one declaration
  const imported = new Set<string>();
  for (const m of source.matchAll(/^import\s+(?:type\s+)?([\s\S]*?)\s+from\s+['"][^'"]+['"]/gm)) {
    for (const part of m[1]!.replace(/[{}]/g, ',').split(',')) {
      const p = part.trim().replace(/^type\s+/, '').replace(/^\*\s+as\s+/, '');
      if (p === '') continue;
      const as = /\bas\s+([A-Za-z_$][\w$]*)$/.exec(p);
      imported.add(as !== null ? as[1]! : p);
    }
  }
  // export { a, b as c, type T };  — without `from`: local bindings exported (possibly renamed)
  const local = /^export\s+(?:type\s+)?\{([^}]*)\}\s*;/gm;
  for (const m of source.matchAll(local)) {
    for (const part of m[1]!.split(',')) {
      const p = part.trim().replace(/^type\s+/, '');
      if (p === '') continue;
      const as = /^([A-Za-z_$][\w$]*)\s+as\s+([A-Za-z_$][\w$]*)$/.exec(p);
      const [own, name] = as !== null ? [as[1]!, as[2]!] : [p, p];
      if (!imported.has(own)) names.add(name);
    }
  }
  return [...names];
}

/** Import / export-from specifiers of a file; without `withTypes`, only what it loads at run time (not `import type`). */
function importsOf(source: string, withTypes: boolean): string[] {
  const out: string[] = [];
  const re = /^\s*(import|export)\b(\s+type\b)?[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;
  for (const m of source.matchAll(re)) if (withTypes || m[2] === undefined) out.push((m[3] ?? m[4])!);
  return out;
}

describe('one meaning per exported name across src/ and machines/', () => {
  it('no two modules export different values under one name', async () => {
    const seen = new Map<string, Map<unknown, string>>();
    for (const f of MODULES) {
      const mod = (await import(pathToFileURL(join(ROOT, f)).href)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(mod)) {
        const byValue = seen.get(name) ?? new Map<unknown, string>();
        if (!byValue.has(value)) byValue.set(value, f);
        seen.set(name, byValue);
      }
    }
    const clashes = [...seen].filter(([name, vs]) => vs.size > 1 && !(name in KNOWN)).map(([name, vs]) => `${name}: ${[...vs.values()].join(', ')}`);
    expect(clashes).toEqual([]);
  }, 120_000);

  it('no name is declared (value or type) in two files', () => {
    const where = new Map<string, string[]>();
    for (const f of MODULES) {
      for (const n of declaredExports(readFileSync(join(ROOT, f), 'utf8'))) where.set(n, [...(where.get(n) ?? []), f]);
    }
    const twice = [...where].filter(([, fs]) => fs.length > 1);
    expect(twice.filter(([n]) => !(n in KNOWN)).map(([n, fs]) => `${n}: ${fs.join(', ')}`)).toEqual([]);
    // a fixed name leaves the list
    const fixed = Object.keys(KNOWN).filter((n) => !twice.some(([m]) => m === n));
    expect(fixed).toEqual([]);
  });

  it('the declaration scan sees every kind of export (and not re-exports)', () => {
    const src = [
      'export interface I {}',
      'export type T = 1;',
      'export class C {}',
      'export abstract class A {}',
      'export const c = 1;',
      'export async function f() {}',
      'export enum En { A }',
      "import { Imp, type ImpT } from './i.js';",
      'const l = 1;',
      'export { l as L, type T2 };',
      'export { Imp, type ImpT as Alias };',
      "export { R } from './r.js';",
      "export type { RT } from './r.js';",
    ].join('\n');
    expect(declaredExports(src).sort()).toEqual(['A', 'C', 'En', 'I', 'L', 'T', 'T2', 'c', 'f'].sort());
  });
});

describe('machines/ are pure definitions', () => {
  const ALLOWED_DIRS = ['machines/', 'src/state/', 'src/virtio/'];
  // what src/state and src/virtio build on: the CVQ classes (pure codec and reducer rules, no device code)
  const ALLOWED_BELOW = [...ALLOWED_DIRS, 'src/cvq/classes/'];
  const ALLOWED_PACKAGES = ['xstate', 'fp-ts', 'io-ts', 'immer'];

  it('import only machines/, src/state and src/virtio and packages (and, through those, only the pure CVQ classes)', () => {
    const bad: string[] = [];
    const seen = new Set<string>();
    const todo = files('machines');
    while (todo.length > 0) {
      const f = todo.pop()!;
      if (seen.has(f)) continue;
      seen.add(f);
      // machines/ may not even name a type from elsewhere; below them only run-time loads count
      for (const spec of importsOf(readFileSync(join(ROOT, f), 'utf8'), f.startsWith('machines/'))) {
        if (!spec.startsWith('.')) {
          const pkg = spec.startsWith('node:') ? spec : spec.split('/')[0]!;
          if (!ALLOWED_PACKAGES.includes(pkg)) bad.push(`${f} imports ${spec}`);
          continue;
        }
        const target = relative(ROOT, resolve(ROOT, dirname(f), spec)).replace(/\.js$/, '.ts');
        // machines/ itself: only the three; below them, the pure layers they stand on
        const allowed = f.startsWith('machines/') ? ALLOWED_DIRS : ALLOWED_BELOW;
        if (!allowed.some((d) => target.startsWith(d))) bad.push(`${f} imports ${target}`);
        else todo.push(target);
      }
    }
    expect(bad).toEqual([]);
    expect(seen.size).toBeGreaterThan(files('machines').length);
  });
});
