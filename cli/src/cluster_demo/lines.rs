//! What a node process (`zmtp cluster-node`, started by `cluster-demo
//! --processes`) and the parent say to each other: one text line per
//! message, fields separated by tabs, on the child's stdout (node to
//! parent) and stdin (parent to node).
//!
//! A field escapes `\` as `\\`, a tab as `\t`, a newline as `\n` and a
//! carriage return as `\r`, so every message is exactly one line whatever
//! a log text holds. Numbers are decimal `u64`. Parsing is strict: an
//! unknown tag, a wrong field count, a number that does not parse, a bad
//! escape or a ledger line out of place is a [`LineError`], and the parent
//! fails the run on it.
//!
//! Node to parent:
//!
//! ```text
//! bound     <endpoint>                      a listener's bound endpoint, before anything else
//! log       <text>                          a line for the demo's log (the parent stamps it)
//! snap      <settled 0|1> <peers n> then n times:
//!           <name> <epoch or -> <written> <read> <pending> <filling 0|1>
//! frozen    <pending chunks>                after `hang`: the books went out just before
//! stopped                                   after `stop`: the loop ended, the bridge still runs
//! ledger    <label>                         the node's books, up to `end`:
//!   sent      <to> <epoch> <written> <reserialized> <delivered>
//!   back      <to> <epoch> <reason> <first> <count>     (after its `sent`)
//!   late      <to> <epoch> <first> <through>            (after its `sent`)
//!   received  <from> <epoch> <count> <disorder> <runs: a-b,c-d (half-open) or ->
//!   example   <from> <epoch> <text>                     (after its `received`)
//!   violation <text>
//!   counts    <violations> <backlog left> <heals>
//! end
//! ```
//!
//! Reasons: `unsent`, `not-delivered`, `peer-restarted`, `expired`,
//! `shutdown`. Parent to node: `drain`, `pause`, `resume`, `hang`, `stop`,
//! `shutdown`, and
//! the end of stdin, which ends the node (the parent is gone).

use std::fmt;
use std::io::Write;

use serializer_bridge::HandBack;

use super::ledger::{Back, NodeLedger, REASONS, Received, Sent};
use super::node::{PeerSnapshot, Snapshot};

/// A message from a node process.
#[derive(Debug)]
pub enum FromNode {
    /// The endpoint a listener bound.
    Bound(String),
    /// A log line.
    Log(String),
    /// The node's state for the reports.
    Snapshot(Snapshot),
    /// The node stopped everything (its books went out just before) and
    /// waits to be killed; its bridge still holds `pending` chunks.
    Frozen {
        /// Chunks queued or unacknowledged.
        pending: u64,
    },
    /// The loop ended; the node waits for `shutdown`.
    Stopped,
    /// The node's books.
    Ledger(Box<NodeLedger>),
}

/// A command to a node process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToNode {
    /// Stop generating new items; finish what is owed.
    Drain,
    /// Stop reading and writing, send the books, wait to be killed.
    Hang,
    /// End the loop; keep the bridge until `shutdown`.
    Stop,
    /// Shut the bridge down, book its last events, send the books, exit.
    Shutdown,
    /// Read and write nothing for now (the bridge runs on).
    Pause,
    /// Read and write again.
    Resume,
}

/// A line that does not say what the format says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// The first field is no known tag.
    UnknownTag(String),
    /// Not the number of fields the tag takes.
    FieldCount {
        /// The tag.
        tag: String,
        /// Fields it takes, the tag included.
        want: usize,
        /// Fields the line had.
        got: usize,
    },
    /// A field that should be a number is not.
    Number {
        /// The tag.
        tag: String,
        /// The field's text.
        text: String,
    },
    /// A `0|1` field holds something else.
    Flag {
        /// The tag.
        tag: String,
        /// The field's text.
        text: String,
    },
    /// A backslash followed by something other than `\`, `t`, `n`, `r`.
    Escape(String),
    /// A ledger line outside `ledger` .. `end`, or another line inside.
    OutOfPlace(String),
    /// A `back`, `late` or `example` line before the stream it is about,
    /// or a stream given twice.
    Stream {
        /// The tag.
        tag: String,
        /// The peer label.
        peer: String,
        /// The epoch.
        epoch: u64,
    },
    /// Unknown hand-back reason.
    Reason(String),
    /// `received` runs that do not parse or do not fit its counts.
    Runs(String),
    /// A command the node does not know.
    Command(String),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::UnknownTag(tag) => write!(f, "unknown line tag {tag:?}"),
            LineError::FieldCount { tag, want, got } => {
                write!(f, "a {tag:?} line has {want} fields, this one {got}")
            }
            LineError::Number { tag, text } => {
                write!(f, "in a {tag:?} line, {text:?} is not a number")
            }
            LineError::Flag { tag, text } => {
                write!(f, "in a {tag:?} line, {text:?} is not 0 or 1")
            }
            LineError::Escape(text) => write!(f, "bad escape in {text:?}"),
            LineError::OutOfPlace(tag) => write!(f, "a {tag:?} line out of place"),
            LineError::Stream { tag, peer, epoch } => write!(
                f,
                "a {tag:?} line about {peer} epoch {epoch}, a stream not (or already) given"
            ),
            LineError::Reason(text) => write!(f, "unknown hand-back reason {text:?}"),
            LineError::Runs(text) => write!(f, "received runs {text:?} do not fit the counts"),
            LineError::Command(text) => write!(f, "unknown command {text:?}"),
        }
    }
}

impl std::error::Error for LineError {}

/// Writes `message` to stdout as its lines, at once (nothing else a
/// thread of this process prints comes between) and flushed. A closed
/// pipe is ignored: the parent is gone, and stdin's end stops the node.
pub fn emit(message: &FromNode) {
    let text = encode(message);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The lines of `message`, each ending in `\n`.
pub fn encode(message: &FromNode) -> String {
    let mut out = String::new();
    match message {
        FromNode::Bound(endpoint) => line(&mut out, &["bound", endpoint]),
        FromNode::Log(text) => line(&mut out, &["log", text]),
        FromNode::Snapshot(snap) => {
            let mut fields = vec![
                "snap".to_owned(),
                flag(snap.settled).to_owned(),
                snap.peers.len().to_string(),
            ];
            for p in &snap.peers {
                fields.push(p.name.clone());
                fields.push(p.epoch.map_or_else(|| "-".to_owned(), |e| e.to_string()));
                fields.push(p.written.to_string());
                fields.push(p.read.to_string());
                fields.push(p.pending.to_string());
                fields.push(flag(p.filling).to_owned());
            }
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            line(&mut out, &fields);
        }
        FromNode::Frozen { pending } => line(&mut out, &["frozen", &pending.to_string()]),
        FromNode::Stopped => line(&mut out, &["stopped"]),
        FromNode::Ledger(ledger) => encode_ledger(&mut out, ledger),
    }
    out
}

fn encode_ledger(out: &mut String, ledger: &NodeLedger) {
    line(out, &["ledger", &ledger.label]);
    for ((to, epoch), sent) in &ledger.sent {
        let epoch = epoch.to_string();
        line(
            out,
            &[
                "sent",
                to,
                &epoch,
                &sent.written.to_string(),
                &sent.reserialized.to_string(),
                &sent.delivered.to_string(),
            ],
        );
        for back in &sent.back {
            line(
                out,
                &[
                    "back",
                    to,
                    &epoch,
                    reason_token(back.reason),
                    &back.first.to_string(),
                    &back.count.to_string(),
                ],
            );
        }
        for (first, through) in &sent.late {
            line(
                out,
                &["late", to, &epoch, &first.to_string(), &through.to_string()],
            );
        }
    }
    for ((from, epoch), received) in &ledger.received {
        let epoch = epoch.to_string();
        let runs: Vec<String> = received
            .runs()
            .iter()
            .map(|(a, b)| format!("{a}-{b}"))
            .collect();
        let runs = if runs.is_empty() {
            "-".to_owned()
        } else {
            runs.join(",")
        };
        line(
            out,
            &[
                "received",
                from,
                &epoch,
                &received.count.to_string(),
                &received.disorder.to_string(),
                &runs,
            ],
        );
        for example in &received.disorder_examples {
            line(out, &["example", from, &epoch, example]);
        }
    }
    for violation in &ledger.violations {
        line(out, &["violation", violation]);
    }
    line(
        out,
        &[
            "counts",
            &ledger.violation_count.to_string(),
            &ledger.backlog_left.to_string(),
            &ledger.heals.to_string(),
        ],
    );
    line(out, &["end"]);
}

/// Parses the lines a node process writes, one at a time.
#[derive(Debug, Default)]
pub struct Reader {
    /// The books being read, between `ledger` and `end`.
    ledger: Option<Partial>,
}

/// Books being read: `received` lines are kept in parts until `end`.
#[derive(Debug)]
struct Partial {
    ledger: NodeLedger,
    received: Vec<((String, u64), ReceivedParts)>,
}

#[derive(Debug)]
struct ReceivedParts {
    runs: Vec<(u64, u64)>,
    count: u64,
    disorder: u64,
    examples: Vec<String>,
}

impl Reader {
    /// Takes one line (without its `\n`): a complete message, `None` in
    /// the middle of the books, or what was wrong with it.
    pub fn feed(&mut self, text: &str) -> Result<Option<FromNode>, LineError> {
        let fields = split(text)?;
        let tag = fields.first().map_or("", String::as_str);
        if let Some(partial) = self.ledger.as_mut() {
            if tag == "end" {
                count(&fields, 1)?;
                let partial = self.ledger.take().ok_or_else(|| out_of_place(tag))?;
                return finish(partial).map(|l| Some(FromNode::Ledger(Box::new(l))));
            }
            ledger_line(partial, &fields)?;
            return Ok(None);
        }
        let message = match tag {
            "bound" => {
                count(&fields, 2)?;
                FromNode::Bound(fields[1].clone())
            }
            "log" => {
                count(&fields, 2)?;
                FromNode::Log(fields[1].clone())
            }
            "snap" => FromNode::Snapshot(snapshot(&fields)?),
            "frozen" => {
                count(&fields, 2)?;
                FromNode::Frozen {
                    pending: number(&fields, 1)?,
                }
            }
            "stopped" => {
                count(&fields, 1)?;
                FromNode::Stopped
            }
            "ledger" => {
                count(&fields, 2)?;
                self.ledger = Some(Partial {
                    ledger: NodeLedger {
                        label: fields[1].clone(),
                        ..NodeLedger::default()
                    },
                    received: Vec::new(),
                });
                return Ok(None);
            }
            "sent" | "back" | "late" | "received" | "example" | "violation" | "counts" | "end" => {
                return Err(out_of_place(tag));
            }
            other => return Err(LineError::UnknownTag(other.to_owned())),
        };
        Ok(Some(message))
    }

    /// Whether a ledger was begun and not ended.
    pub fn in_ledger(&self) -> bool {
        self.ledger.is_some()
    }
}

fn ledger_line(partial: &mut Partial, fields: &[String]) -> Result<(), LineError> {
    let tag = fields.first().map_or("", String::as_str);
    let stream_error = |peer: &str, epoch: u64| LineError::Stream {
        tag: tag.to_owned(),
        peer: peer.to_owned(),
        epoch,
    };
    match tag {
        "sent" => {
            count(fields, 6)?;
            let key = (fields[1].clone(), number(fields, 2)?);
            if partial.ledger.sent.contains_key(&key) {
                return Err(stream_error(&key.0, key.1));
            }
            let sent = Sent {
                written: number(fields, 3)?,
                reserialized: number(fields, 4)?,
                delivered: number(fields, 5)?,
                ..Sent::default()
            };
            partial.ledger.sent.insert(key, sent);
        }
        "back" => {
            count(fields, 6)?;
            let key = (fields[1].clone(), number(fields, 2)?);
            let back = Back {
                reason: reason(&fields[3])?,
                first: number(fields, 4)?,
                count: number(fields, 5)?,
            };
            let sent = partial
                .ledger
                .sent
                .get_mut(&key)
                .ok_or_else(|| stream_error(&key.0, key.1))?;
            sent.back.push(back);
        }
        "late" => {
            count(fields, 5)?;
            let key = (fields[1].clone(), number(fields, 2)?);
            let range = (number(fields, 3)?, number(fields, 4)?);
            let sent = partial
                .ledger
                .sent
                .get_mut(&key)
                .ok_or_else(|| stream_error(&key.0, key.1))?;
            sent.late.push(range);
        }
        "received" => {
            count(fields, 6)?;
            let key = (fields[1].clone(), number(fields, 2)?);
            if partial.received.iter().any(|(k, _)| *k == key) {
                return Err(stream_error(&key.0, key.1));
            }
            let parts = ReceivedParts {
                count: number(fields, 3)?,
                disorder: number(fields, 4)?,
                runs: runs(&fields[5])?,
                examples: Vec::new(),
            };
            partial.received.push((key, parts));
        }
        "example" => {
            count(fields, 4)?;
            let key = (fields[1].clone(), number(fields, 2)?);
            let parts = partial
                .received
                .iter_mut()
                .find(|(k, _)| *k == key)
                .map(|(_, p)| p)
                .ok_or_else(|| stream_error(&key.0, key.1))?;
            parts.examples.push(fields[3].clone());
        }
        "violation" => {
            count(fields, 2)?;
            partial.ledger.violations.push(fields[1].clone());
        }
        "counts" => {
            count(fields, 4)?;
            partial.ledger.violation_count = number(fields, 1)?;
            partial.ledger.backlog_left = number(fields, 2)?;
            partial.ledger.heals = number(fields, 3)?;
        }
        other => return Err(out_of_place(other)),
    }
    Ok(())
}

fn finish(partial: Partial) -> Result<NodeLedger, LineError> {
    let Partial {
        mut ledger,
        received,
    } = partial;
    for (key, parts) in received {
        let text = format!(
            "{:?} ({} arrived, {} disorder)",
            parts.runs, parts.count, parts.disorder
        );
        let books = Received::from_parts(parts.runs, parts.count, parts.disorder, parts.examples)
            .ok_or(LineError::Runs(text))?;
        ledger.received.insert(key, books);
    }
    Ok(ledger)
}

fn snapshot(fields: &[String]) -> Result<Snapshot, LineError> {
    let n = usize::try_from(number(fields, 2)?).unwrap_or(usize::MAX);
    let want = n.checked_mul(6).and_then(|f| f.checked_add(3));
    if want != Some(fields.len()) {
        return Err(LineError::FieldCount {
            tag: "snap".to_owned(),
            want: want.unwrap_or(usize::MAX),
            got: fields.len(),
        });
    }
    let mut peers = Vec::with_capacity(n);
    for i in 0..n {
        let at = 3 + i * 6;
        let epoch = match fields[at + 1].as_str() {
            "-" => None,
            _ => Some(number(fields, at + 1)?),
        };
        peers.push(PeerSnapshot {
            name: fields[at].clone(),
            epoch,
            written: number(fields, at + 2)?,
            read: number(fields, at + 3)?,
            pending: number(fields, at + 4)?,
            filling: parse_flag(fields, at + 5)?,
        });
    }
    Ok(Snapshot {
        peers,
        settled: parse_flag(fields, 1)?,
    })
}

/// Parses a command line the parent wrote.
pub fn command(text: &str) -> Result<ToNode, LineError> {
    match text {
        "drain" => Ok(ToNode::Drain),
        "hang" => Ok(ToNode::Hang),
        "stop" => Ok(ToNode::Stop),
        "shutdown" => Ok(ToNode::Shutdown),
        "pause" => Ok(ToNode::Pause),
        "resume" => Ok(ToNode::Resume),
        other => Err(LineError::Command(other.to_owned())),
    }
}

/// The line of a command, with its `\n`.
pub fn command_line(command: ToNode) -> &'static str {
    match command {
        ToNode::Drain => "drain\n",
        ToNode::Hang => "hang\n",
        ToNode::Stop => "stop\n",
        ToNode::Shutdown => "shutdown\n",
        ToNode::Pause => "pause\n",
        ToNode::Resume => "resume\n",
    }
}

fn reason_token(reason: HandBack) -> &'static str {
    match reason {
        HandBack::Unsent => "unsent",
        HandBack::NotDelivered => "not-delivered",
        HandBack::PeerRestarted => "peer-restarted",
        HandBack::Expired => "expired",
        HandBack::Shutdown => "shutdown",
    }
}

fn reason(text: &str) -> Result<HandBack, LineError> {
    REASONS
        .into_iter()
        .find(|r| reason_token(*r) == text)
        .ok_or_else(|| LineError::Reason(text.to_owned()))
}

fn runs(text: &str) -> Result<Vec<(u64, u64)>, LineError> {
    if text == "-" {
        return Ok(Vec::new());
    }
    let bad = || LineError::Runs(text.to_owned());
    text.split(',')
        .map(|run| {
            let (a, b) = run.split_once('-').ok_or_else(bad)?;
            let a = a.parse::<u64>().map_err(|_| bad())?;
            let b = b.parse::<u64>().map_err(|_| bad())?;
            Ok((a, b))
        })
        .collect()
}

fn flag(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

fn parse_flag(fields: &[String], at: usize) -> Result<bool, LineError> {
    match fields.get(at).map(String::as_str) {
        Some("0") => Ok(false),
        Some("1") => Ok(true),
        other => Err(LineError::Flag {
            tag: fields.first().cloned().unwrap_or_default(),
            text: other.unwrap_or_default().to_owned(),
        }),
    }
}

fn number(fields: &[String], at: usize) -> Result<u64, LineError> {
    let text = fields.get(at).map_or("", String::as_str);
    // `u64::from_str` takes a leading `+`; the format does not.
    if text.starts_with('+') {
        return Err(LineError::Number {
            tag: fields.first().cloned().unwrap_or_default(),
            text: text.to_owned(),
        });
    }
    text.parse().map_err(|_| LineError::Number {
        tag: fields.first().cloned().unwrap_or_default(),
        text: text.to_owned(),
    })
}

fn count(fields: &[String], want: usize) -> Result<(), LineError> {
    if fields.len() == want {
        Ok(())
    } else {
        Err(LineError::FieldCount {
            tag: fields.first().cloned().unwrap_or_default(),
            want,
            got: fields.len(),
        })
    }
}

fn out_of_place(tag: &str) -> LineError {
    LineError::OutOfPlace(tag.to_owned())
}

/// Appends the fields, escaped and tab-separated, and a newline.
fn line(out: &mut String, fields: &[&str]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        for c in field.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
    }
    out.push('\n');
}

/// The unescaped fields of a line.
fn split(text: &str) -> Result<Vec<String>, LineError> {
    let mut fields = Vec::new();
    for raw in text.split('\t') {
        let mut field = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                field.push(c);
                continue;
            }
            match chars.next() {
                Some('\\') => field.push('\\'),
                Some('t') => field.push('\t'),
                Some('n') => field.push('\n'),
                Some('r') => field.push('\r'),
                _ => return Err(LineError::Escape(text.to_owned())),
            }
        }
        fields.push(field);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> Result<Vec<FromNode>, LineError> {
        let mut reader = Reader::default();
        let mut out = Vec::new();
        for l in text.lines() {
            if let Some(m) = reader.feed(l)? {
                out.push(m);
            }
        }
        assert!(!reader.in_ledger());
        Ok(out)
    }

    fn books() -> NodeLedger {
        let mut ledger = NodeLedger {
            label: "worker-3 (run 2)".into(),
            violation_count: 3,
            backlog_left: 4,
            heals: 1,
            violations: vec!["odd\ttext \\ with\nnewline".into()],
            ..NodeLedger::default()
        };
        ledger.sent.insert(
            ("manager".into(), 2),
            Sent {
                written: 10,
                reserialized: 2,
                delivered: 4,
                back: vec![
                    Back {
                        reason: HandBack::NotDelivered,
                        first: 5,
                        count: 2,
                    },
                    Back {
                        reason: HandBack::Unsent,
                        first: 7,
                        count: 4,
                    },
                ],
                late: vec![(5, 6)],
            },
        );
        let mut r = Received::default();
        for s in [1, 2, 3, 3, 5] {
            r.record(s);
        }
        ledger.received.insert(("manager".into(), 2), r);
        ledger
            .received
            .insert(("proxy".into(), 1), Received::default());
        ledger
    }

    #[test]
    fn messages_round_trip() {
        let ledger = books();
        let snap = Snapshot {
            settled: true,
            peers: vec![PeerSnapshot {
                name: "manager".into(),
                epoch: Some(3),
                written: 5,
                read: 6,
                pending: 7,
                filling: true,
            }],
        };
        let text = [
            encode(&FromNode::Bound("tcp://127.0.0.1:4000".into())),
            encode(&FromNode::Log("a\tb\\c\nd".into())),
            encode(&FromNode::Snapshot(snap.clone())),
            encode(&FromNode::Frozen { pending: 12 }),
            encode(&FromNode::Ledger(Box::new(ledger.clone()))),
            encode(&FromNode::Stopped),
        ]
        .concat();
        assert_eq!(text.lines().count(), 5 + 11);
        let got = read_all(&text).unwrap();
        assert!(matches!(&got[0], FromNode::Bound(e) if e == "tcp://127.0.0.1:4000"));
        assert!(matches!(&got[1], FromNode::Log(t) if t == "a\tb\\c\nd"));
        let FromNode::Snapshot(s) = &got[2] else {
            panic!("{got:?}")
        };
        assert_eq!(format!("{s:?}"), format!("{snap:?}"));
        assert!(matches!(got[3], FromNode::Frozen { pending: 12 }));
        let FromNode::Ledger(l) = &got[4] else {
            panic!("{got:?}")
        };
        assert_eq!(format!("{l:?}"), format!("{ledger:?}"));
        assert!(matches!(got[5], FromNode::Stopped));
    }

    #[test]
    fn bad_lines_are_errors() {
        let err = |text: &str| read_all(text).err();
        assert_eq!(err("nope"), Some(LineError::UnknownTag("nope".into())));
        assert!(matches!(err("bound"), Some(LineError::FieldCount { .. })));
        assert!(matches!(err("frozen\t-1"), Some(LineError::Number { .. })));
        assert!(matches!(err("frozen\t+1"), Some(LineError::Number { .. })));
        assert!(matches!(err("log\ta\\x"), Some(LineError::Escape(_))));
        assert!(matches!(err("log\ta\\"), Some(LineError::Escape(_))));
        assert!(matches!(
            err("snap\t1\t1\tm\t-\t1\t1\t1"),
            Some(LineError::FieldCount { .. })
        ));
        assert!(matches!(err("snap\t2\t0"), Some(LineError::Flag { .. })));
        assert!(matches!(
            err("sent\tm\t1\t1\t1\t1"),
            Some(LineError::OutOfPlace(_))
        ));
        assert!(matches!(
            err("ledger\tx\nbound\ty"),
            Some(LineError::OutOfPlace(_))
        ));
        assert!(matches!(
            err("ledger\tx\nback\tm\t1\tunsent\t1\t1"),
            Some(LineError::Stream { .. })
        ));
        assert!(matches!(
            err("ledger\tx\nsent\tm\t1\t1\t0\t0\nsent\tm\t1\t1\t0\t0"),
            Some(LineError::Stream { .. })
        ));
        assert!(matches!(
            err("ledger\tx\nsent\tm\t1\t1\t0\t0\nback\tm\t1\tlost\t1\t1"),
            Some(LineError::Reason(_))
        ));
        assert!(matches!(
            err("ledger\tx\nreceived\tm\t1\t3\t0\t1-3\nend"),
            Some(LineError::Runs(_))
        ));
        assert!(matches!(
            err("ledger\tx\nreceived\tm\t1\t3\t0\t1-"),
            Some(LineError::Runs(_))
        ));
        assert!(matches!(
            err("ledger\tx\nend\textra"),
            Some(LineError::FieldCount { .. })
        ));
        assert_eq!(command("stop"), Ok(ToNode::Stop));
        assert!(command("stop ").is_err());
    }
}
