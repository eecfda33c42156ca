import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { F, maskOf } from '../../src/virtio/features.js';
import { checkShadowable, guestOffer, shadowFeatures } from '../../src/svq/features.js';

// vdpa_sim_net's offer (reference §2): MTU, MAC, STATUS, CTRL_VQ, CTRL_MAC_ADDR, ANY_LAYOUT, VERSION_1, ACCESS_PLATFORM
const SIM = 0x308830028n;
const RICH = SIM | maskOf(['EVENT_IDX', 'INDIRECT_DESC', 'RING_PACKED', 'IN_ORDER', 'NOTIFICATION_DATA', 'RING_RESET', 'MRG_RXBUF', 'MQ']);

describe('SVQ feature filter', () => {
  it('passes vdpa_sim_net through unchanged', () => {
    expect(guestOffer(SIM)).toEqual(E.right({ offer: SIM, hidden: [] }));
  });

  it('hides what SVQ cannot relay, with a reason each, and keeps net bits, packed and indirect', () => {
    const r = guestOffer(RICH);
    expect(E.isRight(r)).toBe(true);
    if (E.isLeft(r)) return;
    expect(r.right.offer).toBe(RICH & ~maskOf(['IN_ORDER', 'NOTIFICATION_DATA', 'RING_RESET']));
    expect(r.right.hidden.map((h) => h.feature)).toEqual(['IN_ORDER', 'NOTIFICATION_DATA', 'RING_RESET']);
    expect(r.right.hidden.every((h) => h.reason.length > 10)).toBe(true);
  });

  it('refuses a device without VERSION_1 or ACCESS_PLATFORM', () => {
    expect(guestOffer(SIM & ~F.ACCESS_PLATFORM)).toMatchObject(E.left({ kind: 'missing-required', features: ['ACCESS_PLATFORM'] }));
    expect(guestOffer(SIM & ~F.VERSION_1 & ~F.ACCESS_PLATFORM)).toMatchObject(E.left({ features: ['VERSION_1', 'ACCESS_PLATFORM'] }));
  });

  it('refuses to shadow a guest that negotiated a hidden bit or a bit the device lacks', () => {
    expect(checkShadowable(RICH & ~F.RING_RESET, RICH)).toMatchObject(E.left({ kind: 'unshadowable', features: ['IN_ORDER', 'NOTIFICATION_DATA'] }));
    expect(checkShadowable(SIM | F.MQ, SIM)).toMatchObject(E.left({ kind: 'not-offered', features: ['MQ'] }));
    expect(checkShadowable(SIM & ~F.VERSION_1, SIM)).toMatchObject(E.left({ kind: 'missing-required' }));
  });

  it('chooses guest and shadow layouts independently; packed shadow needs the device to offer it', () => {
    const guest = SIM | maskOf(['EVENT_IDX', 'RING_PACKED', 'INDIRECT_DESC', 'MRG_RXBUF']);
    const dev = guest | maskOf(['IN_ORDER']);
    const r = shadowFeatures(guest, dev, { layout: 'split', indirect: false });
    expect(r).toEqual(
      E.right({
        device: SIM | maskOf(['EVENT_IDX', 'MRG_RXBUF']),
        guest: { layout: 'packed', eventIdx: true, indirect: true },
        shadow: { layout: 'split', eventIdx: true, indirect: false },
      }),
    );
    expect(shadowFeatures(SIM, SIM, { layout: 'packed' })).toMatchObject(E.left({ kind: 'shadow-layout-unsupported' }));
    const p = shadowFeatures(SIM, SIM | F.RING_PACKED, { layout: 'packed' });
    expect(E.isRight(p) && p.right.device === (SIM | F.RING_PACKED) && p.right.guest.layout === 'split').toBe(true);
  });
});
