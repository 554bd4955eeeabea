//! `zmtp keygen`: a fresh CURVE key pair, and `z85-encode`/`z85-decode` for
//! working with keys by hand.
//!
//! ```text
//! $ zmtp keygen
//! public: rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7
//! secret: JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6
//! ```
//!
//! Keys come from `zmtp::CurveKeyPair` with the operating system's random
//! source; a failing random source is an error, not a panic.

use std::io::Write;

use clap::Args;
use zmtp::CurveKeyPair;
use zmtp::mechanism::curve::OsRandom;

use crate::error::CliError;

/// `zmtp keygen`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  zmtp keygen\n  public: <40 Z85 characters>\n  secret: <40 Z85 characters>"
)]
pub struct KeygenArgs {}

/// `zmtp z85-encode HEX`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  zmtp z85-encode 864fd26fb559f75b     # prints HelloWorld")]
pub struct Z85EncodeArgs {
    /// Bytes as hex, a multiple of 4 bytes.
    hex: String,
}

/// `zmtp z85-decode TEXT`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  zmtp z85-decode HelloWorld          # prints 864fd26fb559f75b")]
pub struct Z85DecodeArgs {
    /// Z85 text, a multiple of 5 characters.
    text: String,
}

/// Prints `public: <z85>` and `secret: <z85>`.
pub fn run(_args: &KeygenArgs) -> Result<(), CliError> {
    let pair = CurveKeyPair::generate_with(&mut OsRandom)
        .map_err(|e| CliError::new(format!("generating a key pair: {e}")))?;
    let secret = pair.secret().to_z85();
    let mut out = std::io::stdout().lock();
    writeln!(out, "public: {}", pair.public().to_z85()).map_err(CliError::output)?;
    writeln!(out, "secret: {}", secret.as_str()).map_err(CliError::output)?;
    out.flush().map_err(CliError::output)
}

/// Hex in, Z85 out.
pub fn z85_encode(args: &Z85EncodeArgs) -> Result<(), CliError> {
    let bytes = parse_hex(&args.hex)?;
    let text = zmtp::z85::encode(&bytes).map_err(|e| CliError::new(e.to_string()))?;
    print_line(&text)
}

/// Z85 in, hex out.
pub fn z85_decode(args: &Z85DecodeArgs) -> Result<(), CliError> {
    let bytes = zmtp::z85::decode(&args.text).map_err(|e| CliError::new(e.to_string()))?;
    print_line(&crate::format::hex(&bytes))
}

fn print_line(line: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").map_err(CliError::output)?;
    out.flush().map_err(CliError::output)
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, CliError> {
    let bad = || CliError::new(format!("not hex: {hex:?}"));
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return Err(bad());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parses_strictly() {
        assert_eq!(
            parse_hex("864fd26f").ok(),
            Some(vec![0x86, 0x4f, 0xd2, 0x6f])
        );
        assert!(parse_hex("86x").is_err());
        assert!(parse_hex("8").is_err());
        assert!(parse_hex("é1").is_err());
    }

    #[test]
    fn generated_pairs_are_40_z85_characters_each() {
        let pair = CurveKeyPair::generate_with(&mut OsRandom).expect("random");
        assert_eq!(pair.public().to_z85().len(), 40);
        assert_eq!(pair.secret().to_z85().len(), 40);
    }
}
