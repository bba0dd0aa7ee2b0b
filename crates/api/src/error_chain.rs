//! Errors written to the log on one line, with every cause: a failure is logged once, where
//! it is turned into an opaque 500, and its chain is what an operator needs.

/// An error and all its sources on one line, for the log.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
