//! The migrations against a real PostgreSQL: they go down and up again cleanly, and the schema
//! they make is the one `schema.rs` tells diesel about.
//!
//! Needs `DATABASE_URL` (see `chat_adapters::testing`).

use std::collections::BTreeSet;

use chat_adapters::migrations;
use chat_adapters::schema;
use chat_adapters::testing::TestDatabase;
use diesel::pg::{Pg, PgConnection};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Integer)]
    position: i32,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    udt_name: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
    #[diesel(sql_type = Text)]
    default: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
}

/// The columns of the tables of `public`, by table and position.
fn columns(conn: &mut PgConnection) -> Vec<Column> {
    diesel::sql_query(
        "SELECT table_name::text AS table_name, ordinal_position::int AS position, \
                column_name::text AS column_name, udt_name::text AS udt_name, \
                is_nullable::text AS is_nullable, coalesce(column_default, '')::text AS default \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> $1 \
         ORDER BY table_name, ordinal_position",
    )
    .bind::<Text, _>(MIGRATIONS_TABLE)
    .load(conn)
    .expect("list the columns")
}

/// Every relation of `public` (tables, indexes, sequences, views...) and its kind.
fn relations(conn: &mut PgConnection) -> Vec<Named> {
    diesel::sql_query(
        "SELECT c.relname::text AS name, c.relkind::text AS definition \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' ORDER BY 1",
    )
    .load(conn)
    .expect("list the relations")
}

/// The indexes, constraints, triggers and functions of `public`, with their definitions.
fn indexes_and_constraints(conn: &mut PgConnection) -> Vec<Named> {
    diesel::sql_query(
        "SELECT indexname::text AS name, indexdef::text AS definition \
         FROM pg_indexes WHERE schemaname = 'public' \
         UNION ALL \
         SELECT c.conrelid::regclass::text || '.' || c.conname, pg_get_constraintdef(c.oid) \
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
         WHERE n.nspname = 'public' \
         UNION ALL \
         SELECT t.tgrelid::regclass::text || '.' || t.tgname, pg_get_triggerdef(t.oid) \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND NOT t.tgisinternal \
         UNION ALL \
         SELECT p.proname::text, pg_get_functiondef(p.oid) \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = 'public' \
         ORDER BY 1, 2",
    )
    .load(conn)
    .expect("list the indexes, constraints, triggers and functions")
}

/// Functions, types (other than tables' row types) and other objects left in `public`.
fn other_objects(conn: &mut PgConnection) -> Vec<Named> {
    diesel::sql_query(
        "SELECT p.proname::text AS name, 'function' AS definition \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' \
         UNION ALL \
         SELECT t.typname::text, 'type' FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE n.nspname = 'public' AND t.typrelid = 0 AND t.typelem = 0 \
         ORDER BY 1",
    )
    .load(conn)
    .expect("list the other objects")
}

#[test]
fn migrations_go_down_and_up_again_to_the_same_schema() {
    let db = TestDatabase::new();
    let mut conn = db.connect();
    assert!(migrations::is_current(&mut conn).unwrap());
    let before = (
        columns(&mut conn),
        indexes_and_constraints(&mut conn),
        relations(&mut conn),
    );
    assert!(!before.0.is_empty());

    migrations::revert_all(&mut conn).expect("revert every migration");
    assert!(!migrations::is_current(&mut conn).unwrap());
    let left: Vec<String> = relations(&mut conn).into_iter().map(|r| r.name).collect();
    assert_eq!(
        left,
        [
            MIGRATIONS_TABLE.to_owned(),
            format!("{MIGRATIONS_TABLE}_pkey")
        ],
        "the down migrations leave relations behind"
    );
    assert_eq!(other_objects(&mut conn), []);

    let applied = migrations::run_pending(&mut conn).expect("migrate again");
    assert_eq!(applied.len(), migrations_in_folder());
    assert!(migrations::is_current(&mut conn).unwrap());
    assert_eq!(
        migrations::run_pending(&mut conn).unwrap(),
        Vec::<String>::new()
    );
    let after = (
        columns(&mut conn),
        indexes_and_constraints(&mut conn),
        relations(&mut conn),
    );
    assert_eq!(before, after, "down then up must rebuild the same schema");

    // The seed row of the migrations is back too.
    let retention: i64 = schema::event_retention::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(retention, 1);
}

fn migrations_in_folder() -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("up.sql").exists())
        .count()
}

/// A table as `schema.rs` declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Declared {
    name: String,
    key: Vec<String>,
    /// Name and diesel SQL type, in order.
    columns: Vec<(String, String)>,
}

/// Reads the `diesel::table!` blocks of `schema.rs`. Refuses anything it does not understand,
/// so that a new kind of declaration cannot slip past the guard.
fn declared_tables(source: &str) -> Vec<Declared> {
    let mut tables = Vec::new();
    let mut lines = source.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line != "diesel::table! {" {
            continue;
        }
        let header = lines.next().expect("a table header");
        let (name, rest) = header.split_once(" (").expect("`name (key) {`");
        let key = rest.strip_suffix(") {").expect("`name (key) {`");
        let mut table = Declared {
            name: name.to_owned(),
            key: key.split(',').map(|k| k.trim().to_owned()).collect(),
            columns: Vec::new(),
        };
        for line in lines.by_ref() {
            if line == "}" {
                break;
            }
            if line.starts_with("///") || line.is_empty() {
                continue;
            }
            let (column, ty) = line
                .strip_suffix(',')
                .and_then(|l| l.split_once(" -> "))
                .unwrap_or_else(|| panic!("unsupported line in schema.rs: {line}"));
            table.columns.push((column.to_owned(), ty.to_owned()));
        }
        assert_eq!(lines.next(), Some("}"), "end of the table! block of {name}");
        tables.push(table);
    }
    tables
}

/// The PostgreSQL type name (`udt_name`) and nullability of a diesel SQL type.
fn pg_type(diesel: &str) -> (String, bool) {
    if let Some(inner) = diesel
        .strip_prefix("Nullable<")
        .and_then(|t| t.strip_suffix('>'))
    {
        return (pg_type(inner).0, true);
    }
    if let Some(inner) = diesel
        .strip_prefix("Array<")
        .and_then(|t| t.strip_suffix('>'))
    {
        return (format!("_{}", pg_type(inner).0), false);
    }
    let name = match diesel {
        "Int2" | "SmallInt" => "int2",
        "Int4" | "Integer" => "int4",
        "Int8" | "BigInt" => "int8",
        "Float4" => "float4",
        "Float8" => "float8",
        "Text" => "text",
        "Varchar" => "varchar",
        "Bool" => "bool",
        "Bytea" => "bytea",
        "Timestamptz" => "timestamptz",
        "Timestamp" => "timestamp",
        "Date" => "date",
        "Uuid" => "uuid",
        "Jsonb" => "jsonb",
        "Json" => "json",
        "Numeric" => "numeric",
        other => panic!("add the diesel type {other} to pg_type()"),
    };
    (name.to_owned(), false)
}

/// The column names of `SELECT <all_columns> FROM <table>` as diesel writes it.
fn selected_columns(sql: &str) -> Vec<String> {
    let list = sql
        .strip_prefix("SELECT ")
        .and_then(|s| s.split_once(" FROM "))
        .map(|(list, _)| list)
        .unwrap_or_else(|| panic!("unexpected SQL: {sql}"));
    list.split(", ")
        .map(|c| {
            let (_, column) = c.rsplit_once('.').expect("a qualified column");
            column.trim_matches('"').to_owned()
        })
        .collect()
}

/// The columns diesel selects for each table of the compiled schema.
macro_rules! compiled_tables {
    ($($table:ident),* $(,)?) => {
        vec![$((
            stringify!($table).to_owned(),
            selected_columns(
                &diesel::debug_query::<Pg, _>(
                    &schema::$table::table.select(schema::$table::all_columns),
                )
                .to_string(),
            ),
        )),*]
    };
}

/// The views of `public`.
fn view_names(conn: &mut PgConnection) -> BTreeSet<String> {
    diesel::sql_query(
        "SELECT table_name::text AS name, '' AS definition FROM information_schema.views \
          WHERE table_schema = 'public'",
    )
    .load::<Named>(conn)
    .expect("list the views")
    .into_iter()
    .map(|n| n.name)
    .collect()
}

/// The columns diesel selects for each view of the compiled `views.rs`.
fn compiled_views() -> Vec<(String, Vec<String>)> {
    use chat_adapters::views;
    vec![(
        "numbered_events".to_owned(),
        selected_columns(
            &diesel::debug_query::<Pg, _>(
                &views::numbered_events::table.select(views::numbered_events::all_columns),
            )
            .to_string(),
        ),
    )]
}

#[test]
fn schema_rs_matches_the_migrated_database() {
    let declared = declared_tables(include_str!("../../src/schema.rs"));
    assert!(
        declared.len() >= 8,
        "schema.rs was not understood: {declared:?}"
    );

    // What diesel was compiled with is what the file says (the list below must name every
    // table; a table added to schema.rs and not here fails the comparison).
    let compiled = compiled_tables!(
        admin_sockets,
        admins,
        api_keys,
        canned_replies,
        event_numbers,
        event_retention,
        event_sequencer,
        events,
        files,
        instances,
        messages,
        relay_listeners,
        sessions,
        stores,
        tokens,
        webhook_attempts,
        webhook_endpoints,
    );
    let from_file: Vec<(String, Vec<String>)> = declared
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.columns.iter().map(|(c, _)| c.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(compiled, from_file);

    let db = TestDatabase::new();
    let mut conn = db.connect();
    let views = view_names(&mut conn);
    let (view_columns, actual): (Vec<Column>, Vec<Column>) = columns(&mut conn)
        .into_iter()
        .partition(|c| views.contains(&c.table_name));

    // The views, declared by hand in `views.rs`: their columns' names and types (a view's
    // columns are all nullable to PostgreSQL, whatever they hold).
    let declared_views = declared_tables(include_str!("../../src/views.rs"));
    let names: BTreeSet<&str> = declared_views.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        views.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        names,
        "views of the database and of views.rs"
    );
    for view in &declared_views {
        let in_db: Vec<(String, String)> = view_columns
            .iter()
            .filter(|c| c.table_name == view.name)
            .map(|c| (c.column_name.clone(), c.udt_name.clone()))
            .collect();
        let in_file: Vec<(String, String)> = view
            .columns
            .iter()
            .map(|(name, ty)| (name.clone(), pg_type(ty).0))
            .collect();
        assert_eq!(in_db, in_file, "columns of the view {}", view.name);
    }
    assert_eq!(
        compiled_views(),
        declared_views
            .iter()
            .map(|t| (
                t.name.clone(),
                t.columns.iter().map(|(c, _)| c.clone()).collect()
            ))
            .collect::<Vec<_>>()
    );

    let tables_in_db: BTreeSet<&str> = actual.iter().map(|c| c.table_name.as_str()).collect();
    let tables_declared: BTreeSet<&str> = declared.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tables_in_db, tables_declared,
        "tables of the database and of schema.rs"
    );

    for table in &declared {
        let in_db: Vec<(String, String, bool)> = actual
            .iter()
            .filter(|c| c.table_name == table.name)
            .map(|c| {
                (
                    c.column_name.clone(),
                    c.udt_name.clone(),
                    c.is_nullable == "YES",
                )
            })
            .collect();
        let in_schema: Vec<(String, String, bool)> = table
            .columns
            .iter()
            .map(|(name, ty)| {
                let (udt, nullable) = pg_type(ty);
                (name.clone(), udt, nullable)
            })
            .collect();
        assert_eq!(
            in_db, in_schema,
            "columns of {} (name, type, nullable) in ordinal order",
            table.name
        );

        let key: Vec<String> = diesel::sql_query(
            "SELECT a.attname::text AS name, '' AS definition \
             FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
             WHERE i.indrelid = $1::regclass AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)",
        )
        .bind::<Text, _>(&table.name)
        .load::<Named>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
        assert_eq!(key, table.key, "primary key of {}", table.name);
    }
}
