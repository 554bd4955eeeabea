//! How messages are printed (`--format`) and how command-line text becomes
//! frames (`--frame-separator`).
//!
//! - `text`: the frames' bytes as they are, joined by the separator (`|`).
//!   Bytes are not escaped: a frame holding the separator or a newline
//!   prints ambiguously; use `hex` or `json` for binary data (a ROUTER's
//!   generated routing ids, for one).
//! - `hex`: each frame as lowercase hex, joined by the separator.
//! - `json`: a JSON array with one element per frame: a string when the
//!   frame is valid UTF-8, otherwise an object `{"hex": "<lowercase hex>"}`.
//!   The separator does not apply.
//!
//! Every message is one line, written and flushed at once, so a program
//! reading the output sees each message as it arrives.

use std::io::Write;

use bytes::Bytes;
use clap::ValueEnum;
use zmtp_transport::Message;

use crate::error::CliError;

/// The separator frames are joined and split on unless told otherwise.
pub const DEFAULT_SEPARATOR: &str = "|";

/// An output format for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Frames' bytes as they are, joined by the separator.
    #[default]
    Text,
    /// Frames as lowercase hex, joined by the separator.
    Hex,
    /// A JSON array of frames: strings, or {"hex": "..."} when not UTF-8.
    Json,
}

/// Prints messages one per line on stdout.
#[derive(Debug, Clone)]
pub struct Printer {
    format: Format,
    separator: Vec<u8>,
}

impl Printer {
    /// A printer in `format`, joining frames with `separator`.
    pub fn new(format: Format, separator: &str) -> Self {
        Printer {
            format,
            separator: separator.as_bytes().to_vec(),
        }
    }

    /// Renders one message as a line, without the newline.
    pub fn render(&self, message: &Message) -> Vec<u8> {
        let mut line = Vec::with_capacity(message.size() * 2 + 8);
        match self.format {
            Format::Text | Format::Hex => {
                for (i, frame) in message.frames().iter().enumerate() {
                    if i > 0 {
                        line.extend_from_slice(&self.separator);
                    }
                    if self.format == Format::Text {
                        line.extend_from_slice(frame);
                    } else {
                        line.extend_from_slice(hex(frame).as_bytes());
                    }
                }
            }
            Format::Json => {
                line.push(b'[');
                for (i, frame) in message.frames().iter().enumerate() {
                    if i > 0 {
                        line.push(b',');
                    }
                    match std::str::from_utf8(frame) {
                        Ok(text) => json_string(text, &mut line),
                        Err(_) => {
                            line.extend_from_slice(b"{\"hex\":\"");
                            line.extend_from_slice(hex(frame).as_bytes());
                            line.extend_from_slice(b"\"}");
                        }
                    }
                }
                line.push(b']');
            }
        }
        line
    }

    /// Writes the message as one line and flushes it.
    pub fn print(&self, message: &Message) -> Result<(), CliError> {
        let mut line = self.render(message);
        line.push(b'\n');
        let mut out = std::io::stdout().lock();
        out.write_all(&line).map_err(CliError::output)?;
        out.flush().map_err(CliError::output)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Appends `text` as a JSON string literal.
fn json_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Splits command-line text into frames on `separator` (an empty separator
/// keeps the text as one frame). `a||b` is three frames, the middle empty.
pub fn split_frames(text: &[u8], separator: &[u8]) -> Message {
    if separator.is_empty() {
        return Message::from(Bytes::copy_from_slice(text));
    }
    let mut message = Message::new();
    let mut rest = text;
    while let Some(at) = find(rest, separator) {
        message.push(Bytes::copy_from_slice(&rest[..at]));
        rest = &rest[at + separator.len()..];
    }
    message.push(Bytes::copy_from_slice(rest));
    message
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(frames: &[&[u8]]) -> Message {
        frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()
    }

    #[test]
    fn text_hex_and_json_lines() {
        let m = message(&[b"hello", b"", b"\x00\xff", "é\"\n".as_bytes()]);
        let text = Printer::new(Format::Text, "|").render(&m);
        assert_eq!(text, b"hello||\x00\xff|\xc3\xa9\"\n".to_vec());
        let hex = Printer::new(Format::Hex, "|").render(&m);
        assert_eq!(
            String::from_utf8(hex).ok().as_deref(),
            Some("68656c6c6f||00ff|c3a9220a")
        );
        let json = Printer::new(Format::Json, "|").render(&m);
        assert_eq!(
            String::from_utf8(json).ok().as_deref(),
            Some(r#"["hello","",{"hex":"00ff"},"é\"\n"]"#)
        );
        let control = Printer::new(Format::Json, "|").render(&message(&[b"\x01\\"]));
        assert_eq!(control, br#"["\u0001\\"]"#.to_vec());
    }

    #[test]
    fn a_custom_separator_joins_and_splits() {
        let m = split_frames(b"a::b::", b"::");
        assert_eq!(m.frames(), message(&[b"a", b"b", b""]).frames());
        assert_eq!(
            Printer::new(Format::Text, " / ").render(&m),
            b"a / b / ".to_vec()
        );
        assert_eq!(split_frames(b"a||b", b"|").len(), 3);
        assert_eq!(split_frames(b"", b"|").frames(), message(&[b""]).frames());
        assert_eq!(split_frames(b"a|b", b"").len(), 1);
    }
}
