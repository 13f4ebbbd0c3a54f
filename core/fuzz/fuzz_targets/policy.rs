//! The policy parser and evaluator: any text is a policy or a
//! MalformedPolicyDocumentException, and evaluating it never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        strongroom::policy::fuzz_parse_and_eval(text);
    }
});
