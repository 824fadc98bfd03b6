//! `MmapMut::secure` on a full disk: 100 runs of appends to a map made
//! with room to grow, on a 1 MiB tmpfs of the test's own, each ending with
//! ENOSPC from `secure` and never a SIGBUS, every appended byte in the file.
//!
//! The tmpfs needs a private mount namespace, which a multi-threaded test
//! process cannot enter: the test runs itself again under `unshare
//! --mount` (root only; elsewhere it says why it does not run).

use std::fs::OpenOptions;
use std::path::Path;
use std::process::Command;

use librmap::MmapOptions;

const SMALL_DISK: &str = "RMAP_TEST_SMALL_DISK";

fn appends_until_full(dir: &Path) -> (usize, usize) {
    // What the file holds after `n` bytes: the alphabet over and over.
    let pattern: Vec<u8> = (0..(4 << 20) + 26).map(|i| b'a' + (i % 26) as u8).collect();
    let (mut enospc, mut intact) = (0, 0);
    for run in 0..100 {
        let path = dir.join("log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        // SAFETY: the file is this test's own.
        let mut map = unsafe { MmapOptions::new().len(4 << 20).map_mut(&file).unwrap() };
        let step = [64, 256, 1000, 4096, 10_000][run % 5];
        let mut used = 0;
        let error = loop {
            if let Err(error) = map.secure(&file, used, step) {
                break error;
            }
            let from = used % 26;
            map[used..used + step].copy_from_slice(&pattern[from..from + step]);
            used += step;
        };
        enospc += usize::from(error.raw_os_error() == Some(libc::ENOSPC));
        let back = std::fs::read(&path).unwrap();
        intact += usize::from(back == pattern[..used]);
        drop(map);
        std::fs::remove_file(&path).unwrap();
    }
    (enospc, intact)
}

#[test]
fn secure_on_a_full_disk_is_enospc_never_sigbus() {
    if let Some(dir) = std::env::var_os(SMALL_DISK) {
        let (enospc, intact) = appends_until_full(Path::new(&dir));
        println!(
            "100 runs: {enospc} ended with ENOSPC, {intact} with every appended byte in the file"
        );
        assert_eq!((enospc, intact), (100, 100));
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("not run: mounting a 1 MiB tmpfs of the test's own needs root");
        return;
    }
    let dir = tempfile_dir();
    let me = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=1m none "$1" && shift && exec "$@""#)
        .arg("sh")
        .arg(&dir)
        .arg(&me)
        .args([
            "--exact",
            "secure_on_a_full_disk_is_enospc_never_sigbus",
            "--nocapture",
        ])
        .env(SMALL_DISK, &dir)
        .output()
        .expect("unshare(1)");
    std::fs::remove_dir(&dir).unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("100 runs: 100 ended with ENOSPC, 100 with every"),
        "{:?}\n{said}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An empty folder under /tmp (not TMPDIR: the tests ask nothing of it).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = Path::new("/tmp").join(format!("rmap-full-disk-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    dir
}
