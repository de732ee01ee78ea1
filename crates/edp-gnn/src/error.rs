//! The error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in `edp-gnn`.
///
/// Every variant names what was wrong and where (the config field, the tensor, the file).
/// `Display` is one complete line, a libtorch error's message included, so `source()` is
/// `None` and a printer that walks the chain states each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdpGnnError {
    /// A configuration value is invalid.
    #[error("edp-gnn config field `{field}`: {reason}")]
    Config {
        /// The offending field (dotted path for nested fields, e.g. `sampler.eps`).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration file could not be read or parsed.
    #[error("edp-gnn config {path}: {reason}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// The I/O or JSON error.
        reason: String,
    },
    /// An input tensor has the wrong shape, kind or content.
    #[error("edp-gnn input `{what}`: {reason}")]
    Input {
        /// Which argument.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A weight file does not match the network built from the config.
    #[error("edp-gnn weights {path}: {reason}")]
    Weights {
        /// The weight file.
        path: PathBuf,
        /// Missing, unexpected or mis-shaped tensors.
        reason: String,
    },
    /// An error reported by libtorch.
    #[error("edp-gnn: libtorch error: {0}")]
    Torch(tch::TchError),
}

impl From<tch::TchError> for EdpGnnError {
    fn from(e: tch::TchError) -> Self {
        EdpGnnError::Torch(e)
    }
}

/// Result alias of this crate.
pub type Result<T, E = EdpGnnError> = std::result::Result<T, E>;

pub(crate) fn config_err(field: &'static str, reason: impl Into<String>) -> EdpGnnError {
    EdpGnnError::Config {
        field,
        reason: reason.into(),
    }
}

pub(crate) fn input_err(what: &'static str, reason: impl Into<String>) -> EdpGnnError {
    EdpGnnError::Input {
        what,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_libtorch_error_is_stated_once() {
        let torch = tch::TchError::Torch("out of memory".into());
        let msg = format!("edp-gnn: libtorch error: {torch}");
        let e = EdpGnnError::from(torch);
        assert_eq!(e.to_string(), msg);
        assert!(std::error::Error::source(&e).is_none());
    }
}
