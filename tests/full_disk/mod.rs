//! A full disk for a child process, in end-to-end tests: its files may not grow past
//! a size, so a write beyond it fails (`EFBIG`) as a write to a full disk does
//! (`ENOSPC`), without needing a file system of that size.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes every file that `command`'s process writes stop at `bytes` bytes.
pub fn limit_file_size(command: &mut Command, bytes: u64) {
    let limit = bytes as libc::rlim_t;
    // SAFETY: between fork and exec, only async-signal-safe calls (setrlimit, signal).
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // Ignored, the signal of an oversized write becomes the write's error.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
