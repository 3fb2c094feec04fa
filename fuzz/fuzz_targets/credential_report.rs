//! The credential-report reader (`--credential-report FILE.csv`): any text either parses or
//! is an error, never a panic; and the inventory it makes can be saved and read back as the
//! same data (`scan --credential-report R --save-inventory I`, then `--inventory I`).
#![no_main]

use chrono::{DateTime, Utc};
use keyaudit::app::parse_inventory;
use keyaudit::credential_report;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let collected_at = DateTime::<Utc>::from_timestamp(1_793_523_600, 0).expect("a valid instant");
    let Ok(inventory) = credential_report::parse(text, collected_at) else { return };
    let saved = serde_json::to_string(&inventory).expect("an inventory always serialises");
    let reloaded = parse_inventory("reload", &saved)
        .unwrap_or_else(|e| panic!("a credential report's inventory does not reload: {e:?}\nsaved: {saved}"));
    assert_eq!(reloaded, inventory, "the inventory changed in a save and reload");
});
