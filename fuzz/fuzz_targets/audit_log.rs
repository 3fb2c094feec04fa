//! The remediation audit-log reader (the history that keeps remediate from deleting a key it
//! deactivated within the grace period): any log content either reads or is an error, never
//! a panic or a hang.
#![no_main]

use keyaudit::remediate::Deactivations;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The reader under test. Today's takes the text (the app reads the log with
    // `read_to_string`); when the strict reader lands, this is the one line to re-point.
    let _ = std::str::from_utf8(data).map(Deactivations::from_audit_log);
});
