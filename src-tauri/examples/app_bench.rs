//! Startup time and idle memory of the desktop app (issue 13; results in docs/BENCHMARKS.md).
//!
//! ```sh
//! make bench-app                                   # release build, 5 launches, 10 idle minutes
//! make bench-app BENCH_ARGS="--runs 3 --idle-minutes 1"             # a quick run
//! xvfb-run -a -s "-screen 0 1280x800x24" scripts/with-keyring.sh \
//!   cargo run -p keyward-desktop --example app_bench -- --app target/release/keyward-desktop
//! ```
//!
//! Each launch gets a fresh data directory with Binance enabled and pointed at a stand-in on
//! 127.0.0.1, so monitoring runs its default checks (every 30 s) and they succeed.
//!
//! - **Startup** (`--runs` launches): tauri-driver and WebKitWebDriver launch the app, as in the
//!   e2e tests. Times are from the kernel's start of the app process (`/proc/PID/stat`, 10 ms
//!   ticks) to its window mapped on the X display (`xwininfo`) and to the dashboard showing the
//!   version from the first IPC answer (`app_info`), read through WebDriver every 10 ms.
//! - **Memory**: the app started directly (no WebDriver), left idle for `--idle-minutes` with
//!   monitoring on, then the proportional set size (`Pss` in `/proc/PID/smaps_rollup`) of the app
//!   and every process under it (WebKit's web and network processes), and where it goes: the
//!   largest mappings of each process by PSS. PSS divides a shared page among the processes
//!   that map it, so another WebKit app running at the same time lowers the figure: measure
//!   alone (the report warns when other WebKit processes run). USS is what only the app holds.
//!
//! A benchmark, not a test: it reports numbers and fails only when the app does not come up.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use fantoccini::{ClientBuilder, Locator};

/// How long the app may take to come up before a run counts as failed.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);
/// How often the window and the page are looked at during startup.
const POLL: Duration = Duration::from_millis(10);
/// The kernel's clock ticks per second for `/proc/PID/stat` start times (USER_HZ on Linux).
const TICKS_PER_SECOND: f64 = 100.0;
/// How many of each process's mappings the memory report lists.
const TOP_MAPPINGS: usize = 8;

#[derive(Parser)]
#[command(about = "Startup time and idle memory of the Keyward desktop app under Xvfb")]
struct Args {
    /// The app binary: the release build, or the installed /usr/bin/keyward-desktop.
    #[arg(long)]
    app: PathBuf,
    /// Launches to time (each with a fresh data directory).
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// How long the app idles, monitoring on, before its memory is read.
    #[arg(long, default_value_t = 10.0)]
    idle_minutes: f64,
    /// How often the memory is printed while the app idles, in seconds.
    #[arg(long, default_value_t = 60)]
    sample_seconds: u64,
    /// An environment variable for the app, NAME=VALUE (repeatable), e.g. to compare settings.
    #[arg(long = "env", value_parser = parse_env)]
    envs: Vec<(String, String)>,
    /// tauri-driver (default: .tools/bin/tauri-driver, as `make test` installs it).
    #[arg(long, env = "TAURI_DRIVER")]
    tauri_driver: Option<PathBuf>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("--env {s:?} is not NAME=VALUE")),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let app = args.app.canonicalize().with_context(|| format!("--app {}", args.app.display()))?;
    if std::env::var_os("DISPLAY").is_none() {
        bail!("no DISPLAY: run under xvfb-run (make bench-app does)");
    }
    let driver = args.tauri_driver.clone().unwrap_or_else(|| workspace_root().join(".tools/bin/tauri-driver"));
    if !driver.is_file() {
        bail!("tauri-driver not found at {}; `make test` installs it (or pass --tauri-driver)", driver.display());
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (mock, checks) = mock_binance().await?;
    println!("app: {} ({:.1} MB)", app.display(), file_mb(&app));
    println!("environment for the app: {:?}", args.envs);

    println!("\n## startup ({} launches through tauri-driver)\n", args.runs);
    println!("| run | window mapped | first IPC answer rendered |");
    println!("|---|---|---|");
    let (mut mapped, mut rendered) = (Vec::new(), Vec::new());
    for run in 1..=args.runs {
        let data = tempfile::tempdir()?;
        prepare(data.path(), &mock)?;
        let (m, r) = startup(&app, &driver, data.path(), &args.envs).await.with_context(|| format!("run {run}"))?;
        println!("| {run} | {:.2} s | {:.2} s |", m.as_secs_f64(), r.as_secs_f64());
        mapped.push(m);
        rendered.push(r);
    }
    if args.runs > 0 {
        println!("| median | {:.2} s | {:.2} s |", median(&mut mapped), median(&mut rendered));
    }

    println!("\n## memory after {} idle minutes, monitoring on\n", args.idle_minutes);
    let data = tempfile::tempdir()?;
    prepare(data.path(), &mock)?;
    let before = checks.load(Ordering::Relaxed);
    idle_memory(&app, data.path(), &args).await?;
    println!(
        "\nthe stand-in answered {} monitoring requests while the app idled",
        checks.load(Ordering::Relaxed) - before
    );
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn file_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0)
}

fn median(values: &mut [Duration]) -> f64 {
    values.sort_unstable();
    values[values.len() / 2].as_secs_f64()
}

/// A stand-in for Binance's public endpoints (health check, system status, published limits)
/// that counts the requests it answers.
async fn mock_binance() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    use axum::routing::get;
    use axum::Json;
    use serde_json::json;
    let count = Arc::new(AtomicU64::new(0));
    let counted = count.clone();
    let app = axum::Router::new()
        .route("/api/v3/time", get(|| async { Json(json!({"serverTime": chrono::Utc::now().timestamp_millis()})) }))
        .route("/sapi/v1/system/status", get(|| async { Json(json!({"status": 0, "msg": "normal"})) }))
        .route(
            "/api/v3/exchangeInfo",
            get(|| async {
                Json(json!({"timezone": "UTC", "symbols": [], "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}
                ]}))
            }),
        )
        .layer(axum::middleware::from_fn(move |req, next: axum::middleware::Next| {
            counted.fetch_add(1, Ordering::Relaxed);
            async move { next.run(req).await }
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, count))
}

/// A data directory whose Binance is enabled and answered by the stand-in at `mock`.
fn prepare(data_dir: &Path, mock: &str) -> anyhow::Result<()> {
    let kw = keyward::Keyward::open(data_dir)?;
    kw.providers().set("binance", &[("environments.production.base_url", mock)])?;
    kw.providers().set_enabled("binance", true)?;
    Ok(())
}

/// The app's processes: started in their own process group, ended with it.
struct Group(Child);

impl Group {
    fn spawn(mut command: Command) -> anyhow::Result<Self> {
        let child = command.process_group(0).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        Ok(Self(child))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

fn app_env(command: &mut Command, data_dir: &Path, envs: &[(String, String)]) {
    command
        .env(keyward::DATA_DIR_ENV, data_dir)
        .env(keyward::service::GATEWAY_PORT_ENV, "0")
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
}

/// One launch through tauri-driver: (window mapped, first IPC answer rendered), each from the
/// start of the app process.
async fn startup(
    app: &Path,
    driver: &Path,
    data_dir: &Path,
    envs: &[(String, String)],
) -> anyhow::Result<(Duration, Duration)> {
    let port = free_port()?;
    let mut command = Command::new(driver);
    command.args(["--port", &port.to_string(), "--native-port", &free_port()?.to_string()]);
    app_env(&mut command, data_dir, envs);
    let group = Group::spawn(command)?;
    let deadline = Instant::now() + STARTUP_LIMIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            bail!("tauri-driver did not listen on port {port}");
        }
        tokio::time::sleep(POLL).await;
    }
    let watch = WindowWatch::start();
    let caps = serde_json::json!({"browserName": "wry", "tauri:options": {"application": app}});
    let serde_json::Value::Object(caps) = caps else { bail!("capabilities are an object") };
    let mut builder = ClientBuilder::rustls()?;
    builder.capabilities(caps);
    let client = tokio::time::timeout(STARTUP_LIMIT, builder.connect(&format!("http://127.0.0.1:{port}")))
        .await
        .map_err(|_| anyhow!("no WebDriver session within {STARTUP_LIMIT:?}"))??;
    let rendered = loop {
        if let Ok(el) = client.find(Locator::Css("[data-testid=info-version]")).await {
            if el.text().await.is_ok_and(|t| t == keyward::VERSION) {
                break Instant::now();
            }
        }
        if Instant::now() > deadline {
            bail!("the dashboard did not show version {} within {STARTUP_LIMIT:?}", keyward::VERSION);
        }
        tokio::time::sleep(POLL).await;
    };
    let pid = app_pid(app, group.0.id()).ok_or_else(|| anyhow!("no {} process under tauri-driver", app.display()))?;
    let started = process_start(pid)?;
    let mapped = watch.wait(deadline).await?;
    let _ = client.close().await;
    drop(group);
    Ok((mapped.saturating_duration_since(started), rendered.saturating_duration_since(started)))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Watches the X display for the Keyward window becoming viewable (mapped), from a thread of its
/// own so the page polling does not delay it.
struct WindowWatch {
    seen: Arc<std::sync::Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
}

impl WindowWatch {
    fn start() -> Self {
        let seen = Arc::new(std::sync::Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                if window_viewable() {
                    if let Ok(mut s) = s.lock() {
                        *s = Some(Instant::now());
                    }
                    return;
                }
                std::thread::sleep(POLL);
            }
        });
        Self { seen, stop }
    }

    async fn wait(&self, deadline: Instant) -> anyhow::Result<Instant> {
        loop {
            if let Some(at) = self.seen.lock().ok().and_then(|s| *s) {
                return Ok(at);
            }
            if Instant::now() > deadline {
                bail!("the Keyward window was never mapped");
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for WindowWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Whether a window titled "Keyward" is viewable on the display.
fn window_viewable() -> bool {
    Command::new("xwininfo")
        .args(["-name", "Keyward"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("Map State: IsViewable"))
}

/// `/proc/PID/stat` fields after the command name: state is index 0, so field N is N - 3.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The process running `app` in process group `group`.
fn app_pid(app: &Path, group: u32) -> Option<u32> {
    pids().into_iter().find(|&pid| {
        let in_group = stat_fields(pid).and_then(|f| f.get(2).and_then(|g| g.parse::<u32>().ok())) == Some(group);
        in_group && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == app)
    })
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// When process `pid` started, as an `Instant` (10 ms resolution, like the kernel's record).
fn process_start(pid: u32) -> anyhow::Result<Instant> {
    let ticks: f64 = stat_fields(pid)
        .and_then(|f| f.get(19).and_then(|t| t.parse().ok()))
        .ok_or_else(|| anyhow!("no start time for pid {pid}"))?;
    let now = Instant::now();
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")?
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("/proc/uptime is unreadable"))?;
    let ago = (uptime - ticks / TICKS_PER_SECOND).max(0.0);
    Ok(now - Duration::from_secs_f64(ago))
}

/// The app started directly, idle with monitoring on; its memory printed every
/// `--sample-seconds` and described after `--idle-minutes`.
async fn idle_memory(app: &Path, data_dir: &Path, args: &Args) -> anyhow::Result<()> {
    let mut command = Command::new(app);
    app_env(&mut command, data_dir, &args.envs);
    let launched = Instant::now();
    let group = Group::spawn(command)?;
    let deadline = launched + STARTUP_LIMIT;
    let watch = WindowWatch::start();
    let mapped = watch.wait(deadline).await?;
    println!("window mapped {:.2} s after the launch (no WebDriver)\n", (mapped - launched).as_secs_f64());
    let pid = group.0.id();

    let idle = Duration::from_secs_f64(args.idle_minutes * 60.0);
    let every = Duration::from_secs(args.sample_seconds.max(1));
    println!("| after | total PSS | total USS | total RSS | processes (PSS) |");
    println!("|---|---|---|---|---|");
    let mut at = Duration::ZERO;
    loop {
        let step = every.min(idle - at);
        tokio::time::sleep(step).await;
        at += step;
        let tree = process_tree(pid);
        if tree.is_empty() {
            bail!("the app (pid {pid}) ended while idling");
        }
        let sum = |f: fn(&ProcessMemory) -> u64| mb(tree.iter().map(f).sum());
        let each: Vec<String> = tree.iter().map(|m| format!("{} {:.0} MB", m.name, mb(m.pss_kb))).collect();
        println!(
            "| {:.1} min | {:.0} MB | {:.0} MB | {:.0} MB | {} |",
            at.as_secs_f64() / 60.0,
            sum(|m| m.pss_kb),
            sum(|m| m.uss_kb),
            sum(|m| m.rss_kb),
            each.join(", ")
        );
        if at >= idle {
            break;
        }
    }

    let ours: Vec<u32> = process_tree(pid).iter().map(|m| m.pid).collect();
    let others = pids()
        .into_iter()
        .filter(|p| !ours.contains(p))
        .filter(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.starts_with("WebKit")))
        .count();
    if others > 0 {
        println!("\nWARNING: {others} other WebKit processes run on this machine; they share library pages with the app, so its PSS reads lower than alone");
    }

    println!("\n### where it goes (PSS, MB)\n");
    for process in process_tree(pid) {
        println!(
            "- **{}** (pid {}): PSS {:.1} (anonymous {:.1}, file-backed {:.1}, shared memory {:.1}), USS {:.1}, RSS {:.1}",
            process.name,
            process.pid,
            mb(process.pss_kb),
            mb(process.pss_anon_kb),
            mb(process.pss_file_kb),
            mb(process.pss_shmem_kb),
            mb(process.uss_kb),
            mb(process.rss_kb)
        );
        let top: Vec<String> =
            largest_mappings(process.pid).into_iter().map(|(name, kb)| format!("{name} {:.1}", mb(kb))).collect();
        println!("  largest: {}", top.join("; "));
    }
    drop(group);
    Ok(())
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// One process's memory from `/proc/PID/smaps_rollup`, in kB.
struct ProcessMemory {
    pid: u32,
    name: String,
    pss_kb: u64,
    pss_anon_kb: u64,
    pss_file_kb: u64,
    pss_shmem_kb: u64,
    /// Private pages (Private_Clean + Private_Dirty): what ending the process would free.
    uss_kb: u64,
    rss_kb: u64,
}

/// `pid` and every process under it, each with its memory.
fn process_tree(pid: u32) -> Vec<ProcessMemory> {
    let parents: HashMap<u32, u32> =
        pids().into_iter().filter_map(|p| Some((p, stat_fields(p)?.get(1)?.parse().ok()?))).collect();
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, &pp)| pp == parent).map(|(&p, _)| p));
        i += 1;
    }
    tree.into_iter().filter_map(memory_of).collect()
}

fn memory_of(pid: u32) -> Option<ProcessMemory> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> u64 {
        rollup
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?.trim().to_string();
    Some(ProcessMemory {
        pid,
        name,
        pss_kb: field("Pss"),
        pss_anon_kb: field("Pss_Anon"),
        pss_file_kb: field("Pss_File"),
        pss_shmem_kb: field("Pss_Shmem"),
        uss_kb: field("Private_Clean") + field("Private_Dirty"),
        rss_kb: field("Rss"),
    })
}

/// A process's mappings summed by what they map (a file's name, `[heap]`, or `[anonymous]`),
/// largest PSS first.
fn largest_mappings(pid: u32) -> Vec<(String, u64)> {
    let Ok(smaps) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else { return Vec::new() };
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    let mut current = String::new();
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: address range, perms, offset, device, inode, [path].
            let path = line.split_whitespace().nth(5).unwrap_or("[anonymous]");
            current = Path::new(path).file_name().map_or(path.to_string(), |n| n.to_string_lossy().into_owned());
            if path.starts_with('[') {
                current = path.to_string();
            }
        } else if let Some(kb) = line.strip_prefix("Pss:") {
            *by_name.entry(current.clone()).or_default() +=
                kb.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    let mut sorted: Vec<(String, u64)> = by_name.into_iter().collect();
    sorted.sort_by_key(|(_, kb)| std::cmp::Reverse(*kb));
    sorted.truncate(TOP_MAPPINGS);
    sorted
}
