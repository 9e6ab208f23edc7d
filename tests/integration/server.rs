//! `switchyard serve` as a process: crash safety under SIGKILL, graceful SIGTERM, hot reload,
//! backpressure and bounded memory under overload, and a full disk. Requests are raw HTTP on
//! 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_tests::http_stub::HttpStub;
use switchyard_tests::router::{Router, Start, temp_dir, write_file};

fn wasm(name: &str) -> PathBuf {
    PathBuf::from(env!("SWITCHYARD_WASM_DIR")).join(format!("{name}.wasm"))
}

/// A rules file with one rule per (name, source, module, extra target YAML).
fn rules_yaml(rules: &[(&str, &str, &Path, &str)]) -> String {
    let mut text = String::new();
    for (name, source, module, extra) in rules {
        text.push_str(&format!(
            "- name: {name}\n  event_pattern: {{source: [{source}]}}\n  targets:\n    - id: t\n      module: {}\n{extra}",
            module.display()
        ));
    }
    text
}

fn events_body(ids: &[String], source: &str) -> String {
    let events: Vec<_> = ids
        .iter()
        .map(|id| json!({ "id": id, "source": source, "detail-type": "Test", "detail": { "n": 1 } }))
        .collect();
    serde_json::to_string(&events).unwrap()
}

/// Kills the router with SIGKILL at random moments while producers send events; after every round
/// it restarts on the same data folder. Every event a producer saw acknowledged must reach the
/// consumer's webhook (duplicates are allowed: at least once).
#[test]
fn sigkill_loses_no_acknowledged_event() {
    const ROUNDS: usize = 20;
    let dir = temp_dir("crash");
    let stub = HttpStub::start(200);
    let extra = format!(
        "      config: {{url: \"{}\"}}\n      capabilities: {{http: [\"{}\"]}}\n      retry_policy: {{backoff_base_ms: 10, backoff_cap_ms: 200}}\n",
        stub.url("/hook"),
        stub.authority()
    );
    write_file(&dir, "rules.yaml", &rules_yaml(&[("crash", "crash.test", &wasm("webhook_forwarder"), &extra)]));
    let start = Start { rules: dir.clone(), data_dir: dir.join("data"), ..Start::default() };
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..ROUNDS {
        let router = Router::start(&start);
        let stop = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let (addr, acked, stop) = (router.addr.clone(), acked.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut batch = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let ids: Vec<String> = (0..5).map(|i| format!("r{round}-p{p}-b{batch}-{i}")).collect();
                        batch += 1;
                        let response = switchyard_tests::router::request(
                            &addr,
                            "POST",
                            "/events",
                            &[("content-type", "application/json")],
                            events_body(&ids, "crash.test").as_bytes(),
                        );
                        match response.status {
                            200 => acked.lock().unwrap().extend(ids),
                            0 => break,
                            other => panic!("unexpected answer {other}: {}", response.text()),
                        }
                    }
                })
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(50 + seed % 400));
        router.kill();
        stop.store(true, Ordering::Relaxed);
        for producer in producers {
            producer.join().unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > ROUNDS * 5, "too few events were acknowledged to prove anything: {}", acked.len());
    // The last start delivers whatever the killed ones left.
    let router = Router::start(&start);
    let deadline = Instant::now() + Duration::from_secs(120);
    let missing = loop {
        let delivered: BTreeSet<String> = stub
            .received()
            .iter()
            .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
            .filter_map(|event| event["id"].as_str().map(str::to_owned))
            .collect();
        let missing: Vec<&String> = acked.iter().filter(|id| !delivered.contains(*id)).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.into_iter().cloned().collect::<Vec<_>>();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let received = stub.received().len();
    assert_eq!(router.stop(Duration::from_secs(30)), Some(0));
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events never reached the consumer, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    println!(
        "{ROUNDS} SIGKILL rounds: {} events acknowledged, all delivered; {} deliveries in all ({} duplicates)",
        acked.len(),
        received,
        received - acked.len()
    );
}

/// SIGTERM while a delivery is running: the process stops accepting, lets the attempt end (here a
/// timeout that dead-letters it), and exits 0; the dead letter is there after the next start.
#[test]
fn sigterm_lets_the_attempt_in_progress_end() {
    let dir = temp_dir("sigterm");
    let extra = "      limits: {timeout_ms: 700}\n      retry_policy: {maximum_retry_attempts: 0}\n";
    write_file(&dir, "rules.yaml", &rules_yaml(&[("slow", "slow.test", &wasm("c_sleep"), extra)]));
    let start = Start { rules: dir.clone(), data_dir: dir.join("data"), admin: true, ..Start::default() };
    let router = Router::start(&start);
    let response = router.post("/events", &[], events_body(&["slow-1".into()], "slow.test").as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    router.wait_metric("switchyard_invocation_attempts_total", Duration::from_secs(10), |v| v >= 1.0);
    let stopping = Instant::now();
    let addr = router.addr.clone();
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));
    assert!(stopping.elapsed() < Duration::from_secs(5), "stopping took {:?}", stopping.elapsed());
    assert_eq!(switchyard_tests::router::request(&addr, "GET", "/healthz", &[], b"").status, 0, "still listening");
    let router = Router::start(&start);
    let admin = router.admin.clone().unwrap();
    let letters = switchyard_tests::router::request(&admin, "GET", "/dlq", &[], b"").json();
    assert_eq!(letters["count"], 1, "{letters}");
    assert_eq!(letters["dead_letters"][0]["error_code"], "TIMEOUT", "{letters}");
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));
}

/// Rules reload when a file changes and on SIGHUP; a broken file keeps the old rules serving and
/// says why in /readyz and the metrics.
#[test]
fn rules_reload_on_change_and_sighup_and_survive_a_broken_file() {
    let dir = temp_dir("reload");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    write_file(&rules, "a.yaml", &rules_yaml(&[("a", "src.a", &wasm("c_ok"), "")]));
    let start = Start {
        rules: rules.clone(),
        data_dir: dir.join("data"),
        args: vec!["--reload-interval-ms".into(), "100".into()],
        ..Start::default()
    };
    let router = Router::start(&start);
    let deliveries = |router: &Router, source: &str| {
        let response =
            router.post("/events", &[], events_body(&[format!("{source}-{:?}", Instant::now())], source).as_bytes());
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()["events"][0]["deliveries"].as_u64().unwrap()
    };
    assert_eq!(deliveries(&router, "src.b"), 0);
    write_file(&rules, "b.yaml", &rules_yaml(&[("b", "src.b", &wasm("c_ok"), "")]));
    router.wait_metric("switchyard_rules", Duration::from_secs(10), |v| v == 2.0);
    assert_eq!(deliveries(&router, "src.b"), 1);

    write_file(&rules, "c.yaml", "- name: c\n  event_pattern: {source: src.c}\n  targets: []\n");
    router.wait_metric("switchyard_rules_reload_failing", Duration::from_secs(10), |v| v == 1.0);
    let ready = router.get("/readyz");
    assert_eq!(ready.status, 200, "the old rules still serve");
    let why = ready.json()["last_reload_error"].as_str().unwrap_or_default().to_owned();
    assert!(why.contains("c.yaml:2:") && why.contains("rule c"), "{why}");
    assert_eq!(deliveries(&router, "src.b"), 1, "rule b still serves");
    assert!(router.log().contains("the rules loaded before keep serving"));

    std::fs::remove_file(rules.join("c.yaml")).unwrap();
    router.wait_metric("switchyard_rules_reload_failing", Duration::from_secs(10), |v| v == 0.0);
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));

    // Without polling, SIGHUP reloads.
    let start = Start { args: vec!["--reload-interval-ms".into(), "0".into()], ..start };
    let router = Router::start(&start);
    write_file(&rules, "d.yaml", &rules_yaml(&[("d", "src.d", &wasm("c_ok"), "")]));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(router.metric("switchyard_rules"), Some(2.0), "no reload without a signal");
    router.signal("HUP");
    router.wait_metric("switchyard_rules", Duration::from_secs(10), |v| v == 3.0);
    assert_eq!(deliveries(&router, "src.d"), 1);
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));
}

/// Rules that do not load at start: every problem printed, exit code 1.
#[test]
fn broken_rules_at_start_exit_1_with_every_problem() {
    let dir = temp_dir("badstart");
    write_file(&dir, "a.yaml", "- name: a\n  event_pattern: {source: [x]}\n  targets: []\n");
    write_file(&dir, "b.yaml", "- name: b\n  state: yes\n");
    let output = std::process::Command::new(switchyard_tests::switchyard_bin())
        .args(["serve", "--rules", dir.to_str().unwrap(), "--data-dir", dir.join("data").to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("a.yaml:3:") && stderr.contains("b.yaml:2:"), "{stderr}");
}

/// More pending deliveries than --max-pending: 503 with Retry-After, and the event is not taken.
#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let dir = temp_dir("pending");
    let extra = "      limits: {timeout_ms: 20000, concurrency: 1}\n";
    write_file(&dir, "rules.yaml", &rules_yaml(&[("slow", "slow.test", &wasm("c_sleep"), extra)]));
    let start = Start {
        rules: dir.clone(),
        data_dir: dir.join("data"),
        args: vec!["--max-pending".into(), "2".into(), "--drain-seconds".into(), "0".into()],
        ..Start::default()
    };
    let router = Router::start(&start);
    let body = events_body(&["p-1".into(), "p-2".into()], "slow.test");
    assert_eq!(router.post("/events", &[], body.as_bytes()).status, 200);
    let refused = router.post("/events", &[], events_body(&["p-3".into()], "slow.test").as_bytes());
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(refused.text().contains("2 deliveries are waiting"), "{}", refused.text());
    let refused = router.put_events(r#"{"Entries":[{"Source":"slow.test","DetailType":"x","Detail":"{}"}]}"#);
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["__type"], "InternalException");
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));
}

/// Ten times more concurrent producers than the router admits: the excess is answered 429 with
/// Retry-After, accepted work goes on, and the process's peak memory stays bounded.
#[test]
fn memory_stays_bounded_under_tenfold_overload() {
    let dir = temp_dir("overload");
    write_file(&dir, "rules.yaml", &rules_yaml(&[("ok", "load.test", &wasm("c_ok"), "")]));
    let start = Start {
        rules: dir.clone(),
        data_dir: dir.join("data"),
        args: vec!["--max-in-flight".into(), "4".into()],
        ..Start::default()
    };
    let router = Router::start(&start);
    let detail = "x".repeat(20_000);
    let entries: Vec<_> = (0..10)
        .map(|_| json!({ "Source": "load.test", "DetailType": "Load", "Detail": json!({ "pad": detail }).to_string() }))
        .collect();
    let body = json!({ "Entries": entries }).to_string();
    let before = router.peak_rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, u64>::new()));
    let producers: Vec<_> = (0..40)
        .map(|_| {
            let (addr, body, stop, statuses) = (router.addr.clone(), body.clone(), stop.clone(), statuses.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let response = switchyard_tests::router::request(
                        &addr,
                        "POST",
                        "/",
                        &[("x-amz-target", "AWSEvents.PutEvents"), ("content-type", "application/x-amz-json-1.1")],
                        body.as_bytes(),
                    );
                    if response.status == 429 {
                        assert_eq!(response.header("retry-after"), Some("1"));
                        assert_eq!(response.json()["__type"], "ThrottlingException");
                    }
                    *statuses.lock().unwrap().entry(response.status).or_default() += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, Ordering::Relaxed);
    for producer in producers {
        producer.join().unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    let peak = router.peak_rss_kib();
    println!("overload: answers {statuses:?}; peak RSS {before} KiB before, {peak} KiB after");
    assert!(statuses.get(&200).copied().unwrap_or(0) > 0, "{statuses:?}");
    assert!(statuses.get(&429).copied().unwrap_or(0) > 0, "{statuses:?}");
    assert_eq!(statuses.keys().copied().filter(|s| ![200, 429].contains(s)).count(), 0, "{statuses:?}");
    assert!(peak < 400 * 1024, "peak RSS {peak} KiB");
    assert_eq!(router.stop(Duration::from_secs(30)), Some(0));
}

/// The store's file cannot grow (a file-size limit stands in for a full disk): producers get 503
/// with Retry-After, /readyz says the store is not writable, and everything acknowledged before is
/// delivered after a restart with room again.
#[test]
fn a_full_disk_answers_503_and_loses_nothing_acknowledged() {
    let dir = temp_dir("diskfull");
    let extra = "      limits: {timeout_ms: 20000, concurrency: 1}\n";
    write_file(&dir, "rules.yaml", &rules_yaml(&[("slow", "full.test", &wasm("c_sleep"), extra)]));
    let rules = dir.join("ok-rules");
    std::fs::create_dir_all(&rules).unwrap();
    write_file(&rules, "rules.yaml", &rules_yaml(&[("slow", "full.test", &wasm("c_ok"), "")]));
    // 8 MiB in 512-byte blocks; SIGXFSZ ignored so that writes fail with EFBIG instead.
    let start = Start {
        rules: dir.clone(),
        data_dir: dir.join("data"),
        args: vec!["--drain-seconds".into(), "0".into()],
        shell_prefix: Some("trap '' XFSZ; ulimit -f 16384;".into()),
        ..Start::default()
    };
    let router = Router::start(&start);
    let pad = "y".repeat(60_000);
    let mut acked = Vec::new();
    let mut refused = None;
    for n in 0..2000 {
        let event = json!([{ "id": format!("full-{n}"), "source": "full.test", "detail-type": "Fill", "detail": { "pad": pad } }]);
        let response = router.post("/events", &[], event.to_string().as_bytes());
        match response.status {
            200 => acked.push(format!("full-{n}")),
            503 => {
                refused = Some(response);
                break;
            }
            other => panic!("unexpected {other}: {}", response.text()),
        }
    }
    let refused = refused.expect("the store never filled up");
    assert_eq!(refused.header("retry-after"), Some("1"), "{refused:?}");
    assert!(refused.text().contains("could not be recorded"), "{}", refused.text());
    let ready = router.get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_ne!(ready.json()["store"], "writable");
    router.kill();
    // Room again, and a consumer that succeeds: every acknowledged event is delivered.
    let start = Start { rules, shell_prefix: None, ..start };
    let router = Router::start(&start);
    let delivered =
        router.wait_metric("switchyard_invocations_total", Duration::from_secs(60), |v| v >= acked.len() as f64);
    assert!(delivered >= acked.len() as f64);
    router.wait_metric("switchyard_pending_deliveries", Duration::from_secs(30), |v| v == 0.0);
    println!("full disk after {} acknowledged events; all delivered after the restart", acked.len());
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));
}

/// A delivery waiting for its retry counts in its rule's retry-queue depth, before and after a
/// restart.
#[test]
fn retry_queue_depth_per_rule() {
    let dir = temp_dir("depth");
    let extra = "      retry_policy: {backoff_base_ms: 600000, backoff_cap_ms: 600000}\n";
    write_file(&dir, "rules.yaml", &rules_yaml(&[("flaky", "flaky.test", &wasm("c_retryable"), extra)]));
    let start = Start { rules: dir.clone(), data_dir: dir.join("data"), ..Start::default() };
    let router = Router::start(&start);
    assert_eq!(router.post("/events", &[], events_body(&["f-1".into()], "flaky.test").as_bytes()).status, 200);
    router.wait_metric("switchyard_rule_retry_queue_depth{rule=\"flaky\"}", Duration::from_secs(10), |v| v == 1.0);
    assert_eq!(router.metric("switchyard_retry_queue_depth"), Some(1.0));
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));
    let router = Router::start(&start);
    assert_eq!(router.metric("switchyard_rule_retry_queue_depth{rule=\"flaky\"}"), Some(1.0));
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));
}

/// Settings come from flags, then environment variables, then the config file.
#[test]
fn settings_precedence_flag_env_file() {
    let dir = temp_dir("settings");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    write_file(&rules, "rules.yaml", &rules_yaml(&[("ok", "set.test", &wasm("c_ok"), "")]));
    // The file's paths are relative to the file; it refuses everything (max_pending: 0).
    write_file(&dir, "switchyard.yaml", "rules: rules\ndata_dir: data\nmax_pending: 0\nregion: file-region\n");
    let config = dir.join("switchyard.yaml").display().to_string();
    let status =
        |router: &Router| router.post("/events", &[], events_body(&["s".into()], "set.test").as_bytes()).status;
    let start = |env: Vec<(&str, &str)>, args: Vec<&str>| {
        let mut all = vec!["--config".to_owned(), config.clone()];
        all.extend(args.into_iter().map(str::to_owned));
        Router::start(&Start {
            rules: rules.clone(),
            data_dir: dir.join("data"),
            args: all,
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            ..Start::default()
        })
    };
    // The harness passes --rules and --data-dir too; the file alone decides max_pending.
    let router = start(vec![], vec![]);
    assert_eq!(status(&router), 503, "the file's max_pending: 0");
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));
    let router = start(vec![("SWITCHYARD_MAX_PENDING", "100")], vec![]);
    assert_eq!(status(&router), 200, "the variable beats the file");
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));
    let router = start(vec![("SWITCHYARD_MAX_PENDING", "100")], vec!["--max-pending", "0"]);
    assert_eq!(status(&router), 503, "the flag beats the variable");
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));

    // A config file with an unknown key is refused with its name; --help lists every setting.
    write_file(&dir, "bad.yaml", "max_pendign: 3\n");
    let output = std::process::Command::new(switchyard_tests::switchyard_bin())
        .args(["serve", "--config", dir.join("bad.yaml").to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.yaml") && stderr.contains("max_pendign"), "{stderr}");
    let help =
        std::process::Command::new(switchyard_tests::switchyard_bin()).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for setting in ["--max-pending", "SWITCHYARD_MAX_PENDING", "--config", "--tls-cert", "--tokens", "precedence"] {
        assert!(help.contains(setting), "serve --help does not mention {setting}:\n{help}");
    }
}

/// `--tls-cert`/`--tls-key` serve the producers' API over TLS (rustls): a client that trusts the
/// certificate gets answers; plain HTTP on the same port gets none.
#[test]
fn serves_over_tls() {
    use std::io::{Read, Write};
    use tokio_rustls::rustls;
    let dir = temp_dir("tls");
    write_file(&dir, "rules.yaml", &rules_yaml(&[("ok", "tls.test", &wasm("c_ok"), "")]));
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), certified.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    let start = Start {
        rules: dir.clone(),
        data_dir: dir.join("data"),
        args: vec![
            "--tls-cert".into(),
            dir.join("cert.pem").display().to_string(),
            "--tls-key".into(),
            dir.join("key.pem").display().to_string(),
        ],
        ..Start::default()
    };
    let router = Router::start(&start);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let socket = std::net::TcpStream::connect(&router.addr).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, socket);
    let body = events_body(&["tls-1".into()], "tls.test");
    let request = format!(
        "POST /events HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"deliveries\":1"), "{answer}");
    assert_eq!(router.get("/healthz").status, 0, "plain HTTP is not answered on a TLS port");
    assert_eq!(router.stop(Duration::from_secs(20)), Some(0));
}
