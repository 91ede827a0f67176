// A database as an older keyward left it: the schema's migrations up to a version, recorded as applied.
import { MIGRATIONS, migrationsTable, type SqlDialect, type TableNames } from "../../src/store/sql/schema.js";

/** The statements that build the schema at `version` (and record its migrations), for a test to run in order. */
export function schemaAt(version: number, t: TableNames, d: SqlDialect): string[] {
  return [
    migrationsTable(t, d),
    ...MIGRATIONS.filter((m) => m.version <= version).flatMap((m) => [
      ...m.up(t, d),
      `INSERT INTO ${t.migrations} (version, name, applied_at) VALUES (${m.version}, '${m.name}', 0)`,
    ]),
  ];
}
