//! One hostile-peer attack against one server process, for
//! `benches/hostile.sh`: starts the server, attacks it, checks that a
//! well-behaved peer is still served, and prints one line with the
//! server's memory growth and the outcome.
//!
//! ```text
//! hostile-attack --attack NAME -- SERVER [ARGS...]
//! hostile-attack --list
//! ```
//!
//! The attack appends its server arguments (socket type and options, see
//! `Attack::server_args`) to `SERVER ARGS...`, which must speak the
//! protocol of `tests/src/bin/hostile_server.rs` (it, or
//! `benches/hostile_server.py` for libzmq).

use std::process::ExitCode;

use zmtp_tests::hostile::{Attack, trial};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for attack in Attack::ALL {
            println!("{}", attack.name());
        }
        return ExitCode::SUCCESS;
    }
    let (Some("--attack"), Some(name), Some("--"), Some(program)) = (
        args.first().map(String::as_str),
        args.get(1),
        args.get(2).map(String::as_str),
        args.get(3),
    ) else {
        eprintln!("usage: hostile-attack --attack NAME -- SERVER [ARGS...] | --list");
        return ExitCode::from(2);
    };
    let Some(attack) = Attack::from_name(name) else {
        eprintln!("hostile-attack: unknown attack {name} (--list)");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hostile-attack: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(trial(attack, program, &args[4..])) {
        Ok(trial) => {
            println!("{}", trial.summary());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("attack failed: {e}");
            ExitCode::FAILURE
        }
    }
}
