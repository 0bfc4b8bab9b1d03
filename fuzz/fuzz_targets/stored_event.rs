#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pinauth_fuzzing::stored_event(data));
