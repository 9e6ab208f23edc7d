//! Order notification: for each `OrderPlaced` event, checks the order and emits an
//! `OrderConfirmationRequested` event for the e-mail service, with a one-line summary.
//!
//! Config: `source` (the emitted event's source, default `shop.notifications`).

use serde::{Deserialize, Serialize};
use switchyard_guest::{Delivery, Failure, Result, config, emit, info};

#[derive(Debug, Deserialize)]
pub struct OrderPlaced {
    pub order_id: String,
    pub customer: Customer,
    pub items: Vec<Item>,
    pub total: f64,
    pub currency: String,
}

#[derive(Debug, Deserialize)]
pub struct Customer {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Deserialize)]
pub struct Item {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
}

#[derive(Debug, Serialize)]
struct ConfirmationRequested<'a> {
    order_id: &'a str,
    email: &'a str,
    customer_name: &'a str,
    summary: String,
    /// The OrderPlaced event this answers, so the e-mail service can de-duplicate.
    order_event_id: &'a str,
}

const DEFAULT_SOURCE: &str = "shop.notifications";
/// How many items the summary names before it says "and N more".
const SUMMARY_ITEMS: usize = 3;

fn handle(delivery: Delivery) -> Result {
    let order: OrderPlaced = delivery.detail()?;
    validate(&order)?;

    let source = config::get("source").unwrap_or_else(|| DEFAULT_SOURCE.to_string());
    let request = ConfirmationRequested {
        order_id: &order.order_id,
        email: &order.customer.email,
        customer_name: &order.customer.name,
        summary: summary(&order),
        order_event_id: &delivery.metadata.event_id,
    };
    emit(&source, "OrderConfirmationRequested", &request)?;
    info!("order {}: confirmation requested for {}", order.order_id, order.customer.email);
    Ok(())
}

/// Orders that can never be confirmed fail permanently: retrying would not change them.
fn validate(order: &OrderPlaced) -> Result {
    let id = &order.order_id;
    if order.items.is_empty() {
        return Err(Failure::permanent(format!("order {id} has no items")));
    }
    if !(order.total >= 0.0 && order.total.is_finite()) {
        return Err(Failure::permanent(format!("order {id} has an invalid total {}", order.total)));
    }
    if let Some(item) = order.items.iter().find(|item| item.quantity == 0) {
        return Err(Failure::permanent(format!("order {id}: item {} has quantity 0", item.sku)));
    }
    if !order.customer.email.contains('@') {
        return Err(Failure::permanent(format!("order {id}: `{}` is not an e-mail address", order.customer.email)));
    }
    Ok(())
}

/// "Order A-1 for Ada: 2 x Mouse, 1 x Keyboard and 2 more items; total 149.40 EUR".
fn summary(order: &OrderPlaced) -> String {
    let named: Vec<String> =
        order.items.iter().take(SUMMARY_ITEMS).map(|item| format!("{} x {}", item.quantity, item.name)).collect();
    let mut line = format!("Order {} for {}: {}", order.order_id, order.customer.name, named.join(", "));
    match order.items.len().saturating_sub(SUMMARY_ITEMS) {
        0 => {}
        1 => line.push_str(" and 1 more item"),
        more => line.push_str(&format!(" and {more} more items")),
    }
    line.push_str(&format!("; total {:.2} {}", order.total, order.currency));
    line
}

switchyard_guest::export!(handle);

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use switchyard_guest::testing::{TestHost, delivery, delivery_bytes};

    use super::handle;

    fn event(detail: Value) -> Value {
        json!({
            "version": "0",
            "id": "evt-1",
            "detail-type": "OrderPlaced",
            "source": "shop.orders",
            "account": "123456789012",
            "time": "2025-05-01T10:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": detail
        })
    }

    fn order() -> Value {
        json!({
            "order_id": "A-1",
            "customer": {"name": "Ada", "email": "ada@example.com"},
            "items": [
                {"sku": "MS-1", "name": "Mouse", "quantity": 2, "price": 20.0},
                {"sku": "KB-1", "name": "Keyboard", "quantity": 1, "price": 109.4}
            ],
            "total": 149.4,
            "currency": "EUR"
        })
    }

    #[test]
    fn emits_a_confirmation_request() {
        let run = TestHost::new().run(handle, delivery(&event(order())));
        assert_eq!(run.result, Ok(()));
        assert_eq!(run.emitted.len(), 1);
        assert_eq!(run.emitted[0].source, "shop.notifications");
        assert_eq!(run.emitted[0].detail_type, "OrderConfirmationRequested");
        assert_eq!(
            run.emitted_details()[0],
            json!({
                "order_id": "A-1",
                "email": "ada@example.com",
                "customer_name": "Ada",
                "summary": "Order A-1 for Ada: 2 x Mouse, 1 x Keyboard; total 149.40 EUR",
                "order_event_id": "evt-1"
            })
        );
        assert!(run.logged("order A-1: confirmation requested for ada@example.com"));
    }

    #[test]
    fn the_source_comes_from_config() {
        let run = TestHost::new().config("source", "acme.mail").run(handle, delivery(&event(order())));
        assert_eq!(run.emitted[0].source, "acme.mail");
    }

    #[test]
    fn long_orders_are_summarised() {
        let mut detail = order();
        detail["items"] =
            (1..=5).map(|i| json!({"sku": format!("S{i}"), "name": format!("Thing {i}"), "quantity": i})).collect();
        let run = TestHost::new().run(handle, delivery(&event(detail)));
        let summary = run.emitted_details()[0]["summary"].as_str().unwrap().to_string();
        assert_eq!(
            summary,
            "Order A-1 for Ada: 1 x Thing 1, 2 x Thing 2, 3 x Thing 3 and 2 more items; total 149.40 EUR"
        );
    }

    #[test]
    fn invalid_orders_fail_permanently_and_emit_nothing() {
        let cases = [
            ("/total", json!(-1.0), "invalid total -1"),
            ("/items", json!([]), "has no items"),
            ("/customer/email", json!("nobody"), "`nobody` is not an e-mail address"),
            ("/items/0/quantity", json!(0), "item MS-1 has quantity 0"),
        ];
        for (pointer, value, expected) in cases {
            let mut detail = order();
            *detail.pointer_mut(pointer).unwrap() = value;
            let run = TestHost::new().run(handle, delivery(&event(detail)));
            let failure = run.result.unwrap_err();
            assert!(failure.is_permanent(), "{pointer}");
            assert!(failure.message().contains(expected), "{pointer}: {}", failure.message());
            assert!(run.emitted.is_empty());
        }
    }

    #[test]
    fn a_payload_without_an_order_fails_permanently() {
        let run = TestHost::new().run(handle, delivery(&event(json!({"order_id": "A-1"}))));
        let failure = run.result.unwrap_err();
        assert!(failure.is_permanent());
        assert!(failure.message().contains("missing field `customer`"), "{}", failure.message());

        let run = TestHost::new().run(handle, delivery_bytes("not json"));
        assert!(run.result.unwrap_err().is_permanent());
    }
}
