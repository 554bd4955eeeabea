//! The `zmtp` command-line tool.
//!
//! Today it offers `keygen`-free basics only: `zmtp z85-encode HEX` and
//! `zmtp z85-decode TEXT` for working with keys by hand. The subcommands of
//! the design (recv, send, proxy, keygen, bench, cluster-demo) arrive with
//! the socket layer.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("zmtp: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<String, String> {
    match args {
        [cmd, hex] if cmd == "z85-encode" => {
            let bytes = parse_hex(hex)?;
            zmtp::z85::encode(&bytes).map_err(|e| e.to_string())
        }
        [cmd, text] if cmd == "z85-decode" => {
            let bytes = zmtp::z85::decode(text).map_err(|e| e.to_string())?;
            Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
        }
        _ => Err("usage: zmtp z85-encode HEX | zmtp z85-decode TEXT".into()),
    }
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, String> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return Err(format!("not hex: {hex:?}"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| format!("not hex: {hex:?}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z85_round_trip_through_the_cli() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            run(&args(&["z85-encode", "864fd26fb559f75b"])).unwrap(),
            "HelloWorld"
        );
        assert_eq!(
            run(&args(&["z85-decode", "HelloWorld"])).unwrap(),
            "864fd26fb559f75b"
        );
        assert!(run(&args(&["z85-encode", "86x"])).is_err());
        assert!(run(&args(&[])).is_err());
    }
}
