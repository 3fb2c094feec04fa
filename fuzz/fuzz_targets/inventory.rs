//! The inventory reader (`--inventory FILE`): any text either parses or is an error, never a
//! panic; and an inventory that parses survives a save and reload unchanged (what
//! `--save-inventory` writes, `--inventory` must read back as the same data).
#![no_main]

use keyaudit::app::parse_inventory;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The app reads the file with `read_to_string`: invalid UTF-8 never reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(inventory) = parse_inventory("fuzz", text) else { return };
    let saved = serde_json::to_string(&inventory).expect("an inventory always serialises");
    let reloaded = parse_inventory("reload", &saved)
        .unwrap_or_else(|e| panic!("a parsed inventory does not reload: {e:?}\nsaved: {saved}"));
    assert_eq!(reloaded, inventory, "the inventory changed in a save and reload");
});
