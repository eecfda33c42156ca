/**
 * The import graph of src: no cycles, and the layering the tree relies on — src/ring imports nothing
 * above it, src/state only the virtio vocabulary and the CVQ class modules, and the class modules
 * (src/cvq/classes) only the virtio vocabulary and the state's shape (net-state.ts).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const DIRS = [join(ROOT, 'src'), join(ROOT, 'machines')];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports (type-only ones included) of every src and machines file, as paths from the repository root. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of DIRS.flatMap(files)) {
    const text = readFileSync(f, 'utf8');
    const deps = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s+'(\.[^']+)'|(?:^|\n)\s*import\s+'(\.[^']+)'/g)]
      .map((m) => (m[1] ?? m[2])!)
      .map((s) => relative(ROOT, resolve(dirname(f), s.replace(/\.js$/, '.ts'))));
    g.set(relative(ROOT, f), deps);
  }
  return g;
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(g: Map<string, string[]>): string[][] {
  let n = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) out.push(scc);
    }
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return out;
}

const imports = (g: Map<string, string[]>, under: string): [string, string][] =>
  [...g].filter(([f]) => f.startsWith(under)).flatMap(([f, ds]) => ds.map((d): [string, string] => [f, d]));

describe('src + machines import graph', () => {
  const g = graph();

  it('resolves every relative import to a file', () => {
    expect(g.size).toBeGreaterThan(50);
    for (const [f, ds] of g) for (const d of ds) expect(g.has(d), `${f} → ${d}`).toBe(true);
  });

  it('has no import cycles', () => {
    expect(cycles(g)).toEqual([]);
  });

  it('src/ring imports only src/ring and src/memory', () => {
    const bad = imports(g, 'src/ring/').filter(([, d]) => !d.startsWith('src/ring/') && !d.startsWith('src/memory/'));
    expect(bad).toEqual([]);
  });

  it('src/state imports only src/state, the virtio vocabulary and the CVQ class modules', () => {
    const bad = imports(g, 'src/state/').filter(([, d]) => !/^src\/(state|cvq\/classes)\//.test(d) && !/^src\/virtio\/(net|features|status|cvq)\.ts$/.test(d));
    expect(bad).toEqual([]);
  });

  it('the CVQ class modules import only each other, virtio/net, virtio/features and state/net-state', () => {
    const bad = imports(g, 'src/cvq/classes/').filter(
      ([, d]) => !d.startsWith('src/cvq/classes/') && !['src/virtio/net.ts', 'src/virtio/features.ts', 'src/state/net-state.ts'].includes(d),
    );
    expect(bad).toEqual([]);
  });

  it('the state shape and the virtio vocabulary stay below the class modules', () => {
    for (const f of ['src/state/net-state.ts', 'src/virtio/net.ts', 'src/virtio/features.ts']) {
      expect(g.get(f)!.filter((d) => !/^src\/virtio\/(net|features)\.ts$/.test(d))).toEqual([]);
    }
  });
});
