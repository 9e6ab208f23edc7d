//! Rendering a target's input, beside serde_json parsing the same event.
//!
//! Run with: `make bench-transform` (or `cargo bench -p switchyard --bench transform`).
//!
//! The event is an EventBridge order event of about 1 KB; the template has 10 variables: strings,
//! numbers, a boolean, an object and an array, in value and string positions, and one predefined
//! variable. `serde_json_parse_value` is the cost of serde_json building a `Value` from the same
//! event, which any transform that starts by parsing the event pays before it does anything else.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchyard::transform::{Evaluation, InputTransformer, RenderContext, TargetInput, TargetRef, Transform};

const EVENT: &str = r#"{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "Order Placed",
  "source": "com.example.orders",
  "account": "111122223333",
  "time": "2026-11-22T09:30:00Z",
  "region": "eu-west-1",
  "resources": ["arn:aws:orders:eu-west-1:111122223333:order/ord-20261122-0042"],
  "detail": {
    "order-id": "ord-20261122-0042",
    "status": "PLACED",
    "placed-at": "2026-11-22T09:29:58.123Z",
    "total": 184.97,
    "currency": "EUR",
    "gift": false,
    "customer": {"id": "cus-7781", "tier": "gold", "email": "ada@example.com", "locale": "en-GB"},
    "shipping": {"method": "express", "address": {"city": "Dublin", "country": "IE", "postcode": "D02 X285"}},
    "items": [
      {"sku": "SKU-1001", "name": "Espresso beans 1kg", "qty": 2, "price": 24.50},
      {"sku": "SKU-2040", "name": "Burr grinder", "qty": 1, "price": 129.00},
      {"sku": "SKU-0007", "name": "Descaler", "qty": 1, "price": 6.97}
    ],
    "tags": ["priority", "gift-wrap-none", "newsletter"],
    "notes": "Leave with the concierge if nobody answers; the side door is usually open until six."
  }
}"#;

const TEMPLATE: &str = r#"{
  "order": <order>,
  "status": <status>,
  "total": <total>,
  "summary": "Order <order> for <customer> (<tier>) totals <total> <currency>",
  "gift": <gift>,
  "city": <city>,
  "items": <items>,
  "first_sku": <sku>,
  "rule": <aws.events.rule-name>
}"#;

fn transform(evaluation: Evaluation) -> Transform {
    let paths = [
        ("order", "$.detail.order-id"),
        ("status", "$.detail.status"),
        ("total", "$.detail.total"),
        ("customer", "$.detail.customer.id"),
        ("tier", "$.detail.customer.tier"),
        ("currency", "$.detail.currency"),
        ("gift", "$.detail.gift"),
        ("city", "$.detail.shipping.address.city"),
        ("items", "$.detail.items"),
        ("sku", "$.detail.items[0].sku"),
    ];
    let input = TargetInput {
        input_transformer: Some(InputTransformer {
            input_paths_map: paths.iter().map(|(key, path)| (key.to_string(), path.to_string())).collect(),
            input_template: Some(TEMPLATE.to_string()),
        }),
        ..TargetInput::default()
    };
    Transform::compile_with(&input, TargetRef { rule: "orders", target: "notify" }, evaluation).expect("valid")
}

fn benches(c: &mut Criterion) {
    let context = RenderContext {
        rule_name: "orders",
        rule_arn: "arn:aws:events:eu-west-1:111122223333:rule/orders",
        ingestion_time: "2026-11-22T09:30:00Z",
    };
    let direct = transform(Evaluation::Direct);
    let query = transform(Evaluation::QueryOnly);
    let rendered = direct.render(EVENT.as_bytes(), &context).expect("renders");
    serde_json::from_slice::<serde_json::Value>(&rendered).expect("the output is JSON");

    let mut group = c.benchmark_group(format!("transform_{}B_event_10_variables", EVENT.len()));
    group.throughput(Throughput::Bytes(EVENT.len() as u64));
    group.bench_function("render_input_transformer", |b| {
        b.iter(|| direct.render(black_box(EVENT.as_bytes()), &context).expect("renders"))
    });
    group.bench_function("render_input_transformer_all_paths_by_jsonpath_rust", |b| {
        b.iter(|| query.render(black_box(EVENT.as_bytes()), &context).expect("renders"))
    });
    group.bench_function("serde_json_parse_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(EVENT.as_bytes())).expect("JSON"))
    });
    group.bench_function("serde_json_validate_ignored_any", |b| {
        b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(EVENT.as_bytes())).expect("JSON"))
    });
    group.finish();
}

criterion_group!(transform_benches, benches);
criterion_main!(transform_benches);
