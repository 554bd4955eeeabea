//! The `zmtp` command-line tool: ZeroMQ sockets from the shell, libzmq-style
//! benchmarks and the serializer bridge's cluster demo.
//!
//! Each subcommand lives in its own file; this one parses the command line
//! (clap, derive), runs the subcommand on a tokio runtime where it needs one,
//! and turns every failure into one line on stderr and a non-zero exit:
//!
//! | exit | meaning |
//! |---|---|
//! | 0 | done (`recv -n` got its messages, `send` handed everything to the kernel, ...) |
//! | 1 | a runtime error (bad endpoint, address in use, bad key, a peer refused us, a failed cluster-demo check) |
//! | 2 | the command line does not parse |
//! | 130 | interrupted by Ctrl-C (`recv`, `send`, `monitor`, `bench`) |
//!
//! With `RUST_LOG` set (`RUST_LOG=zmtp_transport=debug`), the transport's
//! link events are logged to stderr through `tracing`.
//!
//! `cluster-demo` runs without a tokio runtime of its own: every
//! `PeerManager` brings its own, and one may not be started inside another.
//! The same holds for the hidden `cluster-node`, one node of
//! `cluster-demo --processes`, which that command starts as a child.

mod bench;
mod cluster_demo;
mod common;
mod error;
mod format;
mod keygen;
mod monitor;
mod progress;
mod proxy;
mod recv;
mod security;
mod send;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// ZeroMQ (ZMTP 3.1) from the command line, in pure Rust.
#[derive(Debug, Parser)]
#[command(name = "zmtp", version, propagate_version = true)]
#[command(after_help = "Run `zmtp <COMMAND> --help` for a command's options and an example.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive messages and print one line per message.
    Recv(recv::RecvArgs),
    /// Send messages given as arguments or read from stdin, one per line.
    Send(send::SendArgs),
    /// Forward messages between a frontend and a backend socket.
    Proxy(proxy::ProxyArgs),
    /// Generate a CURVE key pair and print it in Z85.
    Keygen(keygen::KeygenArgs),
    /// Bind or connect a socket and print its monitor events.
    Monitor(monitor::MonitorArgs),
    /// Throughput and latency tests with libzmq's perf-tool arguments and output.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// A local cluster on the serializer bridge under load, with a worker
    /// killed and restarted (--processes: a process per node and a real
    /// SIGKILL; --partition: a link cut and healed), verified chunk by chunk.
    ClusterDemo(cluster_demo::ClusterDemoArgs),
    /// One node of `cluster-demo --processes` (started by it, not by hand).
    #[command(hide = true)]
    ClusterNode(cluster_demo::NodeArgs),
    /// Encode hex bytes (a multiple of 4) as Z85.
    Z85Encode(keygen::Z85EncodeArgs),
    /// Decode Z85 text to hex bytes.
    Z85Decode(keygen::Z85DecodeArgs),
}

fn main() -> ExitCode {
    install_panic_hook();
    install_log();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}

/// With `RUST_LOG` set (`RUST_LOG=zmtp_transport=debug`, say), the
/// transport's link events (up, down and why, failed handshakes, refusals,
/// reconnects) go to stderr, filtered as `RUST_LOG` says; stdout stays the
/// commands' own. Without it nothing is installed and nothing is logged.
fn install_log() {
    if std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Keygen(args) => keygen::run(&args),
        Command::Z85Encode(args) => keygen::z85_encode(&args),
        Command::Z85Decode(args) => keygen::z85_decode(&args),
        Command::ClusterDemo(args) => cluster_demo::run(&args),
        Command::ClusterNode(args) => cluster_demo::run_node(&args),
        Command::Recv(args) => on_runtime(recv::run(args)),
        Command::Send(args) => on_runtime(send::run(args)),
        Command::Proxy(args) => on_runtime(proxy::run(args)),
        Command::Monitor(args) => on_runtime(monitor::run(args)),
        Command::Bench(command) => on_runtime(bench::run(command)),
    }
}

/// Runs a socket command on a two-thread runtime (the machine size we plan
/// for), then leaves without waiting for stray tasks: whatever had to be
/// delivered was waited for by the command itself (`Socket::close`).
fn on_runtime(
    command: impl std::future::Future<Output = Result<(), CliError>>,
) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("starting the runtime: {e}")))?;
    let result = runtime.block_on(command);
    runtime.shutdown_background();
    result
}

/// clap's errors become one line (`--help` and `--version` print as usual).
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    // The message is the text up to the usage block, its lines joined.
    let text = e.to_string();
    let line = text
        .lines()
        .map(str::trim)
        .take_while(|l| {
            !l.starts_with("Usage:")
                && !l.starts_with("tip:")
                && !l.starts_with("For more information")
        })
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    eprintln!("zmtp: {line} (see --help)");
    ExitCode::from(2)
}

/// A bug must still end in one line on stderr, not a backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("zmtp: internal error{place}: {}", what.replace('\n', " "));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_contract_flags_parse() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("zmtp").chain(args.iter().copied()))
        };
        assert!(
            parse(&[
                "recv",
                "-t",
                "sub",
                "--connect",
                "tcp://127.0.0.1:1",
                "-n",
                "3",
                "--subscribe",
                "a",
                "--format",
                "json"
            ])
            .is_ok()
        );
        assert!(parse(&["send", "-t", "PUSH", "--bind", "ipc://@x", "a|b", "c"]).is_ok());
        assert!(
            parse(&[
                "proxy",
                "--frontend",
                "XSUB@tcp://*:1",
                "--backend",
                "XPUB@tcp://*:2"
            ])
            .is_ok()
        );
        assert!(parse(&["bench", "local-thr", "tcp://127.0.0.1:5555", "64", "1000"]).is_ok());
        assert!(parse(&["keygen"]).is_ok());
        assert!(
            parse(&["recv", "-t", "PULL"]).is_err(),
            "an endpoint is required"
        );
        assert!(parse(&["recv", "-t", "NOPE", "--bind", "tcp://*:1"]).is_err());
    }
}
