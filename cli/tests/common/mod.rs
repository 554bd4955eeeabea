//! Running the built `zmtp` binary from tests: its stdout collected, its
//! stderr streamed line by line, killed when dropped or when it outlives
//! [`WAIT`].

// Each test file uses the part of this it needs.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_zmtp");
pub const WAIT: Duration = Duration::from_secs(30);

/// A running `zmtp`, its stdout collected and its stderr streamed; killed
/// when dropped.
pub struct Zmtp {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stdout_done: mpsc::Receiver<()>,
    stderr_lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: Vec<String>,
}

pub fn zmtp(args: &[&str]) -> Zmtp {
    zmtp_with_stdin(args, None)
}

pub fn zmtp_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Zmtp {
    spawn(command(args), stdin)
}

/// As [`zmtp`], with `RUST_LOG` set to `filter` (the other tests run with
/// it unset, whatever the environment says, so their stderr is the
/// binary's own).
pub fn zmtp_logging(args: &[&str], filter: &str) -> Zmtp {
    let mut command = command(args);
    command.env("RUST_LOG", filter);
    spawn(command, None)
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("RUST_LOG");
    command
}

fn spawn(mut command: Command, stdin: Option<&[u8]>) -> Zmtp {
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, stdout_done) = mpsc::channel();
    {
        let mut pipe = child.stdout.take().unwrap();
        let stdout = stdout.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                stdout.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            let _ = done_tx.send(());
        });
    }
    let (line_tx, stderr_lines) = mpsc::channel();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    {
        let pipe = child.stderr.take().unwrap();
        let stderr = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                stderr.lock().unwrap().push(line.clone());
                let _ = line_tx.send(line);
            }
        });
    }
    Zmtp {
        child,
        stdout,
        stdout_done,
        stderr_lines,
        stderr,
    }
}

impl Zmtp {
    /// The endpoint from the `listening on ...` line.
    pub fn listening(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(ep) = line.strip_prefix("listening on ") {
                        return ep.to_owned();
                    }
                }
                Err(_) => panic!(
                    "no `listening on` line; stderr: {:?}",
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// The port of the `listening on tcp://HOST:PORT` line.
    pub fn port(&self) -> u16 {
        let ep = self.listening();
        ep.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Waits for the exit (killing the child after `WAIT`).
    pub fn finish(mut self) -> Finished {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "zmtp did not exit within {WAIT:?}; stdout {:?}, stderr {:?}",
                    truncated(&self.stdout_now()),
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = self.stdout_done.recv_timeout(Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
        Finished {
            status,
            stdout: self.stdout_now(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    pub fn stdout_now(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Waits until stdout has a line equal to `line`; returns all of stdout.
    pub fn wait_for_line(&self, line: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.stdout_now();
            if out.lines().any(|l| l == line) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "no line {line:?}; stdout {out:?}, stderr {:?}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Zmtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn truncated(s: &str) -> String {
    if s.len() > 300 {
        format!("{}... ({} bytes)", &s[..300], s.len())
    } else {
        s.to_owned()
    }
}

pub fn ok(f: &Finished) {
    assert!(
        f.status.success(),
        "exit {:?}; stdout {:?}; stderr {:?}",
        f.status,
        truncated(&f.stdout),
        f.stderr
    );
}

pub fn run(args: &[&str]) -> Finished {
    zmtp(args).finish()
}

/// A socket file of this process under the temp directory, as an endpoint.
pub fn ipc_path(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("zmtp-cli-{name}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    format!("ipc://{}", path.display())
}
