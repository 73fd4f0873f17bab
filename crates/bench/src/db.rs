//! The bench database: dropped and created afresh for every scenario on the server of
//! `DATABASE_URL`, migrated by `chat-server migrate`, and filled by direct SQL (thousands of
//! admins, stores and tokens in one statement each).
//!
//! Tokens are deterministic, so that the pgbench scripts can compute their hashes:
//! `bs` or `ba` followed by the store's or admin's id on 62 digits (64 letters and digits, as
//! the service requires), stored as their SHA-256 like every token.

use std::ops::RangeInclusive;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};
use tokio_postgres::{Client, NoTls};

/// The token of store `id`.
#[must_use]
pub fn store_token(id: i64) -> String {
    format!("bs{id:062}")
}

/// The token of admin `id`.
#[must_use]
pub fn admin_token(id: i64) -> String {
    format!("ba{id:062}")
}

/// SQL computing the stored hash of the token with `prefix` (`bs`, `ba`) and the id `expr`.
#[must_use]
pub fn token_hash_sql(prefix: &str, expr: &str) -> String {
    format!("sha256(convert_to('{prefix}' || lpad(({expr})::text, 62, '0'), 'UTF8'))")
}

struct UrlParts<'a> {
    scheme: &'a str,
    authority: &'a str,
    query: Option<&'a str>,
}

fn split(url: &str) -> anyhow::Result<UrlParts<'_>> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| *s == "postgres" || *s == "postgresql")
        .context("DATABASE_URL must be a postgres:// URL")?;
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    Ok(UrlParts {
        scheme,
        authority,
        query,
    })
}

/// The URL of database `db` on the server of `url`.
///
/// # Errors
/// When `url` is not a postgres URL.
pub fn database_url(url: &str, db: &str) -> anyhow::Result<String> {
    let parts = split(url)?;
    let mut out = format!("{}://{}/{db}", parts.scheme, parts.authority);
    if let Some(query) = parts.query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// Refuses a database server that is not on loopback: the benchmark touches nothing else.
///
/// # Errors
/// When the host is not 127.0.0.1, ::1 or localhost.
pub fn check_loopback(url: &str) -> anyhow::Result<()> {
    let parts = split(url)?;
    let host_port = parts.authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!(
            "the database server must be on loopback (127.0.0.1, ::1 or localhost), not {host:?}"
        );
    }
    Ok(())
}

/// A connection whose driver runs in the background.
///
/// # Errors
/// When the server cannot be reached.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connect to PostgreSQL")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        bail!("database name {name:?}: use lowercase letters, digits and _");
    }
    Ok(())
}

/// Drops database `name` (closing its connections) if it exists.
///
/// # Errors
/// When the server refuses.
pub async fn drop_database(maintenance_url: &str, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let admin = connect(maintenance_url).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .with_context(|| format!("drop database {name}"))?;
    Ok(())
}

/// Drops and creates database `name`, then applies the service's migrations with
/// `chat-server migrate`; returns a connection to it.
///
/// # Errors
/// When the server refuses or the migrations fail.
pub async fn recreate(
    maintenance_url: &str,
    name: &str,
    url: &str,
    server_bin: &Path,
) -> anyhow::Result<Client> {
    drop_database(maintenance_url, name).await?;
    let admin = connect(maintenance_url).await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .with_context(|| format!("create database {name}"))?;
    let output = Command::new(server_bin)
        .arg("migrate")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .with_context(|| format!("run {} migrate", server_bin.display()))?;
    if !output.status.success() {
        bail!(
            "chat-server migrate failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    connect(url).await
}

/// Admins with ids `1..=n` and their tokens.
///
/// # Errors
/// When an insert fails.
pub async fn add_admins(db: &Client, n: i64) -> anyhow::Result<()> {
    db.batch_execute(&format!(
        "INSERT INTO admins (id, name, email) \
             SELECT g, 'Admin ' || g, 'admin' || g || '@bench.example.com' FROM generate_series(1, {n}) g; \
         SELECT setval('admins_id_seq', {n}); \
         INSERT INTO tokens (token_hash, admin_id) \
             SELECT {}, g FROM generate_series(1, {n}) g;",
        token_hash_sql("ba", "g")
    ))
    .await
    .context("add admins")?;
    Ok(())
}

/// Stores with the ids of `ids` and their tokens.
///
/// # Errors
/// When an insert fails.
pub async fn add_stores(db: &Client, ids: RangeInclusive<i64>) -> anyhow::Result<()> {
    let (from, to) = (ids.start(), ids.end());
    db.batch_execute(&format!(
        "INSERT INTO stores (id, name, email, logo_url, public_key) \
             SELECT g, 'Store ' || g, 'store' || g || '@bench.example.com', \
                    'https://cdn.example.com/logos/' || g || '.png', 'bs' || lpad(g::text, 10, '0') \
             FROM generate_series({from}, {to}) g; \
         INSERT INTO tokens (token_hash, store_id) \
             SELECT {}, g FROM generate_series({from}, {to}) g;",
        token_hash_sql("bs", "g")
    ))
    .await
    .context("add stores")?;
    Ok(())
}

/// One session per store of `stores` (which exist), open or claimed by the admin that
/// `admin_sql` computes from the store id `g` (e.g. `((g - 1) % 50) + 1`); returns the session
/// ids in store order. On a fresh database, session ids follow store ids from 1.
///
/// # Errors
/// When an insert fails.
pub async fn add_sessions(
    db: &Client,
    stores: RangeInclusive<i64>,
    admin_sql: Option<&str>,
) -> anyhow::Result<Vec<i64>> {
    let (from, to) = (stores.start(), stores.end());
    let (status, admin) = match admin_sql {
        Some(expr) => ("claimed", expr.to_owned()),
        None => ("open", "NULL".to_owned()),
    };
    let rows = db
        .query(
            &format!(
                "INSERT INTO sessions (store_id, admin_id, status, last_message_at, created, updated) \
                     SELECT g, {admin}, '{status}', now() - make_interval(secs => g), \
                            now() - make_interval(secs => g), now() - make_interval(secs => g) \
                     FROM generate_series({from}, {to}) g ORDER BY g \
                 RETURNING id, store_id"
            ),
            &[],
        )
        .await
        .context("add sessions")?;
    let mut pairs: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(1), r.get(0))).collect();
    pairs.sort_unstable();
    Ok(pairs.into_iter().map(|(_, id)| id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_letters_and_digits() {
        for t in [store_token(1), admin_token(123_456)] {
            assert_eq!(t.len(), 64, "{t}");
            assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }

    #[test]
    fn urls_name_another_database_and_must_be_on_loopback() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:55432/chat", "chat_bench").unwrap(),
            "postgres://postgres@127.0.0.1:55432/chat_bench"
        );
        assert_eq!(
            database_url("postgresql://u:p@localhost/chat?sslmode=disable", "x").unwrap(),
            "postgresql://u:p@localhost/x?sslmode=disable"
        );
        assert!(check_loopback("postgres://postgres@127.0.0.1:55432/chat").is_ok());
        assert!(check_loopback("postgres://u@[::1]:5432/chat").is_ok());
        assert!(check_loopback("postgres://u@localhost/chat").is_ok());
        assert!(check_loopback("postgres://u@db.example.com/chat").is_err());
        assert!(check_loopback("mysql://u@localhost/chat").is_err());
    }
}
