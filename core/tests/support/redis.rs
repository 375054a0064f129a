//! Real Redis servers for the integration tests: a standalone `redis-server`
//! and a three-master Redis Cluster (with replicas for failover tests:
//! [`RedisCluster::start_with`]), each started on free loopback ports.
//!
//! ```ignore
//! mod support;
//! use support::redis::{server_or_skip, shared_cluster, shared_server, unique_prefix};
//!
//! #[test]
//! fn counts_hits() {
//!     let Some(redis) = shared_server() else { return }; // one server per test binary
//!     let prefix = unique_prefix("hits"); // tests on a shared server keep to their own keys
//!     // ... RedisStore::connect(&redis.url()) ...
//! }
//!
//! #[test]
//! fn fails_closed_while_redis_hangs() {
//!     let Some(mut redis) = server_or_skip() else { return }; // this test's own server
//!     redis.pause(); // accepts TCP, never answers
//!     // ...
//!     redis.resume();
//! }
//! ```
//!
//! Guarantees:
//!
//! - Every server binds 127.0.0.1 only, on a port that was free, without
//!   persistence (`--save ''`, `--appendonly no`), in its own temporary
//!   directory (which also holds its log, `redis.log`).
//! - No orphan process. Each `redis-server` runs under a small `sh` watchdog
//!   that reads a pipe whose only writer is this test process. However the
//!   process ends (return, panic, SIGKILL), the kernel closes the pipe; the
//!   watchdog then kills the server with SIGKILL, reaps it and removes its
//!   directory. The shared servers live in statics, which Rust never drops, and
//!   rely on this; the others are also killed when dropped.
//! - Skip policy: when `redis-server` or `redis-cli` is not on `PATH`, the
//!   constructors return `None` after printing `SKIP: redis-server not found
//!   (...)` to stderr, and the test returns early. With `CI=true` they panic
//!   instead: CI must run these tests (`make redis` installs Redis).
//! - Anything else that goes wrong (a server that does not start, a cluster
//!   that does not reach `cluster_state:ok`) panics, with the server's log.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The number of hash slots of a Redis Cluster.
pub const CLUSTER_SLOTS: u16 = 16384;

/// How long a server may take to answer after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `redis-cli --cluster create` and the wait for `cluster_state:ok` may take.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);
/// Connect, read and write timeout of [`RedisServer::command`].
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// How many fresh ports a start tries when another process takes the port first.
const PORT_ATTEMPTS: usize = 5;
/// A cluster node's `cluster-node-timeout` in milliseconds; clusters with
/// replicas for failover tests take a shorter one ([`RedisCluster::start_with`]).
pub const NODE_TIMEOUT_MS: u32 = 3000;

/// The watchdog: starts the server (`$2...`) in the background, prints its pid,
/// then blocks reading its stdin. A line `keep` (sent by `stop`) or end of file
/// (this process closed the pipe or died) kills and reaps the server; only end
/// of file also removes the server's directory (`$1`). SIGPIPE is ignored so a
/// reader that died before reading the pid cannot kill the watchdog first;
/// INT, TERM and HUP (Ctrl-C or `timeout` signal the whole process group) are
/// ignored once the server runs, so the watchdog stays to clean up after the
/// test process, which they end.
const WATCHDOG: &str = r#"trap '' PIPE
dir=$1
shift
"$@" >>"$dir/redis.log" 2>&1 </dev/null &
pid=$!
trap '' INT TERM HUP
echo "$pid"
IFS= read -r line
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ "$line" = keep ] || rm -rf "$dir"
"#;

/// The watchdog of a command that ends by itself (`redis-cli --cluster
/// create`): runs `$@`, exits with its status, and kills it if its stdin ends
/// first (this process died, or gave up on it), so it cannot outlive the test.
const COMMAND_WATCHDOG: &str = r#"trap '' PIPE INT TERM HUP
exec 3<&0
"$@" </dev/null &
pid=$!
{ IFS= read -r line <&3; kill -KILL "$pid" 2>/dev/null; } &
watcher=$!
exec 3<&-
wait "$pid"
status=$?
kill -KILL "$watcher" 2>/dev/null
exit "$status"
"#;

// ---------------------------------------------------------------------------
// Tools and the skip policy
// ---------------------------------------------------------------------------

/// Paths of the Redis programs found on `PATH`, and the server's major version.
#[derive(Debug, Clone)]
struct Tools {
    server: PathBuf,
    cli: PathBuf,
    major: u32,
}

/// Looks `redis-server` and `redis-cli` up in `path` (a `PATH` value):
/// `(server, cli)`, or an error naming what is missing.
pub fn find_tools(path: Option<OsString>) -> Result<(PathBuf, PathBuf), String> {
    let find = |name: &str| {
        let path = path.as_ref()?;
        std::env::split_paths(path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    };
    match (find("redis-server"), find("redis-cli")) {
        (Some(server), Some(cli)) => Ok((server, cli)),
        (server, cli) => {
            let missing: Vec<&str> = [
                ("redis-server", server.is_none()),
                ("redis-cli", cli.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            Err(format!("{} not on PATH", missing.join(" and ")))
        }
    }
}

fn tools() -> Result<&'static Tools, String> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    TOOLS
        .get_or_init(|| {
            let (server, cli) = find_tools(std::env::var_os("PATH"))?;
            let major = server_major_version(&server);
            Ok(Tools { server, cli, major })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// `redis-server --version` prints `Redis server v=7.0.15 sha=...`.
fn server_major_version(server: &Path) -> u32 {
    Command::new(server)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let version = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
            version.split('.').next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// True when the environment says this is CI (`CI=true`, as CI systems set it;
/// `1` is accepted too).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The skip policy, given why Redis is unusable: panic in CI, otherwise say
/// SKIP on stderr (past libtest's capture, so it shows) and return `None`.
pub fn skip_or_fail<T>(why: &str, ci: bool) -> Option<T> {
    if ci {
        panic!(
            "redis-server not found ({why}) and CI=true: the Redis tests must run in CI; \
             `make redis` installs Redis (apt-get install redis-server)"
        );
    }
    let test = thread::current().name().unwrap_or("this test").to_owned();
    let _ = writeln!(io::stderr(), "{}", skip_message(why, &test));
    None
}

/// The line a skipped test prints.
pub fn skip_message(why: &str, test: &str) -> String {
    format!("SKIP: redis-server not found ({why}; `make redis` installs it): {test}")
}

fn tools_or_skip() -> Option<&'static Tools> {
    match tools() {
        Ok(tools) => Some(tools),
        Err(why) => skip_or_fail(&why, in_ci()),
    }
}

/// True when `redis-server` and `redis-cli` are on `PATH`; otherwise applies
/// the skip policy (SKIP on stderr and false, or a panic in CI), for tests
/// that need the programs but none of the servers here.
pub fn available_or_skip() -> bool {
    tools_or_skip().is_some()
}

// ---------------------------------------------------------------------------
// Shared and fresh instances
// ---------------------------------------------------------------------------

/// A fresh server for this test alone (it may stop, restart or pause it);
/// `None` means skip (see the module's skip policy).
///
/// `let Some(mut redis) = server_or_skip() else { return };`
pub fn server_or_skip() -> Option<RedisServer> {
    RedisServer::start()
}

/// A fresh three-master cluster for this test alone; `None` means skip.
pub fn cluster_or_skip() -> Option<RedisCluster> {
    RedisCluster::start()
}

/// The server shared by every test of this test binary, started on first use
/// and killed when the binary exits. Tests cannot stop or pause it (those take
/// `&mut`); they keep apart by key prefix ([`unique_prefix`]). `None` means skip.
pub fn shared_server() -> Option<&'static RedisServer> {
    static SHARED: OnceLock<RedisServer> = OnceLock::new();
    let tools = tools_or_skip()?;
    Some(SHARED.get_or_init(|| RedisServer::launch(tools, None).unwrap_or_else(|e| panic!("{e}"))))
}

/// The cluster shared by every test of this test binary, started on first use
/// and killed when the binary exits. `None` means skip.
pub fn shared_cluster() -> Option<&'static RedisCluster> {
    static SHARED: OnceLock<RedisCluster> = OnceLock::new();
    let tools = tools_or_skip()?;
    Some(SHARED.get_or_init(|| {
        RedisCluster::launch(tools, 0, NODE_TIMEOUT_MS).unwrap_or_else(|e| panic!("{e}"))
    }))
}

/// A key prefix no other test of this process gets, e.g. `test:hits:4711:3:`.
pub fn unique_prefix(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("test:{tag}:{}:{n}:", std::process::id())
}

// ---------------------------------------------------------------------------
// Ports and directories
// ---------------------------------------------------------------------------

/// A loopback port that was free a moment ago and that this process has not
/// handed out before. Another process may still take it first; starts check
/// who answers and retry on a new port.
fn free_port() -> io::Result<u16> {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..100 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    Err(io::Error::other("no unused loopback port after 100 tries"))
}

/// A free port whose default cluster bus port (`port + 10000`) is free too,
/// for Redis before 7.0, which has no `cluster-port` setting.
fn free_port_with_bus() -> io::Result<u16> {
    for _ in 0..100 {
        let port = free_port()?;
        if let Some(bus) = port.checked_add(10000) {
            if TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_ok() {
                return Ok(port);
            }
        }
    }
    Err(io::Error::other(
        "no loopback port with a free bus port after 100 tries",
    ))
}

fn new_temp_dir() -> io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("bastion-redis-{}-{n}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

// ---------------------------------------------------------------------------
// One watched process
// ---------------------------------------------------------------------------

/// A `redis-server` under its watchdog.
#[derive(Debug)]
struct Watched {
    watchdog: Child,
    /// The write end of the watchdog's stdin; closing it kills the server.
    control: Option<ChildStdin>,
    /// The redis-server's own pid (a child of the watchdog).
    pid: u32,
}

impl Watched {
    fn spawn(dir: &Path, program: &Path, args: &[String]) -> io::Result<Watched> {
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(dir)
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let control = watchdog.stdin.take();
        let mut line = String::new();
        if let Some(stdout) = watchdog.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let mut watched = Watched {
            watchdog,
            control,
            pid: 0,
        };
        watched.pid = line
            .trim()
            .parse()
            .map_err(|_| io::Error::other(format!("the watchdog printed no pid: {line:?}")))?;
        Ok(watched)
    }

    /// Kills the server and waits until it is reaped. `keep_dir` leaves its
    /// directory in place (for a restart).
    fn kill(&mut self, keep_dir: bool) {
        if let Some(mut control) = self.control.take() {
            if keep_dir {
                let _ = control.write_all(b"keep\n");
            }
            // Dropping `control` closes the pipe: the watchdog acts on it.
        }
        let _ = self.watchdog.wait();
    }

    /// True when the server has exited (Linux: its `/proc` entry is gone or a
    /// zombie). Elsewhere always false: callers fall back to their timeout.
    fn has_exited(&self) -> bool {
        match fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => Path::new("/proc/self").exists(),
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "kill -{signal} {} failed: {status:?}",
            self.pid
        );
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.kill(false);
    }
}

// ---------------------------------------------------------------------------
// RedisServer
// ---------------------------------------------------------------------------

/// Why a start failed.
enum StartError {
    /// Another process has the port: try another one.
    PortTaken(String),
    /// Anything else: give up.
    Failed(String),
}

/// One `redis-server` on a loopback port, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    /// `Some` for a cluster node: its cluster bus port.
    bus_port: Option<u16>,
    /// A cluster node's `cluster-node-timeout` (ms).
    node_timeout_ms: u32,
    dir: PathBuf,
    process: Option<Watched>,
    paused: bool,
}

impl RedisServer {
    /// Starts a standalone server on a free loopback port and waits until it
    /// answers. `None` means skip (the tools are missing and this is not CI);
    /// panics if the server cannot be started.
    pub fn start() -> Option<RedisServer> {
        let tools = tools_or_skip()?;
        Some(Self::launch(tools, None).unwrap_or_else(|e| panic!("{e}")))
    }

    /// A standalone server (`node_timeout_ms` `None`) or a cluster node with
    /// that `cluster-node-timeout`.
    fn launch(tools: &Tools, node_timeout_ms: Option<u32>) -> Result<RedisServer, String> {
        let cluster = node_timeout_ms.is_some();
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let io_err = |e: io::Error| format!("cannot prepare a redis-server: {e}");
            let (port, bus_port) = match (cluster, tools.major >= 7) {
                (false, _) => (free_port().map_err(io_err)?, None),
                (true, true) => (
                    free_port().map_err(io_err)?,
                    Some(free_port().map_err(io_err)?),
                ),
                (true, false) => {
                    let port = free_port_with_bus().map_err(io_err)?;
                    (port, Some(port + 10000))
                }
            };
            let dir = new_temp_dir().map_err(io_err)?;
            let mut server = RedisServer {
                port,
                bus_port,
                node_timeout_ms: node_timeout_ms.unwrap_or(NODE_TIMEOUT_MS),
                dir,
                process: None,
                paused: false,
            };
            match server.spawn(tools) {
                Ok(()) => return Ok(server),
                Err(StartError::PortTaken(why)) => last = why,
                Err(StartError::Failed(why)) => return Err(why),
            }
        }
        Err(format!(
            "redis-server found no free port in {PORT_ATTEMPTS} tries; last: {last}"
        ))
    }

    fn args(&self, major: u32) -> Vec<String> {
        let mut args: Vec<String> = [
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            &self.dir.to_string_lossy(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(bus) = self.bus_port {
            args.extend(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                ]
                .map(String::from),
            );
            args.push(self.node_timeout_ms.to_string());
            if major >= 7 {
                args.extend(["--cluster-port".to_owned(), bus.to_string()]);
            }
        }
        args
    }

    /// Spawns the server on `self.port` and waits until *it* (checked by pid)
    /// answers there.
    fn spawn(&mut self, tools: &Tools) -> Result<(), StartError> {
        let watched =
            Watched::spawn(&self.dir, &tools.server, &self.args(tools.major)).map_err(|e| {
                StartError::Failed(format!("cannot run sh and {}: {e}", tools.server.display()))
            })?;
        let pid = watched.pid;
        self.process = Some(watched);
        self.paused = false;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.command(&["INFO", "server"]) {
                Ok(reply) => {
                    let text = reply.text().unwrap_or_default();
                    let answering = text
                        .lines()
                        .find_map(|l| l.strip_prefix("process_id:"))
                        .and_then(|id| id.trim().parse::<u32>().ok());
                    if answering == Some(pid) {
                        return Ok(());
                    }
                    self.kill(true);
                    return Err(StartError::PortTaken(format!(
                        "port {} is answered by another redis-server (pid {answering:?})",
                        self.port
                    )));
                }
                Err(_) if self.process.as_ref().is_some_and(Watched::has_exited) => {
                    self.kill(true);
                    let log = self.log();
                    let why = format!("redis-server exited at start on port {}:\n{log}", self.port);
                    return Err(if log.contains("in use") {
                        StartError::PortTaken(why)
                    } else {
                        StartError::Failed(why)
                    });
                }
                Err(_) if Instant::now() > deadline => {
                    self.kill(true);
                    return Err(StartError::Failed(format!(
                        "redis-server did not answer on port {} within {START_TIMEOUT:?}:\n{}",
                        self.port,
                        self.log()
                    )));
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn kill(&mut self, keep_dir: bool) {
        if let Some(mut process) = self.process.take() {
            process.kill(keep_dir);
        }
        self.paused = false;
    }

    fn running(&self) -> &Watched {
        self.process
            .as_ref()
            .unwrap_or_else(|| panic!("redis-server on port {} is stopped", self.port))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The TCP port; the same across [`restart`](Self::restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The server's pid while it runs; `None` when stopped.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.pid)
    }

    /// True between a start (or restart) and a stop, paused or not.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// True between [`pause`](Self::pause) and [`resume`](Self::resume).
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Kills the server (SIGKILL: no shutdown, no save) and waits until it is
    /// gone: its port refuses connections when this returns. Idempotent.
    pub fn stop(&mut self) {
        self.kill(true);
    }

    /// Starts the server again on the same port (stopping it first if it
    /// runs) and waits until it answers. Its data is gone (no persistence); a
    /// cluster node keeps its identity and slots (`nodes.conf`). Panics if the
    /// port has been taken by another process in the meantime.
    pub fn restart(&mut self) {
        self.stop();
        let tools = tools().unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn(tools) {
                Ok(()) => return,
                Err(StartError::PortTaken(_)) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(100));
                }
                Err(StartError::PortTaken(why) | StartError::Failed(why)) => {
                    panic!("restart on port {} failed: {why}", self.port)
                }
            }
        }
    }

    /// Freezes the server (SIGSTOP): it still accepts TCP connections (the
    /// kernel queues them) but answers nothing until [`resume`](Self::resume).
    pub fn pause(&mut self) {
        self.running().signal("STOP");
        self.paused = true;
    }

    /// Lets a paused server run again (SIGCONT); it then answers what was
    /// queued.
    pub fn resume(&mut self) {
        self.running().signal("CONT");
        self.paused = false;
    }

    /// Sends one command and reads its reply, with [`COMMAND_TIMEOUT`].
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> io::Result<Reply> {
        command_at(self.addr(), args, COMMAND_TIMEOUT)
    }

    /// PING with `timeout` for connect, write and read: `Ok` on PONG.
    pub fn ping(&self, timeout: Duration) -> io::Result<()> {
        match command_at(self.addr(), &["PING"], timeout)? {
            Reply::Status(s) if s == "PONG" => Ok(()),
            other => Err(io::Error::other(format!("PING answered {other:?}"))),
        }
    }

    /// The server's output so far (its log), for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// The server's own directory (its log; `nodes.conf` for a cluster node).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill(false);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// RedisCluster
// ---------------------------------------------------------------------------

/// Three Redis Cluster masters on loopback ports, every slot assigned, and
/// with [`start_with`](Self::start_with) replicas of each master for failover
/// tests; all killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them with
    /// `redis-cli --cluster create`, and waits until every node reports
    /// `cluster_state:ok` with all 16384 slots assigned. `None` means skip;
    /// panics if the cluster cannot be formed.
    pub fn start() -> Option<RedisCluster> {
        Self::start_with(0, NODE_TIMEOUT_MS)
    }

    /// Like [`start`](Self::start), with `replicas` replicas per master
    /// (`3 * (1 + replicas)` nodes, each replica linked to its master before
    /// this returns) and `cluster-node-timeout` `node_timeout_ms`: how long a
    /// master may be unreachable before a replica takes over.
    pub fn start_with(replicas: usize, node_timeout_ms: u32) -> Option<RedisCluster> {
        let tools = tools_or_skip()?;
        Some(Self::launch(tools, replicas, node_timeout_ms).unwrap_or_else(|e| panic!("{e}")))
    }

    fn launch(
        tools: &Tools,
        replicas: usize,
        node_timeout_ms: u32,
    ) -> Result<RedisCluster, String> {
        let nodes = (0..3 * (1 + replicas))
            .map(|_| RedisServer::launch(tools, Some(node_timeout_ms)))
            .collect::<Result<Vec<_>, _>>()?;
        let cluster = RedisCluster { nodes };
        let out_path = cluster.nodes[0].dir.join("cluster-create.log");
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(
            cluster
                .nodes
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.port)),
        );
        args.extend([
            "--cluster-replicas".to_owned(),
            replicas.to_string(),
            "--cluster-yes".to_owned(),
        ]);
        let status = run_watched(&tools.cli, &args, &out_path, CLUSTER_TIMEOUT)
            .map_err(|e| format!("redis-cli --cluster create: {e}"))?;
        if !status.is_some_and(|s| s.success()) {
            let output = fs::read_to_string(&out_path).unwrap_or_default();
            return Err(format!(
                "redis-cli --cluster create failed ({status:?}):\n{output}"
            ));
        }
        cluster.wait_ready(CLUSTER_TIMEOUT, false)?;
        if replicas > 0 {
            cluster.wait_replicas_linked()?;
        }
        Ok(cluster)
    }

    /// Each running node's role as it says itself (`ROLE`), by index:
    /// `(true, None)` for a master, `(false, Some(master_port))` for a
    /// replica; `None` for a node that is stopped, paused or not answering.
    pub fn role(&self, index: usize) -> Option<(bool, Option<u16>)> {
        let node = &self.nodes[index];
        if !node.is_running() || node.is_paused() {
            return None;
        }
        let Ok(Reply::Array(fields)) = command_at(node.addr(), &["ROLE"], Duration::from_secs(1))
        else {
            return None;
        };
        match fields.as_slice() {
            [Reply::Bulk(kind), ..] if kind == b"master" => Some((true, None)),
            [Reply::Bulk(kind), _, Reply::Int(port), ..] if kind == b"slave" => {
                Some((false, u16::try_from(*port).ok()))
            }
            _ => None,
        }
    }

    /// The indices of the running nodes that are masters now.
    pub fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.role(i) == Some((true, None)))
            .collect()
    }

    /// The index of the replica of the node at `master`.
    pub fn replica_of(&self, master: usize) -> Option<usize> {
        let port = self.nodes[master].port;
        (0..self.nodes.len()).find(|&i| self.role(i) == Some((false, Some(port))))
    }

    fn wait_replicas_linked(&self) -> Result<(), String> {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        loop {
            let down: Vec<u16> = (0..self.nodes.len())
                .filter(|&i| matches!(self.role(i), Some((false, _))))
                .filter(|&i| {
                    let info = self.nodes[i]
                        .command(&["INFO", "replication"])
                        .ok()
                        .and_then(|r| r.text())
                        .unwrap_or_default();
                    !info.contains("master_link_status:up")
                })
                .map(|i| self.nodes[i].port)
                .collect();
            if down.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "replicas on ports {down:?} never linked to their masters"
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the node at `replica` is a master (a failover) and every
    /// running node reports `cluster_state:ok`; returns how long that took.
    /// Panics after a minute.
    pub fn wait_promoted(&self, replica: usize) -> Duration {
        let started = Instant::now();
        loop {
            if self.role(replica) == Some((true, None))
                && self.wait_ready(Duration::ZERO, true).is_ok()
            {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < CLUSTER_TIMEOUT,
                "port {} was not promoted within {CLUSTER_TIMEOUT:?}",
                self.nodes[replica].port
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the nodes (only the running ones with `running_only`)
    /// report `cluster_state:ok`, all slots assigned; one check when
    /// `timeout` is zero.
    fn wait_ready(&self, timeout: Duration, running_only: bool) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let not_ready: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| !running_only || (n.is_running() && !n.is_paused()))
                .filter_map(|node| {
                    let info = node
                        .command(&["CLUSTER", "INFO"])
                        .ok()?
                        .text()
                        .unwrap_or_default();
                    let ok = info.lines().any(|l| l.trim() == "cluster_state:ok")
                        && info
                            .lines()
                            .any(|l| l.trim() == format!("cluster_slots_assigned:{CLUSTER_SLOTS}"))
                        && info.lines().any(|l| {
                            l.trim() == format!("cluster_known_nodes:{}", self.nodes.len())
                        });
                    (!ok).then(|| format!("port {}:\n{info}", node.port))
                })
                .collect();
            // A node that does not answer at all counts as not ready too.
            let answering = self
                .nodes
                .iter()
                .filter(|n| !running_only || (n.is_running() && !n.is_paused()))
                .all(|n| n.command(&["PING"]).is_ok());
            if not_ready.is_empty() && answering {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the cluster did not reach cluster_state:ok within {timeout:?}: {}",
                    not_ready.join("\n")
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every node reports `cluster_state:ok` with all slots
    /// assigned again (e.g. after restarting a node); panics after a minute.
    pub fn wait_until_ok(&self) {
        self.wait_ready(CLUSTER_TIMEOUT, false)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// `redis://127.0.0.1:PORT` of every node, in start order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// Every node, in start order ([`role`](Self::role) says which are masters).
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// One node, to stop, restart or pause it (a fresh cluster only: the
    /// shared one is `&'static` and cannot be changed).
    pub fn node_mut(&mut self, index: usize) -> &mut RedisServer {
        &mut self.nodes[index]
    }

    /// The node that serves `key`'s slot, as the cluster itself says
    /// (`CLUSTER SLOTS`).
    pub fn node_for_key(&self, key: &[u8]) -> &RedisServer {
        let slot = i64::from(key_slot(key));
        let slots = self
            .nodes
            .iter()
            .find_map(|n| n.command(&["CLUSTER", "SLOTS"]).ok())
            .expect("no node answers CLUSTER SLOTS");
        let Reply::Array(ranges) = slots else {
            panic!("CLUSTER SLOTS answered {slots:?}")
        };
        for range in ranges {
            if let Reply::Array(fields) = range {
                if let [Reply::Int(start), Reply::Int(end), Reply::Array(master), ..] =
                    fields.as_slice()
                {
                    if (*start..=*end).contains(&slot) {
                        if let Some(Reply::Int(port)) = master.get(1) {
                            if let Some(node) =
                                self.nodes.iter().find(|n| i64::from(n.port) == *port)
                            {
                                return node;
                            }
                        }
                    }
                }
            }
        }
        panic!("no node of this cluster serves slot {slot}")
    }
}

/// Runs `program` under [`COMMAND_WATCHDOG`], its output to `log`; kills it
/// after `timeout` (`Ok(None)`), or when this process dies.
fn run_watched(
    program: &Path,
    args: &[String],
    log: &Path,
    timeout: Duration,
) -> io::Result<Option<std::process::ExitStatus>> {
    let out = fs::File::create(log)?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(COMMAND_WATCHDOG)
        .arg("sh")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?;
    // Held until the command ends: closing it makes the watchdog kill it.
    let lifeline = child.stdin.take();
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() > deadline {
            drop(lifeline);
            child.wait()?;
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The Redis Cluster hash slot of `key`: CRC16 (XMODEM) of the key, or of
/// its `{hash tag}` when it has a non-empty one, modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let len = rest.iter().position(|&b| b == b'}')?;
            (len > 0).then(|| &rest[..len])
        })
        .unwrap_or(key);
    crc16(hashed) % CLUSTER_SLOTS
}

/// CRC16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster uses.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

// ---------------------------------------------------------------------------
// A minimal RESP2 client
// ---------------------------------------------------------------------------

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR ...`, `-MOVED 1234 127.0.0.1:7001`
    Error(String),
    /// `:42`
    Int(i64),
    /// `$3 foo`
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`
    Nil,
    /// `*2 ...`
    Array(Vec<Reply>),
}

impl Reply {
    /// A status or bulk reply as text.
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// Connects to `addr`, sends one command, reads its reply; `timeout` bounds the
/// connect, the write and each read.
pub fn command_at<A: AsRef<[u8]>>(
    addr: SocketAddr,
    args: &[A],
    timeout: Duration,
) -> io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&encode_command(args))?;
    read_reply(&mut BufReader::new(stream))
}

/// A command as a RESP array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one reply.
pub fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\r\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed mid-reply",
        ));
    }
    line.truncate(line.len() - 2);
    let (kind, rest) = line
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "empty reply line"))?;
    let rest = String::from_utf8_lossy(rest).into_owned();
    let number = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("bad number {s:?}")))
    };
    match kind {
        b'+' => Ok(Reply::Status(rest)),
        b'-' => Ok(Reply::Error(rest)),
        b':' => Ok(Reply::Int(number(&rest)?)),
        b'$' => match usize::try_from(number(&rest)?) {
            Err(_) => Ok(Reply::Nil),
            Ok(len) => {
                let mut data = vec![0; len + 2];
                reader.read_exact(&mut data)?;
                data.truncate(len);
                Ok(Reply::Bulk(data))
            }
        },
        b'*' => match usize::try_from(number(&rest)?) {
            Err(_) => Ok(Reply::Nil),
            Ok(n) => (0..n)
                .map(|_| read_reply(reader))
                .collect::<io::Result<_>>()
                .map(Reply::Array),
        },
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown reply type {:?}", char::from(*other)),
        )),
    }
}
