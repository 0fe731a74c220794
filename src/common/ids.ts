import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

/**
 * Public ids: a type prefix, then 10 characters of millisecond time and 16 random ones, so ids
 * sort by creation and index well while staying unguessable.
 */
export function newId(prefix: string, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = alphabet[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let tail = '';
  for (const byte of randomTail()) tail += alphabet[byte % 32];
  return `${prefix}_${time}${tail}`;
}

// Random bytes drawn from the system's CSPRNG in blocks: one call per id costs more than the id.
let pool = Buffer.alloc(0);
let used = 0;
function randomTail(): Buffer {
  if (used + 16 > pool.length) {
    pool = randomBytes(4096);
    used = 0;
  }
  used += 16;
  return pool.subarray(used - 16, used);
}
