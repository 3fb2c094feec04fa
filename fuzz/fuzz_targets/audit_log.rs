//! The remediation audit-log reader (the history that keeps remediate from deleting a key it
//! deactivated within the grace period): any log content either reads or is an error, never
//! a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The strict reader remediate uses on the log's bytes (the file checks around it are
    // tested end to end).
    let _ = keyaudit::remediate::audit_log::parse(data);
});
