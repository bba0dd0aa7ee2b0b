//! `rules eval`'s query errors in command-line words: the endpoint's messages speak of query
//! parameters (`Missing parameter 'product'`), the command line names the flag instead.

/// The flag that sets a query key: the named ones, else `--query KEY=…`.
fn flag_for(key: &str) -> String {
    let named = [
        ("product", "--product"),
        ("version", "--version"),
        ("channel", "--channel"),
        ("buildID", "--build-id"),
        ("buildTarget", "--build-target"),
        ("locale", "--locale"),
        ("osVersion", "--os-version"),
    ];
    match named.iter().find(|(k, _)| *k == key) {
        Some((_, flag)) => (*flag).to_owned(),
        None => format!("--query {key}=…"),
    }
}

/// `message` with its `parameter 'KEY'` turned into the flag that sets KEY.
pub fn in_cli_words(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    let Some(start) = lower.find("parameter '") else {
        return message.to_owned();
    };
    let key_start = start + "parameter '".len();
    let Some(key_len) = message[key_start..].find('\'') else {
        return message.to_owned();
    };
    let key = &message[key_start..key_start + key_len];
    if lower.starts_with("missing parameter") {
        return format!(
            "{} is required (or --query {key}=…); see `shiplog rules eval --help`",
            flag_for(key)
        );
    }
    let rest = message[key_start + key_len + 1..].replace("; the parameters are", "; the keys are");
    format!("{}{}{rest}", &message[..start], flag_for(key))
}

#[cfg(test)]
mod tests {
    use super::in_cli_words;

    #[test]
    fn query_errors_name_the_flags() {
        assert_eq!(
            in_cli_words("Missing parameter 'product'"),
            "--product is required (or --query product=…); see `shiplog rules eval --help`"
        );
        assert_eq!(
            in_cli_words("Parameter 'memory' must be an integer, not \"x\""),
            "--query memory=… must be an integer, not \"x\""
        );
        assert_eq!(
            in_cli_words("Unknown parameter 'colour'; the parameters are product, version"),
            "Unknown --query colour=…; the keys are product, version"
        );
        assert_eq!(
            in_cli_words("Invalid version number \"x\""),
            "Invalid version number \"x\""
        );
    }
}
