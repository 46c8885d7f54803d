//! Reads on SQLite: the store's reads ([`select`](crate::store::select)) in one read
//! transaction, each row's columns as values; and the engine's plans.

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::store::columns::Value;
use crate::store::queries::Sql;
use crate::store::select::Row;

/// A column's value as read.
fn value(column: ValueRef<'_>) -> Value {
    match column {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        // No column holds a real: one that does reads as text, which no decoder takes for a number.
        ValueRef::Real(x) => Value::Text(x.to_string()),
        // Text that is not UTF-8 reads as bytes, which no decoder takes for text.
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Value::Text(text.to_owned()),
            Err(_) => Value::Bytes(bytes.to_vec()),
        },
        ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
    }
}

/// The rows `sql` selects, inside `conn`'s transaction (if it is in one).
pub(super) fn select_in(conn: &Connection, sql: &Sql) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(&sql.text)?;
    let width = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(sql.args.iter()))?;
    let mut read = Vec::new();
    while let Some(row) = rows.next()? {
        read.push(Row((0..width)
            .map(|i| row.get_ref(i).map(value))
            .collect::<rusqlite::Result<_>>()?));
    }
    Ok(read)
}

/// The rows of each of `reads`, from one read transaction: one snapshot, even while another
/// connection writes.
pub(super) fn select(conn: &mut Connection, reads: &[Sql]) -> rusqlite::Result<Vec<Vec<Row>>> {
    let tx = conn.transaction()?;
    let rows = reads
        .iter()
        .map(|sql| select_in(&tx, sql))
        .collect::<rusqlite::Result<_>>()?;
    tx.commit()?;
    Ok(rows)
}

/// SQLite's plan for `sql`, one line per step.
pub(super) fn plan(conn: &mut Connection, sql: &Sql) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))?;
    stmt.query_map(rusqlite::params_from_iter(sql.args.iter()), |row| {
        row.get(3)
    })?
    .collect()
}
