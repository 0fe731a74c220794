import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type OperationDefinitionNode, parse } from 'graphql';
import ts from 'typescript';
import { publishOutbox } from '../src/events/relay.ts';
import { deliveryQueue } from '../src/webhooks/service.ts';
import { expect, test } from './fixtures.ts';
import { newTenant, type SseSubscription, subscribe, uniqueName } from './helpers.ts';

// The examples of the README and of the pages in docs/, run in order as a newcomer would run them
// on a fresh start, and their answers compared with what the pages show (docs/testing.md, "The
// README's examples are tests", states the markers). An example that stops working fails here,
// and so does a link between the pages that leads nowhere, so the documentation stays true.

/** Where the README's examples say the server is; the test's own server stands in for it. */
const README_ORIGIN = 'http://127.0.0.1:4000';

type Block = { lang: string; body: string; line: number; directives: string[] };
type Item = { file: string; kind: 'block'; block: Block } | { file: string; kind: 'expect'; name: string; json: string; line: number };

/**
 * A page as a list of code blocks and expected answers, in document order. A block's
 * directives are the `<!-- readme: … -->` comments just above it (blank lines and other comments
 * between them allowed); an answer is `<!-- expect Name: JSON -->`, or `<!-- expect Name -->`
 * right above a ```json block holding the JSON.
 */
function pageItems(file: string, text: string): Item[] {
  const lines = text.split('\n');
  const items: Item[] = [];
  let pending: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^(\s*)```(\w*)\s*$/.exec(line);
    if (fence) {
      const indent = fence[1]!.length;
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!.slice(indent));
      const block: Block = { lang: fence[2]!, body: body.join('\n'), line: start + 1, directives: pending };
      const answer = pending.map((d) => /^expect (\w+)$/.exec(d)).find(Boolean);
      items.push(answer ? { file, kind: 'expect', name: answer[1]!, json: block.body, line: start + 1 } : { file, kind: 'block', block });
      pending = [];
      continue;
    }
    if (/^\s*<!--/.test(line)) {
      // A comment, perhaps over several lines, read whole.
      const start = i;
      let text = line;
      while (!text.includes('-->') && i + 1 < lines.length) text += `\n${lines[++i]!}`;
      const directive = /^\s*<!--\s*(readme:|expect\b)\s*([\s\S]*?)\s*-->\s*$/.exec(text);
      if (!directive) continue;
      if (directive[1] === 'readme:') {
        pending.push(directive[2]!);
        continue;
      }
      const expectation = /^(\w+)(?::\s*([\s\S]*))?$/.exec(directive[2]!)!;
      if (expectation[2] === undefined) pending.push(`expect ${expectation[1]}`);
      else items.push({ file, kind: 'expect', name: expectation[1]!, json: expectation[2], line: start + 1 });
      continue;
    }
    if (line.trim() !== '') pending = [];
  }
  return items;
}

/**
 * An expected answer: JSON in which `…` is a wildcard. A string holding `…` matches any string
 * with the rest around it (`"sev_…"`); `…` alone (bare or quoted) matches any value; as an
 * array's last element, any further elements; as an object's last member (`, …}`), any further
 * members. Otherwise objects match with exactly their members.
 */
function parseExpected(text: string): unknown {
  let quoted = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      quoted += c;
      if (c === '\\') quoted += text[++i];
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      quoted += c;
    } else quoted += c === '…' ? '"…"' : c;
  }
  return JSON.parse(quoted.replace(/([{,]\s*)"…"(\s*})/g, '$1"…":"…"$2'));
}

/** The expected value with its wildcards replaced by what they match in `actual`, so that toEqual shows a real difference. */
function fill(expected: unknown, actual: unknown): unknown {
  if (expected === '…') return actual;
  if (typeof expected === 'string' && expected.includes('…') && typeof actual === 'string') {
    const pattern = new RegExp(
      `^${expected
        .split('…')
        .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('[\\s\\S]*')}$`,
    );
    return pattern.test(actual) ? actual : expected;
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    const open = expected.at(-1) === '…';
    const listed = open ? expected.slice(0, -1) : expected;
    const filled = listed.map((item, i) => fill(item, actual[i]));
    return open && actual.length >= listed.length ? [...filled, ...actual.slice(listed.length)] : filled;
  }
  if (expected && typeof expected === 'object' && actual && typeof actual === 'object' && !Array.isArray(actual)) {
    const open = '…' in expected;
    const filled: Record<string, unknown> = open ? { ...(actual as object) } : {};
    for (const [key, value] of Object.entries(expected)) if (key !== '…') filled[key] = fill(value, (actual as Record<string, unknown>)[key]);
    return filled;
  }
  return expected;
}

/** Shell words of one command, as sh reads them: quotes, backslashes and `$NAME` from `env`. */
function shellWords(command: string, env: Record<string, string>): string[] {
  const words: string[] = [];
  let word: string | null = null;
  const expand = (text: string, at: number): [string, number] => {
    const name = /^\$(?:\{(\w+)\}|(\w+))/.exec(text.slice(at))!;
    const variable = name[1] ?? name[2]!;
    if (!(variable in env)) throw new Error(`$${variable} is not set: the README must say how to set it before this`);
    return [env[variable]!, at + name[0].length];
  };
  for (let i = 0; i < command.length; ) {
    const c = command[i]!;
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
      i++;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      word = (word ?? '') + command.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      word ??= '';
      for (i++; command[i] !== '"'; ) {
        if (command[i] === '\\' && /["\\$`]/.test(command[i + 1]!)) {
          word += command[i + 1];
          i += 2;
        } else if (command[i] === '$') {
          const [value, next] = expand(command, i);
          word += value;
          i = next;
        } else word += command[i++];
      }
      i++;
    } else if (c === '$') {
      const [value, next] = expand(command, i);
      word = (word ?? '') + value;
      i = next;
    } else if (c === '\\') {
      word = (word ?? '') + command[i + 1];
      i += 2;
    } else {
      word = (word ?? '') + c;
      i++;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** A curl command as the request it sends. Options the test does not know fail it, rather than being ignored. */
function curlRequest(words: string[]): { url: string; init: RequestInit } {
  let method: string | undefined;
  let body: string | undefined;
  let url: string | undefined;
  const headers: Record<string, string> = {};
  for (let i = 1; i < words.length; i++) {
    const word = words[i]!;
    if (word === '-s') continue;
    if (word === '-X') method = words[++i];
    else if (word === '-H') {
      const header = words[++i]!;
      const colon = header.indexOf(':');
      headers[header.slice(0, colon).trim().toLowerCase()] = header.slice(colon + 1).trim();
    } else if (word === '-d') body = words[++i];
    else if (/^https?:\/\//.test(word)) url = word;
    else throw new Error(`curl option ${word} is not one test/readme.test.ts knows: teach it, or mark the block`);
  }
  return { url: url!, init: { method: method ?? (body === undefined ? 'GET' : 'POST'), headers, body } };
}

/** The commands of a shell block, each with the `# …` comment lines that follow it (its expected answer). */
function shellCommands(body: string): { command: string; comment: string }[] {
  const commands: { command: string; comment: string }[] = [];
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    let command = lines[i]!;
    while (command.endsWith('\\')) command = `${command.slice(0, -1)} ${lines[++i]!}`;
    const comment: string[] = [];
    while (i + 1 < lines.length && /^\s*#/.test(lines[i + 1]!)) comment.push(lines[++i]!.replace(/^\s*#\s*/, ''));
    commands.push({ command: command.replace(/\s+#[^'"]*$/, '').trim(), comment: comment.join(' ') });
  }
  return commands;
}

/** What a `ts` block prints: the `// ` comment lines that end it. */
function statedOutput(body: string): string[] {
  const lines = body.trimEnd().split('\n');
  const stated: string[] = [];
  while (lines.length > 0 && /^\/\/ /.test(lines.at(-1)!)) stated.unshift(lines.pop()!.slice(3));
  return stated;
}

/** Type-checks a `ts` block as its reader's editor would, with the project's compiler options, as a module of its own. */
function typeErrors(file: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    fileURLToPath(new URL('../tsconfig.json', import.meta.url)),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  )!;
  const options: ts.CompilerOptions = {
    ...config.options,
    // A file of its own, outside the project: a module whatever folder it sits in, with the project's @types.
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    moduleDetection: ts.ModuleDetectionKind.Force,
    typeRoots: [fileURLToPath(new URL('../node_modules/@types', import.meta.url))],
  };
  return ts
    .getPreEmitDiagnostics(ts.createProgram([file], options))
    .map((d) => `line ${d.file ? d.file.getLineAndCharacterOfPosition(d.start!).line + 1 : '?'}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
}

const root = new URL('../', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, root), 'utf8');
const docsIndex = read('docs/README.md');
/** The pages whose examples run, in order: the README, then docs/ as docs/README.md lists them. */
const pages = ['README.md', ...[...docsIndex.matchAll(/^\d+\. \[[^\]]*\]\(([\w-]+\.md)\)/gm)].map((m) => `docs/${m[1]}`)];
const items = pages.flatMap((file) => pageItems(file, read(file)));
/** Which organization a block runs in: every block of a docs page names it, the README's run in the tour's unless they say so. */
const ORGANIZATIONS = ['a fresh organization', 'the organization above', "the tour's organization"];

test('docs/README.md lists every page of docs/, so that each page is run', () => {
  const listed = pages.filter((file) => file.startsWith('docs/'));
  const present = readdirSync(new URL('docs/', root))
    .filter((name) => name.endsWith('.md') && name !== 'README.md')
    .map((name) => `docs/${name}`);
  expect(listed.toSorted()).toEqual(present.toSorted());
});

test('every code block of the README and of docs/ is run or marked skipped with a reason', () => {
  const unmarked: string[] = [];
  const unplaced: string[] = [];
  for (const item of items) {
    if (item.kind !== 'block') continue;
    const { block } = item;
    const where = `${item.file} line ${block.line}`;
    const skip = block.directives.find((d) => d.startsWith('skip'));
    if (skip) {
      expect(skip, `${where}: a skipped block says why ("skip: the reason")`).toMatch(/^skip:\s*\S.{10,}/);
      continue;
    }
    const runs = block.lang === 'graphql' || block.lang === 'ts' || ((block.lang === 'sh' || block.lang === 'bash') && /^\s*curl /m.test(block.body));
    if (!runs) unmarked.push(`${where} (${block.lang || 'no language'})`);
    else if (item.file !== 'README.md' && !block.directives.some((d) => ORGANIZATIONS.includes(d))) unplaced.push(where);
  }
  expect(unmarked, 'blocks neither run nor marked <!-- readme: skip: why -->').toEqual([]);
  expect(unplaced, `blocks of docs/ that do not say which organization they run in (${ORGANIZATIONS.join(', ')})`).toEqual([]);
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens, `-1`, `-2` for repeats. */
function anchors(text: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, '')
      .replaceAll(' ', '-');
    const repeats = seen.get(slug) ?? 0;
    seen.set(slug, repeats + 1);
    found.add(repeats === 0 ? slug : `${slug}-${repeats}`);
  }
  return found;
}

test('every relative link and #anchor of the README and of docs/ leads somewhere', () => {
  const files = ['README.md', 'CHANGELOG.md', 'docs/README.md', ...pages.filter((file) => file.startsWith('docs/'))];
  const broken: string[] = [];
  let links = 0;
  for (const file of files) {
    const text = read(file);
    // Links in prose only: code blocks and code spans are left as written.
    const prose = text.replace(/^(\s*)```[\s\S]*?^\s*```/gm, '').replace(/`[^`\n]*`/g, '');
    for (const [, target] of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z][\w+.-]*:/i.test(target!)) continue;
      links++;
      const [pathPart, anchor] = target!.split('#') as [string, string | undefined];
      const destination = pathPart === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), pathPart));
      if (destination.startsWith('..') || !existsSync(new URL(destination, root))) broken.push(`${file}: ${target} (no ${destination})`);
      else if (anchor !== undefined && (!destination.endsWith('.md') || !anchors(read(destination)).has(anchor)))
        broken.push(`${file}: ${target} (no heading #${anchor} in ${destination})`);
    }
  }
  expect(links, 'the pages link to each other').toBeGreaterThan(50);
  expect(broken).toEqual([]);
});

test('the examples of the README and of docs/, run in order, answer what the pages show', async ({ harness, http }) => {
  const origin = new URL(http.endpoint).origin;
  const tour = await newTenant(harness, 'test', uniqueName('readme-tour'));
  let organization = tour;
  // The shell variables the README has told its reader to set; a reader keeps them for the pages after it.
  const exportedNames = new Set<string>();
  const answers = new Map<string, unknown>();
  const streams = new Map<string, SseSubscription>();
  // Operations whose answers no `expect` has stated yet: each must at least succeed.
  const unstated = new Map<string, string>();
  const succeeded = () => {
    for (const [name, where] of unstated) expect((answers.get(name) as { errors?: unknown }).errors, where).toBeUndefined();
    unstated.clear();
  };
  // What the server's outbox relay does in the background, done when the README's reader would have seen it done.
  const publishAll = async () => {
    while ((await publishOutbox(harness.orm, deliveryQueue(null))).length > 0);
  };
  const here = (text: string) => text.replaceAll(README_ORIGIN, origin);
  const check = (json: string, actual: unknown, where: string) => {
    const expected = parseExpected(here(json));
    expect(actual, where).toEqual(fill(expected, actual));
  };
  const scratch = mkdtempSync(path.join(tmpdir(), 'seatgate-readme-'));

  try {
    for (const item of items) {
      if (item.kind === 'expect') {
        const where = `${item.file} line ${item.line}, the answer of ${item.name}`;
        const stream = streams.get(item.name);
        if (stream) {
          await publishAll();
          const [first] = await stream.take(1);
          check(item.json, first, where);
          continue;
        }
        expect(answers.has(item.name), `${where}: no operation ${item.name} ran before it`).toBe(true);
        unstated.delete(item.name);
        check(item.json, answers.get(item.name), where);
        continue;
      }
      const { block } = item;
      if (block.directives.some((d) => d.startsWith('skip'))) continue;
      const where = `${item.file} line ${block.line}`;
      succeeded();
      // A block runs in the tour's organization, the development one of a fresh start, unless it says otherwise.
      if (block.directives.includes('a fresh organization')) organization = await newTenant(harness);
      else if (!block.directives.includes('the organization above')) organization = tour;

      if (block.lang === 'graphql') {
        const document = parse(block.body);
        const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
        expect(operations.length === 1 || operations.every((o) => o.name), `${where}: a block of several operations names each`).toBe(true);
        for (const operation of operations) {
          const name = operation.name?.value ?? `line${block.line}`;
          if (operation.operation === 'subscription') {
            // Opened as GraphiQL opens it, and left open: the blocks after it make the changes it shows.
            // A server's relay has long published what the blocks before it changed; so does the test.
            await publishAll();
            const text = block.body.slice(operation.loc!.start, operation.loc!.end);
            const stream = await subscribe(fetch, `${origin}/graphql`, organization.key, text);
            expect(stream.status, `${where}: ${name} opens`).toBe(200);
            streams.set(name, stream);
            continue;
          }
          const response = await fetch(`${origin}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-api-key': organization.key },
            body: JSON.stringify({ query: block.body, operationName: operation.name?.value }),
          });
          const answer = await response.json();
          answers.set(name, answer);
          unstated.set(name, `${where}: ${name}`);
        }
        continue;
      }

      if (block.lang === 'ts') {
        // A program: type-checked, then run as its reader runs it (`node file.ts`, the key in SEATGATE_KEY); it prints what the `// ` lines ending it say.
        const file = path.join(scratch, `line${block.line}.ts`);
        writeFileSync(file, here(block.body));
        expect(typeErrors(file), `${where}: the snippet type-checks`).toEqual([]);
        const { stdout } = await promisify(execFile)(process.execPath, [file], { env: { ...process.env, SEATGATE_KEY: organization.key } });
        const stated = statedOutput(block.body);
        expect(stated, `${where}: a ts block ends with what it prints, in // lines`).not.toEqual([]);
        check(JSON.stringify(stated), stdout.trimEnd().split('\n'), `${where}: what it prints`);
        continue;
      }

      // A shell block: `export NAME=…` lines, and curl commands with their answers in comments.
      for (const { command, comment } of shellCommands(block.body)) {
        const exported = /^export (\w+)=(\S+)$/.exec(command);
        if (exported) {
          // The README writes the key as a placeholder; the reader pastes theirs, as the test does.
          expect(exported[2], `${where}: ${exported[1]} is set from the key npm start printed`).toBe('ck_test_…');
          exportedNames.add(exported[1]!);
          continue;
        }
        expect(command, `${where}: a shell block that runs holds curl and export lines only`).toMatch(/^curl /);
        // The reader's $SEATGATE_KEY is the key of the organization the block runs in.
        const words = shellWords(here(command), Object.fromEntries([...exportedNames].map((name) => [name, organization.key])));
        const { url, init } = curlRequest(words);
        const response = await fetch(url, init);
        const text = await response.text();
        expect(comment, `${where}: \`${command.slice(0, 60)}…\` shows its answer in a # comment`).not.toBe('');
        const status = /^(\d{3})\s+([\s\S]*)$/.exec(comment);
        if (status) expect(response.status, `${where}: the status`).toBe(Number(status[1]));
        else expect(response.status, `${where}: ${text}`).toBeLessThan(400);
        check(status ? status[2]! : comment, JSON.parse(text), `${where}: ${command.slice(0, 60)}`);
      }
    }
    succeeded();
  } finally {
    for (const stream of streams.values()) stream.close();
    rmSync(scratch, { recursive: true, force: true });
  }
});
