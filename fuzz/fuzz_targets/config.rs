//! The config file (`keyaudit.toml`, `--config`): the whole read + validate path
//! (`ConfigFile::parse`) never panics; and a file that validates, applied over the defaults,
//! round-trips through `--dump-config`: the dump parses and gives the same effective settings
//! (compared as their dumps, which spell out every effective value, and as suppressions).
#![no_main]

use keyaudit::config::{dump, ConfigFile, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `ConfigFile::load` reads the file with `read_to_string`, then calls `parse`.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(config) = ConfigFile::parse(text) else { return };
    let mut settings = Settings::default();
    config.apply(&mut settings);
    let dumped = dump(&settings);
    let reread = ConfigFile::parse(&dumped)
        .unwrap_or_else(|e| panic!("--dump-config output does not parse: {e}\ndump:\n{dumped}"));
    let mut again = Settings::default();
    reread.apply(&mut again);
    assert_eq!(dump(&again), dumped, "the effective settings changed through --dump-config");
    assert_eq!(again.suppressions, settings.suppressions, "suppressions changed through --dump-config");
});
