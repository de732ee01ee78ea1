//! The error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in `graph-ddpm`.
///
/// Every variant names what was wrong and where (the config field, the tensor, the file).
/// `Display` is one complete line, a libtorch error's message included, so `source()` is
/// `None` and a printer that walks the chain states each cause once.
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
    Torch(tch::TchError),
}

impl From<tch::TchError> for DdpmError {
    fn from(e: tch::TchError) -> Self {
        DdpmError::Torch(e)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_libtorch_error_is_stated_once() {
        let torch = tch::TchError::Torch("out of memory".into());
        let msg = format!("graph-ddpm: libtorch error: {torch}");
        let e = DdpmError::from(torch);
        assert_eq!(e.to_string(), msg);
        assert!(std::error::Error::source(&e).is_none());
    }
}
