//! Where the targets keep their stores.

/// A temporary directory in memory (`/dev/shm`) where there is one: the store's
/// fsyncs (segment directory, compaction) then cost nothing, and a long run does not
/// wear the disk.
pub(crate) fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    match shm.is_dir() {
        true => tempfile::tempdir_in(shm).or_else(|_| tempfile::tempdir()),
        false => tempfile::tempdir(),
    }
    .expect("temp dir")
}
