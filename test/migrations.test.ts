import { readdirSync } from 'node:fs';
import { expect, test } from 'vitest';
import { migrationsList } from '../src/db/migrations/index.ts';

test('every migration file is registered in src/db/migrations/index.ts, in order', () => {
  const files = readdirSync(new URL('../src/db/migrations/', import.meta.url))
    .filter((file) => /^Migration\w+\.ts$/.test(file))
    .map((file) => file.replace(/\.ts$/, ''))
    .sort();
  expect(migrationsList.map((migration) => migration.name)).toEqual(files);
});
