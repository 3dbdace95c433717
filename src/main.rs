//! Entry point: parse the command line, run the command, map the outcome to an exit code.
use clap::Parser;

fn main() -> std::process::ExitCode {
    tune_allocator();
    let cli = blockops::cli::Cli::parse();
    blockops::error::exit(blockops::cli::run(cli))
}

/// blockops is a short-lived process that builds and drops 10 MB strings and 100 000-entry
/// models. glibc's defaults hand every allocation over 128 KiB (growing on the fly) to `mmap`
/// and give freed memory back at once, so each such string is page-faulted in afresh; on a
/// 100 000-indicator `diff` that was a quarter of the CPU time (`BENCHMARKS.md`). Keep large
/// blocks on the heap (up to glibc's 32 MiB maximum) and keep freed memory until exit.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: `mallopt` only sets allocator parameters; it is called before any thread
    // exists and a refused value leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}
