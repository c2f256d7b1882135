//! openflow benchmarks (divan); run with `cargo bench --bench openflow`.
fn main() {}
