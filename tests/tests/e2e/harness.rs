//! A real `vouchd` process on 127.0.0.1 with a random port, and a gRPC client for it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use vouch_proto::api::verifier_client::VerifierClient;
use vouch_proto::api::{self, VerifyRequest};
use vouch_proto::envelope::{KeyPair, TrustStore};

pub const VOUCHD: &str = env!("CARGO_BIN_EXE_vouchd-under-test");

pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}

pub fn object(name: &str) -> Vec<u8> {
    std::fs::read(corpus().join("build").join(name)).expect("corpus object")
}

/// A key file written like `vouch keygen` does.
pub fn write_key(dir: &Path, name: &str, seed: u8) -> (PathBuf, KeyPair) {
    let path = dir.join(name);
    let key = KeyPair::from_seed([seed; 32]);
    key.write(&path).expect("write key");
    (path, KeyPair::from_seed([seed; 32]))
}

pub struct Server {
    child: Child,
    pub addr: String,
    pub metrics: Option<String>,
}

impl Server {
    /// Starts `vouchd --listen 127.0.0.1:0 --key KEY --data-dir DIR ARGS...` and waits for the
    /// address it prints.
    pub fn start(key: &Path, data_dir: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(VOUCHD)
            .args(["--listen", "127.0.0.1:0", "--key"])
            .arg(key)
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env("VOUCHD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vouchd");
        let stdout = child.stdout.take();
        // From here on, a panic drops the server, which kills and reaps the process.
        let mut server = Server {
            child,
            addr: String::new(),
            metrics: None,
        };
        let mut lines = BufReader::new(stdout.expect("stdout")).lines();
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "vouchd did not start"
            );
            let line = lines
                .next()
                .expect("vouchd exited before listening")
                .expect("read stdout");
            if let Some(m) = line.strip_prefix("vouchd metrics on ") {
                server.metrics = Some(m.to_owned());
            }
            if let Some(addr) = line.strip_prefix("vouchd listening on ") {
                server.addr = addr.to_owned();
                return server;
            }
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn client(&self) -> VerifierClient<Channel> {
        let channel = Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        VerifierClient::new(channel).max_decoding_message_size(usize::MAX)
    }

    /// The trust store of the server's current and previous keys, from GetKeys.
    pub async fn trust(&self) -> TrustStore {
        let keys = self
            .client()
            .await
            .get_keys(api::GetKeysRequest {})
            .await
            .expect("GetKeys")
            .into_inner();
        TrustStore::new(
            keys.keys
                .iter()
                .map(|k| vouch_proto::envelope::PublicKey::from_bytes(&k.public_key).expect("key"))
                .collect(),
        )
    }

    /// SIGTERM, then waits: a graceful shutdown must exit 0.
    pub fn stop(mut self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: signalling our own child process by its id.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "vouchd exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn request(file_name: &str, elf: Vec<u8>) -> VerifyRequest {
    VerifyRequest {
        elf: elf.into(),
        file_name: file_name.to_owned(),
        options: Some(api::Options::default()),
        jit_target: vouch_proto::JIT_TARGET_X86_64_SYSV.into(),
        ..VerifyRequest::default()
    }
}
