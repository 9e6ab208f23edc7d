// Pricing an OrderPlaced event: parse the whole order into typed structs, total it, and build the
// OrderPriced event. Plain Rust with serde and serde_json only, because the router's native
// benchmark `include!`s this file to compare the same work outside Wasm.

#[derive(serde::Deserialize)]
struct OrderEvent {
    id: String,
    detail: Order,
}

// Fields the pricing does not need are parsed anyway, as a real consumer's types would be.
#[allow(dead_code)]
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    order_id: String,
    placed_at: String,
    channel: String,
    currency: String,
    customer: Customer,
    items: Vec<Item>,
    shipping_address: Address,
    billing_address: Address,
    shipping: Shipping,
    #[serde(default)]
    discounts: Vec<Discount>,
    payment: Payment,
    #[serde(default)]
    notes: Option<String>,
}

#[allow(dead_code)]
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Customer {
    customer_id: String,
    name: String,
    email: String,
    tier: String,
    member_since: String,
}

#[allow(dead_code)]
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    sku: String,
    name: String,
    quantity: u32,
    unit_price: f64,
    category: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[allow(dead_code)]
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Address {
    name: String,
    line1: String,
    #[serde(default)]
    line2: Option<String>,
    city: String,
    #[serde(default)]
    region: Option<String>,
    postal_code: String,
    country: String,
}

#[derive(serde::Deserialize)]
struct Shipping {
    method: String,
    cost: f64,
}

#[derive(serde::Deserialize)]
struct Discount {
    code: String,
    percent: f64,
}

#[allow(dead_code)]
#[derive(serde::Deserialize)]
struct Payment {
    method: String,
    status: String,
    last4: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderPriced<'a> {
    order_id: &'a str,
    customer_id: &'a str,
    event_id: &'a str,
    currency: &'a str,
    item_count: u32,
    subtotal_cents: i64,
    discount_cents: i64,
    shipping_cents: i64,
    tax_cents: i64,
    total_cents: i64,
    discount_codes: Vec<&'a str>,
    ship_to_country: &'a str,
    shipping_method: &'a str,
}

fn cents(amount: f64, what: &str) -> Result<i64, String> {
    if !amount.is_finite() || amount < 0.0 {
        return Err(format!("{what} is not a non-negative amount: {amount}"));
    }
    Ok((amount * 100.0).round() as i64)
}

/// VAT in basis points for the countries the shop ships to with tax included; others pay none here.
fn tax_rate_bp(country: &str) -> i64 {
    match country {
        "DE" => 1900,
        "FR" | "GB" | "AT" => 2000,
        "NL" | "BE" | "ES" => 2100,
        "IT" => 2200,
        _ => 0,
    }
}

/// Prices the order in an OrderPlaced event: `(source, detail-type, detail JSON)` of the
/// OrderPriced event to emit, or why the order cannot be priced.
pub fn price(payload: &[u8]) -> Result<(String, String, String), String> {
    let event: OrderEvent = serde_json::from_slice(payload).map_err(|e| format!("not an order event: {e}"))?;
    let order = &event.detail;
    if order.items.is_empty() {
        return Err(format!("order {} has no items", order.order_id));
    }
    if order.currency.len() != 3 {
        return Err(format!("order {} has an invalid currency `{}`", order.order_id, order.currency));
    }

    let mut subtotal = 0i64;
    let mut item_count = 0u32;
    for item in &order.items {
        if item.quantity == 0 {
            return Err(format!("order {} item {} has quantity 0", order.order_id, item.sku));
        }
        subtotal += cents(item.unit_price, &item.sku)? * i64::from(item.quantity);
        item_count += item.quantity;
    }
    // Discounts add up, capped at half the subtotal; gold customers get 5% more.
    let mut percent: f64 = order.discounts.iter().map(|d| d.percent).sum();
    if order.customer.tier == "gold" {
        percent += 5.0;
    }
    let discount = ((subtotal as f64) * percent.clamp(0.0, 50.0) / 100.0).round() as i64;
    let shipping = cents(order.shipping.cost, "shipping")?;
    let taxable = subtotal - discount + shipping;
    let tax = (taxable * tax_rate_bp(&order.shipping_address.country) + 5000) / 10_000;

    let priced = OrderPriced {
        order_id: &order.order_id,
        customer_id: &order.customer.customer_id,
        event_id: &event.id,
        currency: &order.currency,
        item_count,
        subtotal_cents: subtotal,
        discount_cents: discount,
        shipping_cents: shipping,
        tax_cents: tax,
        total_cents: taxable + tax,
        discount_codes: order.discounts.iter().map(|d| d.code.as_str()).collect(),
        ship_to_country: &order.shipping_address.country,
        shipping_method: &order.shipping.method,
    };
    let detail = serde_json::to_string(&priced).map_err(|e| e.to_string())?;
    Ok(("shop.pricing".to_string(), "OrderPriced".to_string(), detail))
}
