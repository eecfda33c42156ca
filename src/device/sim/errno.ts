/** The errno values the vhost-vdpa uAPI returns, as the simulated device reports them (asm-generic/errno*.h). */
export const ERRNO = {
  EPERM: 1,
  EIO: 5,
  E2BIG: 7,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EINVAL: 22,
  EOPNOTSUPP: 95,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
} as const;

export type ErrnoName = keyof typeof ERRNO;
