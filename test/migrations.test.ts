import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import { expect, test } from 'vitest';
import { migrationsList } from '../src/db/migrations/index.ts';
import { scratchDatabase } from './helpers.ts';

test('every migration file is registered in src/db/migrations/index.ts, in order', () => {
  const files = readdirSync(new URL('../src/db/migrations/', import.meta.url))
    .filter((file) => /^Migration\w+\.ts$/.test(file))
    .map((file) => file.replace(/\.ts$/, ''))
    .sort();
  expect(migrationsList.map((migration) => migration.name)).toEqual(files);
});

test("docs/operating.md's `npm run migration:up` migrates an empty database with MikroORM's CLI", async () => {
  const database = await scratchDatabase('seatgate_cli');
  try {
    const cwd = new URL('..', import.meta.url).pathname;
    await promisify(execFile)('npm', ['run', '--silent', 'migration:up'], { cwd, env: { ...process.env, DATABASE_URL: database.url } });
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    try {
      const { rows } = await db.query<{ name: string }>('select name from mikro_orm_migrations order by id');
      expect(rows.map((row) => row.name)).toEqual(migrationsList.map((migration) => migration.name));
    } finally {
      await db.end();
    }
  } finally {
    await database.drop();
  }
});
