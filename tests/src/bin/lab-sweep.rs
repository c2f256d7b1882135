//! `lab-sweep [--clean]`: lists (and with `--clean` removes) what interrupted lab runs left
//! behind. Exit code 0 when nothing was found, 1 when leftovers were listed.

fn main() {
    let clean = std::env::args().any(|a| a == "--clean");
    let found = if clean { vlcp_e2e::lab::leaks::sweep() } else { vlcp_e2e::lab::leaks::scan() };
    for l in &found {
        println!("{}{l:?}", if clean { "removed " } else { "" });
    }
    if !clean && !found.is_empty() {
        std::process::exit(1);
    }
}
