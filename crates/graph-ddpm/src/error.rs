//! The error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in `graph-ddpm`.
///
/// Every variant names what was wrong and where (the config field, the tensor, the file).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DdpmError {
    /// A configuration value is invalid (`field` is its JSON path, e.g. `schedule.beta_bar[3]`).
    #[error("graph-ddpm config field `{field}`: {reason}")]
    Config {
        /// The offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An input tensor or argument has the wrong shape, kind or content.
    #[error("graph-ddpm input `{what}`: {reason}")]
    Input {
        /// Which argument.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A weight file does not match the network built from the config.
    #[error("graph-ddpm weights {path}: {reason}")]
    Weights {
        /// The weight file.
        path: PathBuf,
        /// Missing, unexpected or mis-shaped tensors.
        reason: String,
    },
    /// An error reported by libtorch.
    #[error("graph-ddpm: libtorch error: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result alias of this crate.
pub type Result<T, E = DdpmError> = std::result::Result<T, E>;

pub(crate) fn config_err(field: impl Into<String>, reason: impl Into<String>) -> DdpmError {
    DdpmError::Config {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(crate) fn input_err(what: &'static str, reason: impl Into<String>) -> DdpmError {
    DdpmError::Input {
        what,
        reason: reason.into(),
    }
}
