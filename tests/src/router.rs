//! A `switchyard serve` process for tests, and a raw HTTP/1.1 client (one request per connection,
//! like curl) to talk to it. Everything binds to 127.0.0.1 on ports the kernel picks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::switchyard_bin;

/// A running router; SIGKILLed when dropped if still running.
#[derive(Debug)]
pub struct Router {
    pub child: Child,
    /// `127.0.0.1:port` of the producers' API.
    pub addr: String,
    /// `127.0.0.1:port` of the admin API, when started with one.
    pub admin: Option<String>,
    stderr: PathBuf,
}

/// How to start a router.
#[derive(Debug, Clone, Default)]
pub struct Start {
    pub rules: PathBuf,
    pub data_dir: PathBuf,
    /// More `serve` arguments.
    pub args: Vec<String>,
    pub admin: bool,
    /// A shell prefix run before `exec switchyard` (e.g. `ulimit -f 64;`).
    pub shell_prefix: Option<String>,
    /// Environment variables of the process.
    pub env: Vec<(String, String)>,
}

impl Router {
    pub fn start(start: &Start) -> Router {
        let bin = switchyard_bin();
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--rules".into(),
            start.rules.display().to_string(),
            "--data-dir".into(),
            start.data_dir.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        if start.admin {
            args.extend(["--admin-listen".into(), "127.0.0.1:0".into()]);
        }
        args.extend(start.args.iter().cloned());
        std::fs::create_dir_all(&start.data_dir).expect("data dir");
        let stderr = start.data_dir.join(format!("router-{}.log", std::process::id()));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&stderr).expect("router log");
        let mut command = match &start.shell_prefix {
            None => {
                let mut command = Command::new(&bin);
                command.args(&args);
                command
            }
            Some(prefix) => {
                let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
                let mut command = Command::new("sh");
                command.arg("-c").arg(format!("{prefix} exec '{}' {}", bin.display(), quoted.join(" ")));
                command
            }
        };
        let mut child = command
            .env("SWITCHYARD_LOG", "info")
            .envs(start.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("SWITCHYARD_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("switchyard serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut addr, mut admin) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while addr.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line
                        .strip_prefix("switchyard: listening on http://")
                        .or_else(|| line.strip_prefix("switchyard: listening on https://"))
                    {
                        addr = Some(rest.trim().to_owned());
                    } else if let Some(rest) = line.strip_prefix("switchyard: admin API on http://") {
                        admin = Some(rest.trim().to_owned());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!(
                        "the router did not start ({status:?}); its log:\n{}",
                        std::fs::read_to_string(&stderr).unwrap_or_default()
                    );
                }
            }
        }
        Router { child, addr: addr.unwrap_or_default(), admin, stderr }
    }

    /// What the router logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} failed");
    }

    /// SIGTERM, then waits (at most `within`) for the exit code.
    pub fn stop(mut self, within: Duration) -> Option<i32> {
        self.signal("TERM");
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the router did not stop within {within:?} of SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and reaps the process.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn get(&self, path: &str) -> Response {
        request(&self.addr, "GET", path, &[], b"")
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        request(&self.addr, "POST", path, headers, body)
    }

    pub fn put_events(&self, body: &str) -> Response {
        self.post(
            "/",
            &[("x-amz-target", "AWSEvents.PutEvents"), ("content-type", "application/x-amz-json-1.1")],
            body.as_bytes(),
        )
    }

    /// A metric's value (the first sample whose name and labels start with `name`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let text = self.get("/metrics").text();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    }

    /// Waits until `metric` reaches `value` (at most `within`).
    pub fn wait_metric(&self, metric: &str, within: Duration, ok: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + within;
        loop {
            let value = self.metric(metric).unwrap_or(f64::NAN);
            if ok(value) {
                return value;
            }
            assert!(Instant::now() < deadline, "{metric} is {value} after {within:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The peak resident memory of the process (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An HTTP response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on its own connection. A connection that fails gives status 0.
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    try_request(addr, method, path, headers, body).unwrap_or(Response {
        status: 0,
        headers: Vec::new(),
        body: Vec::new(),
    })
}

pub fn try_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&raw)
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {:?}", String::from_utf8_lossy(&raw))))
}

fn parse(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
    Some(Response { status, headers, body: raw[end + 4..].to_vec() })
}

/// A fresh folder under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("switchyard-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Writes `text` to `dir/name` atomically (a reloader never sees half a file).
pub fn write_file(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}
