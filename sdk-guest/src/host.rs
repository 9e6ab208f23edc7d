//! Where the SDK's host calls go: the WIT imports inside the router, the thread's
//! [`TestHost`](crate::testing::TestHost) in native tests, and nowhere otherwise.

#[cfg(target_family = "wasm")]
pub(crate) use wasm::*;

#[cfg(all(feature = "testing", not(target_family = "wasm")))]
pub(crate) use crate::testing::host::*;

#[cfg(all(not(feature = "testing"), not(target_family = "wasm")))]
pub(crate) use native::*;

#[cfg(target_family = "wasm")]
mod wasm {
    use crate::__private::bindings::switchyard::consumer::{config, emit as wit_emit, kv, log as wit_log};
    use crate::http::{HttpError, Request, Response, Url};
    use crate::{EmitError, KvError, Level};

    pub(crate) fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
        let level = match level {
            Level::Trace => wit_log::Level::Trace,
            Level::Debug => wit_log::Level::Debug,
            Level::Info => wit_log::Level::Info,
            Level::Warn => wit_log::Level::Warn,
            Level::Error => wit_log::Level::Error,
        };
        wit_log::log(level, message, fields);
    }

    pub(crate) fn config_get(key: &str) -> Option<String> {
        config::get(key)
    }

    pub(crate) fn config_all() -> Vec<(String, String)> {
        config::get_all()
    }

    pub(crate) fn emit(source: &str, detail_type: &str, detail: &str, resources: &[&str]) -> Result<(), EmitError> {
        wit_emit::emit(wit_emit::Event { source, detail_type, detail, resources }).map_err(|error| match error {
            wit_emit::EmitError::QuotaExceeded(message) => EmitError::QuotaExceeded(message),
            wit_emit::EmitError::Invalid(message) => EmitError::Invalid(message),
        })
    }

    fn kv_error(error: kv::KvError) -> KvError {
        match error {
            kv::KvError::NotGranted => KvError::NotGranted,
            kv::KvError::TooLarge(message) => KvError::TooLarge(message),
            kv::KvError::Unavailable(message) => KvError::Unavailable(message),
        }
    }

    pub(crate) fn kv_get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        kv::get(key).map_err(kv_error)
    }

    pub(crate) fn kv_set(key: &str, value: &[u8]) -> Result<(), KvError> {
        kv::set(key, value).map_err(kv_error)
    }

    pub(crate) fn kv_delete(key: &str) -> Result<(), KvError> {
        kv::delete(key).map_err(kv_error)
    }

    pub(crate) fn http_send(request: &Request, url: &Url<'_>) -> Result<Response, HttpError> {
        crate::http::wasi::send(request, url)
    }
}

/// Natively without the `testing` feature there is no host: every call says so.
#[cfg(all(not(feature = "testing"), not(target_family = "wasm")))]
mod native {
    use crate::http::{HttpError, Request, Response, Url};
    use crate::{EmitError, KvError, Level};

    #[cold]
    fn no_host(call: &str) -> ! {
        panic!(
            "switchyard-guest: {call} needs a host: run the consumer in the router (wasm32-wasip2), \
             or test it natively with the `testing` feature and switchyard_guest::testing::TestHost"
        )
    }

    pub(crate) fn log(_: Level, _: &str, _: &[(&str, &str)]) {
        no_host("log")
    }

    pub(crate) fn config_get(_: &str) -> Option<String> {
        no_host("config::get")
    }

    pub(crate) fn config_all() -> Vec<(String, String)> {
        no_host("config::all")
    }

    pub(crate) fn emit(_: &str, _: &str, _: &str, _: &[&str]) -> Result<(), EmitError> {
        no_host("emit")
    }

    pub(crate) fn kv_get(_: &str) -> Result<Option<Vec<u8>>, KvError> {
        no_host("kv::get")
    }

    pub(crate) fn kv_set(_: &str, _: &[u8]) -> Result<(), KvError> {
        no_host("kv::set")
    }

    pub(crate) fn kv_delete(_: &str) -> Result<(), KvError> {
        no_host("kv::delete")
    }

    pub(crate) fn http_send(_: &Request, _: &Url<'_>) -> Result<Response, HttpError> {
        no_host("http::send")
    }
}
