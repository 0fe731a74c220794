/**
 * The Dockerfile, checked as far as this machine can without building it (it cannot pull
 * images): the Node it starts from, the files it copies, what it runs, and that production
 * dependencies alone (npm ci --omit=dev) hold everything src/ imports.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { projectRoot } from '../src/db/orm.ts';

const read = (file: string) => readFileSync(path.join(projectRoot, file), 'utf8');
const packageJson = JSON.parse(read('package.json')) as {
  engines: { node: string };
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** The Dockerfile's instructions, continuation lines joined and comments dropped. */
const instructions = read('Dockerfile')
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'))
  .map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
  });
const ignored = read('.dockerignore')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));

describe('the Dockerfile', () => {
  test('starts from the Node that package.json pins', () => {
    const from = instructions.filter((instruction) => instruction.keyword === 'FROM');
    expect(from).toHaveLength(1);
    const version = /^node:(\d+\.\d+\.\d+)-/.exec(from[0]!.args)?.[1];
    expect(version).toBe(packageJson.devDependencies.node);
    expect(packageJson.engines.node).toBe(`^${version}`);
  });

  test('copies files that exist and that .dockerignore lets through, and no dev dependencies are installed', () => {
    const copies = instructions.filter((instruction) => instruction.keyword === 'COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const { args } of copies) {
      const sources = args.split(/\s+/).slice(0, -1);
      for (const source of sources) {
        expect(existsSync(path.join(projectRoot, source)), source).toBe(true);
        expect(ignored, source).not.toContain(source);
      }
    }
    for (const heavy of ['node_modules', '.data', '.git']) expect(ignored).toContain(heavy);
    expect(instructions).toContainEqual({ keyword: 'RUN', args: expect.stringContaining('npm ci --omit=dev') });
  });

  test('runs what npm start runs, listening on every interface, and only with a DATABASE_URL', () => {
    const cmd = instructions.filter((instruction) => instruction.keyword === 'CMD');
    expect(cmd).toHaveLength(1);
    const [shell, flag, script] = JSON.parse(cmd[0]!.args) as string[];
    expect([shell, flag]).toEqual(['sh', '-c']);
    expect(script).toContain(`exec ${packageJson.scripts.start}`);
    expect(script).toMatch(/if \[ -z "\$DATABASE_URL" \]; then .*exit 1; fi;/);
    expect(instructions).toContainEqual({ keyword: 'ENV', args: expect.stringContaining('HOST=0.0.0.0') });
    expect(instructions).toContainEqual({ keyword: 'USER', args: 'node' });
  });

  test('everything src/ imports is a production dependency (the image installs no others)', () => {
    const files = (readdirSync(path.join(projectRoot, 'src'), { recursive: true }) as string[]).filter((file) => file.endsWith('.ts'));
    const imported = new Set<string>();
    for (const file of files) {
      for (const [, specifier] of read(path.join('src', file)).matchAll(/^(?:import|export|\})[^\n]*?(?:from\s+|import\s+)'([^'.][^']*)';?$/gm)) {
        if (specifier!.startsWith('node:') || builtinModules.includes(specifier!)) continue;
        const parts = specifier!.split('/');
        imported.add(specifier!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
      }
    }
    expect(imported.size).toBeGreaterThan(10);
    expect([...imported].filter((name) => !(name in packageJson.dependencies))).toEqual([]);
  });
});
