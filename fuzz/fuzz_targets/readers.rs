//! Feeds arbitrary bytes to every graph reader of `graph_tensor::io`.
//!
//! Checks: no reader panics; every error names the input and fits on one line; whatever a
//! reader accepts, its writer writes back and the reader reads again as the same graphs.

#![no_main]

use std::path::Path;

use graph_tensor::io::{
    graph6, read_from, read_from_detect, sparse6, write_graphs_to_with, GraphFormat,
    WriteOptions,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let name = Path::new("fuzz-input");
    for format in GraphFormat::ALL {
        match read_from(data, format, name) {
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("fuzz-input") && !msg.contains('\n'), "{msg}");
            }
            Ok(graphs) => {
                assert!(!graphs.is_empty());
                for header in [true, false] {
                    let mut out = Vec::new();
                    let options = WriteOptions::default().header(header);
                    write_graphs_to_with(&mut out, format, &graphs, options)
                        .expect("what was read can be written");
                    let back = read_from(&out[..], format, name).expect("what was written reads");
                    assert_eq!(back, graphs, "{format} round trip");
                }
            }
        }
    }
    let _ = read_from_detect(data, None, name);
    if let Ok(g) = graph6::decode(data) {
        assert_eq!(graph6::decode(graph6::encode(&g).unwrap().as_bytes()).unwrap(), g);
    }
    if let Ok(g) = sparse6::decode(data) {
        assert_eq!(sparse6::decode(sparse6::encode(&g).unwrap().as_bytes()).unwrap(), g);
    }
});
