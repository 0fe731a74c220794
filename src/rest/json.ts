import { DomainError, validationError } from '../common/errors.ts';
import { tooDeeplyNested, tooDeeplyNestedMessage } from '../http/limits.ts';

/**
 * JSON.parse settles silently what a billing API must not: a key given twice (the last wins), a
 * `__proto__` key (dropped by every object copy, zod's included), a number it rounds into an
 * integer (`1e-400` is 0, `1.0000000000000001` is 1), and the order of keys that look like
 * integers (objects list them first). This scan of text JSON.parse accepted finds the first
 * problem and keeps the written key order of the top-level objects. It is iterative and linear,
 * so no body within the size limit can overflow the stack or hold the event loop.
 */
type Frame = { parent: Frame | null; name: string; depth: number; keys: Set<string> | null; order: string[] | null; index: number; key: string | null };

type JsonProblem = { path: string[]; problem: 'repeated key' | '__proto__ key' | 'rounded number' };

const pathOf = (frame: Frame | null, last: string): string[] => {
  const path = [last];
  for (let at = frame; at?.parent; at = at.parent) path.push(at.name);
  return path.reverse();
};

/** Whether a JSON number literal names a non-integer that JSON.parse turns into an integer. */
function roundsToInteger(literal: string): boolean {
  if (!/[.eE]/.test(literal) || !Number.isInteger(Number(literal))) return false;
  const e = literal.search(/[eE]/);
  const mantissa = e < 0 ? literal : literal.slice(0, e);
  const dot = mantissa.indexOf('.');
  let exponent = (e < 0 ? 0 : Number(literal.slice(e + 1))) - (dot < 0 ? 0 : mantissa.length - dot - 1);
  // Trailing zeros move into the exponent (a loop: a regex here backtracks on long runs of zeros).
  for (let end = mantissa.length - 1; end >= 0 && (mantissa[end] === '0' || mantissa[end] === '.'); end--) {
    if (mantissa[end] === '0') exponent++;
  }
  return /[1-9]/.test(mantissa) && exponent < 0;
}

export type JsonScan = { problem: JsonProblem | null; keyOrder: Map<string, string[]> };

export function scanJson(text: string): JsonScan {
  const keyOrder = new Map<string, string[]>();
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
        if (key === '__proto__') return { problem: { path: pathOf(frame, key), problem: '__proto__ key' }, keyOrder };
        if (frame.keys.has(key)) return { problem: { path: pathOf(frame, key), problem: 'repeated key' }, keyOrder };
        frame.keys.add(key);
        frame.order?.push(key);
        frame.key = key;
      }
    } else if (c === '{' || c === '[') {
      const depth: number = frame ? frame.depth + 1 : 0;
      const order = c === '{' && depth <= 1 ? [] : null;
      if (order) keyOrder.set(here, order);
      frame = { parent: frame, name: here, depth, keys: c === '{' ? new Set() : null, order, index: 0, key: null };
    } else if (c === '}' || c === ']') {
      frame = frame!.parent;
    } else if (c === ',') {
      if (frame && !frame.keys) frame.index++;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const start = i;
      while (i + 1 < text.length && /[\d.eE+-]/.test(text[i + 1]!)) i++;
      if (roundsToInteger(text.slice(start, i + 1))) return { problem: { path: pathOf(frame, here), problem: 'rounded number' }, keyOrder };
    }
    previous = c;
  }
  return { problem: null, keyOrder };
}

/** A JSON body: its value, and the written order of the keys of its top-level objects. */
export type JsonBody = { value: unknown; keyOrder(field: string): string[] | undefined };

/** A JSON body, or the contract error saying what is wrong with it. */
export function parseJson(text: string): JsonBody {
  const deep = tooDeeplyNested(text);
  if (deep !== null) throw validationError(deep || null, tooDeeplyNestedMessage(deep));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DomainError('invalid_json', text.trim() === '' ? 'The body is empty; send a JSON object.' : 'The body is not valid JSON.');
  }
  const { problem, keyOrder } = scanJson(text);
  if (problem) {
    const param = problem.path.filter(Boolean).join('.');
    const message = {
      'repeated key': `${param} is given more than once.`,
      '__proto__ key': `${param}: __proto__ cannot be used as a key.`,
      'rounded number': `${param} is not an integer (JSON numbers this precise round to one).`,
    }[problem.problem];
    throw validationError(param || null, message);
  }
  // Top-level objects are keyed by their field; the body itself by ''.
  return { value, keyOrder: (field) => keyOrder.get(field) };
}
