/**
 * shadowvq's QMP server (src/qmp) against QMP's rules (QEMU docs/interop/qmp-spec.rst): greeting,
 * capability negotiation, replies and errors with the command's id, MIGRATION / MIGRATION_PASS events
 * gated by the `events` capability, query-migrate's fields, several clients, a client that leaves
 * mid-migration, and every input bounded.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QmpServer } from '../../src/qmp/server.js';
import { JsonSplitter } from '../../src/qmp/wire.js';
import { TestClient } from './helpers.js';

let dir = '';
let n = 0;
let server: QmpServer | undefined;
const clients: TestClient[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shadowvq-qmp-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.migration?.done;
  await server?.close();
  server = undefined;
});

async function start(opts: { maxClients?: number; limits?: { maxBytes: number; maxDepth: number } } = {}): Promise<string> {
  const path = join(dir, `s${n++}.qmp`);
  server = new QmpServer({ path, version: '1.2.3', ...opts });
  await server.listen();
  return path;
}

async function client(path: string, negotiate = true): Promise<TestClient> {
  const c = await TestClient.open(path);
  clients.push(c);
  await c.waitFor((m) => 'QMP' in m);
  if (negotiate) expect(await c.exec('qmp_capabilities')).toEqual({ return: {} });
  return c;
}

const MIGRATE = { uri: 'sim', 'x-demo': true, 'x-ram': 8 };

/** Events on, a demo migration started, returned once it is active. */
async function migrating(c: TestClient): Promise<void> {
  await c.exec('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
  expect(await c.exec('migrate', MIGRATE)).toEqual({ return: {} });
  await c.waitFor((m) => m.event === 'MIGRATION' && m.data.status === 'active');
}
const final = (m: { event?: string; data?: { status?: string } }) => m.event === 'MIGRATION' && ['completed', 'failed', 'cancelled'].includes(m.data?.status ?? '');

describe('QMP session', () => {
  it('greets with QEMU\'s shape and accepts only qmp_capabilities until negotiated', async () => {
    const path = await start();
    const c = await client(path, false);
    expect(c.msgs[0]).toEqual({ QMP: { version: { qemu: { major: 1, minor: 2, micro: 3 }, package: 'shadowvq-1.2.3' }, capabilities: [] } });
    expect(await c.exec('query-status')).toEqual({ error: { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" } });
    expect(await c.exec('qmp_capabilities', { enable: ['oob'] })).toEqual({ error: { class: 'GenericError', desc: "Capability 'oob' not available" } });
    expect(await c.exec('qmp_capabilities', undefined, 'n1')).toEqual({ return: {}, id: 'n1' });
    expect((await c.exec('qmp_capabilities')).error.class).toBe('CommandNotFound');
    expect(await c.exec('query-version', undefined, { any: ['json', 1] })).toEqual({ return: { qemu: { major: 1, minor: 2, micro: 3 }, package: 'shadowvq-1.2.3' }, id: { any: ['json', 1] } });
    expect(await c.exec('query-status')).toEqual({ return: { status: 'running', singlestep: false, running: true } });
    expect(await c.exec('query-migrate')).toEqual({ return: {} });
    const cmds = (await c.exec('query-commands')).return.map((x: { name: string }) => x.name);
    for (const name of ['migrate', 'migrate_cancel', 'query-migrate', 'x-shadowvq-query-plan']) expect(cmds).toContain(name);
  });

  it('answers every malformed input with a GenericError or CommandNotFound, never a crash', async () => {
    const path = await start({ limits: { maxBytes: 4096, maxDepth: 8 } });
    const c = await client(path);
    expect(await c.exec('no-such', undefined, 7)).toEqual({ error: { class: 'CommandNotFound', desc: 'The command no-such has not been found' }, id: 7 });
    expect((await c.raw('{"execute": }\n')).error).toMatchObject({ class: 'GenericError', desc: expect.stringMatching(/^JSON parse error/) });
    expect((await c.raw('42\n')).error).toEqual({ class: 'GenericError', desc: 'QMP input must be a JSON object' });
    expect((await c.raw('{"arguments": {}}\n')).error.desc).toBe("QMP input lacks member 'execute'");
    expect((await c.raw('{"execute": 1}\n')).error.desc).toBe("QMP input member 'execute' must be a string");
    expect((await c.raw('{"execute": "query-status", "arguments": []}\n')).error.desc).toBe("QMP input member 'arguments' must be an object");
    expect((await c.raw('{"execute": "query-status", "extra": 1}\n')).error.desc).toBe("QMP input member 'extra' is unexpected");
    expect((await c.exec('query-status', { x: 1 })).error.desc).toBe("Parameter 'x' is unexpected");
    expect((await c.exec('migrate', {})).error.desc).toBe("Parameter 'uri' is missing");
    expect((await c.exec('migrate', { uri: 5 })).error.desc).toBe("Invalid parameter type for 'uri', expected: string");
    expect((await c.exec('migrate', { uri: 'tcp:host:4444', 'x-demo': true })).error.desc).toMatch(/^Invalid destination 'tcp:host:4444'/);
    expect((await c.exec('migrate', { uri: 'sim' })).error.desc).toMatch(/'x-state' or 'x-demo' is missing/);
    expect((await c.exec('migrate', { uri: 'sim', 'x-demo': true, 'x-state': 'f' })).error.desc).toMatch(/mutually exclusive/);
    expect((await c.exec('migrate', { uri: 'sim', 'x-demo': true, 'x-strategy': 'sideways' })).error.desc).toMatch(/x-strategy/);
    expect((await c.exec('migrate', { uri: 'sim', 'x-demo': true, 'x-ram': 1e9 })).error.desc).toMatch(/x-ram.*4\.\.1024/);
    expect((await c.exec('migrate', { uri: 'sim', 'x-demo': true, 'x-fault': ['melt'] })).error.desc).toMatch(/x-fault/);
    expect((await c.exec('migrate', { uri: 'sim', 'x-state': join(dir, 'missing.json') })).error.desc).toMatch(/cannot read state file/);
    const big = join(dir, 'big.json');
    writeFileSync(big, ' '.repeat((1 << 20) + 1));
    expect((await c.exec('migrate', { uri: 'sim', 'x-state': big })).error.desc).toMatch(/at most 1048576/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ mac: 'zz' }));
    expect((await c.exec('migrate', { uri: 'sim', 'x-state': bad })).error.desc).toMatch(/invalid state file/);
    // bounded input: a value too long or too deep is refused and the stream resynchronises after it
    expect((await c.raw(`{"execute": "${'x'.repeat(5000)}"}\n`)).error.desc).toMatch(/longer than 4096 bytes/);
    expect((await c.raw(`{"execute": "query-status", "arguments": ${'['.repeat(20)}${']'.repeat(20)}}\n`)).error.desc).toMatch(/nesting deeper than 8/);
    expect(await c.exec('query-status')).toMatchObject({ return: { status: 'running' } });
    // nothing started
    expect(server!.migration).toBeNull();
  });

  it('splits commands that arrive in pieces or back to back, strings with braces included', () => {
    const s = new JsonSplitter({ maxBytes: 1000, maxDepth: 4 });
    expect(s.push('{"execute":"a", "arguments": {"s": "}{\\"["}}{"exe')).toEqual([{ kind: 'value', text: '{"execute":"a", "arguments": {"s": "}{\\"["}}' }]);
    expect(s.pending).toBe(5);
    expect(s.push('cute":"b"}\r\n')).toEqual([{ kind: 'value', text: '{"execute":"b"}' }]);
    expect(s.pending).toBe(0);
  });

  it('refuses clients beyond --max-clients', async () => {
    const path = await start({ maxClients: 2 });
    await client(path);
    await client(path);
    const third = await TestClient.open(path);
    clients.push(third);
    const m = await third.waitFor((x) => 'error' in x);
    expect(m.error).toEqual({ class: 'GenericError', desc: 'too many QMP clients (at most 2)' });
    await third.waitFor(() => false, 5000).catch(() => {});
    expect(third.closed).toBe(true);
  });
});

describe('QMP migration', () => {
  it('a demo migration: MIGRATION setup → active → device → completed and MIGRATION_PASS to every negotiated client; query-migrate in QEMU\'s fields', async () => {
    const path = await start();
    const a = await client(path);
    const b = await client(path);
    const late = await client(path, false); // still negotiating: gets no events
    expect(await a.exec('query-migrate-capabilities')).toEqual({ return: [{ capability: 'events', state: false }] });
    expect(await a.exec('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] })).toEqual({ return: {} });
    expect((await a.exec('migrate-set-capabilities', { capabilities: [{ capability: 'postcopy-ram', state: true }] })).error.class).toBe('GenericError');
    expect(await a.exec('migrate', MIGRATE)).toEqual({ return: {} });
    expect((await b.exec('migrate', MIGRATE)).error).toEqual({ class: 'GenericError', desc: "There's a migration process in progress" });
    await a.waitFor(final);
    await b.waitFor(final);
    for (const c of [a, b]) {
      expect(c.statuses()).toEqual(['setup', 'active', 'device', 'completed']);
      const passes = c.events('MIGRATION_PASS').map((m) => m.data.pass);
      expect(passes.length).toBeGreaterThan(0);
      expect(passes).toEqual(passes.map((_, i) => i + 1));
      for (const m of c.events('MIGRATION')) expect(m.timestamp).toEqual({ seconds: expect.any(Number), microseconds: expect.any(Number) });
      expect(c.events('STOP')).toHaveLength(1);
    }
    expect(late.msgs.filter((m) => 'event' in m)).toEqual([]);
    const q = (await a.exec('query-migrate')).return;
    expect(q.status).toBe('completed');
    expect(q['total-time']).toBeGreaterThanOrEqual(q['setup-time']);
    expect(q.downtime).toBeGreaterThanOrEqual(0);
    expect(q.ram).toMatchObject({ total: 8 << 20, remaining: 0, 'page-size': 4096, 'dirty-sync-count': a.events('MIGRATION_PASS').length });
    expect(q.ram.transferred).toBeGreaterThanOrEqual(8 << 20);
    expect(q.ram.transferred).toBe(q.ram['precopy-bytes'] + q.ram['downtime-bytes']);
    expect(q.ram['dirty-pages-rate']).toBeGreaterThan(0);
    expect(q['x-shadowvq']).toMatchObject({ outcome: 'completed', 'state-equal': true, 'frames-lost': 0 });
    expect(await a.exec('query-status')).toEqual({ return: { status: 'postmigrate', singlestep: false, running: false } });
    const sum = (await b.exec('x-shadowvq-query-summary')).return;
    expect(sum.outcome).toBe('completed');
    expect(sum.verdict.stateEqual).toBe(true);
  });

  it('without the events capability there are no MIGRATION events (as in QEMU), but query-migrate follows the migration', async () => {
    const path = await start();
    const c = await client(path);
    await c.exec('migrate', MIGRATE);
    await server!.migration!.done;
    expect(c.statuses()).toEqual([]);
    expect(c.events('MIGRATION_PASS')).toEqual([]);
    expect((await c.exec('query-migrate')).return.status).toBe('completed');
  });

  it('migrate_cancel while active: cancelling → cancelled, the VM keeps running on the source, nothing lost', async () => {
    const path = await start();
    const c = await client(path);
    await migrating(c);
    expect(await c.exec('migrate_cancel')).toEqual({ return: {} });
    await c.waitFor(final);
    expect(c.statuses()).toEqual(['setup', 'active', 'cancelling', 'cancelled']);
    const q = (await c.exec('query-migrate')).return;
    expect(q.status).toBe('cancelled');
    expect(q['x-shadowvq']).toMatchObject({ outcome: 'rolled-back', 'source-intact': true, 'frames-lost': 0 });
    expect(await c.exec('query-status')).toEqual({ return: { status: 'running', singlestep: false, running: true } });
    // a cancel with nothing running is a no-op, as in QEMU
    expect(await c.exec('migrate_cancel')).toEqual({ return: {} });
  });

  it('a fault at the destination: failed with error-desc, the source resumed (STOP then RESUME)', async () => {
    const path = await start();
    const c = await client(path);
    await c.exec('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
    await c.exec('migrate', { ...MIGRATE, 'x-fault': ['nack:VLAN_ADD'] });
    await c.waitFor(final);
    expect(c.statuses()).toEqual(['setup', 'active', 'device', 'failed']);
    expect(c.events('STOP')).toHaveLength(1);
    expect(c.events('RESUME')).toHaveLength(1);
    const q = (await c.exec('query-migrate')).return;
    expect(q.status).toBe('failed');
    expect(q['error-desc']).toMatch(/VLAN/);
    expect(q['x-shadowvq']['source-intact']).toBe(true);
  });

  it('a client that disconnects mid-migration loses nothing: the migration completes and a new client reads it', async () => {
    const path = await start();
    const a = await client(path);
    await migrating(a);
    a.close();
    const b = await client(path);
    expect(['active', 'device', 'completed']).toContain((await b.exec('query-migrate')).return.status);
    await server!.migration!.done;
    const q = (await b.exec('query-migrate')).return;
    expect(q.status).toBe('completed');
    expect(q['x-shadowvq']).toMatchObject({ 'state-equal': true, 'frames-lost': 0 });
  });

  it('x-shadowvq-query-plan: the CVQ commands that restore a state; x-shadowvq-query-svq: SVQ on the source', async () => {
    const path = await start();
    const c = await client(path);
    const p = (await c.exec('x-shadowvq-query-plan', { 'x-state': 'examples/state.json' })).return;
    expect(p.commands[0]).toMatchObject({ class: 1, command: 1, name: 'MAC_ADDR_SET', payload: expect.stringMatching(/^[0-9a-f]{12}$/) });
    const d = (await c.exec('x-shadowvq-query-plan', { 'x-demo': true, 'x-features': 'CTRL_VQ,MAC,CTRL_RX,VERSION_1' })).return;
    expect(d.commands.every((x: { class: number }) => x.class === 0 || x.class === 1)).toBe(true);
    expect((await c.exec('x-shadowvq-query-plan', { 'x-demo': true, 'x-features': 'NOPE' })).error.class).toBe('GenericError');
    expect(await c.exec('x-shadowvq-query-svq')).toEqual({ return: { mode: 'passthrough', queues: [], always: false } });
    await c.exec('migrate', MIGRATE);
    await server!.migration!.done;
    const svq = (await c.exec('x-shadowvq-query-svq')).return;
    expect(svq.queues.length).toBeGreaterThan(0);
  });

  it('x-shadowvq-set-svq: SVQ on before every migration and kept on (QEMU x-svq=on); bad arguments are GenericErrors', async () => {
    const path = await start();
    const c = await client(path);
    expect((await c.exec('x-shadowvq-set-svq')).error.class).toBe('GenericError');
    expect((await c.exec('x-shadowvq-set-svq', { always: 'yes' })).error.class).toBe('GenericError');
    expect(await c.exec('x-shadowvq-set-svq', { always: true })).toEqual({ return: {} });
    expect(await c.exec('migrate', MIGRATE)).toEqual({ return: {} });
    await server!.migration!.done;
    // completed with the data queues still shadowed: x-svq=on keeps SVQ after the migration
    expect((await c.exec('query-migrate')).return.status).toBe('completed');
    expect((await c.exec('x-shadowvq-query-svq')).return).toMatchObject({ mode: 'shadow', always: true });
  });
});
