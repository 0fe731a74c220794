import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../src/config.js';
import { migrate, openOrm } from '../src/db/orm.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/**
 * One throwaway database per run, migrated from scratch: every run proves the migrations, and
 * runs on one server never see each other. Tests isolate their data by tenant (one organization
 * per test), so files may run in parallel on it.
 */
export default async function setup(project: TestProject) {
  const serverUrl = new URL(loadConfig().testDatabaseUrl);
  const name = `seatgate_test_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl.toString() });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const databaseUrl = new URL(serverUrl);
  databaseUrl.pathname = `/${name}`;

  const orm = await openOrm(databaseUrl.toString());
  await migrate(orm);
  await orm.close();
  project.provide('databaseUrl', databaseUrl.toString());

  return async () => {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  };
}
