import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261124193609 } from './Migration20261124193609.ts';
import { Migration20261124193909 } from './Migration20261124193909.ts';
import { Migration20261124194352 } from './Migration20261124194352.ts';
import { Migration20261126050000 } from './Migration20261126050000.ts';
import { Migration20261126060000 } from './Migration20261126060000.ts';
import { Migration20261126070000 } from './Migration20261126070000.ts';
import { Migration20261126100000 } from './Migration20261126100000.ts';
import { Migration20261207000000 } from './Migration20261207000000.ts';
import { Migration20261207100000 } from './Migration20261207100000.ts';
import { Migration20261207200000 } from './Migration20261207200000.ts';
import { Migration20261207300000 } from './Migration20261207300000.ts';
import { Migration20261207400000 } from './Migration20261207400000.ts';

/**
 * Every migration, in order. Listed statically so that they run the same under node, vitest and
 * the MikroORM CLI; `npm run migration:create` writes the file, and you add it here (a test checks).
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261124193609', class: Migration20261124193609 },
  { name: 'Migration20261124193909', class: Migration20261124193909 },
  { name: 'Migration20261124194352', class: Migration20261124194352 },
  { name: 'Migration20261126050000', class: Migration20261126050000 },
  { name: 'Migration20261126060000', class: Migration20261126060000 },
  { name: 'Migration20261126070000', class: Migration20261126070000 },
  { name: 'Migration20261126100000', class: Migration20261126100000 },
  { name: 'Migration20261207000000', class: Migration20261207000000 },
  { name: 'Migration20261207100000', class: Migration20261207100000 },
  { name: 'Migration20261207200000', class: Migration20261207200000 },
  { name: 'Migration20261207300000', class: Migration20261207300000 },
  { name: 'Migration20261207400000', class: Migration20261207400000 },
];
