//! Scale of the monitoring loop: 2,000 checked endpoints at a 10-second interval.
//!
//! Not a criterion bench: it runs the real scheduler, state machine and history writer for
//! `MONITOR_BENCH_SECS` (default 60) seconds after one warm-up interval and reports the CPU
//! share of one core (utime + stime from /proc/self/stat) and the peak RSS (VmHWM from
//! /proc/self/status) of this process.
//!
//! The mock endpoints run in a child process (this binary re-executed with
//! `MONITOR_BENCH_ROLE=server`): one axum server on 127.0.0.1 with a route per endpoint
//! (`/p/{n}/time`), so their CPU is not counted. Checks run through a lightweight HTTP runner
//! (a pooled reqwest client, the same judging and recording as the pipeline runner), not the
//! full pipeline: see docs/BENCHMARKS.md.
//!
//! With `MONITOR_BENCH_RUNNER=pipeline` the checks go through the full call pipeline instead
//! (`PipelineRunner`: one custom provider per endpoint registered in the catalog, retry, rate
//! limiter, signing with scheme "none", send, the `calls` recorder, transform).
//!
//! `cargo bench -p keyward --bench monitor_scale`
//! Knobs: MONITOR_BENCH_ENDPOINTS (2000), MONITOR_BENCH_INTERVAL_SECS (10),
//! MONITOR_BENCH_SECS (60), MONITOR_BENCH_RUNNER (http | pipeline).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward::clock::SystemClock;
use keyward::monitor::{
    BoxFuture, CheckConfig, CheckRunner, Monitor, MonitorEvent, MonitorOptions, NewCheck, Probe, SchedulerOptions,
};
use keyward::store::Store;
use tokio_util::sync::CancellationToken;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// GET {base}/p/{provider}/time, JSON body.
struct HttpRunner {
    client: reqwest::Client,
    base: String,
}

impl CheckRunner for HttpRunner {
    fn run<'a>(&'a self, check: &'a CheckConfig) -> BoxFuture<'a, Probe> {
        Box::pin(async move {
            let started = Instant::now();
            let url = format!("{}/p/{}/time", self.base, check.provider);
            match self.client.get(&url).send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes().await {
                        Ok(body) => {
                            let latency = started.elapsed();
                            match serde_json::from_slice::<serde_json::Value>(&body) {
                                Ok(v) => Probe::ok(status, latency, Some(v)),
                                Err(e) => Probe::failed("badResponse", e.to_string(), latency),
                            }
                        }
                        Err(e) => Probe::failed("network", e.to_string(), started.elapsed()),
                    }
                }
                Err(e) => {
                    Probe::failed(if e.is_timeout() { "timeout" } else { "network" }, e.to_string(), started.elapsed())
                }
            }
        })
    }
}

fn server() {
    use axum::extract::Path;
    use axum::routing::get;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    rt.block_on(async {
        async fn time(Path(p): Path<String>) -> axum::Json<serde_json::Value> {
            axum::Json(serde_json::json!({"serverTime": chrono::Utc::now().timestamp_millis(), "endpoint": p}))
        }
        let app =
            axum::Router::new().route("/p/{provider}/time", get(time)).route("/p/{provider}/api/v3/time", get(time));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("{}", listener.local_addr().expect("addr").port());
        // Exit when the parent closes our stdin.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            std::process::exit(0);
        });
        axum::serve(listener, app).await.expect("serve");
    });
}

/// (utime + stime) of this process in seconds.
fn cpu_seconds(ticks_per_sec: f64) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(14) + ticks(15)) / ticks_per_sec
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn main() {
    if std::env::var("MONITOR_BENCH_ROLE").as_deref() == Ok("server") {
        server();
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful: run a short
    // smoke version there.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let endpoints = env_num("MONITOR_BENCH_ENDPOINTS", if smoke { 50 } else { 2000 }) as i64;
    let interval = Duration::from_secs(env_num("MONITOR_BENCH_INTERVAL_SECS", if smoke { 1 } else { 10 }));
    let measure = Duration::from_secs(env_num("MONITOR_BENCH_SECS", if smoke { 2 } else { 60 }));
    let ticks = clock_ticks();

    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .env("MONITOR_BENCH_ROLE", "server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the mock server");
    let mut port = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut port).expect("read port");
    let base = format!("http://127.0.0.1:{}", port.trim());

    let pipeline_mode = std::env::var("MONITOR_BENCH_RUNNER").as_deref() == Ok("pipeline");
    let dir = tempfile::tempdir().expect("tempdir");
    let kw =
        keyward::Keyward::open_with_secrets(dir.path(), Arc::new(keyward::vault::MemoryStore::new())).expect("open");
    let store: Store = kw.store().clone();
    let monitor = Monitor::open(store.clone(), Arc::new(SystemClock), MonitorOptions::default()).expect("monitor");
    if pipeline_mode {
        for n in 0..endpoints {
            let id = format!("endpoint-{n:04}");
            let spec = format!(
                "id = \"{id}\"\nname = \"Endpoint {n}\"\nkind = \"exchange\"\nfamily = \"binance\"\n\
                 health_check = \"server_time\"\n[environments.production]\nbase_url = \"{base}/p/{id}\"\n\
                 [auth]\nscheme = \"none\"\n[retry]\nmax_attempts = 1\n\
                 [endpoints.server_time]\npath = \"/api/v3/time\"\n"
            );
            kw.providers().import_toml(&spec).expect("register the endpoint as a provider");
        }
    }
    let mut checks = Vec::new();
    for n in 0..endpoints {
        let mut c = NewCheck::operation(&format!("endpoint-{n:04}"), "server_time").with_interval(interval);
        c.timeout = Duration::from_secs(5);
        checks.push(monitor.add_check(c).expect("add check"));
    }

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (done, ok, cpu, wall) = rt.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let runner: Arc<dyn CheckRunner> = if pipeline_mode {
            Arc::new(keyward::monitor::PipelineRunner::new(kw.pipeline().clone()))
        } else {
            Arc::new(HttpRunner { client, base: base.clone() })
        };
        let completed = Arc::new(AtomicU64::new(0));
        let passed = Arc::new(AtomicU64::new(0));
        let mut rx = monitor.subscribe();
        {
            let (completed, passed) = (Arc::clone(&completed), Arc::clone(&passed));
            tokio::spawn(async move {
                loop {
                    match rx.recv().await {
                        Ok(MonitorEvent::CheckCompleted { ok, .. }) => {
                            completed.fetch_add(1, Ordering::Relaxed);
                            if ok {
                                passed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    }
                }
            });
        }
        let cancel = CancellationToken::new();
        let handle = monitor.spawn(checks, runner, SchedulerOptions::default(), cancel.clone());
        // Warm-up: one full interval, so every check has run once and connections are pooled.
        tokio::time::sleep(interval + Duration::from_secs(1)).await;
        let (c0, p0) = (completed.load(Ordering::Relaxed), passed.load(Ordering::Relaxed));
        let cpu0 = cpu_seconds(ticks);
        let t0 = Instant::now();
        tokio::time::sleep(measure).await;
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds(ticks) - cpu0;
        let done = completed.load(Ordering::Relaxed) - c0;
        let ok = passed.load(Ordering::Relaxed) - p0;
        handle.stop().await;
        (done, ok, cpu, wall)
    });
    monitor.flush();
    let rows: i64 =
        store.with_conn(|c| Ok(c.query_row("SELECT COUNT(*) FROM check_results", [], |r| r.get(0))?)).expect("count");
    let hwm = status_kb("VmHWM:");
    drop(child.stdin.take());
    let _ = child.wait();

    let expected = endpoints as f64 * wall / interval.as_secs_f64();
    let mode = if pipeline_mode { "pipeline runner" } else { "HTTP runner" };
    println!("monitor_scale ({mode}): {endpoints} endpoints every {} s, measured {wall:.1} s", interval.as_secs());
    println!("  checks completed   {done} ({:.0}/s, expected ~{expected:.0}), {ok} ok", done as f64 / wall);
    println!("  CPU                {cpu:.2} s = {:.2} % of one core", 100.0 * cpu / wall);
    println!("  peak RSS (VmHWM)   {:.1} MB", hwm as f64 / 1024.0);
    println!("  check_results rows {rows}");
    if smoke {
        assert!(done > 0, "the smoke run completed no checks");
    }
}
