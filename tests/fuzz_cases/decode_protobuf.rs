//! Fuzz body `decode_protobuf`: a request body sent as
//! `application/vnd.kubernetes.protobuf` (`k8s\0` + `runtime.Unknown`) through
//! the server's decoder. Shared by `fuzz/fuzz_targets/decode_protobuf.rs` and the
//! corpus replay in `tests/fuzz_corpus.rs`.

use multicluster_controlplane::http::protobuf::decode_object;
use serde_json::Value;

pub fn run(data: &[u8]) {
    let Ok(object) = decode_object(data) else {
        return;
    };
    // A decoded body is an object whose apiVersion and kind come from the envelope.
    let Value::Object(map) = &object else {
        panic!("decode_object returned a non-object: {object}");
    };
    assert!(
        map.get("apiVersion").is_some_and(Value::is_string),
        "no apiVersion string in {object}"
    );
    assert!(
        map.get("kind").is_some_and(Value::is_string),
        "no kind string in {object}"
    );
    // What the rest of the server does with it: the JSON text must round-trip.
    let text = serde_json::to_vec(&object).expect("a decoded object serializes");
    let back: Value = serde_json::from_slice(&text).expect("its JSON parses back");
    assert_eq!(
        back, object,
        "the decoded object does not round-trip as JSON"
    );
}
