//! Writing output files so that nothing is lost: every file logexp writes (model files,
//! predictions, report pages, tables and figures) goes through [`Staged`].
//!
//! - **Atomic.** The content goes to a temporary file beside the destination, is synced, and
//!   is renamed over it, so a reader sees the old file or the whole new one, never a part.
//! - **Only over regular files.** A rename replaces whatever has the name, so a destination
//!   that is a device (`/dev/null`), a FIFO, a socket or a directory is refused before anything
//!   is written ([`Error::NotRegularOutput`]); a symbolic link is followed and the file it
//!   names is replaced, the link kept. An existing file keeps its permissions.
//! - **Many files at once.** A [`Batch`] (a report) stages all its files and renames them
//!   together at the end, so an error or an interrupt leaves the old set whole.
//! - **Nothing left behind.** A temporary file is removed when its write fails, and also when
//!   the process is interrupted: the binary's Ctrl-C / SIGTERM handler calls
//!   [`remove_staged_files`] before it exits. Only `kill -9` can leave one (its name starts
//!   with `.` and ends in `.tmp`, beside the destination). Temporary files are created under
//!   the handler's lock and then only opened, never created again, so a writer still running
//!   when the handler has removed its file fails instead of leaving a new one.
//! - **Report files are the report's.** A [`Batch`] replaces a symbolic link at one of its
//!   paths instead of following it: the user named the directory, not the files in it.

use crate::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Temporary files being written, removed by [`remove_staged_files`]. The lock is also held
/// while a file is renamed into place, so an interrupt never removes a file that has just
/// become the destination, and never lets a rename follow its removal.
static STAGED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Directories that an uncommitted [`Batch`] created, in creation order (parents first):
/// removed, where still empty, by [`remove_staged_files`] and by a batch dropped without a
/// commit, so that a refused or interrupted report into a new directory leaves nothing.
static CREATED_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn created_dirs() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    CREATED_DIRS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn staged() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A thread that panicked while holding the lock left the list itself intact.
    STAGED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes every temporary file still being written and keeps the list locked, so no rename
/// can follow. For an interrupt handler that exits the process right after.
pub fn remove_staged_files() {
    let mut list = staged();
    for temp in list.drain(..) {
        let _ = std::fs::remove_file(temp);
    }
    // Then the directories made for them, deepest first, where nothing else came to be.
    let mut dirs = created_dirs();
    for dir in dirs.drain(..).rev() {
        let _ = std::fs::remove_dir(dir);
    }
    std::mem::forget(dirs);
    // The guard is leaked on purpose: the process is about to exit, and no write may finish.
    std::mem::forget(list);
}

/// A few words naming the kind of a file that is not a regular file.
pub(crate) fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a plain file"
}

/// Where writing `path` must put the new content: `path` itself when it is missing or a
/// regular file, the file a symbolic link names when it is a link to a regular file, and an
/// error for anything else.
fn destination(path: &Path) -> Result<PathBuf, Error> {
    let refuse = |kind: &'static str| Error::NotRegularOutput {
        path: path.to_path_buf(),
        kind,
    };
    // `dir/`, `dir/.` and `..` name directories, whether or not they exist: a file cannot be
    // written there.
    let bytes = path.as_os_str().as_encoded_bytes();
    if bytes.ends_with(b"/")
        || bytes.ends_with(b"/.")
        || bytes.ends_with(b"/..")
        || bytes == b"."
        || bytes == b".."
    {
        return Err(refuse("a directory path (it ends in /, . or ..)"));
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(refuse("a path through a file"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidFilename => {
            Err(refuse("a name longer than the file system allows"))
        }
        Err(e)
            if e.kind() != std::io::ErrorKind::NotFound
                && e.kind() != std::io::ErrorKind::PermissionDenied
                && std::fs::metadata(directory)
                    .is_err_and(|e| e.kind() != std::io::ErrorKind::PermissionDenied) =>
        {
            // A loop of links among the directories on the way.
            Err(refuse("a path that cannot be followed (a loop of links?)"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::metadata(directory).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            {
                return Err(Error::MissingDirectory {
                    path: path.to_path_buf(),
                    directory: directory.to_path_buf(),
                });
            }
            Ok(path.to_path_buf())
        }
        Err(e) => Err(Error::io("cannot write", path, e)),
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(target) => match std::fs::metadata(&target) {
                Ok(meta) if meta.is_file() && meta.permissions().readonly() => {
                    Err(refuse("a read-only file"))
                }
                Ok(meta) if meta.is_file() => Ok(target),
                Ok(meta) => Err(refuse(kind_of(&meta))),
                Err(e) => Err(Error::io("cannot write", path, e)),
            },
            Err(_) => Err(refuse("a symbolic link to nothing")),
        },
        // A rename would replace it anyway, where a plain write would be refused.
        Ok(meta) if meta.is_file() && meta.permissions().readonly() => {
            Err(refuse("a read-only file"))
        }
        Ok(meta) if meta.is_file() => Ok(path.to_path_buf()),
        Ok(meta) => Err(refuse(kind_of(&meta))),
    }
}

/// Refuses an output that is the same file as one of `inputs` (each with the flag that named
/// it): writing it would replace the input the command reads.
pub fn check_not_an_input(
    out: &Path,
    out_flag: &'static str,
    inputs: &[(&Path, &str)],
) -> Result<(), Error> {
    let Some(out_id) = file_id(out) else {
        return Ok(()); // A new file cannot be an input.
    };
    for (input, flag) in inputs {
        if input_identity(input).is_some_and(|id| id == out_id) {
            return Err(replaces_input(out, out_flag, flag, "path"));
        }
    }
    Ok(())
}

/// The refusal of an output `out` (from `out_flag`) that is the input named `input`.
fn replaces_input(out: &Path, out_flag: &'static str, input: &str, instead: &str) -> Error {
    Error::InvalidSetting {
        field: out_flag,
        message: format!(
            "{} is the same file as {input}, which it would replace: give another {instead}",
            out.display()
        ),
    }
}

/// What makes two paths one file: device and inode on Unix, so that hard links and symbolic
/// links match too; the canonical path elsewhere.
#[cfg(unix)]
type FileId = (u64, u64);
#[cfg(not(unix))]
type FileId = PathBuf;

/// The [`FileId`] of the regular file at `path` (links followed), if there is one.
fn file_id(path: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        meta.is_file().then(|| (meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::canonicalize(path).ok().filter(|p| p.is_file())
    }
}

/// The [`FileId`] of an input, for comparing with an output: `-` is standard input
/// ([`crate::table::open_data`]), which may be redirected from a file (`< in.csv`); on Linux
/// `/dev/stdin` leads to that file. A pipe is no regular file and matches no output.
fn input_identity(input: &Path) -> Option<FileId> {
    if input.as_os_str() == "-" {
        return file_id(Path::new("/dev/stdin"));
    }
    file_id(input)
}

/// Checks, without writing anything, that `path` could be written: what a command calls
/// before long work (a fit) so that a bad `--out` is refused before the work, not after.
pub fn check_writable(path: &Path) -> Result<(), Error> {
    destination(path).map(|_| ())
}

/// A temporary name beside `dest`, unique within this process and across processes, that
/// keeps the extension (the PNG encoder picks its format from it). A long name is shortened
/// so the temporary one stays within the 255 bytes a file name may have.
fn temp_beside(dest: &Path) -> PathBuf {
    const MAX_NAME_BYTES: usize = 255;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = dest
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let ext = dest
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let suffix = format!(".tmp-{}-{n}{ext}", std::process::id());
    let room = MAX_NAME_BYTES.saturating_sub(1 + suffix.len());
    let mut cut = name.len().min(room);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    dest.with_file_name(format!(".{}{suffix}", &name[..cut]))
}

/// A file being written: its content goes to a temporary file beside the destination
/// ([`Staged::open`]), and [`Staged::commit`] renames it over the destination. Dropped without
/// a commit (an error, a panic), the temporary file is removed and the destination is left as
/// it was.
pub struct Staged {
    /// The path the user named, for messages.
    path: PathBuf,
    /// Where the content lands: `path`, or the file a link at `path` names.
    dest: PathBuf,
    temp: PathBuf,
    /// The permissions of the file being replaced, given to the new one.
    permissions: Option<std::fs::Permissions>,
    committed: bool,
}

impl Staged {
    /// Checks that `path` may be written (see the module's rules) and creates an empty
    /// temporary file beside it, which the caller fills through [`Staged::open`].
    pub fn new(path: &Path) -> Result<Staged, Error> {
        Staged::at(path, destination(path)?)
    }

    /// Stages `path` to be replaced whatever it is now, a symbolic link included (the link
    /// itself is replaced, not followed): for files whose names the user did not choose (a
    /// report's), so a link planted among them cannot send a write elsewhere.
    pub fn replacing(path: &Path) -> Result<Staged, Error> {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => Staged::at(path, path.to_path_buf()),
            _ => Staged::new(path),
        }
    }

    /// Creates the temporary file for `dest` and registers it, both under the lock that the
    /// interrupt handler takes: the handler then either finds the file and removes it, or
    /// holds the lock before it exists, so that it is never created. Writers open it without
    /// creating it ([`Staged::open`]), so one that comes after the handler fails instead of
    /// leaving a file behind.
    fn at(path: &Path, dest: PathBuf) -> Result<Staged, Error> {
        let permissions = std::fs::metadata(&dest)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.permissions());
        let temp = temp_beside(&dest);
        let mut list = staged();
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| Error::io("cannot write", path, e))?;
        list.push(temp.clone());
        drop(list);
        Ok(Staged {
            path: path.to_path_buf(),
            dest,
            temp,
            permissions,
            committed: false,
        })
    }

    /// Opens the temporary file for writing, never creating it: it was created with the [`Staged`].
    pub fn open(&self) -> Result<std::fs::File, Error> {
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.temp)
            .map_err(|e| self.error(e))
    }

    /// An I/O error naming the path the user gave.
    fn error(&self, e: std::io::Error) -> Error {
        Error::io("cannot write", &self.path, e)
    }

    /// Syncs the temporary file and renames it over the destination.
    pub fn commit(mut self) -> Result<(), Error> {
        self.prepare()?;
        let mut list = staged();
        self.rename(&mut list)
    }

    /// Syncs the temporary file and gives it the replaced file's permissions: the slow part
    /// of a commit, done before the lock is taken.
    fn prepare(&self) -> Result<(), Error> {
        let synced = std::fs::File::open(&self.temp).and_then(|f| f.sync_all());
        synced.map_err(|e| self.error(e))?;
        if let Some(permissions) = &self.permissions {
            std::fs::set_permissions(&self.temp, permissions.clone()).map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    /// Renames the temporary file over the destination; `list` is the locked [`STAGED`].
    fn rename(&mut self, list: &mut Vec<PathBuf>) -> Result<(), Error> {
        std::fs::rename(&self.temp, &self.dest).map_err(|e| self.error(e))?;
        list.retain(|t| t != &self.temp);
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let mut list = staged();
            let _ = std::fs::remove_file(&self.temp);
            list.retain(|t| t != &self.temp);
        }
    }
}

/// Writes `bytes` to `path` through a [`Staged`] file.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_file_with(path, |w| {
        w.write_all(bytes)
            .map_err(|e| Error::io("cannot write", path, e))
    })
}

/// Like [`write_file`], with the content streamed by `write` into a buffered writer; if
/// `write` fails, the temporary file is removed and `path` is left as it was.
pub fn write_file_with<T>(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<T, Error>,
) -> Result<T, Error> {
    let staged = Staged::new(path)?;
    let mut writer = std::io::BufWriter::new(staged.open()?);
    let value = write(&mut writer)?;
    writer
        .into_inner()
        .map_err(|e| staged.error(e.into_error()))?;
    staged.commit()?;
    Ok(value)
}

/// Files that become visible together: each is written to its temporary file as it comes, and
/// [`Batch::commit`] renames them all into place at the end, in the order they were added.
///
/// A report is many files; written one by one, an error or an interrupt halfway left a
/// directory mixing the new report's files with the old one's. With a batch, an error or an
/// interrupt before the commit leaves every old file as it was, and an interrupt during the
/// commit waits for it to finish (the commit holds the lock that [`remove_staged_files`]
/// takes), so the files are all old or all new. Dropped without a commit, a batch removes its
/// temporary files. Files may be added from several threads at once.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("logexp-batch-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let batch = logexp::output::Batch::new();
/// batch.write_file(&dir.join("table.csv"), b"a,b\n1,2\n")?;
/// batch.write_file(&dir.join("report.md"), b"# Report\n")?;
/// assert!(!dir.join("report.md").exists()); // nothing is visible before the commit
/// batch.commit()?;
/// assert_eq!(std::fs::read(dir.join("report.md"))?, b"# Report\n");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Batch {
    staged: Mutex<Vec<Staged>>,
    /// Files the batch must not replace, with the flag that named them.
    inputs: Vec<(FileId, String)>,
    /// Directories [`Batch::create_directory`] made, parents first.
    created: Mutex<Vec<PathBuf>>,
    committed: bool,
}

impl Drop for Batch {
    fn drop(&mut self) {
        // The temporary files first (dropping them removes them), then the directories made
        // for them, deepest first; one that holds anything else stays.
        self.staged
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clear();
        let created = std::mem::take(
            self.created
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if !self.committed {
            for dir in created.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        created_dirs().retain(|dir| !created.contains(dir));
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// An empty batch that refuses to write over any of `inputs` (each with the flag or name
    /// that gave it): a command's output must never replace what it reads.
    pub fn keeping(inputs: &[(&Path, &str)]) -> Batch {
        let inputs = inputs
            .iter()
            .filter_map(|(path, flag)| Some((input_identity(path)?, flag.to_string())))
            .collect();
        Batch {
            staged: Mutex::default(),
            inputs,
            created: Mutex::default(),
            committed: false,
        }
    }

    /// [`Batch::create_directory`] for a directory whose name is the command's own (a report's
    /// `figures/`): a symbolic link there is refused rather than followed, as a link among the
    /// batch's files is replaced rather than followed, so that nothing is written outside the
    /// directory the user named.
    pub fn create_own_directory(&self, dir: &Path) -> Result<(), Error> {
        if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::NotADirectory {
                path: dir.to_path_buf(),
                kind: "a symbolic link, which a report does not follow for its own directories (remove it)",
            });
        }
        self.create_directory(dir)
    }

    /// Creates the directory `dir` (and its missing parents) for files of this batch, after
    /// the checks of [`create_directory`]. The directories it makes are removed again, where
    /// still empty, if the batch is dropped without a commit or the process is interrupted
    /// first.
    pub fn create_directory(&self, dir: &Path) -> Result<(), Error> {
        let mut missing = Vec::new();
        let mut next = Some(dir);
        while let Some(d) = next {
            if d.as_os_str().is_empty() || std::fs::symlink_metadata(d).is_ok() {
                break;
            }
            missing.push(d.to_path_buf());
            next = d.parent();
        }
        missing.reverse();
        // Registered and made under the interrupt handler's lock, so it removes them or they
        // are never made.
        let _interrupt = staged();
        created_dirs().extend(missing.iter().cloned());
        self.created
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(missing);
        create_directory(dir)
    }

    /// Stages `path`: checks it (the module's rules, and not one of the inputs), lets `write`
    /// fill the temporary file it is given, and keeps it for [`Batch::commit`]. A symbolic
    /// link at `path` is replaced, not followed ([`Staged::replacing`]).
    pub fn write_with(
        &self,
        path: &Path,
        write: impl FnOnce(&mut std::fs::File) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let staged = Staged::replacing(path)?;
        if let Some(id) = file_id(&staged.dest)
            && let Some((_, flag)) = self.inputs.iter().find(|(input, _)| *input == id)
        {
            return Err(replaces_input(path, "out", flag, "output directory"));
        }
        write(&mut staged.open()?)?;
        staged.prepare()?;
        self.staged
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(staged);
        Ok(())
    }

    /// Stages `bytes` as the new content of `path`.
    pub fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        self.write_with(path, |file| {
            file.write_all(bytes)
                .map_err(|e| Error::io("cannot write", path, e))
        })
    }

    /// Renames every staged file into place, in the order they were staged. An interrupt
    /// cannot stop it halfway; if a rename fails, the files not yet renamed are removed.
    pub fn commit(mut self) -> Result<(), Error> {
        let mut files = std::mem::take(
            self.staged
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        let mut list = staged();
        let renamed = files.iter_mut().try_for_each(|file| file.rename(&mut list));
        // The directories hold the new files now (or the old ones), whatever came of it.
        self.committed = true;
        // Released before `files` drops, since dropping an unrenamed file takes the lock.
        drop(list);
        renamed
    }
}

/// Checks, without creating anything, that `dir` is a directory or could be created as one:
/// a path that exists as something else, or that a link to nothing or a loop of links stands
/// in the way of, is refused with [`Error::NotADirectory`] (a usage error). What a command
/// calls before its work, so that a bad `--out` is refused first.
pub fn check_directory(dir: &Path) -> Result<(), Error> {
    let refuse = |kind: &'static str| Error::NotADirectory {
        path: dir.to_path_buf(),
        kind,
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(meta) if meta.is_file() => Err(refuse("a file")),
        Ok(meta) => Err(refuse(kind_of(&meta))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A link to nothing reads as missing, but creating the directory would fail.
            if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_symlink()) {
                Err(refuse("a symbolic link to nothing"))
            } else {
                Ok(())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(refuse("a path through a file"))
        }
        Err(_) if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_symlink()) => {
            Err(refuse("a symbolic link that cannot be followed (a loop?)"))
        }
        // Only the environment can refuse access; any other failure to follow the path
        // (a loop of links among its parents) is the path's doing.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(Error::io("cannot create directory", dir, e))
        }
        Err(_) => Err(refuse("a path that cannot be followed (a loop of links?)")),
    }
}

/// Creates the directory `dir` (and its parents) if missing, after [`check_directory`].
pub fn create_directory(dir: &Path) -> Result<(), Error> {
    check_directory(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| match e.kind() {
        // A parent that is a file, or a link to nothing, on the way.
        std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotADirectory => {
            Error::NotADirectory {
                path: dir.to_path_buf(),
                kind: "a path through a file or a link to nothing",
            }
        }
        _ => Error::io("cannot create directory", dir, e),
    })
}

/// Fills the directory `dir` with the files `stage` puts in a [`Batch`], all made visible
/// together once `stage` succeeds, while holding the directory's [`DirectoryLock`] and refusing
/// to write over any of `inputs` ([`Batch::keeping`]): how a command writes many files (a
/// report).
pub fn write_directory<T>(
    dir: &Path,
    inputs: &[(&Path, &str)],
    stage: impl FnOnce(&Batch) -> Result<T, Error>,
) -> Result<T, Error> {
    let batch = Batch::keeping(inputs);
    batch.create_directory(dir)?;
    // Declared after the batch, so released before the batch removes what it created.
    let _lock = DirectoryLock::acquire(dir)?;
    let staged = stage(&batch)?;
    batch.commit()?;
    Ok(staged)
}

/// An exclusive advisory lock on a directory that a command fills with files (a report),
/// held until dropped: two reports into one directory would otherwise interleave their files.
/// A second process gets [`Error::DirectoryLocked`] at once. Where directories cannot be
/// opened as files (not Unix), nothing is locked.
pub struct DirectoryLock {
    _held: Option<std::fs::File>,
}

impl DirectoryLock {
    /// Creates `dir` if needed and locks it.
    pub fn acquire(dir: &Path) -> Result<DirectoryLock, Error> {
        create_directory(dir)?;
        #[cfg(unix)]
        {
            let handle = std::fs::File::open(dir).map_err(|e| Error::io("cannot open", dir, e))?;
            match handle.try_lock() {
                Ok(()) => Ok(DirectoryLock {
                    _held: Some(handle),
                }),
                Err(std::fs::TryLockError::WouldBlock) => Err(Error::DirectoryLocked {
                    path: dir.to_path_buf(),
                }),
                Err(std::fs::TryLockError::Error(e)) => Err(Error::io("cannot lock", dir, e)),
            }
        }
        #[cfg(not(unix))]
        Ok(DirectoryLock { _held: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TempDir;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_write_replaces_the_whole_file_and_leaves_no_temporary_file() {
        let dir = TempDir::new("output-replace");
        let path = dir.join("out.csv");
        std::fs::write(&path, "old content that is longer").unwrap();
        write_file(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(&dir), ["out.csv"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let dir = TempDir::new("output-fail");
        let path = dir.join("out.csv");
        std::fs::write(&path, "old").unwrap();
        let err = write_file_with(&path, |w| {
            w.write_all(b"half").unwrap();
            Err::<(), _>(Error::Run("the writer failed".into()))
        })
        .unwrap_err();
        assert!(err.to_string().contains("the writer failed"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(&dir), ["out.csv"]);
    }

    #[cfg(unix)]
    #[test]
    fn devices_fifos_directories_and_dangling_links_are_refused_and_kept() {
        let dir = TempDir::new("output-kinds");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        std::os::unix::fs::symlink(dir.join("missing"), dir.join("dangling")).unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.join("to-null")).unwrap();
        let cases = [
            (PathBuf::from("/dev/null"), "a device"),
            (fifo.clone(), "a FIFO"),
            (dir.to_path_buf(), "a directory"),
            (dir.join("dangling"), "a symbolic link to nothing"),
            (dir.join("to-null"), "a device"),
        ];
        for (path, kind) in cases {
            let err = write_file(&path, b"x").unwrap_err();
            assert!(err.is_usage(), "{err}");
            let text = err.to_string();
            assert!(text.contains(kind), "{text}");
            assert!(text.contains("regular file"), "{text}");
        }
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(
            std::fs::symlink_metadata(dir.join("dangling"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(names(&dir), ["dangling", "fifo", "to-null"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_file_is_refused_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("output-read-only");
        let path = dir.join("kept.csv");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        let err = write_file(&path, b"new").unwrap_err();
        assert!(
            err.is_usage() && err.to_string().contains("a read-only file"),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }

    #[test]
    fn a_name_as_long_as_a_file_name_may_be_can_be_written() {
        let dir = TempDir::new("output-long");
        for name in ["n".repeat(251) + ".csv", "é".repeat(125) + ".csv"] {
            assert!(name.len() <= 255);
            write_file(&dir.join(&name), b"x").unwrap();
            assert_eq!(std::fs::read(dir.join(&name)).unwrap(), b"x");
            assert_eq!(names(&dir), std::slice::from_ref(&name));
            std::fs::remove_file(dir.join(&name)).unwrap();
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_link_to_a_file_is_kept_and_the_file_it_names_is_replaced_with_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("output-link");
        let real = dir.join("real.csv");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&real, dir.join("link.csv")).unwrap();
        write_file(&dir.join("link.csv"), b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(dir.join("link.csv"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(names(&dir), ["link.csv", "real.csv"]);
    }

    #[test]
    fn a_batch_shows_nothing_until_it_commits_and_a_dropped_batch_leaves_the_old_files() {
        let dir = TempDir::new("output-batch");
        std::fs::write(dir.join("a.csv"), "old a").unwrap();
        let batch = Batch::new();
        batch.write_file(&dir.join("a.csv"), b"new a").unwrap();
        batch.write_file(&dir.join("b.csv"), b"new b").unwrap();
        assert_eq!(std::fs::read(dir.join("a.csv")).unwrap(), b"old a");
        assert!(!dir.join("b.csv").exists());
        drop(batch);
        assert_eq!(names(&dir), ["a.csv"]);
        assert_eq!(std::fs::read(dir.join("a.csv")).unwrap(), b"old a");

        let batch = Batch::new();
        batch.write_file(&dir.join("a.csv"), b"new a").unwrap();
        batch.write_file(&dir.join("b.csv"), b"new b").unwrap();
        batch.commit().unwrap();
        assert_eq!(names(&dir), ["a.csv", "b.csv"]);
        assert_eq!(std::fs::read(dir.join("a.csv")).unwrap(), b"new a");
        assert_eq!(std::fs::read(dir.join("b.csv")).unwrap(), b"new b");
        // Other tests stage files at the same time: only this directory's must be gone.
        assert!(!staged().iter().any(|temp| temp.starts_with(&*dir)));
    }

    #[test]
    fn a_batch_refuses_to_write_over_an_input_and_a_failed_file_leaves_nothing() {
        let dir = TempDir::new("output-batch-input");
        let input = dir.join("results.jsonl");
        std::fs::write(&input, "records").unwrap();
        let batch = Batch::keeping(&[(input.as_path(), "the results file")]);
        let err = batch.write_file(&input, b"report").unwrap_err();
        assert!(err.is_usage(), "{err}");
        assert!(err.to_string().contains("the results file"), "{err}");
        let err = batch
            .write_with(&dir.join("c.csv"), |_| {
                Err(Error::Run("drawing failed".into()))
            })
            .unwrap_err();
        assert!(err.to_string().contains("drawing failed"), "{err}");
        batch.commit().unwrap();
        assert_eq!(std::fs::read(&input).unwrap(), b"records");
        assert_eq!(names(&dir), ["results.jsonl"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_locked_directory_is_refused_until_its_lock_is_dropped() {
        let dir = TempDir::new("output-dir-lock");
        let out = dir.join("report");
        let held = DirectoryLock::acquire(&out).unwrap();
        assert!(out.is_dir());
        // Another open file description, as another process would have.
        match DirectoryLock::acquire(&out) {
            Err(Error::DirectoryLocked { path }) => assert_eq!(path, out),
            other => panic!("expected DirectoryLocked, got {:?}", other.err()),
        }
        drop(held);
        assert!(DirectoryLock::acquire(&out).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_path_that_is_something_else_is_refused_as_usage() {
        let dir = TempDir::new("output-directories");
        std::fs::write(dir.join("afile"), "kept").unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
        std::os::unix::fs::symlink(dir.join("loop1"), dir.join("loop2")).unwrap();
        std::os::unix::fs::symlink(dir.join("loop2"), dir.join("loop1")).unwrap();
        let cases = [
            ("afile", "a file"),
            ("afile/sub", "a path through a file"),
            ("dangling", "a symbolic link to nothing"),
            ("dangling/sub", "a link to nothing"),
            ("loop1", "cannot be followed"),
            ("loop1/sub", "cannot be followed"),
        ];
        for (name, kind) in cases {
            let err = create_directory(&dir.join(name)).unwrap_err();
            assert!(err.is_usage(), "{name}: {err}");
            assert!(err.to_string().contains(kind), "{name}: {err}");
        }
        assert_eq!(std::fs::read(dir.join("afile")).unwrap(), b"kept");
        assert!(!dir.join("nowhere").exists());
        check_directory(&dir.join("new/deeper")).unwrap();
        assert!(!dir.join("new").exists(), "a check creates nothing");
        create_directory(&dir.join("new/deeper")).unwrap();
        assert!(dir.join("new/deeper").is_dir());
        std::os::unix::fs::symlink(dir.join("new"), dir.join("to-new")).unwrap();
        create_directory(&dir.join("to-new")).unwrap();
    }
}
