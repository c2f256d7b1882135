//! The daemon's allocator: mimalloc, tuned before it starts. Included by `main.rs` and by the
//! SDN benchmark (`benches/sdn.rs`, through `#[path]`), so both measure the same allocator.

/// mimalloc: the controller's recompute allocates and frees many small objects (flow entries,
/// model clones); with glibc's allocator, malloc/free were ~40 % of its CPU at 1000 ports, and
/// each runtime thread kept an arena of its own. Tuned by [`tune_allocator`].
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns freed memory to the OS at once and commits arena memory only when used: at 1000
/// endpoints the daemon's RSS is 80 MB instead of 190 MB with mimalloc's defaults, for no
/// measurable loss of speed. `MIMALLOC_PURGE_DELAY` / `MIMALLOC_ARENA_EAGER_COMMIT` in the
/// environment still win.
extern "C" fn tune_allocator() {
    use libmimalloc_sys::{mi_option_set_default, mi_option_t};
    // `mi_option_e` of the mimalloc v2 that libmimalloc-sys 0.1.49 builds (Cargo.lock pins it);
    // the crate exports no constants for these two.
    const ARENA_EAGER_COMMIT: mi_option_t = 4;
    const PURGE_DELAY: mi_option_t = 15;
    // SAFETY: only sets option defaults (no allocation); mimalloc reads the environment after.
    unsafe {
        mi_option_set_default(ARENA_EAGER_COMMIT, 0);
        mi_option_set_default(PURGE_DELAY, 0);
    }
}

/// Runs [`tune_allocator`] before mimalloc initialises: mimalloc's own constructor has gcc's
/// default priority (65535) and lower numbers run first; Rust code allocates only after both.
#[used]
#[unsafe(link_section = ".init_array.00200")]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;
