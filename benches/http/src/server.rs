//! The server under test: a release-build `shiplog serve` on a throwaway database, its address,
//! and the CPU time it has used (from `/proc`, so every thread it ever ran is counted).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The token the server makes for `admin` on its first start.
pub const TOKEN: &str = "shiplog_bench_http_000000000000000000000000000000";

pub struct Server {
    child: Child,
    pub address: String,
}

impl Server {
    /// Starts `binary serve` on `database_url` on a port the system picks, with the default
    /// worker count, and waits until it listens.
    /// Its log (the access log at the default level) goes to `log`, as a deployment's would go
    /// to a file or journal rather than a terminal.
    pub fn start(binary: &Path, database_url: &str, log: &Path) -> Result<Server, String> {
        let log = std::fs::File::create(log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut child = Command::new(binary)
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("SHIPLOG_LISTEN", "127.0.0.1:0")
            .env("SHIPLOG_BOOTSTRAP_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        break rest.trim().to_owned();
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{} exited before listening", binary.display()));
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Server { child, address })
    }

    /// User plus system CPU time the server process has used so far.
    pub fn cpu(&self) -> Duration {
        process_cpu(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time of this process (the load generator).
pub fn own_cpu() -> Duration {
    process_cpu("/proc/self/stat")
}

/// utime + stime from a `/proc/…/stat` file, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
fn process_cpu(path: &str) -> Duration {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Duration::ZERO;
    };
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let Some(rest) = text.rsplit(')').next() else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of the file, so utime (14) and stime (15) are 11 and 12 here.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// A `perf record` of the server for as long as this lives (for `--perf`).
pub struct Profiler(Child);

impl Profiler {
    pub fn start(server: &Server, output: &Path) -> Option<Profiler> {
        if let Some(dir) = output.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // Frame pointers are off in the release build, so `-g` sees only the sampled function;
        // SHIPLOG_BENCH_PERF_CALL_GRAPH=dwarf,16384 (at a lower rate) records whole stacks.
        let (call_graph, frequency) = match std::env::var("SHIPLOG_BENCH_PERF_CALL_GRAPH") {
            Ok(mode) => (format!("--call-graph={mode}"), "499"),
            Err(_) => ("-g".to_string(), "1999"),
        };
        let child = Command::new("perf")
            .args(["record", "-q", "-F", frequency, &call_graph, "-p"])
            .arg(server.child.id().to_string())
            .arg("-o")
            .arg(output)
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| eprintln!("bench-http: cannot run perf: {e}"))
            .ok()?;
        // The load starts once perf has attached: it creates its output file when it does.
        let _ = std::fs::remove_file(output);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !output.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(Profiler(child))
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        // SIGINT makes perf write its file and exit; it is our own child.
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}
