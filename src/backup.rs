//! Online backups of the embedded store, and the control socket that serves them.
//!
//! A running server listens on `<dataDirectory>/control.sock` (mode 0600, in the 0700 data
//! directory: only the server's own user can connect). `backup --to DIR` asks it for a
//! RocksDB checkpoint, a consistent hard-link snapshot taken without stopping writes, then
//! copies the PKI next to it. When no server runs, `backup` opens the store itself.
//!
//! Layout of a backup: `DIR/db` (a complete RocksDB directory) and `DIR/cert`.
//! Restore: stop the server, replace `<dataDirectory>/db` and `<dataDirectory>/cert` with
//! the backup's `db` and `cert`, start the server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::storage::rocks::{RocksOptions, RocksStore};

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup target {0} already exists and is not empty")]
    TargetNotEmpty(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the running server refused the backup: {0}")]
    Server(String),
    #[error(transparent)]
    Store(#[from] crate::storage::StoreError),
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("db")
}

/// Serves checkpoint requests for `store` until the task is dropped.
pub fn serve(data_dir: &Path, store: Option<Arc<RocksStore>>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(data_dir);
    // We hold the data-directory lock, so a socket file left here is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(e) = answer(conn, store).await {
                    tracing::debug!(error = %e, "control connection failed");
                }
            });
        }
    });
    Ok(())
}

async fn answer(conn: UnixStream, store: Option<Arc<RocksStore>>) -> std::io::Result<()> {
    let (read, mut write) = conn.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let reply = match (line.trim_end().split_once(' '), store) {
        (Some(("checkpoint", dir)), Some(store)) => {
            let dir = PathBuf::from(dir);
            match tokio::task::spawn_blocking(move || store.checkpoint(&dir)).await {
                Ok(Ok(())) => "ok\n".to_string(),
                Ok(Err(e)) => format!("error {e}\n"),
                Err(e) => format!("error {e}\n"),
            }
        }
        (Some(("checkpoint", _)), None) => {
            "error this server stores its data in external etcd; back it up with `etcdctl snapshot save`\n".to_string()
        }
        _ => "error unknown request\n".to_string(),
    };
    write.write_all(reply.as_bytes()).await
}

/// Takes a backup of the hub whose data directory is `data_dir` into `target`.
pub async fn run(data_dir: &Path, target: &Path) -> Result<(), BackupError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Io { path, source }
    };
    if target.exists()
        && std::fs::read_dir(target)
            .map_err(io(target))?
            .next()
            .is_some()
    {
        return Err(BackupError::TargetNotEmpty(target.to_path_buf()));
    }
    std::fs::create_dir_all(target).map_err(io(target))?;
    let target = std::fs::canonicalize(target).map_err(io(target))?;
    let db_target = target.join("db");
    match UnixStream::connect(socket_path(data_dir)).await {
        Ok(mut conn) => {
            tracing::info!("asking the running server for a checkpoint");
            let request = format!("checkpoint {}\n", db_target.display());
            conn.write_all(request.as_bytes())
                .await
                .map_err(io(&db_target))?;
            let mut reply = String::new();
            BufReader::new(conn)
                .read_line(&mut reply)
                .await
                .map_err(io(&db_target))?;
            match reply.trim_end().strip_prefix("error ") {
                Some(e) => return Err(BackupError::Server(e.to_string())),
                None if reply.trim_end() == "ok" => {}
                None => return Err(BackupError::Server(format!("unexpected reply {reply:?}"))),
            }
        }
        Err(_) => {
            tracing::info!("no running server; opening the store directly");
            let store = RocksStore::open(&db_path(data_dir), &RocksOptions::default())?;
            let dir = db_target.clone();
            tokio::task::spawn_blocking(move || store.checkpoint(&dir))
                .await
                .map_err(|e| BackupError::Server(e.to_string()))??;
        }
    }
    copy_dir(&data_dir.join("cert"), &target.join("cert"))?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Io { path, source }
    };
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(to)
        .map_err(err(to))?;
    for entry in std::fs::read_dir(from).map_err(err(from))? {
        let entry = entry.map_err(err(from))?;
        if entry.file_type().map_err(err(from))?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).map_err(err(to))?;
        }
    }
    Ok(())
}
