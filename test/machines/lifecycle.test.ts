import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  STATUS,
  checkStatus,
  featuresAccepted,
  fromHex,
  negotiate,
  nextInitStatus,
  statusConsistent,
  toHex,
  unmetDependencies,
  validateAccepted,
  writeStatus,
} from '../../src/state/lifecycle.js';
import { F, maskOf } from '../../src/virtio/features.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

describe('status bits (virtio 1.2 §2.1, §3.1.1)', () => {
  it('walks the init sequence one step at a time', () => {
    let s = 0;
    const seen: number[] = [];
    for (let next = nextInitStatus(s); next !== undefined; next = nextInitStatus(s)) {
      const w = writeStatus(s, next);
      expect(E.isRight(w)).toBe(true);
      s = next;
      seen.push(s);
    }
    expect(seen).toEqual([1, 3, 11, 15]);
    expect(statusConsistent(15)).toBe(true);
  });

  it('refuses skipped steps, cleared bits, driver-set NEEDS_RESET and writes after FAILED', () => {
    expect(writeStatus(0, STATUS.ACKNOWLEDGE | STATUS.DRIVER)).toMatchObject({ left: { rule: 'out-of-order' } });
    expect(writeStatus(3, 1)).toMatchObject({ left: { rule: 'cleared-bit' } });
    expect(writeStatus(3, 3 | STATUS.NEEDS_RESET)).toMatchObject({ left: { rule: 'driver-set-needs-reset' } });
    expect(writeStatus(3 | STATUS.FAILED, 11 | STATUS.FAILED)).toMatchObject({ left: { rule: 'failed-set' } });
    expect(writeStatus(15, 0)).toEqual(E.right(0));
    expect(writeStatus(11, 11 | STATUS.FAILED)).toEqual(E.right(11 | STATUS.FAILED));
    expect(checkStatus(0x20)).toMatchObject({ left: { rule: 'unknown-bit' } });
    expect(checkStatus(STATUS.DRIVER_OK | 3)).toMatchObject({ left: { rule: 'out-of-order' } });
  });

  it('every status a write accepts is consistent, and only a reset clears bits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (cur, next) => {
        const r = writeStatus(cur, next);
        if (E.isRight(r)) {
          expect(statusConsistent(r.right)).toBe(true);
          if (next !== 0) expect(cur & ~next & ~STATUS.NEEDS_RESET).toBe(0);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('FEATURES_OK re-read: cleared means refused (§3.1.1 step 6)', () => {
    expect(E.isRight(featuresAccepted(11))).toBe(true);
    expect(featuresAccepted(3)).toMatchObject({ left: { rule: 'features-ok-not-set' } });
  });
});

describe('feature negotiation (§2.2, §5.1.3.1)', () => {
  it('drops features whose requirements did not survive, to a fixpoint', () => {
    const offered = maskOf(['VERSION_1', 'CTRL_RX', 'CTRL_RX_EXTRA', 'CTRL_VLAN', 'GUEST_TSO4', 'GUEST_CSUM']);
    const wanted = maskOf(['VERSION_1', 'CTRL_RX', 'CTRL_RX_EXTRA', 'CTRL_VLAN', 'GUEST_TSO4']);
    // no CTRL_VQ: CTRL_RX goes, then CTRL_RX_EXTRA; no GUEST_CSUM wanted: GUEST_TSO4 goes
    expect(negotiate(offered, wanted)).toEqual(E.right(F.VERSION_1));
  });

  it('fails without VERSION_1 or a required feature, naming it', () => {
    expect(negotiate(F.CTRL_VQ, F.CTRL_VQ)).toMatchObject({ left: { rule: 'version-1-missing' } });
    expect(negotiate(F.VERSION_1, F.VERSION_1 | F.MQ, F.VERSION_1 | F.MQ)).toMatchObject({ left: { rule: 'required-missing', features: ['MQ'] } });
  });

  it('negotiated sets are offered, wanted and dependency-closed', () => {
    fc.assert(
      fc.property(u64, u64, (offered, wanted) => {
        const r = negotiate(offered | F.VERSION_1, wanted | F.VERSION_1);
        expect(E.isRight(r)).toBe(true);
        if (E.isRight(r)) {
          expect(r.right & ~(offered | F.VERSION_1)).toBe(0n);
          expect(r.right & ~(wanted | F.VERSION_1)).toBe(0n);
          expect(unmetDependencies(r.right)).toEqual([]);
          expect(E.isRight(validateAccepted(offered | F.VERSION_1, r.right))).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('validateAccepted refuses features not offered and unmet requirements', () => {
    expect(validateAccepted(F.VERSION_1, F.VERSION_1 | F.MQ)).toMatchObject({ left: { rule: 'not-offered', features: ['MQ'] } });
    expect(validateAccepted(F.VERSION_1 | F.MQ, F.VERSION_1 | F.MQ)).toMatchObject({ left: { rule: 'dependency', features: ['MQ'] } });
  });

  it('hex masks round-trip and bad text is refused', () => {
    fc.assert(
      fc.property(u64, (v) => {
        expect(fromHex(toHex(v))).toEqual(E.right(v));
      }),
    );
    expect(E.isLeft(fromHex('12'))).toBe(true);
    expect(E.isLeft(fromHex('0x11112222333344445'))).toBe(true);
  });
});
