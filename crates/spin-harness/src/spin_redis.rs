//! Outbound `spin:redis@3.0.0` over a real Redis (the gateway's limit
//! ledger on Spin): `open` and `execute`, as Spin's own host runs them.
//! The typed helpers the gateway does not use answer `other`.

use wasmtime::component::{Access, Accessor, HasData, Linker, Resource};

use crate::spin_host::spin::redis::redis as r;
use crate::Ctx;

/// An open connection.
pub struct ConnHandle(redis::aio::MultiplexedConnection);

struct Redis;
impl HasData for Redis {
    type Data<'a> = &'a mut Ctx;
}

impl r::Host for Ctx {}
impl r::HostConnection for Ctx {}

fn other(e: impl std::fmt::Display) -> r::Error {
    r::Error::Other(e.to_string())
}

fn unsupported<T>() -> wasmtime::Result<Result<T, r::Error>> {
    Ok(Err(r::Error::Other(
        "spin-harness: only open and execute".into(),
    )))
}

fn result(v: redis::Value) -> Vec<r::RedisResult> {
    use redis::Value as V;
    match v {
        V::Nil => vec![r::RedisResult::Nil],
        V::Int(i) => vec![r::RedisResult::Int64(i)],
        V::BulkString(b) => vec![r::RedisResult::Binary(b)],
        V::SimpleString(s) => vec![r::RedisResult::Status(s)],
        V::Okay => vec![r::RedisResult::Status("OK".into())],
        V::Array(items) => items.into_iter().flat_map(result).collect(),
        other => vec![r::RedisResult::Status(format!("{other:?}"))],
    }
}

impl<T> r::HostConnectionWithStore<T> for Redis {
    async fn open(
        store: &Accessor<T, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<ConnHandle>, r::Error>> {
        let client = match redis::Client::open(address.as_str()) {
            Ok(c) => c,
            Err(_) => return Ok(Err(r::Error::InvalidAddress)),
        };
        let conn = match client.get_multiplexed_async_connection().await {
            Ok(c) => c,
            Err(e) => return Ok(Err(other(e))),
        };
        store.with(|mut s| Ok(Ok(s.get().table.push(ConnHandle(conn))?)))
    }

    async fn execute(
        store: &Accessor<T, Self>,
        conn: Resource<ConnHandle>,
        command: String,
        arguments: Vec<r::RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<r::RedisResult>, r::Error>> {
        let mut c = store
            .with(|mut s| -> wasmtime::Result<_> { Ok(s.get().table.get(&conn)?.0.clone()) })?;
        let mut cmd = redis::cmd(&command);
        for a in arguments {
            match a {
                r::RedisParameter::Int64(i) => cmd.arg(i),
                r::RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        Ok(match cmd.query_async::<redis::Value>(&mut c).await {
            Ok(v) => Ok(result(v)),
            Err(e) => Err(other(e)),
        })
    }

    async fn publish(
        _: &Accessor<T, Self>,
        _: Resource<ConnHandle>,
        _: String,
        _: Vec<u8>,
    ) -> wasmtime::Result<Result<(), r::Error>> {
        unsupported()
    }
    async fn get(
        _: &Accessor<T, Self>,
        _: Resource<ConnHandle>,
        _: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, r::Error>> {
        unsupported()
    }
    async fn set(
        _: &Accessor<T, Self>,
        _: Resource<ConnHandle>,
        _: String,
        _: Vec<u8>,
    ) -> wasmtime::Result<Result<(), r::Error>> {
        unsupported()
    }
    async fn incr(
        _: &Accessor<T, Self>,
        _: Resource<ConnHandle>,
        _: String,
    ) -> wasmtime::Result<Result<i64, r::Error>> {
        unsupported()
    }
    async fn del(
        _: &Accessor<T, Self>,
        _: Resource<ConnHandle>,
        _: Vec<String>,
    ) -> wasmtime::Result<Result<u32, r::Error>> {
        unsupported()
    }
    async fn sadd(
        _: &Accessor<T, Self>,
        _: Resource<ConnHandle>,
        _: String,
        _: Vec<String>,
    ) -> wasmtime::Result<Result<u32, r::Error>> {
        unsupported()
    }
    async fn smembers(
        _: &Accessor<T, Self>,
        _: Resource<ConnHandle>,
        _: String,
    ) -> wasmtime::Result<Result<Vec<String>, r::Error>> {
        unsupported()
    }
    async fn srem(
        _: &Accessor<T, Self>,
        _: Resource<ConnHandle>,
        _: String,
        _: Vec<String>,
    ) -> wasmtime::Result<Result<u32, r::Error>> {
        unsupported()
    }

    fn drop(mut store: Access<'_, T, Self>, rep: Resource<ConnHandle>) -> wasmtime::Result<()> {
        store.get().table.delete(rep)?;
        Ok(())
    }
}

pub fn add_to_linker(linker: &mut Linker<Ctx>) -> wasmtime::Result<()> {
    r::add_to_linker::<_, Redis>(linker, |c| c)
}
