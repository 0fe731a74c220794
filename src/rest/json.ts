import { DomainError, validationError } from '../errors.js';

/**
 * JSON.parse settles three things silently that a billing API must not: a key given twice (the
 * last wins), a `__proto__` key (dropped by every object copy, zod's included), and a number
 * it rounds into an integer (`1e-400` is 0, `1.0000000000000001` is 1). This scan of text that
 * JSON.parse accepted finds the first of them. It is iterative, so no nesting depth can
 * overflow the stack.
 */
type Frame = { parent: Frame | null; name: string; keys: Set<string> | null; index: number; key: string | null };

export type JsonProblem = { path: string[]; problem: 'repeated key' | '__proto__ key' | 'rounded number' };

const pathOf = (frame: Frame | null, last: string): string[] => {
  const path = [last];
  for (let at = frame; at?.parent; at = at.parent) path.push(at.name);
  return path.reverse();
};

/** Whether a JSON number literal names a non-integer that JSON.parse turns into an integer. */
function roundsToInteger(literal: string): boolean {
  const match = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(literal);
  if (!match) return false;
  const fraction = match[2] ?? '';
  const digits = `${match[1]}${fraction}`.replace(/0+$/, '');
  const exponent = Number(match[3] ?? 0) - fraction.length + (`${match[1]}${fraction}`.length - digits.length);
  const isInteger = /^0*$/.test(digits) || exponent >= 0;
  return !isInteger && Number.isInteger(Number(literal));
}

export function findJsonProblem(text: string): JsonProblem | null {
  let frame: Frame | null = null;
  let previous = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
    const here: string = frame ? (frame.keys ? (frame.key ?? '') : String(frame.index)) : '';
    if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      // In an object, a string right after `{` or `,` is a key.
      if (frame?.keys && (previous === '{' || previous === ',')) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (key === '__proto__') return { path: pathOf(frame, key), problem: '__proto__ key' };
        if (frame.keys.has(key)) return { path: pathOf(frame, key), problem: 'repeated key' };
        frame.keys.add(key);
        frame.key = key;
      }
    } else if (c === '{' || c === '[') {
      frame = { parent: frame, name: here, keys: c === '{' ? new Set() : null, index: 0, key: null };
    } else if (c === '}' || c === ']') {
      frame = frame!.parent;
    } else if (c === ',') {
      if (frame && !frame.keys) frame.index++;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const start = i;
      while (i + 1 < text.length && /[\d.eE+-]/.test(text[i + 1]!)) i++;
      if (roundsToInteger(text.slice(start, i + 1))) return { path: pathOf(frame, here), problem: 'rounded number' };
    }
    previous = c;
  }
  return null;
}

/** A JSON body as a value, or the contract error saying what is wrong with it. */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DomainError('invalid_json', text.trim() === '' ? 'The body is empty; send a JSON object.' : 'The body is not valid JSON.');
  }
  const found = findJsonProblem(text);
  if (found) {
    const param = found.path.filter(Boolean).join('.');
    const message = {
      'repeated key': `${param} is given more than once.`,
      '__proto__ key': `${param}: __proto__ cannot be used as a key.`,
      'rounded number': `${param} is not an integer (JSON numbers this precise round to one).`,
    }[found.problem];
    throw validationError(param || null, message);
  }
  return value;
}
