//! The key-value capability: a small store of each consumer's own. Consumers see only their
//! namespace (a [`KvHandle`]); the host checks key and value sizes, the store the entry count.
//!
//! [`MemoryKv`] keeps entries in memory and can be loaded from and saved to a JSON file (what
//! `switchyard invoke --kv-file` uses). The router's durable store implements [`KvStore`] as well.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Why a store refused an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvStoreError {
    /// The namespace is full.
    Full(String),
    /// The store could not be read or written.
    Unavailable(String),
}

/// A boxed future of a store write; it resolves when the write is durable (for a durable store).
pub type KvFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, KvStoreError>> + Send + 'a>>;

/// A store holding one map of keys to bytes per namespace (per consumer). Reads are synchronous;
/// writes are futures, so a consumer waiting for a durable write does not block a thread.
pub trait KvStore: Send + Sync + fmt::Debug {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvStoreError>;
    fn set<'a>(&'a self, namespace: &'a str, key: &'a str, value: &'a [u8]) -> KvFuture<'a, ()>;
    fn delete<'a>(&'a self, namespace: &'a str, key: &'a str) -> KvFuture<'a, ()>;
}

/// One consumer's view of a store: its namespace and nothing else.
#[derive(Clone, Debug)]
pub struct KvHandle {
    store: Arc<dyn KvStore>,
    namespace: Arc<str>,
}

impl KvHandle {
    pub fn new(store: Arc<dyn KvStore>, namespace: &str) -> KvHandle {
        KvHandle { store, namespace: namespace.into() }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvStoreError> {
        self.store.get(&self.namespace, key)
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), KvStoreError> {
        self.store.set(&self.namespace, key, value).await
    }

    pub async fn delete(&self, key: &str) -> Result<(), KvStoreError> {
        self.store.delete(&self.namespace, key).await
    }
}

/// Entries a namespace may hold by default.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

type Namespaces = HashMap<String, BTreeMap<String, Vec<u8>>>;

/// An in-memory store, optionally loaded from and saved to a JSON file.
#[derive(Debug)]
pub struct MemoryKv {
    max_entries: usize,
    data: Mutex<Namespaces>,
}

impl Default for MemoryKv {
    fn default() -> Self {
        MemoryKv::new(DEFAULT_MAX_ENTRIES)
    }
}

impl MemoryKv {
    pub fn new(max_entries: usize) -> MemoryKv {
        MemoryKv { max_entries, data: Mutex::default() }
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Namespaces> {
        self.data.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every entry of `namespace`, in key order.
    pub fn entries(&self, namespace: &str) -> Vec<(String, Vec<u8>)> {
        self.data().get(namespace).map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    /// Reads a file written by [`MemoryKv::save`]: `{"namespace": {"key": value}}` where a value is
    /// a string (UTF-8 bytes) or `{"hex": "..."}`. A missing file is an empty store.
    pub fn load(path: &Path, max_entries: usize) -> Result<MemoryKv, String> {
        let kv = MemoryKv::new(max_entries);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(kv),
            Err(error) => return Err(format!("{}: {error}", path.display())),
        };
        let file: BTreeMap<String, BTreeMap<String, serde_json::Value>> = serde_json::from_str(&text)
            .map_err(|error| format!("{}: not a key-value file: {error}", path.display()))?;
        let mut data = kv.data();
        for (namespace, entries) in file {
            let map = data.entry(namespace.clone()).or_default();
            for (key, value) in entries {
                let bytes = match &value {
                    serde_json::Value::String(text) => text.as_bytes().to_vec(),
                    serde_json::Value::Object(o) => match o.get("hex").and_then(|h| h.as_str()).and_then(from_hex) {
                        Some(bytes) if o.len() == 1 => bytes,
                        _ => {
                            return Err(format!(
                                "{}: /{namespace}/{key}: expected a string or {{\"hex\": \"...\"}}",
                                path.display()
                            ));
                        }
                    },
                    _ => {
                        return Err(format!(
                            "{}: /{namespace}/{key}: expected a string or {{\"hex\": \"...\"}}",
                            path.display()
                        ));
                    }
                };
                map.insert(key, bytes);
            }
        }
        drop(data);
        Ok(kv)
    }

    /// Writes every namespace to `path` atomically (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let data = self.data();
        let mut file = serde_json::Map::new();
        let mut namespaces: Vec<_> = data.iter().collect();
        namespaces.sort_by(|a, b| a.0.cmp(b.0));
        for (namespace, entries) in namespaces {
            let object = entries
                .iter()
                .map(|(k, v)| {
                    let value = match std::str::from_utf8(v) {
                        Ok(text) => serde_json::Value::String(text.to_owned()),
                        Err(_) => serde_json::json!({ "hex": to_hex(v) }),
                    };
                    (k.clone(), value)
                })
                .collect();
            file.insert(namespace.clone(), serde_json::Value::Object(object));
        }
        drop(data);
        let text = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text + "\n")
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|error| format!("{}: {error}", path.display()))
    }
}

impl MemoryKv {
    fn set_now(&self, namespace: &str, key: &str, value: &[u8]) -> Result<(), KvStoreError> {
        let mut data = self.data();
        let map = data.entry(namespace.to_owned()).or_default();
        if !map.contains_key(key) && map.len() >= self.max_entries {
            return Err(KvStoreError::Full(format!("the store holds at most {} keys", self.max_entries)));
        }
        map.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete_now(&self, namespace: &str, key: &str) {
        if let Some(map) = self.data().get_mut(namespace) {
            map.remove(key);
        }
    }
}

impl KvStore for MemoryKv {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KvStoreError> {
        Ok(self.data().get(namespace).and_then(|m| m.get(key)).cloned())
    }

    fn set<'a>(&'a self, namespace: &'a str, key: &'a str, value: &'a [u8]) -> KvFuture<'a, ()> {
        let result = self.set_now(namespace, key, value);
        Box::pin(std::future::ready(result))
    }

    fn delete<'a>(&'a self, namespace: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        self.delete_now(namespace, key);
        Box::pin(std::future::ready(Ok(())))
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory store's futures are ready at once.
    fn futures_lite_block_on<T>(future: KvFuture<'_, T>) -> Result<T, KvStoreError> {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
    }

    #[test]
    fn namespaces_are_separate_and_bounded() {
        let kv = Arc::new(MemoryKv::new(2));
        let a = KvHandle::new(kv.clone(), "a");
        let b = KvHandle::new(kv.clone(), "b");
        let run = |f: KvFuture<'_, ()>| futures_lite_block_on(f);
        run(kv.set("a", "k", b"1")).unwrap();
        assert_eq!(b.get("k").unwrap(), None);
        run(kv.set("a", "k2", b"2")).unwrap();
        assert!(matches!(run(kv.set("a", "k3", b"3")), Err(KvStoreError::Full(_))));
        run(kv.set("a", "k", b"overwrite is fine when full")).unwrap();
        run(kv.delete("a", "k2")).unwrap();
        run(kv.set("a", "k3", b"3")).unwrap();
        assert_eq!(a.get("k3").unwrap().as_deref(), Some(&b"3"[..]));
    }

    #[test]
    fn file_round_trip() {
        let dir = std::env::temp_dir().join(format!("switchyard-kv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kv.json");
        let kv = MemoryKv::new(10);
        kv.set_now("inventory", "stock/A-1", b"97").unwrap();
        kv.set_now("inventory", "bin", &[0, 255]).unwrap();
        kv.save(&path).unwrap();
        let back = MemoryKv::load(&path, 10).unwrap();
        assert_eq!(back.entries("inventory"), kv.entries("inventory"));
        std::fs::write(&path, r#"{"ns": {"k": 5}}"#).unwrap();
        assert!(MemoryKv::load(&path, 10).unwrap_err().contains("/ns/k"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
