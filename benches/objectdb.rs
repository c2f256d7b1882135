//! objectdb benchmarks (divan); run with `cargo bench --bench objectdb`.
fn main() {}
