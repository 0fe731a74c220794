import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { maxJsonDepth, tooDeeplyNested } from '../src/http/limits.ts';
import { parseJson, scanJson } from '../src/rest/json.ts';

const findJsonProblem = (text: string) => scanJson(text).problem;

// The scan behind the REST door's JSON bodies: pure, so checked directly.

describe('scanJson', () => {
  test('what JSON.stringify writes has no problem (unless it holds a __proto__ key)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        const found = findJsonProblem(text);
        if (found) expect(found.problem).toBe('__proto__ key');
        else expect(text.includes('"__proto__":')).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  test('a repeated key is found, with its path, at any depth and whatever the whitespace', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 8 }).filter((key) => key !== '__proto__'),
            fc.nat(3),
          ),
          { maxLength: 5 },
        ),
        fc.string({ minLength: 1, maxLength: 8 }).filter((key) => key !== '__proto__'),
        fc.constantFrom('', ' ', '\n\t '),
        (path, key, space) => {
          // Wrap `{"key":1,"key":2}` in the path: strings are object keys, numbers array positions.
          let text = `{${space}${JSON.stringify(key)}${space}:${space}1${space},${space}${JSON.stringify(key)}:2}`;
          for (const step of [...path].reverse()) {
            text = typeof step === 'string' ? `{"~other":[1,{"a":"}"}],${JSON.stringify(step)}:${text}}` : `[${'0,'.repeat(step)}${text}]`;
          }
          expect(findJsonProblem(text)).toEqual({ path: [...path.map(String), key], problem: 'repeated key' });
        },
      ),
    );
  });

  test.each([
    ['{"a":{"__proto__":1}}', { path: ['a', '__proto__'], problem: '__proto__ key' }],
    ['{"count":1e-400}', { path: ['count'], problem: 'rounded number' }],
    ['[0,{"n":1.0000000000000001}]', { path: ['1', 'n'], problem: 'rounded number' }],
    ['{"a":"{\\"a\\":1,\\"a\\":2}"}', null],
    ['{"a":{"b":1},"b":2,"c":[{"b":1},{"b":2}]}', null],
    ['{"n":[3.0, 2.50e1, 1e2, -0.0, 0.5, 1e-7, 12345678901234567890]}', null],
  ])('%s', (text, expected) => {
    JSON.parse(text);
    expect(findJsonProblem(text)).toEqual(expected);
  });

  test('keeps the written key order of the body and its top-level objects, integer-like keys included', () => {
    const { keyOrder } = scanJson('{"seats":{"b":1,"10":2,"2":3,"x":{"9":1,"1":1}},"customerId":"c","list":[{"z":1}]}');
    expect(keyOrder.get('')).toEqual(['seats', 'customerId', 'list']);
    expect(keyOrder.get('seats')).toEqual(['b', '10', '2', 'x']);
    // Deeper objects are not needed by any route, so not kept.
    expect(keyOrder.get('x')).toBeUndefined();
    expect(parseJson('{"seats":{"b":1,"10":2}}').keyOrder('seats')).toEqual(['b', '10']);
  });

  test('nesting as deep as a body can hold does not overflow the stack', () => {
    const depth = 200_000;
    const text = `${'['.repeat(depth)}1${']'.repeat(depth)}`;
    expect(findJsonProblem(text)).toBeNull();
    expect(findJsonProblem(`${'{"a":'.repeat(depth)}{"b":1,"b":1}${'}'.repeat(depth)}`)?.path).toHaveLength(depth + 1);
  });
});

describe('parseJson', () => {
  test('answers invalid_json for text that is not JSON, and validation_error naming the problem', () => {
    expect(() => parseJson('{bad')).toThrow(expect.objectContaining({ code: 'invalid_json' }));
    expect(() => parseJson('  ')).toThrow(expect.objectContaining({ code: 'invalid_json', message: expect.stringMatching(/empty/) }));
    expect(() => parseJson('{"seats":{"editor":1,"editor":2}}')).toThrow(expect.objectContaining({ code: 'validation_error', param: 'seats.editor' }));
    expect(parseJson('{"a":[1,2]}').value).toEqual({ a: [1, 2] });
  });
});

describe('tooDeeplyNested', () => {
  const nest = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  test('allows maxJsonDepth levels, and names the top-level key past them', () => {
    expect(tooDeeplyNested(`{"a":${nest(maxJsonDepth - 1)}}`)).toBeNull();
    expect(tooDeeplyNested(`{"a":1,"b" : ${nest(maxJsonDepth)},"c":2}`)).toBe('b');
    expect(tooDeeplyNested(nest(maxJsonDepth + 1))).toBe('');
    expect(tooDeeplyNested(`{"a\\"b":{"c":${nest(maxJsonDepth)}}}`)).toBe('a"b');
  });

  test('brackets inside strings do not count, and any text ends the pass, JSON or not', () => {
    expect(tooDeeplyNested(`{"a":"${'['.repeat(1000)}"}`)).toBeNull();
    expect(tooDeeplyNested(`{"a":"${'['.repeat(1000)}`)).toBeNull();
    expect(tooDeeplyNested(`${'{'.repeat(maxJsonDepth)}"x\\`)).toBeNull();
    expect(tooDeeplyNested(`[{"a":1},${nest(maxJsonDepth)}]`)).toBe('');
  });

  test('a body nested past the limit is refused naming its field, before it is parsed', () => {
    expect(() => parseJson(`{"customerId":${nest(49_000)},"count":1}`)).toThrow(expect.objectContaining({ code: 'validation_error', param: 'customerId' }));
  });
});
