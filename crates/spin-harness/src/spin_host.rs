//! In-memory `spin:key-value@3.0.0` (one `default` store, shared by every
//! request, like a real backend) and `spin:variables@3.0.0`.

use wasmtime::component::{
    Access, Accessor, FutureReader, HasData, Linker, Resource, StreamReader,
};

use crate::Ctx;

wasmtime::component::bindgen!({
    path: "wit",
    world: "spin-host",
    imports: { default: store | trappable },
    with: {
        "spin:key-value/key-value.store": StoreHandle,
        "spin:redis/redis.connection": crate::spin_redis::ConnHandle,
    },
});

/// An open store (only `default` exists).
pub struct StoreHandle;

pub use self::spin::key_value::key_value as kv;
use self::spin::variables::variables as vars;

struct Spin;
impl HasData for Spin {
    type Data<'a> = &'a mut Ctx;
}

impl kv::Host for Ctx {}
impl kv::HostStore for Ctx {}
impl vars::Host for Ctx {}

fn lock(c: &Ctx) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<u8>>> {
    c.kv.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> kv::HostStoreWithStore<T> for Spin {
    async fn open(
        store: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, kv::Error>> {
        if label != "default" {
            return Ok(Err(kv::Error::NoSuchStore));
        }
        store.with(|mut s| Ok(Ok(s.get().table.push(StoreHandle)?)))
    }

    async fn get(
        store: &Accessor<T, Self>,
        _: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, kv::Error>> {
        store.with(|mut s| Ok(Ok(lock(s.get()).get(&key).cloned())))
    }

    async fn set(
        store: &Accessor<T, Self>,
        _: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), kv::Error>> {
        store.with(|mut s| {
            lock(s.get()).insert(key, value);
            Ok(Ok(()))
        })
    }

    async fn delete(
        store: &Accessor<T, Self>,
        _: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), kv::Error>> {
        store.with(|mut s| {
            lock(s.get()).remove(&key);
            Ok(Ok(()))
        })
    }

    async fn exists(
        store: &Accessor<T, Self>,
        _: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, kv::Error>> {
        store.with(|mut s| Ok(Ok(lock(s.get()).contains_key(&key))))
    }

    async fn get_keys(
        _: &Accessor<T, Self>,
        _: Resource<StoreHandle>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), kv::Error>>)> {
        // The gateway never lists keys; a trap says so loudly if it ever does.
        wasmtime::bail!("spin-harness: get-keys is not implemented")
    }

    fn drop(mut store: Access<'_, T, Self>, rep: Resource<StoreHandle>) -> wasmtime::Result<()> {
        store.get().table.delete(rep)?;
        Ok(())
    }
}

impl<T> vars::HostWithStore<T> for Spin {
    async fn get(
        store: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, vars::Error>> {
        store.with(|mut s| {
            Ok(match s.get().vars.get(&name) {
                Some(v) => Ok(v.clone()),
                None => Err(vars::Error::Undefined(format!("no variable `{name}`"))),
            })
        })
    }
}

pub fn add_to_linker(linker: &mut Linker<Ctx>) -> wasmtime::Result<()> {
    kv::add_to_linker::<_, Spin>(linker, |c| c)?;
    vars::add_to_linker::<_, Spin>(linker, |c| c)?;
    Ok(())
}
