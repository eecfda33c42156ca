/**
 * Hostile input, one test per class (issue 17): endless and oversized files, numbers no double holds,
 * floods of errors, control characters in what is echoed, counts out of range, fault specs with extra
 * or too-wide fields, faults that cannot fire, states beyond the device's limits, and the messages
 * (notes, help, summaries, JSON on refusal).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { COUNT_LIMITS } from '../../src/cli/args.js';
import { runMigrateCli, type MigrateCliOptions } from '../../src/cli/migrate.js';
import { runPlan } from '../../src/cli/plan.js';
import { runCli } from '../../src/cli/program.js';
import { runRingLayout } from '../../src/cli/ring-demo.js';
import { FAULT_FORMS, parseFault } from '../../src/device/sim/faults.js';
import { escapeText } from '../../src/state/escape.js';
import { parseStateJson } from '../../src/state/json.js';
import { readBounded } from '../../src/state/read-bounded.js';

const example = readFileSync('examples/state.json', 'utf8');
const exampleJson = (): Record<string, any> => JSON.parse(example) as Record<string, any>;
const dir = mkdtempSync(join(tmpdir(), 'svq-hostile-'));
const file = (name: string, content: string): string => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

async function cli(...args: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(['node', 'shadowvq', ...args], { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const base: MigrateCliOptions = { source: 'sim', dest: 'sim', strategy: 'parallel', fault: [], ram: 8, maxRounds: 12, threshold: 64 };
async function migrate(o: Partial<MigrateCliOptions>) {
  let stdout = '';
  let stderr = '';
  let thrown: unknown;
  let code: number | undefined;
  try {
    code = await runMigrateCli({ ...base, ...o }, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), tty: false });
  } catch (e) {
    thrown = e;
  }
  return { code, stdout, stderr, thrown };
}

describe('bounded reading: endless, huge and stuck inputs are refused in bounded time and memory', () => {
  it('/dev/zero: refused after the limit, not read to exhaustion', async () => {
    const t0 = performance.now();
    const r = await readBounded('/dev/zero');
    expect(E.isLeft(r) && r.left.message).toMatch(/more than the 4 MiB/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('a 3 GB (sparse) file: refused from fstat, before a byte is read', async () => {
    const p = join(dir, 'huge.json');
    writeFileSync(p, '');
    truncateSync(p, 3 * 2 ** 30);
    const t0 = performance.now();
    const r = await readBounded(p);
    expect(E.isLeft(r) && r.left.message).toMatch(/3221225472 bytes, more than the 4 MiB/);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('a FIFO whose writer never writes: refused at the timeout; with no writer at all: empty at once', async () => {
    const fifo = join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const empty = await readBounded(fifo, { timeoutMs: 300 });
    expect(empty).toEqual(E.right(''));
    // a writer that holds the FIFO open and writes nothing
    const writer = spawn('sh', ['-c', `exec 3>${fifo}; sleep 5`]);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    const r = await readBounded(fifo, { timeoutMs: 300 });
    writer.kill();
    expect(E.isLeft(r) && r.left.message).toMatch(/no data within 0\.3 s/);
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('a directory, a missing file, bytes that are not UTF-8: each a message naming the file', async () => {
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    expect(E.isLeft(await readBounded(sub)) && 'dir').toBe('dir');
    expect((await readBounded(join(dir, 'nope'))) as unknown).toMatchObject({ left: { message: expect.stringMatching(/ENOENT/) } });
    const bin = join(dir, 'bin.json');
    writeFileSync(bin, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expect((await readBounded(bin)) as unknown).toMatchObject({ left: { message: expect.stringMatching(/not UTF-8/) } });
  });

  it('plan and migrate refuse /dev/zero with exit 2 and a clear message', async () => {
    const p = await runPlan({ state: '/dev/zero' });
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/cannot read state file \/dev\/zero: more than the 4 MiB/);
    const m = await migrate({ state: '/dev/zero' });
    expect(String((m.thrown as Error).message)).toMatch(/more than the 4 MiB/);
  });
});

describe('numbers, floods and control characters in state files', () => {
  it('1e400 and 2^53+1 are shown as the file wrote them, never "null" or a rounded neighbour', () => {
    for (const [text, shown] of [
      ['1e400', '1e400'],
      ['9007199254740993', '9007199254740993'],
      ['1.0000000000000000001', '1.0000000000000000001'],
    ]) {
      const r = parseStateJson(example.replace('"queuePairs": 4', `"queuePairs": ${text}`));
      expect(E.isLeft(r)).toBe(true);
      if (E.isRight(r)) continue;
      expect(r.left.message).toContain(`queuePairs: expected an integer in 1..32768, got ${shown}`);
      expect(r.left.message).not.toMatch(/got null|9007199254740992\b/);
    }
  });

  it('a key given twice is refused (JSON.parse would silently keep the last)', () => {
    const r = parseStateJson(example.replace('"queuePairs": 4,', '"queuePairs": 4, "queuePairs": 1,'));
    expect(E.isLeft(r) && r.left.message).toMatch(/\(document\): duplicate key "queuePairs" on line 3/);
    // the same key in different objects, and equal strings as values, are fine
    expect(E.isRight(parseStateJson(example))).toBe(true);
  });

    it('a flood of bad entries lists the first 20 and counts the rest', () => {
    const doc = exampleJson();
    doc.vlans = Array.from({ length: 600_000 }, () => 5000);
    const r = parseStateJson(JSON.stringify(doc));
    expect(E.isLeft(r)).toBe(true);
    if (E.isRight(r)) return;
    expect(r.left.issues).toHaveLength(20);
    expect(r.left.more).toBe(600_000 - 20);
    expect(r.left.message).toMatch(/and 599980 more$/);
  });

  it('many unknown keys and many out-of-range RSS queues are capped the same way', () => {
    const doc = exampleJson();
    for (let i = 0; i < 5000; i++) doc[`k${i}`] = i;
    doc.rss.indirectionTable = Array.from({ length: 128 }, () => 7);
    const r = parseStateJson(JSON.stringify(doc));
    expect(E.isLeft(r) && r.left.issues.length).toBe(20);
    expect(E.isLeft(r) && r.left.more).toBe(5000 - 20);
    delete (doc as Record<string, unknown>).k0;
    const only = { ...exampleJson(), rss: { ...exampleJson().rss, indirectionTable: Array.from({ length: 128 }, () => 7) } };
    const q = parseStateJson(JSON.stringify(only));
    expect(E.isLeft(q) && q.left.issues.length + q.left.more).toBeLessThanOrEqual(22);
    expect(E.isLeft(q) && q.left.message).toMatch(/and 110 more entries ≥ queuePairs 4/);
  });

  it('a huge key is cut, a key with ANSI escapes and control characters is escaped, once', () => {
    const doc = exampleJson();
    doc['x'.repeat(3_000_000)] = 1;
    doc['\u001b[31mred\u0007\r\u009b2J\u202e'] = 2;
    const r = parseStateJson(JSON.stringify(doc));
    expect(E.isLeft(r)).toBe(true);
    if (E.isRight(r)) return;
    expect(r.left.message.length).toBeLessThan(1000);
    // eslint-disable-next-line no-control-regex
    expect(r.left.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    expect(r.left.message).toContain('\\x1b[31mred\\x07\\x0d\\x9b2J\\u202e');
    expect(r.left.message).toContain('(3000000 characters)');
  });

  it('escapeText: cut first, then escape; never half a surrogate pair', () => {
    expect(escapeText('a\u001bb')).toBe('a\\x1bb');
    expect(escapeText('😀'.repeat(50), 3)).toBe('😀… (100 characters)');
    expect(escapeText('\ud800x')).toBe('\\ud800x');
  });
});

describe('counts: a documented maximum, strict decimal parsing, the flag named', () => {
  const where: Record<string, string[]> = {
    '--ram': ['migrate', '--demo'],
    '--max-rounds': ['migrate', '--demo'],
    '--threshold': ['migrate', '--demo'],
    '--chains': ['ring-demo'],
    '--size': ['ring-demo'],
    '--seed': ['ring-demo'],
  };
  for (const [flag, args] of Object.entries(where)) {
    const max = COUNT_LIMITS[flag as keyof typeof COUNT_LIMITS].max;
    it.each(['', '1e400', '0x10', '-1', '1.5', '9007199254740993', String(max + 1), '12abc', '\u001b[31m'])(`${flag} %j → exit 2`, async (v) => {
      const r = await cli(...args, flag, v);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`${flag} must be a decimal integer in`);
      expect(r.err).not.toMatch(/got null|9007199254740992\b/);
      // eslint-disable-next-line no-control-regex
      expect(r.err).not.toMatch(/\u001b/);
    });
  }

  it('mbt --simple-limit "" is a usage error, not 0', async () => {
    const r = await cli('mbt', '--simple-limit', '', '--device', 'scripted');
    expect(r.code).toBe(2);
  });

  it('a long ring-demo run reports progress', () => {
    const seen: number[] = [];
    const row = runRingLayout('split', { chains: 20_000, size: 64, seed: 1, progressMs: 0, onProgress: (n) => seen.push(n) });
    expect(row.verdict).toBe('ok');
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((n, i) => n > 0 && n < 20_000 && (i === 0 || n > seen[i - 1]!))).toBe(true);
  });
});

describe('fault specs: strict, every field used and in its width', () => {
  it.each([
    ['delay-ack:5:VLAN_ADD:junk', /unexpected field\(s\) after "VLAN_ADD": "junk"/],
    ['iotlb-map-fails:1:2:3', /unexpected field\(s\) after "1": "2:3"/],
    ['wrong-used-len:4294967296', /<len> 4294967296 is outside 0\.\.4294967295/],
    ['bad-used-id:99999999999', /<id> 99999999999 is outside 0\.\.65535/],
    ['delay-ack:0x10', /<us> must be a decimal integer/],
    ['nack:VLAN_ADD@0', /<n> 0 is outside 1\.\.65535/],
    ['suspend-fails:1', /takes no argument/],
    ['nack:VLAN_ADD,', /unknown CVQ command ""/],
  ])('%s', async (spec, message) => {
    expect(E.isLeft(parseFault(spec))).toBe(true);
    const r = await cli('migrate', '--demo', '--fault', spec);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('at most 32 --fault rules', async () => {
    const many = Array.from({ length: 33 }, () => ['--fault', 'nack:VLAN_ADD']).flat();
    const r = await cli('migrate', '--demo', ...many);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/at most 32 --fault rules/);
  });

    it('migrate --help and docs/faults.md list every form of the parser\'s table', async () => {
    const h = await cli('migrate', '--help');
    const docs = readFileSync('docs/faults.md', 'utf8');
    for (const f of FAULT_FORMS) {
      expect(h.out).toContain(f.syntax);
      expect(docs).toContain(`\`${f.syntax}\``);
      // and each documented form parses (with its placeholders filled in)
      // the bare form, and the form with every optional part, parse
      let bare = f.syntax;
      while (/\[[^[\]]*\]/.test(bare)) bare = bare.replace(/\[[^[\]]*\]/g, '');
      const full = f.syntax.replace(/[[\]]/g, '');
      for (const example of [bare, full].map((x) => x.replace('COMMANDS', 'VLAN_ADD').replace(/<[a-z]+>/g, '1'))) expect(E.isRight(parseFault(example)), example).toBe(true);
    }
  });
});

describe('faults that cannot fire, device limits, features: refused or reported before anything is sent', () => {
  it('a fault that never fired is reported in text and JSON, exit 1', async () => {
    const json = await migrate({ demo: true, json: true, fault: [E.getOrElseW(() => undefined)(parseFault('nack:ANNOUNCE_ACK'))!] });
    expect(json.code).toBe(1);
    const s = JSON.parse(json.stdout) as Record<string, any>;
    expect(s.outcome).toBe('completed');
    expect(s.unfiredFaults).toEqual(['nack:ANNOUNCE_ACK']);
    expect(s.faults).toEqual([{ spec: 'nack:ANNOUNCE_ACK', end: 'destination', fired: 0 }]);
    expect(json.stderr).toMatch(/fault nack:ANNOUNCE_ACK never fired on the destination/);
    const text = await migrate({ demo: true, fault: [E.getOrElseW(() => undefined)(parseFault('iotlb-map-fails:7'))!] });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/fault iotlb-map-fails:7 \(source\): NEVER FIRED/);
  }, 30_000);

  it('a fault on the k-th command fires once, there, and the run says so', async () => {
    const r = await migrate({ demo: true, json: true, fault: [E.getOrElseW(() => undefined)(parseFault('nack:VLAN_ADD@3'))!] });
    const s = JSON.parse(r.stdout) as Record<string, any>;
    expect(s.outcome).toBe('rolled-back');
    expect(s.faults).toEqual([{ spec: 'nack:VLAN_ADD@3', end: 'destination', fired: 1 }]);
    expect(s.error).toMatch(/VLAN_ADD/);
    expect(r.code).toBe(0);
  }, 30_000);

  it('an RSS key or table beyond the device\'s limits is refused before anything is sent, naming field and limit', async () => {
    const k41 = exampleJson();
    k41.rss.key += 'ab';
    const t256 = exampleJson();
    t256.rss.indirectionTable = [...t256.rss.indirectionTable, ...t256.rss.indirectionTable];
    const p = await runPlan({ state: 'x' }, () => JSON.stringify(k41));
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/rss\.key: 41 bytes > rss_max_key_size 40/);
    expect(p.stderr).not.toMatch(/hashReport/);
    const transitions: string[] = [];
    const m = await migrate({ state: file('t256.json', JSON.stringify(t256)), events: true });
    void transitions;
    expect(String((m.thrown as Error).message)).toMatch(/rss\.indirectionTable: 256 entries > rss_max_indirection_table_length 128/);
    expect(m.stdout).toBe(''); // not one transition: nothing was sent
  });

  it('an unnegotiable feature request is a usage error', async () => {
    for (const f of ['0x0', 'CTRL_VQ,CTRL_RX,VERSION_1', 'CTRL_VQ,ACCESS_PLATFORM']) {
      const r = await cli('migrate', '--demo', '--features', f);
      expect(r.code, f).toBe(2);
      expect(r.err).toMatch(/cannot be negotiated: .* lacks (VERSION_1|ACCESS_PLATFORM)/);
    }
  });
});

describe('messages', () => {
  it('plan of the project\'s own example with the default features notes nothing; a real loss is named as the file names it', async () => {
    const def = await runPlan({ state: 'examples/state.json' });
    expect(def).toMatchObject({ code: 0, stderr: '' });
    const noVlan = await runPlan({ state: 'examples/state.json', features: 'CTRL_VQ,CTRL_RX,MQ,RSS,VERSION_1' });
    expect(noVlan.stderr).toMatch(/does not reproduce the state's .*vlans/);
    expect(noVlan.stderr).not.toMatch(/vlanFilter|hashReport/);
  });

  it('with suspend-fails the summary says switching to SVQ failed, not "SVQ already on"', async () => {
    const r = await migrate({ demo: true, fault: [{ kind: 'suspend-fails' }] });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/setup .*switching to SVQ failed/);
    expect(r.stdout).not.toMatch(/SVQ already on/);
  }, 30_000);

  it('--json: a failure before the migration starts is still one JSON object on stdout', async () => {
    const bad = await migrate({ state: file('bad.json', '{"mac": 1e400}'), json: true });
    expect(bad.thrown).toBeDefined();
    expect(JSON.parse(bad.stdout)).toMatchObject({ outcome: 'refused', exitCode: 2, error: expect.stringMatching(/mac: .*1e400/) });
    const p = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'migrate', '--demo', '--json', '--ram', 'lots'], { encoding: 'utf8', timeout: 30_000 });
    expect(p.status).toBe(2);
    expect(JSON.parse(p.stdout)).toMatchObject({ outcome: 'refused', exitCode: 2, error: expect.stringMatching(/--ram must be a decimal integer/) });
  });

  it('--source sim:vdpa_sim_net --demo says what it cannot configure instead of cutting it silently', async () => {
    const r = await migrate({ demo: true, source: 'sim:vdpa_sim_net' });
    expect(r.stderr).toMatch(/note: .*the state's queuePairs, rxMode, macTable, vlans, guestOffloads, rss, coalescing cannot be configured/);
  }, 30_000);
});
