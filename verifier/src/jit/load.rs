//! Executable memory for an image: pages mapped read+write, the code copied in, then the mapping
//! made read+execute. It is never writable and executable at once (W^X), and it is unmapped when
//! the [`Loaded`] is dropped.

use super::exec::Env;
use super::image::{Image, TARGET_X86_64_SYSV};
use thiserror::Error;

/// Why an image cannot be loaded on this host.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("image target {0:?} does not run on this host (x86_64-sysv only)")]
    Target(String),
    #[error("empty code")]
    Empty,
    #[error("callback thunk offset {0} is outside the code")]
    Thunk(u32),
    #[error("mapping executable memory: {0}")]
    Map(#[from] std::io::Error),
}

type Entry = unsafe extern "sysv64" fn(*mut u8, *const Env) -> u64;

/// An image in executable memory.
pub struct Loaded {
    image: Image,
    code: memmap2::Mmap,
    /// Host address of each callback entry thunk (`image.callbacks`): what `lddw src=4` yields
    /// at run time, and the only addresses the helper trampoline calls back.
    thunks: Vec<u64>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("code_bytes", &self.code.len())
            .field("helpers", &self.image.helpers)
            .finish()
    }
}

impl Loaded {
    /// Maps the image's code executable. Checks the target; the header's other fields were
    /// checked by [`Image::from_bytes`] (or come from [`super::compile`]).
    pub fn new(image: &Image) -> Result<Loaded, LoadError> {
        if image.target != TARGET_X86_64_SYSV || !cfg!(target_arch = "x86_64") {
            return Err(LoadError::Target(image.target.clone()));
        }
        if image.code.is_empty() || image.entry_offset as usize >= image.code.len() {
            return Err(LoadError::Empty);
        }
        if let Some(&t) = image
            .callbacks
            .iter()
            .find(|&&t| t as usize >= image.code.len())
        {
            return Err(LoadError::Thunk(t));
        }
        let mut rw = memmap2::MmapMut::map_anon(image.code.len())?;
        rw.copy_from_slice(&image.code);
        let code = rw.make_exec()?;
        let base = code.as_ptr() as u64;
        Ok(Loaded {
            image: image.clone(),
            thunks: image
                .callbacks
                .iter()
                .map(|&t| base + u64::from(t))
                .collect(),
            code,
        })
    }

    /// Host addresses of the callback entry thunks (see [`Image::callbacks`]).
    pub fn thunks(&self) -> &[u64] {
        &self.thunks
    }

    /// Host address of the code's first byte (position independence tests).
    pub fn code_address(&self) -> u64 {
        self.code.as_ptr() as u64
    }

    pub fn image(&self) -> &Image {
        &self.image
    }

    /// Calls the entry function.
    ///
    /// # Safety
    /// See [`super::exec::execute`], the only caller: the image must come from a verified program
    /// and `env` must be complete and valid for the run.
    pub(crate) unsafe fn call(&self, ctx: u64, env: &Env) -> u64 {
        // SAFETY: `entry_offset` is inside the mapping (checked in `new`), the mapping is
        // executable and holds code compiled for this calling convention (target checked); the
        // caller guarantees the code is safe to run with `env`.
        unsafe {
            let entry: Entry =
                std::mem::transmute(self.code.as_ptr().add(self.image.entry_offset as usize));
            entry(ctx as *mut u8, env)
        }
    }
}
