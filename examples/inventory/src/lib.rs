//! Inventory: reserves stock for each `OrderPlaced` event and emits `StockReserved`.
//!
//! Idempotent by event id: the key `seen/<event-id>` is written last, after the stock, and a
//! delivery whose key exists changes nothing (the router delivers at least once, and retries).
//! Stock per SKU lives under `stock/<sku>` as decimal text; a SKU never seen starts at config
//! `initial_stock` (default 100). An order that would take a SKU below zero fails permanently and
//! changes nothing.
//!
//! Config: `initial_stock`, `source` (the emitted event's source, default `shop.inventory`).
//! Capabilities: `kv: true`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchyard_guest::{Delivery, Failure, KvError, Result, config, emit, info, kv};

#[derive(Debug, Deserialize)]
pub struct OrderPlaced {
    pub order_id: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
pub struct Item {
    pub sku: String,
    pub quantity: u64,
}

#[derive(Debug, Serialize)]
struct StockReserved<'a> {
    order_id: &'a str,
    order_event_id: &'a str,
    items: Vec<Reserved<'a>>,
}

#[derive(Debug, Serialize)]
struct Reserved<'a> {
    sku: &'a str,
    quantity: u64,
    remaining: u64,
}

const DEFAULT_INITIAL_STOCK: u64 = 100;
const DEFAULT_SOURCE: &str = "shop.inventory";

/// A store that is not granted is a configuration mistake no retry fixes; anything else may pass.
fn store_failure(error: KvError) -> Failure {
    match error {
        KvError::NotGranted => Failure::permanent(
            "the inventory consumer needs a key-value store: grant it in the target (capabilities: {kv: true})",
        ),
        other => Failure::retryable(other.to_string()),
    }
}

fn read_stock(sku: &str, initial: u64) -> Result<u64> {
    let key = format!("stock/{sku}");
    match kv::get(&key).map_err(store_failure)? {
        None => Ok(initial),
        Some(bytes) => std::str::from_utf8(&bytes).ok().and_then(|text| text.parse().ok()).ok_or_else(|| {
            Failure::permanent(format!("`{key}` does not hold a count: {:?}", String::from_utf8_lossy(&bytes)))
        }),
    }
}

fn initial_stock() -> Result<u64> {
    match config::get("initial_stock") {
        None => Ok(DEFAULT_INITIAL_STOCK),
        Some(text) => text
            .parse()
            .map_err(|_| Failure::permanent(format!("config `initial_stock` = `{text}` is not a whole number"))),
    }
}

fn handle(delivery: Delivery) -> Result {
    let event_id = &delivery.metadata.event_id;
    let order: OrderPlaced = delivery.detail()?;
    let seen = format!("seen/{event_id}");
    if kv::get(&seen).map_err(store_failure)?.is_some() {
        info!("duplicate delivery of event {event_id} (order {}): already reserved", order.order_id);
        return Ok(());
    }
    if order.items.is_empty() {
        return Err(Failure::permanent(format!("order {} has no items", order.order_id)));
    }

    // One SKU may appear on several lines; reserve the sum.
    let mut wanted: BTreeMap<&str, u64> = BTreeMap::new();
    for item in &order.items {
        *wanted.entry(item.sku.as_str()).or_default() += item.quantity;
    }

    // Check every SKU before writing any, so a refused order leaves the stock as it was.
    let initial = initial_stock()?;
    let mut reserved = Vec::with_capacity(wanted.len());
    for (&sku, &quantity) in &wanted {
        let available = read_stock(sku, initial)?;
        let Some(remaining) = available.checked_sub(quantity) else {
            return Err(Failure::permanent(format!(
                "order {}: not enough stock of {sku} ({quantity} ordered, {available} left)",
                order.order_id
            )));
        };
        reserved.push(Reserved { sku, quantity, remaining });
    }
    for item in &reserved {
        kv::set(&format!("stock/{}", item.sku), item.remaining.to_string().as_bytes()).map_err(store_failure)?;
    }

    let source = config::get("source").unwrap_or_else(|| DEFAULT_SOURCE.to_string());
    let count = reserved.len();
    emit(
        &source,
        "StockReserved",
        &StockReserved { order_id: &order.order_id, order_event_id: event_id, items: reserved },
    )?;
    kv::set(&seen, b"1").map_err(store_failure)?;
    info!("order {}: reserved {count} SKUs", order.order_id);
    Ok(())
}

switchyard_guest::export!(handle);

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use switchyard_guest::KvError;
    use switchyard_guest::testing::{TestHost, delivery};

    use super::handle;

    fn order_event(id: &str, items: Value) -> Value {
        json!({
            "version": "0",
            "id": id,
            "detail-type": "OrderPlaced",
            "source": "shop.orders",
            "account": "123456789012",
            "time": "2025-05-01T10:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": {"order_id": format!("order-{id}"), "items": items}
        })
    }

    fn stock(host: &TestHost, sku: &str) -> Option<String> {
        host.kv().get(&format!("stock/{sku}")).map(|v| String::from_utf8(v.clone()).unwrap())
    }

    #[test]
    fn reserves_stock_and_emits() {
        let mut host = TestHost::new().with_kv();
        let items =
            json!([{"sku": "MS-1", "quantity": 2}, {"sku": "KB-1", "quantity": 1}, {"sku": "MS-1", "quantity": 3}]);
        let run = host.run(handle, delivery(&order_event("e1", items)));
        assert_eq!(run.result, Ok(()));
        assert_eq!(stock(&host, "MS-1").as_deref(), Some("95"));
        assert_eq!(stock(&host, "KB-1").as_deref(), Some("99"));
        assert_eq!(run.kv["seen/e1"], b"1");
        assert_eq!(run.emitted[0].source, "shop.inventory");
        assert_eq!(run.emitted[0].detail_type, "StockReserved");
        assert_eq!(
            run.emitted_details()[0],
            json!({
                "order_id": "order-e1",
                "order_event_id": "e1",
                "items": [
                    {"sku": "KB-1", "quantity": 1, "remaining": 99},
                    {"sku": "MS-1", "quantity": 5, "remaining": 95}
                ]
            })
        );
    }

    #[test]
    fn a_redelivered_event_changes_nothing() {
        let mut host = TestHost::new().with_kv();
        let event = order_event("e1", json!([{"sku": "MS-1", "quantity": 2}]));
        assert_eq!(host.run(handle, delivery(&event)).result, Ok(()));
        let again = host.run(handle, delivery(&event));
        assert_eq!(again.result, Ok(()));
        assert!(again.emitted.is_empty());
        assert!(again.logged("duplicate delivery of event e1"));
        assert_eq!(stock(&host, "MS-1").as_deref(), Some("98"));

        // Another event for the same SKU still counts.
        host.run(handle, delivery(&order_event("e2", json!([{"sku": "MS-1", "quantity": 8}]))));
        assert_eq!(stock(&host, "MS-1").as_deref(), Some("90"));
    }

    #[test]
    fn initial_stock_comes_from_config() {
        let mut host = TestHost::new().with_kv().config("initial_stock", "3");
        assert_eq!(host.run(handle, delivery(&order_event("e1", json!([{"sku": "A", "quantity": 3}])))).result, Ok(()));
        assert_eq!(stock(&host, "A").as_deref(), Some("0"));

        let bad = TestHost::new()
            .with_kv()
            .config("initial_stock", "lots")
            .run(handle, delivery(&order_event("e1", json!([{"sku": "A", "quantity": 1}]))));
        assert!(bad.result.unwrap_err().is_permanent());
    }

    #[test]
    fn not_enough_stock_fails_permanently_and_changes_nothing() {
        let mut host = TestHost::new().with_kv().kv_entry("stock/KB-1", "1");
        let items = json!([{"sku": "MS-1", "quantity": 1}, {"sku": "KB-1", "quantity": 2}]);
        let run = host.run(handle, delivery(&order_event("e1", items)));
        let failure = run.result.unwrap_err();
        assert!(failure.is_permanent());
        assert_eq!(failure.message(), "order order-e1: not enough stock of KB-1 (2 ordered, 1 left)");
        assert!(run.emitted.is_empty());
        assert_eq!(stock(&host, "MS-1"), None, "nothing is written for the other SKU");
        assert_eq!(stock(&host, "KB-1").as_deref(), Some("1"));
        assert!(!run.kv.contains_key("seen/e1"), "a refused order is not marked as seen");
    }

    #[test]
    fn without_a_store_the_failure_is_permanent() {
        let run = TestHost::new().run(handle, delivery(&order_event("e1", json!([{"sku": "A", "quantity": 1}]))));
        let failure = run.result.unwrap_err();
        assert!(failure.is_permanent());
        assert!(failure.message().contains("capabilities: {kv: true}"), "{}", failure.message());
    }

    #[test]
    fn an_unavailable_store_is_retried() {
        let run = TestHost::new()
            .with_kv()
            .kv_error(KvError::Unavailable("store is restarting".into()))
            .run(handle, delivery(&order_event("e1", json!([{"sku": "A", "quantity": 1}]))));
        let failure = run.result.unwrap_err();
        assert!(!failure.is_permanent());
        assert_eq!(failure.message(), "key-value store unavailable: store is restarting");
    }

    #[test]
    fn a_corrupt_count_fails_permanently() {
        let run = TestHost::new()
            .kv_entry("stock/A", "many")
            .run(handle, delivery(&order_event("e1", json!([{"sku": "A", "quantity": 1}]))));
        assert!(run.result.unwrap_err().message().contains("`stock/A` does not hold a count"));
    }
}
