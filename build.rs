//! Link order of the executable.
//!
//! With lld available, the binary is linked with the functions a start runs first and
//! together (`hack/startup-order.txt`, written by `hack/startup-order.sh`): an optimized
//! idle hub then keeps far fewer code pages resident (BENCHMARKS.md, Footprint). The
//! linker is reached through `hack/ld-with-order.sh`, which matches the order's names to
//! the ones this build has (they drift with every change; `hack/link-order.awk`). The
//! names are those of optimized builds; debug builds link the same way (the test suite's
//! build proves the link works). Relative relocations are packed (DT_RELR).
//! Without lld the default linker and order are used and the build says so;
//! `MCP_LINK_ORDER=0` turns both off; `MCP_LINK_ORDER=as-written` links with the order
//! file unresolved (to measure what the resolution is worth).

use std::path::{Path, PathBuf};

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let order = manifest.join("hack/startup-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    println!("cargo:rerun-if-env-changed=MCP_LINK_ORDER");
    println!("cargo:rerun-if-env-changed=PATH");
    static_cxx_runtime();
    let wanted = std::env::var("MCP_LINK_ORDER").map_or(true, |v| v != "0");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !(wanted && linux && order.is_file()) {
        return;
    }
    let Some(lld) = rust_lld().or_else(|| find_on_path("ld.lld")) else {
        println!(
            "cargo:warning=ld.lld not found: linking without the start-up code order \
             (an idle hub keeps more code resident; install lld)"
        );
        return;
    };
    let wrapper = manifest.join("hack/ld-with-order.sh");
    println!("cargo:rerun-if-changed={}", wrapper.display());
    println!(
        "cargo:rerun-if-changed={}",
        manifest.join("hack/link-order.awk").display()
    );
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir = out.join("linker");
    let script = format!(
        "#!/bin/sh\nexec /bin/sh {} {} {} {} \"$@\"\n",
        quoted(&wrapper),
        quoted(&lld),
        quoted(&order),
        quoted(&out)
    );
    // The compiler driver (gcc 12 as clang) takes a linker by name only, and runs the
    // first `ld.<name>` of its -B directories; rustc (1.90 and later) puts its own lld
    // first as `ld.lld`. So the wrapper goes by a name rustc does not take: `mold`, the
    // last -fuse-ld being the one used. It runs lld all the same.
    if let Err(e) = write_executable(&dir.join("ld.mold"), &script) {
        println!(
            "cargo:warning=cannot write the linker wrapper ({e}): linking without the \
             start-up code order"
        );
        return;
    }
    println!("cargo:rustc-link-arg-bins=-B{}/", dir.display());
    println!("cargo:rustc-link-arg-bins=-fuse-ld=mold");
    // Names the current code no longer has are expected after changes; skip them quietly.
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    // The position-independent executable's ~80,000 relative relocations as a compact
    // bitmap (DT_RELR, glibc 2.36+) instead of 1.9 MB of `.rela.dyn` the loader reads at
    // every start.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}

/// RocksDB's C++ runtime linked into the executable (libstdc++.a) instead of loaded as a
/// shared library: an idle hub then maps only the parts it uses, laid out with the rest
/// of its code, instead of 1.5 MB of libstdc++'s pages (BENCHMARKS.md, Footprint). Only
/// when librocksdb-sys compiles RocksDB itself: a RocksDB taken from the system
/// (`ROCKSDB_LIB_DIR`, as the Nix package does) brings its own shared libstdc++, and two
/// copies of the runtime in one process must not meet. `MCP_STATIC_CXX=0` turns it off.
///
/// librocksdb-sys asks for `-lstdc++`; the archive named here comes before it on the
/// linker's command line (a crate's own libraries precede its dependencies'), so the
/// linker takes every C++ runtime symbol from the archive and drops the shared library.
fn static_cxx_runtime() {
    println!("cargo:rerun-if-env-changed=ROCKSDB_LIB_DIR");
    println!("cargo:rerun-if-env-changed=MCP_STATIC_CXX");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    let wanted = std::env::var("MCP_STATIC_CXX").map_or(true, |v| v != "0");
    if linux_gnu && wanted && std::env::var_os("ROCKSDB_LIB_DIR").is_none() {
        println!("cargo:rustc-link-lib=static:-bundle,+verbatim=libstdc++.a");
    }
}

/// The lld that rustc ships and links with (`rust-lld`, behind the `ld.lld` that the
/// compiler driver runs), when the toolchain has it: the same LLVM as the compiler.
fn rust_lld() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC")?;
    let target = std::env::var("TARGET").ok()?;
    let out = std::process::Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    let sysroot = String::from_utf8(out.stdout).ok()?;
    let lld = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(target)
        .join("bin/gcc-ld/ld.lld");
    lld.is_file().then_some(lld)
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `path` in single quotes for /bin/sh.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

fn write_executable(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}
