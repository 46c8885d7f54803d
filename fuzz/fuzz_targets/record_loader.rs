//! The record loader on arbitrary bytes: a stored request record is parsed and replayed; any
//! input either loads or is refused with a typed `RecordError`, and never panics. A record that
//! loads is a request the workflow could have produced, so it serializes back to a record that
//! loads into the same state.
#![no_main]

use customer_lockbox::RequestRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(record) = RequestRecord::from_json(text) else {
        return;
    };
    if let Ok(request) = record.load() {
        let again = request.to_record();
        let reloaded = again.load().expect("a loaded request's own record loads");
        assert_eq!(reloaded.state(), request.state());
        assert_eq!(reloaded.audit_trail(), request.audit_trail());
    }
});
