import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  COMMAND_CODES,
  decodeCommand,
  encodeCommand,
  encodeCommandInto,
  encodedLength,
  kindOf,
  type NetCtrlCommand,
} from '../../src/virtio/cvq.js';
import { fromHex, toHex } from '../../src/virtio/net.js';
import { arbCommand, arbSplit } from '../../testkit/fuzz/arbitraries.js';

const hex = (s: string): Uint8Array => fromHex(s.replace(/\s+/g, ''))!;
const decodeHex = (s: string) => decodeCommand([hex(s)]);
const reasonOf = (r: E.Either<{ reason: string }, unknown>): string => (E.isLeft(r) ? r.left.reason : 'ok');

/** Byte layouts from linux/virtio_net.h, written out by hand. */
const GOLDEN: Array<[NetCtrlCommand, string]> = [
  [{ kind: 'RX_PROMISC', on: true }, '00 00 01'],
  [{ kind: 'RX_ALLMULTI', on: false }, '00 01 00'],
  [{ kind: 'RX_ALLUNI', on: true }, '00 02 01'],
  [{ kind: 'RX_NOMULTI', on: true }, '00 03 01'],
  [{ kind: 'RX_NOUNI', on: true }, '00 04 01'],
  [{ kind: 'RX_NOBCAST', on: true }, '00 05 01'],
  [
    { kind: 'MAC_TABLE_SET', unicast: ['52:54:00:00:00:01'], multicast: ['01:00:5e:00:00:01', '33:33:00:00:00:01'] },
    '01 00  01000000 525400000001  02000000 01005e000001 333300000001',
  ],
  [{ kind: 'MAC_TABLE_SET', unicast: [], multicast: [] }, '01 00 00000000 00000000'],
  [{ kind: 'MAC_ADDR_SET', mac: '52:54:00:12:34:56' }, '01 01 525400123456'],
  [{ kind: 'VLAN_ADD', vid: 100 }, '02 00 6400'],
  [{ kind: 'VLAN_DEL', vid: 4095 }, '02 01 ff0f'],
  [{ kind: 'ANNOUNCE_ACK' }, '03 00'],
  [{ kind: 'MQ_VQ_PAIRS_SET', pairs: 4 }, '04 00 0400'],
  [
    { kind: 'MQ_RSS_CONFIG', hashTypes: 0x3f, indirectionTable: [0, 1, 2, 3], unclassifiedQueue: 1, maxTxVq: 4, key: hex('aabb') },
    // le32 hash_types, le16 mask = 3, le16 unclassified, le16 table[4], le16 max_tx_vq, u8 key_len, key
    '04 01 3f000000 0300 0100 0000 0100 0200 0300 0400 02 aabb',
  ],
  [{ kind: 'MQ_HASH_CONFIG', hashTypes: 0x12, key: hex('01') }, '04 02 12000000 0000 0000 0000 0000 01 01'],
  [{ kind: 'GUEST_OFFLOADS_SET', offloads: (1n << 55n) | 0x182n }, '05 00 8201000000008000'],
  [{ kind: 'NOTF_COAL_TX_SET', maxPackets: 32, maxUsecs: 64 }, '06 00 20000000 40000000'],
  [{ kind: 'NOTF_COAL_RX_SET', maxPackets: 0x01020304, maxUsecs: 0xffffffff }, '06 01 04030201 ffffffff'],
];

describe('CVQ command codec (virtio 1.2 §5.1.6.5)', () => {
  it.each(GOLDEN)('%o encodes to the header layout bytes', (cmd, bytes) => {
    const b = encodeCommand(cmd);
    expect(toHex(b)).toBe(bytes.replace(/\s+/g, ''));
    expect(b.length).toBe(encodedLength(cmd));
    expect(decodeCommand([b])).toEqual(E.right(cmd));
  });

  it('covers every command of the spec, and (class, command) maps back to the kind', () => {
    expect(new Set(GOLDEN.map(([c]) => c.kind))).toEqual(new Set(Object.keys(COMMAND_CODES)));
    for (const [kind, [cls, cmd]] of Object.entries(COMMAND_CODES)) expect(kindOf(cls, cmd)).toBe(kind);
    expect(kindOf(0, 6)).toBeUndefined();
    expect(kindOf(7, 0)).toBeUndefined();
  });

  it('round-trips any command, whatever pieces the bytes are split into', () => {
    fc.assert(
      fc.property(
        arbCommand.chain((cmd) => fc.tuple(fc.constant(cmd), arbSplit(encodeCommand(cmd)))),
        ([cmd, pieces]) => {
          expect(decodeCommand(pieces)).toEqual(E.right(cmd));
        },
      ),
      { numRuns: 600 },
    );
  });

  it('encodeCommandInto writes at an offset without touching the bytes around it', () => {
    fc.assert(
      fc.property(arbCommand, fc.integer({ min: 0, max: 64 }), (cmd, off) => {
        const n = encodedLength(cmd);
        const buf = new Uint8Array(off + n + 8).fill(0xee);
        expect(encodeCommandInto(cmd, buf, off)).toBe(n);
        expect(buf.subarray(off, off + n)).toEqual(encodeCommand(cmd));
        expect(buf.subarray(0, off).every((x) => x === 0xee)).toBe(true);
        expect(buf.subarray(off + n).every((x) => x === 0xee)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('every strict prefix of an encoding is short, every extension long', () => {
    fc.assert(
      fc.property(arbCommand, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 9 }), (cmd, cut, tail) => {
        const b = encodeCommand(cmd);
        const k = cut % b.length; // 0 .. len-1
        const r = decodeCommand([b.subarray(0, k)]);
        expect(reasonOf(r)).toBe(k < 2 ? 'short-header' : 'short-payload');
        const longer = new Uint8Array(b.length + tail.length);
        longer.set(b);
        longer.set(tail, b.length);
        expect(reasonOf(decodeCommand([longer]))).toBe('long-payload');
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary bytes decode to a typed error or to the one command that re-encodes to them', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 40 })).map(([c, m, p]) => Uint8Array.of(c, m, ...p)),
        ),
        (bytes) => {
          const r = decodeCommand([bytes]);
          if (E.isRight(r)) expect(encodeCommand(r.right)).toEqual(bytes);
          else expect(r.left._tag).toBe('CvqDecodeError');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('decoding does not depend on how the bytes are split, errors included', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 30 }).chain((b) => fc.tuple(fc.constant(b), arbSplit(b))),
        ([bytes, pieces]) => {
          expect(decodeCommand(pieces)).toEqual(decodeCommand([bytes]));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('names each malformed input', () => {
    expect(reasonOf(decodeCommand([]))).toBe('short-header');
    expect(reasonOf(decodeCommand([hex('01'), new Uint8Array(0)]))).toBe('short-header');
    expect(decodeHex('0900')).toMatchObject(E.left({ reason: 'unknown-command', cls: 9, cmd: 0 }));
    expect(decodeHex('0006 01')).toMatchObject(E.left({ reason: 'unknown-command', cls: 0, cmd: 6 }));
    expect(decodeHex('0101 5254001234')).toMatchObject(E.left({ reason: 'short-payload', kind: 'MAC_ADDR_SET' }));
    expect(decodeHex('0101 52540012345600')).toMatchObject(E.left({ reason: 'long-payload', kind: 'MAC_ADDR_SET' }));
    expect(decodeHex('0000 02')).toMatchObject(E.left({ reason: 'bad-value', kind: 'RX_PROMISC' }));
    // an entries count far beyond the bytes: refused before any allocation
    expect(decodeHex('0100 ffffffff 525400000001')).toMatchObject(E.left({ reason: 'short-payload', kind: 'MAC_TABLE_SET' }));
    expect(decodeHex('0100 00000000')).toMatchObject(E.left({ reason: 'short-payload' }));
    expect(decodeHex('0401 3f000000 ffff 0000')).toMatchObject(E.left({ reason: 'short-payload', kind: 'MQ_RSS_CONFIG' }));
    expect(decodeHex('0401 3f000000 0000 0000 0000 0100 05 aabb')).toMatchObject(E.left({ reason: 'short-payload' }));
    expect(decodeHex('0402 12000000 0000 0100 0000 0000 00')).toMatchObject(E.left({ reason: 'reserved-nonzero', kind: 'MQ_HASH_CONFIG' }));
    expect(decodeHex('0300 00')).toMatchObject(E.left({ reason: 'long-payload', kind: 'ANNOUNCE_ACK' }));
    expect(decodeHex('0500 82010000000000')).toMatchObject(E.left({ reason: 'short-payload', kind: 'GUEST_OFFLOADS_SET' }));
  });

  it('decodes a chain split the way Linux sends it: header, payload pieces, separately', () => {
    const r = decodeCommand([hex('0100'), hex('01000000'), hex('525400000001'), hex('00000000')]);
    expect(r).toEqual(E.right({ kind: 'MAC_TABLE_SET', unicast: ['52:54:00:00:00:01'], multicast: [] }));
  });
});
