//! Reads on PostgreSQL: the store's reads ([`select`](crate::store::select)), several in one
//! repeatable-read snapshot, each row's columns as values.

use deadpool_postgres::GenericClient;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::Type;

use super::Params;
use crate::store::StoreError;
use crate::store::columns::Value;
use crate::store::queries::Sql;
use crate::store::select::Row;

/// Starts a read-only repeatable-read transaction: one snapshot, whatever other nodes commit.
pub(super) async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(StoreError::db("starting a read transaction"))
}

/// A row's columns as values, by their declared types (the schema's integers, text and bytes).
fn row(row: &tokio_postgres::Row) -> Result<Row, tokio_postgres::Error> {
    let value = |i: usize, ty: &Type| -> Result<Value, tokio_postgres::Error> {
        let int = |n: Option<i64>| n.map_or(Value::Null, Value::Int);
        Ok(match *ty {
            Type::INT2 => int(row.try_get::<_, Option<i16>>(i)?.map(i64::from)),
            Type::INT4 => int(row.try_get::<_, Option<i32>>(i)?.map(i64::from)),
            Type::INT8 => int(row.try_get(i)?),
            Type::BYTEA => row
                .try_get::<_, Option<Vec<u8>>>(i)?
                .map_or(Value::Null, Value::Bytes),
            _ => row
                .try_get::<_, Option<String>>(i)?
                .map_or(Value::Null, Value::Text),
        })
    };
    row.columns()
        .iter()
        .enumerate()
        .map(|(i, column)| value(i, column.type_()))
        .collect::<Result<_, _>>()
        .map(Row)
}

/// The rows `sql` selects.
pub(super) async fn select_in(
    client: &impl GenericClient,
    what: &'static str,
    sql: &Sql,
) -> Result<Vec<Row>, StoreError> {
    let stmt = client
        .prepare_cached(&sql.text)
        .await
        .map_err(StoreError::db(what))?;
    let params = Params::typed(&sql.args, stmt.params());
    client
        .query(&stmt, &params.refs())
        .await
        .map_err(StoreError::db(what))?
        .iter()
        .map(row)
        .collect::<Result<_, _>>()
        .map_err(StoreError::db(what))
}

/// The rows of each of `reads`: one alone in a statement of its own, several in one snapshot.
pub(super) async fn select(
    client: &mut deadpool_postgres::Object,
    what: &'static str,
    reads: &[Sql],
) -> Result<Vec<Vec<Row>>, StoreError> {
    if let [sql] = reads {
        return Ok(vec![select_in(&*client, what, sql).await?]);
    }
    let tx = snapshot(client).await?;
    let mut rows = Vec::with_capacity(reads.len());
    for sql in reads {
        rows.push(select_in(&tx, what, sql).await?);
    }
    tx.commit()
        .await
        .map_err(StoreError::db("ending a read transaction"))?;
    Ok(rows)
}
