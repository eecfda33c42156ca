import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { decodeMigrationRecord, encodeMigrationRecord, makeMigrationRecord, parseMigrationRecord } from '../../src/state/migration-record.js';
import { F } from '../../src/virtio/features.js';

const parts = {
  device: { mac: '52:54:00:00:00:01' },
  offered: F.VERSION_1 | F.CTRL_VQ | F.CTRL_MAC_ADDR | F.MAC,
  negotiated: F.VERSION_1 | F.CTRL_VQ | F.CTRL_MAC_ADDR,
  backend: 0x17en,
  vrings: [
    { index: 0, base: 5 },
    { index: 1, base: 0xffffffff },
  ],
  dirty: { pageSize: 4096, rounds: 3, pagesSent: 1200, remaining: 4 },
};

describe('migration record', () => {
  it('makes, encodes and parses back the same record', () => {
    const r = makeMigrationRecord(parts);
    expect(E.isRight(r)).toBe(true);
    if (E.isLeft(r)) return;
    const text = encodeMigrationRecord(r.right);
    expect(parseMigrationRecord(text)).toEqual(r);
    expect(JSON.parse(text).features.negotiated).toBe('0x100820000');
  });

  it('refuses another version, bad fields, invalid features, duplicate vrings, a bad device state', () => {
    const good = E.getOrElseW(() => null)(makeMigrationRecord(parts))!;
    expect(decodeMigrationRecord({ ...good, version: 2 })).toMatchObject({ left: { paths: ['version'] } });
    const bad = decodeMigrationRecord({ ...good, vrings: [{ index: 0, base: -1 }], features: { ...good.features, backend: 'zz' } });
    expect(E.isLeft(bad) && bad.left.paths).toEqual(['features.backend', 'vrings.0.base']);
    expect(decodeMigrationRecord({ ...good, features: { ...good.features, negotiated: '0x400000' } })).toMatchObject({ left: { paths: ['features.negotiated'] } });
    expect(decodeMigrationRecord({ ...good, vrings: [{ index: 1, base: 0 }, { index: 1, base: 2 }] })).toMatchObject({ left: { paths: ['vrings.1.index'] } });
    expect(decodeMigrationRecord(good, () => E.left({ message: 'mac is not 6 bytes' }))).toMatchObject({ left: { paths: ['device'] } });
    expect(parseMigrationRecord('{')).toMatchObject({ left: { _tag: 'MigrationRecordError' } });
    expect(decodeMigrationRecord({ ...good, extra: 1 })).toEqual(E.right(good));
  });
});
