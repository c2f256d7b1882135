//! model benchmarks; run with `cargo bench --bench model`.
fn main() {}
