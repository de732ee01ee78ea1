//! The error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in `graph-gdp`.
///
/// Every variant names what was wrong and where (the config field, the tensor, the file).
/// `Display` is one complete line, a libtorch error's message included, so `source()` is
/// `None` and a printer that walks the chain states each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GdpError {
    /// A configuration value is invalid.
    #[error("graph-gdp config field `{field}`: {reason}")]
    Config {
        /// The offending field (dotted path for nested fields, e.g. `sde.beta_max`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration file could not be read or parsed.
    #[error("graph-gdp config {path}: {reason}")]
    ConfigFile {
        /// The file (`<json>` for a string).
        path: PathBuf,
        /// The I/O or JSON error.
        reason: String,
    },
    /// An input tensor or argument has the wrong shape, kind or content.
    #[error("graph-gdp input `{what}`: {reason}")]
    Input {
        /// Which argument.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A weight file does not match the network built from the config.
    #[error("graph-gdp weights {path}: {reason}")]
    Weights {
        /// The weight file.
        path: PathBuf,
        /// Missing, unexpected or mis-shaped tensors.
        reason: String,
    },
    /// A sampler produced a non-finite state (the step and time are named).
    #[error("graph-gdp sampler: {0}")]
    Sampler(String),
    /// An error reported by libtorch.
    #[error("graph-gdp: libtorch error: {0}")]
    Torch(tch::TchError),
}

impl From<tch::TchError> for GdpError {
    fn from(e: tch::TchError) -> Self {
        GdpError::Torch(e)
    }
}

/// Result alias of this crate.
pub type Result<T, E = GdpError> = std::result::Result<T, E>;

pub(crate) fn config_err(field: impl Into<String>, reason: impl Into<String>) -> GdpError {
    GdpError::Config {
        field: field.into(),
        reason: reason.into(),
    }
}

pub(crate) fn input_err(what: &'static str, reason: impl Into<String>) -> GdpError {
    GdpError::Input {
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
        let msg = format!("graph-gdp: libtorch error: {torch}");
        let e = GdpError::from(torch);
        assert_eq!(e.to_string(), msg);
        assert!(std::error::Error::source(&e).is_none());
    }
}
