import pg from 'pg';
import { expect, test } from 'vitest';
import { migrate, openOrm } from '../src/db/orm.ts';
import { migrationsList } from '../src/db/migrations/index.ts';
import { scratchDatabase } from './helpers.ts';

/**
 * The migrations table as the previous main (MikroORM 6.6.16) left it, read off a database it
 * migrated: a serial id, the class name without extension, and when it ran.
 */
const v6MigrationsTable = `
  create table mikro_orm_migrations (
    id serial primary key,
    name varchar(255),
    executed_at timestamptz default current_timestamp
  )`;

test('a database the previous main (MikroORM 6) migrated upgrades in place: nothing runs again, and seatgate works on it', async () => {
  const database = await scratchDatabase('seatgate_upgrade');
  try {
    // The schema the migrations make, then the bookkeeping exactly as MikroORM 6 kept it.
    const first = await openOrm(database.url, { poolMax: 2 });
    await migrate(first);
    await first.close();
    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    await db.query('drop table mikro_orm_migrations');
    await db.query(v6MigrationsTable);
    for (const migration of migrationsList) await db.query('insert into mikro_orm_migrations (name) values ($1)', [migration.name]);
    const { rows: before } = await db.query<{ name: string }>('select name from mikro_orm_migrations order by id');

    const orm = await openOrm(database.url, { poolMax: 2 });
    try {
      expect(await orm.migrator.getPending()).toEqual([]);
      await migrate(orm);
      const { rows: after } = await db.query<{ name: string }>('select name from mikro_orm_migrations order by id');
      expect(after).toEqual(before);
      expect((await orm.migrator.getExecuted()).map((migration) => migration.name)).toEqual(migrationsList.map((migration) => migration.name));
      // And the upgraded database serves: an organization and its data can be written and read.
      await orm.em.fork().getConnection().execute(`insert into organization (id, name) values ('org_upgrade', 'upgrade')`);
      const [row] = await orm.em.fork().getConnection().execute<{ name: string }[]>(`select name from organization where id = 'org_upgrade'`);
      expect(row!.name).toBe('upgrade');
    } finally {
      await orm.close();
      await db.end();
    }
  } finally {
    await database.drop();
  }
});
