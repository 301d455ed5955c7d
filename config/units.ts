import { z } from 'zod';

const SIZE_PATTERN = /^(\d+(?:\.\d+)?)(m|g|t)$/i;
const MIB_PER_UNIT: Record<string, number> = { m: 1, g: 1024, t: 1024 * 1024 };

/** Docker-style sizes (`512m`, `4g`, `1t`) as a whole number of MiB. */
export const sizeMiB = z
  .string()
  .regex(SIZE_PATTERN, 'must be a size such as 512m, 4g or 1t')
  .transform((text) => {
    const [, amount, unit] = SIZE_PATTERN.exec(text)!;
    return Math.round(Number(amount) * MIB_PER_UNIT[unit.toLowerCase()]);
  });

/** CPU count, fractional allowed down to a quarter core. */
export const cpuCount = z.number().min(0.25, 'must be at least 0.25').max(256, 'must be at most 256');

/** Writes MiB back the way an engineer would: `4g`, `1536m`. */
export function formatMiB(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}g` : `${mib}m`;
}

/** Go-style durations accepted by Keycloak's provider (`30m`, `10h`, `1h30m`). */
export const duration = z
  .string()
  .regex(/^(\d+h)?(\d+m)?(\d+s)?$/, 'must be a duration such as 30m, 10h or 1h30m')
  .refine((text) => text.length > 0, 'must not be empty');

export function durationSeconds(text: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text)!;
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}
