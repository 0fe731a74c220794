import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';
import { expect, inject, test } from 'vitest';
import { migrationsList } from '../src/db/migrations/index.ts';

test('every migration file is registered in src/db/migrations/index.ts, in order', () => {
  const files = readdirSync(new URL('../src/db/migrations/', import.meta.url))
    .filter((file) => /^Migration\w+\.ts$/.test(file))
    .map((file) => file.replace(/\.ts$/, ''))
    .sort();
  expect(migrationsList.map((migration) => migration.name)).toEqual(files);
});

test("the README's `npm run migration:up` migrates an empty database with MikroORM's CLI", async () => {
  const serverUrl = inject('databaseUrl');
  const name = `seatgate_cli_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  try {
    const cwd = new URL('..', import.meta.url).pathname;
    await promisify(execFile)('npm', ['run', '--silent', 'migration:up'], { cwd, env: { ...process.env, DATABASE_URL: url.toString() } });
    const db = new pg.Client({ connectionString: url.toString() });
    await db.connect();
    try {
      const { rows } = await db.query<{ name: string }>('select name from mikro_orm_migrations order by id');
      expect(rows.map((row) => row.name)).toEqual(migrationsList.map((migration) => migration.name));
    } finally {
      await db.end();
    }
  } finally {
    await admin.query(`drop database ${name} with (force)`);
    await admin.end();
  }
});
