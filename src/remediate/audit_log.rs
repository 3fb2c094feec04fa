//! The audit log: remediation's record of what it did, and its memory between runs.
//!
//! Two promises rest on it, so it fails closed in both directions:
//! - Reading: the log is the only place that knows when keyaudit deactivated a key (IAM
//!   does not), and that knowledge is what stops a key deactivated minutes ago from being
//!   deleted. A log that cannot be read whole and parsed line by line (unreadable, invalid
//!   UTF-8, a line that is not a record) would silently drop that knowledge, so it is a
//!   refusal naming the line, before any action. Only regular files are read: a FIFO would
//!   block and a device such as /dev/zero never ends.
//! - Writing (write-ahead): before each IAM call that changes a key, an `intent` record is
//!   appended and synced to disk; after it, the `result` record. If the intent cannot be
//!   written, the key is not touched. A run that dies between the two leaves the intent, and
//!   an intent to deactivate counts as a deactivation at that time (the safe reading: it
//!   only ever delays a deletion).
//!
//! Lines written before intents existed have no `record` field; they are result records.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::apply::{Outcome, Result as ApplyResult};
use super::{Action, Deactivations, PlannedAction};
use crate::output::open_regular;

/// Why the log cannot be trusted. Always before any action: the caller refuses (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum AuditLogError {
    #[error("--audit-log {path}: cannot read it: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("--audit-log {path} line {line}: {message}")]
    Invalid { path: PathBuf, line: usize, message: String },
    #[error("--audit-log {path}: it changed while the plan was made (another remediate running?)")]
    Changed { path: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    /// Written (and synced) right before the IAM call.
    Intent,
    /// What happened; also every line of logs older than intents.
    Result,
}

/// One line of the log. The fields remediation decides on are required; others are
/// informational and optional so old lines still read.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    #[serde(serialize_with = "millis")]
    time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<Kind>,
    account_id: String,
    user_name: String,
    access_key_id: String,
    action: Action,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    result: Option<ApplyResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// Times as the log has always written them: RFC 3339, UTC, milliseconds.
fn millis<S: serde::Serializer>(time: &DateTime<Utc>, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

impl Record {
    fn new(kind: Kind, action: &PlannedAction) -> Record {
        Record {
            time: Utc::now(),
            record: Some(kind),
            account_id: action.account_id.clone(),
            user_name: action.user_name.clone(),
            access_key_id: action.access_key_id.clone(),
            action: action.action,
            rules: action.rules.iter().map(ToString::to_string).collect(),
            result: None,
            detail: None,
        }
    }

    /// When this line says keyaudit (possibly) deactivated the key.
    fn deactivated_at(&self) -> Option<DateTime<Utc>> {
        let kind = self.record.unwrap_or(Kind::Result);
        let counts = self.action == Action::Deactivate
            && (kind == Kind::Intent || self.result == Some(ApplyResult::Applied));
        counts.then_some(self.time)
    }
}

/// Parses a whole log. `Err((line, message))` for the first line that is not a record.
pub fn parse(bytes: &[u8]) -> std::result::Result<Deactivations, (usize, String)> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        (line, format!("invalid UTF-8 at byte {}", e.valid_up_to()))
    })?;
    let mut deactivations = Deactivations::default();
    for (index, line) in text.lines().enumerate() {
        let record: Record =
            serde_json::from_str(line).map_err(|e| (index + 1, format!("not an audit record: {e}")))?;
        match (record.record.unwrap_or(Kind::Result), record.result) {
            (Kind::Intent, Some(_)) => return Err((index + 1, "an intent record with a result".into())),
            (Kind::Result, None) => return Err((index + 1, "a result record without `result`".into())),
            _ => {}
        }
        if let Some(at) = record.deactivated_at() {
            let latest = deactivations.0.entry((record.account_id, record.access_key_id)).or_insert(at);
            *latest = (*latest).max(at);
        }
    }
    Ok(deactivations)
}

fn read_whole(path: &Path, file: &mut File) -> std::result::Result<Deactivations, AuditLogError> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|source| AuditLogError::Unreadable { path: path.to_path_buf(), source })?;
    parse(&bytes).map_err(|(line, message)| AuditLogError::Invalid {
        path: path.to_path_buf(),
        line,
        message,
    })
}

/// The deactivations recorded in the log at `path`; a log that does not exist yet has none.
pub fn read_history(path: &Path) -> std::result::Result<Deactivations, AuditLogError> {
    match open_regular(path, OpenOptions::new().read(true)) {
        Ok(mut file) => read_whole(path, &mut file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Deactivations::default()),
        Err(source) => Err(AuditLogError::Unreadable { path: path.to_path_buf(), source }),
    }
}

/// The log opened for appending: one JSON object per line, each synced before the next step.
pub struct AuditLog {
    file: File,
}

impl AuditLog {
    /// Opens (or creates) the log, reading it whole once more through the same handle: the
    /// plan was made from `history`, and a log that says something else now (another run
    /// appended to it) is refused rather than acted on.
    pub fn open(path: &Path, history: &Deactivations) -> std::result::Result<AuditLog, AuditLogError> {
        let mut file = open_regular(path, OpenOptions::new().read(true).append(true).create(true))
            .map_err(|source| AuditLogError::Unreadable { path: path.to_path_buf(), source })?;
        if read_whole(path, &mut file)? != *history {
            return Err(AuditLogError::Changed { path: path.to_path_buf() });
        }
        Ok(AuditLog { file })
    }

    /// Records that `action` is about to be carried out. Must succeed before the IAM call.
    pub fn intent(&mut self, action: &PlannedAction) -> io::Result<()> {
        self.append(&Record::new(Kind::Intent, action))
    }

    pub fn result(&mut self, outcome: &Outcome) -> io::Result<()> {
        let mut record = Record::new(Kind::Result, &outcome.action);
        record.result = Some(outcome.result);
        record.detail = Some(outcome.detail.clone());
        self.append(&record)
    }

    /// One write per line (the file is in append mode), flushed and synced: once this
    /// returns, the line survives a crash or power loss.
    fn append(&mut self, record: &Record) -> io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.flush()?;
        self.file.sync_data()
    }

    #[cfg(test)]
    pub(crate) fn from_file(file: File) -> AuditLog {
        AuditLog { file }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD_APPLIED: &str = r#"{"time":"2026-11-20T00:00:00.000Z","account_id":"111122223333","user_name":"u","access_key_id":"OLD","action":"deactivate","rules":["key-unused"],"result":"applied","detail":"deactivated"}"#;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn old_result_lines_and_intents_both_count_as_deactivations() {
        let log = [
            OLD_APPLIED,
            r#"{"time":"2026-11-21T00:00:00Z","record":"intent","account_id":"111122223333","user_name":"u","access_key_id":"CRASHED","action":"deactivate","rules":[]}"#,
            r#"{"time":"2026-11-22T00:00:00Z","record":"result","account_id":"111122223333","user_name":"u","access_key_id":"SKIP","action":"deactivate","result":"skipped"}"#,
            r#"{"time":"2026-11-23T00:00:00Z","record":"intent","account_id":"111122223333","user_name":"u","access_key_id":"GONE","action":"delete"}"#,
        ]
        .join("\n");
        let history = parse(log.as_bytes()).unwrap();
        assert_eq!(history.at("111122223333", "OLD"), Some(at("2026-11-20T00:00:00Z")));
        assert_eq!(
            history.at("111122223333", "CRASHED"),
            Some(at("2026-11-21T00:00:00Z")),
            "intent without result"
        );
        assert_eq!(history.at("111122223333", "SKIP"), None);
        assert_eq!(history.at("111122223333", "GONE"), None);
    }

    #[test]
    fn anything_that_is_not_a_record_is_refused_with_its_line() {
        let cases: Vec<(Vec<u8>, usize, &str)> = vec![
            (b"{\"time\"\xff}\n".to_vec(), 1, "invalid UTF-8"),
            (format!("{OLD_APPLIED}\n{{not json\n").into_bytes(), 2, "not an audit record"),
            (format!("{OLD_APPLIED}\n\n{OLD_APPLIED}\n").into_bytes(), 2, "not an audit record"),
            (
                format!("{OLD_APPLIED}\n{}\n", OLD_APPLIED.replace("\"time\"", "\"when\"")).into_bytes(),
                2,
                "time",
            ),
            (OLD_APPLIED.replace("deactivate\",", "explode\",").into_bytes(), 1, "explode"),
            (OLD_APPLIED.replace(",\"result\":\"applied\"", "").into_bytes(), 1, "without `result`"),
            (format!("{OLD_APPLIED}\n{}", &OLD_APPLIED[..40]).into_bytes(), 2, "not an audit record"),
        ];
        for (bytes, line, expected) in cases {
            let (got_line, message) = parse(&bytes).unwrap_err();
            assert_eq!(got_line, line, "{message}");
            assert!(message.contains(expected), "{expected}: {message}");
        }
        assert_eq!(parse(b"").unwrap(), Deactivations::default());
    }

    #[test]
    fn a_special_file_is_refused_without_reading_it() {
        let error = read_history(Path::new("/dev/zero")).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
        assert!(AuditLog::open(Path::new("/dev/full"), &Deactivations::default()).is_err());
        assert_eq!(read_history(Path::new("/no/such/log.jsonl")).unwrap(), Deactivations::default());
    }

    #[test]
    fn intents_are_written_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::open(&path, &Deactivations::default()).unwrap();
        let action = super::super::tests::planned("K", Action::Deactivate);
        log.intent(&action).unwrap();
        let history = read_history(&path).unwrap();
        assert!(history.at(&action.account_id, "K").is_some());
        assert!(matches!(
            AuditLog::open(&path, &Deactivations::default()),
            Err(AuditLogError::Changed { .. })
        ));
        assert!(AuditLog::open(&path, &history).is_ok());
    }

    #[test]
    fn a_full_disk_fails_the_intent() {
        let Ok(full) = OpenOptions::new().append(true).open("/dev/full") else { return };
        let mut log = AuditLog::from_file(full);
        assert!(log.intent(&super::super::tests::planned("K", Action::Deactivate)).is_err());
    }
}
