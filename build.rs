//! Link order of the executable.
//!
//! With lld available, the binary is linked with the functions a start runs first and
//! together (`hack/startup-order.txt`, written by `hack/startup-order.sh`): an optimized
//! idle hub then keeps far fewer code pages resident (BENCHMARKS.md, Footprint). The
//! names are those of optimized builds; debug builds link the same way (faster, and the
//! test suite's build proves the link works). Relative relocations are packed (DT_RELR).
//! Without lld the default linker and order are used and the build says so;
//! `MCP_LINK_ORDER=0` turns both off.

use std::path::{Path, PathBuf};

fn main() {
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/startup-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=MCP_LINK_ORDER");
    println!("cargo:rerun-if-env-changed=PATH");
    let wanted = std::env::var("MCP_LINK_ORDER").map_or(true, |v| v != "0");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !(wanted && linux && order.is_file()) {
        return;
    }
    if find_on_path("ld.lld").is_none() {
        println!(
            "cargo:warning=ld.lld not found: linking without the start-up code order \
             (an idle hub keeps more code resident; install lld)"
        );
        return;
    }
    println!("cargo:rustc-link-arg-bins=-fuse-ld=lld");
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    // Names the current code no longer has are expected after changes; skip them quietly.
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    // The position-independent executable's ~80,000 relative relocations as a compact
    // bitmap (DT_RELR, glibc 2.36+) instead of 1.9 MB of `.rela.dyn` the loader reads at
    // every start.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
