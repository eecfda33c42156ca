import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { checkFeatureDependencies, FULL_PROFILE_FEATURES, maskOf } from '../../src/virtio/features.js';

describe('feature dependencies (virtio 1.2 §5.1.3.1)', () => {
  it('accepts the full profile and the empty set', () => {
    expect(checkFeatureDependencies(FULL_PROFILE_FEATURES)).toEqual(E.right(FULL_PROFILE_FEATURES));
    expect(E.isRight(checkFeatureDependencies(0n))).toBe(true);
  });
  it('names the feature and what it needs', () => {
    expect(checkFeatureDependencies(maskOf(['CTRL_RX']))).toMatchObject(E.left({ feature: 'CTRL_RX', requires: ['CTRL_VQ'] }));
    expect(checkFeatureDependencies(maskOf(['CTRL_VQ', 'CTRL_RX_EXTRA']))).toMatchObject(E.left({ feature: 'CTRL_RX_EXTRA' }));
    expect(checkFeatureDependencies(maskOf(['GUEST_CSUM', 'GUEST_ECN']))).toMatchObject(E.left({ message: 'GUEST_ECN requires GUEST_TSO4 or GUEST_TSO6 (virtio 1.2 §5.1.3.1)' }));
    expect(E.isRight(checkFeatureDependencies(maskOf(['GUEST_CSUM', 'GUEST_TSO6', 'GUEST_ECN'])))).toBe(true);
  });
});
